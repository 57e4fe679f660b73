/* The learned hybrid ranker: for_you's candidates, from every source, described by a
 * fixed feature vector (each source's score and presence, the item's popularity, trend
 * and recency, the customer's affinity for its category and brand, price fit, the blend
 * score) and scored by a logistic regression learned from the log: which candidate was
 * the one the customer chose next. Fitted by Newton's method (IRLS) with L2
 * regularisation on standardised features; exact, deterministic, a few seconds. */
#ifndef AISLE_RANKER_H
#define AISLE_RANKER_H

#include <stddef.h>
#include <stdint.h>

enum {
    RK_COVIEW,
    RK_COBUY,
    RK_CATEGORY,
    RK_TRENDING,
    RK_POPULAR,
    RK_KNN,
    RK_EASE,
    RK_IALS,
    RK_CONTENT,
    RK_SEQ,
    RK_NSOURCE_FEATS, /* the first 10: each source's scaled score (0 when absent) */
    RK_HAS_FIRST = RK_NSOURCE_FEATS, /* then 10: whether each source proposed it */
    RK_POPULARITY = RK_HAS_FIRST + RK_NSOURCE_FEATS, /* log(1 + events on the item) */
    RK_DECAYED_POP,  /* log(1 + decayed long-term activity) */
    RK_TREND,        /* trending score, clipped */
    RK_RECENCY,      /* log(1 + hours since its last event) */
    RK_CAT_AFFINITY, /* the customer's share of affinity for its category (or ancestors) */
    RK_BRAND_AFFINITY,
    RK_PRICE_FIT, /* exp(-|log(price / the customer's price centre)|), 0 when unknown */
    RK_BLEND,     /* the linear blend's score */
    /* How the candidate relates to the customer's very last item alone (what comes
     * next follows it more than it follows older ones): */
    RK_LAST_COOC,    /* co-view + co-purchase similarity */
    RK_LAST_KNN,     /* item-kNN similarity */
    RK_LAST_EASE,    /* EASE weight from it */
    RK_LAST_IALS,    /* cosine of their iALS factors */
    RK_LAST_CONTENT, /* content similarity */
    RK_NFEAT
};

extern const char *const rk_feature_names[RK_NFEAT];
_Static_assert(RK_NFEAT == 33, "a ranker model file holds 33 features (MODEL_RANKER_FEATURES)");

typedef struct {
    float w[RK_NFEAT], bias;
    float mean[RK_NFEAT], scale[RK_NFEAT]; /* standardisation: (x - mean) / scale */
} rk_model_t;

/* The ranker's score (a logit: higher is better) of one feature vector. */
float rk_score(const rk_model_t *m, const float *x);

/* Training examples: rows of RK_NFEAT features with a 0/1 label. */
typedef struct {
    float *x;
    uint8_t *y;
    size_t n, cap;
    uint64_t positives;
} rk_data_t;

void rk_data_init(rk_data_t *d);
void rk_data_add(rk_data_t *d, const float *x, int label);
void rk_data_free(rk_data_t *d);

/* Fits m on d: minimises the mean log-loss + lambda/2 |w|^2 (w on standardised features,
 * the bias free), Newton steps halved until the loss falls. Writes the loss of each
 * iteration to stderr when verbose. Returns the number of iterations, or -1 when d has
 * no positive or no negative example. */
#define RK_LAMBDA 1e-3
int rk_fit(const rk_data_t *d, double lambda, int verbose, rk_model_t *m);

#endif
