/* Recommendations computed per request from the live state: candidate generation
 * (co-occurrence neighbours of the customer's recent items, category affinity,
 * trending, past purchases), a weighted blend, filters, diversity, and a reason a
 * person can read for each pick. Nothing is precomputed per customer; only the global
 * and per-category top lists (trending, popular) are cached for a short time.
 * Call with the store's read lock held. */
#ifndef AISLE_RECS_H
#define AISLE_RECS_H

#include "../models/modelset.h"
#include "../store/state.h"
#include "ranker.h"
#include "shown.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    WHY_VIEWED_WITH, /* ref: the item viewed together with it */
    WHY_BOUGHT_WITH, /* ref: the item bought together with it */
    WHY_CATEGORY,    /* ref: a category the customer likes */
    WHY_TRENDING,    /* ref: category, or INTERN_NONE for overall */
    WHY_POPULAR,     /* ref: category, or INTERN_NONE */
    WHY_BUY_AGAIN,   /* ref: times bought */
    WHY_SIMILAR_TO,  /* item-kNN; ref: the customer's item it is most similar to */
    WHY_CHOSEN_WITH, /* EASE; ref: the customer's item that speaks most for it */
    WHY_TASTE,       /* iALS; ref: the customer's item closest to it in taste */
    WHY_CONTENT,     /* content; ref: the customer's item it resembles most (INTERN_NONE:
                        an item of the same category, brand or words) */
    WHY_NEXT,        /* sequence model; ref: the customer's latest item */
    WHY_RECENT,      /* recently_viewed; ref: the event type of the latest interaction */
} rec_why_t;

/* Candidate sources, as bits in rec_hit_t.sources. */
enum {
    SRC_COVIEW = 1,
    SRC_COBUY = 2,
    SRC_CATEGORY = 4,
    SRC_TRENDING = 8,
    SRC_POPULAR = 16,
    SRC_HISTORY = 32,
    SRC_KNN = 64,
    SRC_EASE = 128,
    SRC_IALS = 256,
    SRC_CONTENT = 512,
    SRC_SEQ = 1024,
};
#define REC_NSOURCES 11
/* "co_view", "co_purchase", "category", "trending", "popular", "history", "knn", "ease",
 * "ials", "content", "sequence": source bit i's name. */
extern const char *const rec_source_names[REC_NSOURCES];

/* How for_you weighs its candidate sources. Each source's scores are first put on one
 * scale (co-occurrence: cosine similarities; the others: divided by their best). A
 * weight of 0 leaves a source out. */
typedef struct {
    float coview, cobuy, category, trending, popular, knn, ease, ials, content, seq;
    float ranker; /* > 0: a loaded learned ranker orders for_you (the weights above still
                     choose the candidates and feed it); 0: the weighted sum does */
    /* How the trained models read a customer's history, newest first: each item counts
     * history_decay times the next newer one (1: all alike, as in training). */
    float history_decay;
} rec_blend_t;

void rec_blend_default(rec_blend_t *b);
/* Parses "co_view=1,ease=2,..." (names as in rec_source_names, and "ranker"; weights 0
 * to 1000) into b; names not given keep their weight. Returns 0, or -1 (b untouched). */
int rec_blend_parse(rec_blend_t *b, const char *list);

typedef struct {
    uint32_t item;
    float score;
    rec_why_t why;
    uint32_t ref;
    uint32_t sources;
} rec_hit_t;

typedef struct {
    uint32_t category; /* INTERN_NONE: any */
    uint32_t brand;    /* INTERN_NONE: any */
    double price_min, price_max; /* < 0: no bound */
    int in_stock_only;
    const uint32_t *exclude;
    size_t nexclude;
    int exclude_bought; /* items the customer bought */
    int exclude_cart;   /* items in the customer's cart */
    int max_per_category; /* diversity (leaf categories); 0: no limit */
    uint32_t offset;
    uint32_t scenario; /* SCN_* bit: which business rules apply; 0: none */
    int64_t wall_ms;   /* wall-clock time, for the rules' windows and impressions */
    shown_t *impressions; /* anti-repetition for profile; NULL: none */
    uint32_t profile;
    uint64_t tie_seed; /* nonzero: equal scores in a seeded random order (evaluation),
                          not by item id, so that ties do not favour anyone */
} rec_filter_t;

/* Short-lived top lists shared by all requests (own mutex). */
typedef struct rec_cache rec_cache_t;

rec_cache_t *rec_cache_new(int64_t ttl_ms);
/* Starts a thread that rebuilds the lists requests use, every ttl, under st's read lock,
 * so that no request pays for a rebuild (only for a list's very first build). Without
 * it, a stale list is rebuilt by the request that finds it stale. */
int rec_cache_start(rec_cache_t *c, state_t *st);
void rec_cache_free(rec_cache_t *c); /* stops the thread */

void rec_filter_default(rec_filter_t *f);

/* Each writes up to cap hits, best first, into out and returns how many. p may be NULL
 * (an unknown visitor: cold start). now_ms is the stream's clock (st->last_event_ms).
 * for_you also asks the trained models of `models` (may be NULL) with the customer's live
 * history, weighted by blend (NULL: the defaults). */
size_t rec_for_you(const state_t *st, rec_cache_t *c, const ms_set_t *models, const rec_blend_t *blend,
                   const prof_t *p, const rec_filter_t *f, int64_t now_ms, rec_hit_t *out, size_t cap);
/* for_you's candidates (those the filter lets through), best blend score first, with
 * the learned ranker's features: what the ranker is trained on. */
typedef struct {
    uint32_t item;
    float x[RK_NFEAT];
} rec_cand_t;
size_t rec_candidates(const state_t *st, rec_cache_t *c, const ms_set_t *models, const rec_blend_t *blend,
                      const prof_t *p, const rec_filter_t *f, int64_t now_ms, rec_cand_t *out, size_t cap);
size_t rec_buy_again(const state_t *st, const prof_t *p, const rec_filter_t *f, int64_t now_ms, rec_hit_t *out,
                     size_t cap);
/* The items p viewed, clicked or carted most recently (its bounded ring of recent
 * interactions), newest first, each once, through the filters and rules (so bought items
 * only with exclude_bought off). */
size_t rec_recently_viewed(const state_t *st, const prof_t *p, const rec_filter_t *f, rec_hit_t *out, size_t cap);
size_t rec_trending(const state_t *st, rec_cache_t *c, const prof_t *p, const rec_filter_t *f, int64_t now_ms,
                    rec_hit_t *out, size_t cap);
size_t rec_popular(const state_t *st, rec_cache_t *c, const prof_t *p, const rec_filter_t *f, int64_t now_ms,
                   rec_hit_t *out, size_t cap);
/* Items like item (co-viewed, then by content and category when that is thin), and items
 * bought with it; p (may be NULL): the customer asking, whose purchases and cart the
 * filters leave out. */
size_t rec_similar(const state_t *st, rec_cache_t *c, const prof_t *p, uint32_t item, const rec_filter_t *f,
                   int64_t now_ms, rec_hit_t *out, size_t cap);
size_t rec_bought_together(const state_t *st, const prof_t *p, uint32_t item, const rec_filter_t *f, rec_hit_t *out,
                           size_t cap);
size_t rec_cart(const state_t *st, const prof_t *p, const uint32_t *items, size_t nitems, const rec_filter_t *f,
                rec_hit_t *out, size_t cap);

#endif
