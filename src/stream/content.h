/* Content-based features of the catalog, kept live as items are put and deleted: each
 * item's terms (title and description words and word pairs, lower-cased, stop words
 * out; category path prefixes; brand; price band; tags), weighted by TF-IDF against the
 * live catalog, and an inverted index from term to items. It answers "which items are
 * like this set of items" by cosine similarity, so an item nobody has touched yet can be
 * recommended from its description alone (cold start). Not thread-safe: the store's
 * lock guards it. */
#ifndef AISLE_CONTENT_H
#define AISLE_CONTENT_H

#include "../util/vec.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define CT_QUERY 24 /* terms a query keeps (the heaviest) */

typedef struct content content_t;

typedef struct {
    uint32_t term;
    float w;
} ct_term_t;

/* A weighted sum of item vectors, the heaviest CT_QUERY terms of it. */
typedef struct {
    ct_term_t t[CT_QUERY * 4];
    size_t n;
    uint8_t at[256]; /* term hash -> 1 + its index in t, 0 for none (linear probing) */
} ct_query_t;
_Static_assert(CT_QUERY * 4 < 128, "ct_query_t.at holds indices in a byte, at most half full");


content_t *ct_new(void); /* caller owns; ct_free frees */
void ct_free(content_t *c);
/* Sets item's terms from its catalog document; doc NULL removes them. A fresh item (one
 * few customers have touched yet) is also in the fresh index, until ct_item_mature. */
void ct_item_set(content_t *c, uint32_t item, json_t *doc, int fresh);
/* Takes item out of the fresh index (no-op when it is not there). */
void ct_item_mature(content_t *c, uint32_t item);
uint32_t ct_fresh_count(const content_t *c);
/* Whether item has any term. */
int ct_has(const content_t *c, uint32_t item);

void ct_query_init(ct_query_t *q);
/* Adds w times item's unit TF-IDF vector to q. */
void ct_query_add(const content_t *c, ct_query_t *q, uint32_t item, float w);
/* Keeps the CT_QUERY heaviest terms of q. */
void ct_query_trim(ct_query_t *q);
/* The k items most similar to q (cosine over all their terms), best first. Candidates
 * come through the inverted index: terms heaviest first, at most CT_MAX_POSTINGS index
 * entries in all, and a term on more than 1/CT_COMMON of the catalog (at least 200
 * items) is not walked (it still counts in the similarity of the CT_RESCORE k best by a
 * cheap estimate, which are scored exactly). Returns how many. */
size_t ct_search(const content_t *c, const ct_query_t *q, vec_hit_t *out, size_t k);
/* The same over the fresh items only: the cheap search of what no other source can
 * place yet. */
size_t ct_search_fresh(const content_t *c, const ct_query_t *q, vec_hit_t *out, size_t k);
#define CT_FRESH_POSTINGS 500 /* its budget */
/* The fresh items most like item (cosine), best first, at most min(k, CT_NEAR): a search
 * of item's own vector in the fresh index, cached per item; an item entering the fresh
 * index (or a fresh item's new terms) is scored into the cached lists as they are read,
 * and a list is searched again when it is far behind, when item's own terms change, or
 * when half of it has matured. With budget, a list far behind (or older than the idf
 * table) is searched again only while *budget > 0, which each such search decrements;
 * past that it is answered as it stands, so that a bulk load of new items costs an answer
 * a bounded number of searches (a list never searched, or of an item whose terms changed,
 * is searched regardless). NULL: no bound. Several readers may call it at once (the cache
 * has its own locks); writers must be held off, as for every other call here (the store's
 * lock). */
size_t ct_fresh_near(content_t *c, uint32_t item, vec_hit_t *out, size_t k, int *budget);
/* Asks the cache for item's cached list (before a loop of ct_fresh_near). */
void ct_fresh_near_prefetch(const content_t *c, uint32_t item);
/* And, once that has come, item's terms when its list has additions to catch up on. */
void ct_fresh_near_prefetch_terms(const content_t *c, uint32_t item);
#define CT_NEAR 8
#define CT_MAX_POSTINGS 2000
#define CT_RESCORE 2 /* candidates scored exactly: CT_RESCORE k, the best by a cheap estimate */
#define CT_COMMON 50
/* Cosine similarity of two items' TF-IDF vectors. */
float ct_similarity(const content_t *c, uint32_t a, uint32_t b);
/* An item's unit TF-IDF vector, sorted by term, for comparing one item with many:
 * ct_vector fills v (v->t caller-owned, room for ct_terms(c, item)); ct_vector_free
 * releases what ct_vector_new allocated. */
typedef struct {
    ct_term_t *t;
    size_t n;
} ct_vec_t;
int ct_vector_new(const content_t *c, uint32_t item, ct_vec_t *v); /* 0, or -1 without terms */
void ct_vector_free(ct_vec_t *v);
/* Cosine of two prepared vectors (a merge: no logarithms). */
float ct_vec_dot(const ct_vec_t *a, const ct_vec_t *b);
/* Cosine of v with item; 0 at once (no weights worked out) when they share no term. */
float ct_similarity_to(const content_t *c, const ct_vec_t *v, uint32_t item);
/* The terms of item as text (for docs and debugging): "word:heart 0.41 ..."; writes at
 * most cap bytes. */
void ct_describe(const content_t *c, uint32_t item, char *out, size_t cap);
size_t ct_bytes(const content_t *c);

#endif
