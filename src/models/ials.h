/* iALS: implicit-feedback matrix factorisation (Hu, Koren & Volinsky, ICDM 2008). Every
 * customer x item cell is a preference (1 where they interacted, 0 elsewhere) with a
 * confidence 1 + alpha * x_ui; customer and item factors are solved in turn, each side a
 * regularised weighted least-squares problem per row, solved approximately by a few
 * conjugate-gradient steps warm-started from the last sweep (Takacs, Pilaszy & Tikk,
 * RecSys 2011), so that a sweep costs O(nnz k + rows k^2) instead of O(rows k^3).
 * Serving folds a customer in from their live interactions with one exact k x k solve. */
#ifndef AISLE_IALS_H
#define AISLE_IALS_H

#include "interactions.h"
#include "model.h"

typedef struct {
    uint32_t factors;
    float lambda;
    float alpha;
    uint32_t iterations;
    uint32_t cg_steps; /* 0: exact Cholesky solves per row (Hu et al.; the reference) */
    int binary; /* 1: x_ui = 1; 0: log(1 + weight) */
    int threads; /* 0: every core */
    uint64_t seed;
    /* Called after each iteration (may be NULL). */
    void (*progress)(void *ud, uint32_t iter, double loss, double seconds);
    void *progress_ud;
} ials_opts_t;

void ials_opts_default(ials_opts_t *o);
model_t *ials_train(const ix_matrix_t *x, const ials_opts_t *o, char *err, size_t errlen);
/* Folds the history in (x = (Y^T Y + lambda I + sum (c-1) y y^T)^-1 sum c y, with
 * c = 1 + alpha * w) into out_factor (room for dim; may be NULL). Returns 0, or -1 when
 * the history has no item of the model. */
int ials_fold_in(const model_t *m, const model_in_t *in, size_t nin, float *out_factor);
/* Scores: fold-in, then y . x over every item and the best k. On a large catalog (item
 * factors past IALS_INDEX_BYTES, more than the CPU's cache holds, so that an exact scan
 * is bound by memory) an approximate index answers instead: the items are clustered
 * (k-means, sqrt(n) clusters), each request scans clusters in the order of the most
 * their items can score (a bound from the centroid and the cluster's radius) until no
 * cluster left can beat what it holds, over int8 copies of the factors (a quarter of the
 * bytes), and scores the best IALS_RESCORE * k + history of those again exactly. bench/models.sh measures the time and the recall against an exact scan. */
size_t ials_score(const model_t *m, const model_in_t *in, size_t nin, vec_hit_t *out, size_t k);
/* The k best items by y . x over m's item vectors (m->Y, nitems x dim), leaving out the
 * items of skip: an exact scan, or the approximate index when m has one. Shared by iALS
 * and the sequence model, whose scores are dot products with item vectors too. */
size_t ials_top(const model_t *m, const float *x, const model_in_t *skip, size_t nskip, vec_hit_t *out, size_t k);
#define IALS_INDEX_BYTES (4u << 20)
#define IALS_PROBE_SHARE 0.05
#define IALS_PROBE_MAX 0.5
/* The sequence model's embeddings: its bound never stops a visit early (measured on the
 * aisle gen model), while its best items lie in the first clusters visited: recall of the
 * exact top 10 is 1.0 at 20% (bench-foldin). */
#define SEQ_PROBE_MAX 0.2
#define IALS_BOUND_SLACK 0.05
#define IALS_RESCORE 2
#define IALS_KMEANS_ITERATIONS 8
/* Builds that index for m (model_parse and ials_train do for large catalogs; it may be
 * built for any iALS model). */
void ials_index(model_t *m);

#endif
