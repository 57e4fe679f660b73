/* Catalog content: terms from item documents, TF-IDF weights computed against the live
 * catalog at read time (so they stay right as items come and go), an inverted index with
 * O(1) removal (each item's term remembers its place in the term's posting list), a
 * second one over the fresh items only, and cosine search over either. */
#include "content.h"

#include "../util/buf.h"
#include "../util/intern.h"
#include "../util/prefetch.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint32_t term;
    float tf;
    uint32_t pos;  /* index in the term's posting list */
    uint32_t fpos; /* in its fresh posting list, while the item is fresh */
} feat_t;

typedef struct {
    feat_t *f; /* sorted by term; owned */
    uint32_t n;
    uint8_t fresh; /* in the fresh index too */
} citem_t;

typedef struct {
    uint32_t item;
    float tf; /* the term's frequency divided by sqrt(the item's term count): the search's
                 first pass sums these into its estimate without touching the item */
} posting_t;

typedef struct {
    posting_t *v;
    uint32_t n, cap;
} plist_t;

/* An item's fresh neighbours as last searched (ct_fresh_near); valid while epoch is the
 * content's near_epoch, and up to date with the fresh index's additions before seq. */
typedef struct {
    uint32_t epoch; /* 0: never searched, or the item's own terms changed since */
    uint32_t n;
    uint32_t seq; /* the content's add_seq when the list was last brought up to date */
    float norm;   /* the item's TF-IDF norm when it was searched (a catch-up's, without idf) */
    vec_hit_t hit[CT_NEAR];
} near_t;

#define NEAR_LOCKS 64 /* stripes of the neighbour cache's locks, by item */
/* Items entering the fresh index (new, or with new terms) are remembered in a ring, so
 * that a cached list catches up by scoring the few added since it was made instead of
 * searching again: when every addition voided every list, one new item per 10,000
 * answers tripled the answer's cost (bench-answers CHURN=10000, BENCHMARKS.md). A list
 * more than NEAR_CATCHUP additions behind is searched again. */
#define NEAR_RING 128 /* power of two */
#define NEAR_CATCHUP 64
_Static_assert(NEAR_CATCHUP <= NEAR_RING, "a list catches up only on additions the ring still holds");

struct content {
    intern_t *terms;
    plist_t *post; /* by term */
    uint32_t post_cap;
    plist_t *fpost; /* by term: the fresh items' postings only */
    uint32_t fpost_cap, nfresh;
    citem_t *item; /* by item id */
    uint32_t item_cap;
    uint32_t nlive; /* items with terms */
    /* Each term's idf, ln(1 + idf_n / df), kept up to date as documents come and go, so
     * that a query reads it instead of computing a logarithm per term of every candidate.
     * idf_n is nlive when the table was last refreshed: within 5% of it (a refresh when
     * the catalog drifts further), which moves no ranking that matters. */
    float *idfv;
    uint32_t idf_cap, idf_n;
    /* The fresh-neighbour cache: written by readers (under a stripe lock), so that each
     * item's search of the fresh index is done once per change of that index. */
    near_t *near; /* by item id, item_cap of them */
    uint32_t fresh_words;
    uint64_t *fresh_bits; /* bit per item id (fresh_words words): whether it is fresh, in
                             a few KiB that stay in cache (item[] is a miss per item) */
    uint32_t near_epoch; /* moves when every cached list is void (the idf table refreshed) */
    uint32_t add_seq;    /* additions to the fresh index so far */
    uint32_t added[NEAR_RING]; /* the last of them, addition s at s % NEAR_RING */
    /* and each one's unit vector as it was added, each weight times its term's idf, so
     * that a catch-up looks up no idf (owned) */
    ct_vec_t added_vec[NEAR_RING];
    pthread_mutex_t near_mu[NEAR_LOCKS];
};

/* Field weights: a title word says more than a description word; a word pair is kept
 * at half the weight of its words (it helps: "tea light" is not "tea"). */
#define W_TITLE 1.0f
#define W_DESCRIPTION 0.5f
#define W_PAIR 0.5f
#define W_CATEGORY 1.0f
#define W_BRAND 1.0f
#define W_PRICE 0.5f
#define W_TAG 1.0f
#define MAX_TERMS 256 /* per item */

static const char *const stop_words[] = {
    "a",     "about", "after", "all",   "also",  "an",    "and",   "any",   "are",  "as",   "at",    "be",
    "been",  "but",   "by",    "can",   "could", "do",    "each",  "for",   "from", "had",  "has",   "have",
    "he",    "her",   "his",   "how",   "i",     "if",    "in",    "into",  "is",   "it",   "its",   "just",
    "may",   "more",  "most",  "my",    "no",    "not",   "of",    "on",    "one",  "only", "or",    "other",
    "our",   "out",   "over",  "per",   "set",   "so",    "some",  "such",  "than", "that", "the",   "their",
    "them",  "then",  "there", "these", "they",  "this",  "those", "to",    "too",  "up",   "us",    "very",
    "was",   "we",    "were",  "what",  "when",  "which", "while", "who",   "will", "with", "would", "you",
    "your"};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int is_stop(const char *w, size_t n)
{
    char buf[16];
    if (n >= sizeof buf)
        return 0;
    memcpy(buf, w, n);
    buf[n] = '\0';
    const char *key = buf;
    return bsearch(&key, stop_words, sizeof stop_words / sizeof stop_words[0], sizeof stop_words[0], cmp_str) != NULL;
}

content_t *ct_new(void)
{
    content_t *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    c->terms = intern_new();
    c->near_epoch = 1;
    for (int i = 0; i < NEAR_LOCKS; i++)
        pthread_mutex_init(&c->near_mu[i], NULL);
    return c;
}

void ct_free(content_t *c)
{
    if (!c)
        return;
    for (uint32_t i = 0; i < c->item_cap; i++)
        free(c->item[i].f);
    for (uint32_t t = 0; t < c->post_cap; t++)
        free(c->post[t].v);
    for (uint32_t t = 0; t < c->fpost_cap; t++)
        free(c->fpost[t].v);
    free(c->item);
    free(c->post);
    free(c->fpost);
    free(c->idfv);
    free(c->near);
    free(c->fresh_bits);
    for (int i = 0; i < NEAR_RING; i++)
        ct_vector_free(&c->added_vec[i]);
    for (int i = 0; i < NEAR_LOCKS; i++)
        pthread_mutex_destroy(&c->near_mu[i]);
    intern_free(c->terms);
    free(c);
}

static void *grow(void *p, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need < *cap)
        return p;
    uint32_t ncap = *cap ? *cap : 1024;
    while (ncap <= need)
        ncap *= 2;
    p = realloc(p, (size_t)ncap * elem);
    if (!p)
        abort();
    memset((char *)p + (size_t)*cap * elem, 0, (size_t)(ncap - *cap) * elem);
    *cap = ncap;
    return p;
}

/* ---- terms of a document ------------------------------------------------------------ */

typedef struct {
    content_t *c;
    feat_t f[MAX_TERMS];
    uint32_t n;
} terms_t;

static void add_term(terms_t *t, const char *prefix, const char *s, size_t n, float w)
{
    if (t->n == MAX_TERMS || n == 0)
        return;
    char buf[300];
    size_t pn = strlen(prefix);
    if (pn + n >= sizeof buf)
        n = sizeof buf - pn - 1;
    memcpy(buf, prefix, pn);
    memcpy(buf + pn, s, n);
    t->f[t->n++] = (feat_t){intern_put(t->c->terms, buf, pn + n, NULL), w, 0};
}

/* Words of text: runs of letters and digits (bytes of UTF-8 sequences count as letters),
 * ASCII lower-cased, one-letter words and stop words out; and each pair of neighbouring
 * words that are both kept. */
static void add_text(terms_t *t, const char *s, size_t n, float w)
{
    char prev[128], cur[128];
    size_t prevn = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && !(isalnum((unsigned char)s[i]) || (unsigned char)s[i] >= 0x80))
            i++;
        size_t curn = 0;
        while (i < n && (isalnum((unsigned char)s[i]) || (unsigned char)s[i] >= 0x80)) {
            if (curn < sizeof cur)
                cur[curn++] = (char)tolower((unsigned char)s[i]);
            i++;
        }
        if (curn < 2 || is_stop(cur, curn)) {
            prevn = 0; /* a stop word breaks a pair */
            continue;
        }
        add_term(t, "w:", cur, curn, w);
        if (prevn) {
            char pair[260];
            memcpy(pair, prev, prevn);
            pair[prevn] = ' ';
            memcpy(pair + prevn + 1, cur, curn);
            add_term(t, "p:", pair, prevn + 1 + curn, w * W_PAIR);
        }
        memcpy(prev, cur, curn);
        prevn = curn;
    }
}

static int cmp_term(const void *a, const void *b)
{
    const feat_t *x = a, *y = b;
    return x->term < y->term ? -1 : x->term > y->term;
}

static void collect(terms_t *t, json_t *doc)
{
    json_t *v = json_object_get(doc, "title");
    if (json_is_string(v))
        add_text(t, json_string_value(v), json_string_length(v), W_TITLE);
    v = json_object_get(doc, "description");
    if (json_is_string(v))
        add_text(t, json_string_value(v), json_string_length(v), W_DESCRIPTION);
    v = json_object_get(doc, "categories");
    if (json_is_array(v)) {
        buf_t path;
        buf_init(&path);
        size_t i;
        json_t *c;
        json_array_foreach(v, i, c)
        {
            if (i)
                buf_append(&path, "/", 1);
            buf_append(&path, json_string_value(c), json_string_length(c));
            add_term(t, "c:", path.data, path.len, W_CATEGORY);
        }
        buf_free(&path);
    }
    v = json_object_get(doc, "brand");
    if (json_is_string(v))
        add_term(t, "b:", json_string_value(v), json_string_length(v), W_BRAND);
    v = json_object_get(doc, "price");
    if (json_is_number(v) && json_number_value(v) > 0) {
        /* Bands of a factor of two: 1-2, 2-4, 4-8, ... */
        char band[16];
        int len = snprintf(band, sizeof band, "%d", (int)floor(log2(json_number_value(v))));
        add_term(t, "$:", band, (size_t)len, W_PRICE);
    }
    v = json_object_get(doc, "tags");
    if (json_is_array(v)) {
        size_t i;
        json_t *tag;
        json_array_foreach(v, i, tag) add_term(t, "t:", json_string_value(tag), json_string_length(tag), W_TAG);
    }
    /* One entry per term, weights summed. */
    qsort(t->f, t->n, sizeof t->f[0], cmp_term);
    uint32_t m = 0;
    for (uint32_t i = 0; i < t->n; i++) {
        if (m && t->f[m - 1].term == t->f[i].term)
            t->f[m - 1].tf += t->f[i].tf;
        else
            t->f[m++] = t->f[i];
    }
    t->n = m;
}

/* ---- the index ---------------------------------------------------------------------- */

static float fast_ln(float x);

static void set_idf(content_t *c, uint32_t term)
{
    c->idfv = grow(c->idfv, &c->idf_cap, term, sizeof *c->idfv);
    uint32_t df = term < c->post_cap ? c->post[term].n : 0;
    c->idfv[term] = df ? fast_ln(1.0f + (float)c->idf_n / (float)df) : 0;
}

/* After nlive changed: the whole table again once it is 5% off. */
static void refresh_idf(content_t *c)
{
    uint32_t n = c->idf_n, d = c->nlive > n ? c->nlive - n : n - c->nlive;
    if (d == 0 || (n && d * 20 < n))
        return;
    c->idf_n = c->nlive;
    for (uint32_t t = 0; t < c->post_cap; t++)
        set_idf(c, t);
    c->near_epoch++; /* every weight moved */
}

/* Takes item's term i out of one index (the main one, or the fresh one): the last
 * posting takes the hole, and its item's term learns where it went. */
static void unpost(content_t *c, uint32_t item, uint32_t i, int fresh)
{
    feat_t *f = &c->item[item].f[i];
    plist_t *pl = fresh ? &c->fpost[f->term] : &c->post[f->term];
    uint32_t at = fresh ? f->fpos : f->pos, last = --pl->n;
    if (at == last)
        return;
    posting_t moved = pl->v[last];
    pl->v[at] = moved;
    citem_t *mi = &c->item[moved.item];
    feat_t key = {f->term, 0, 0, 0};
    feat_t *mf = bsearch(&key, mi->f, mi->n, sizeof *mi->f, cmp_term);
    if (mf)
        *(fresh ? &mf->fpos : &mf->pos) = at;
}

static void post(plist_t **lists, uint32_t *cap, uint32_t term, posting_t p, uint32_t *pos)
{
    *lists = grow(*lists, cap, term, sizeof **lists);
    plist_t *pl = &(*lists)[term];
    if (pl->n == pl->cap) {
        pl->cap = pl->cap ? pl->cap * 2 : 4;
        pl->v = realloc(pl->v, pl->cap * sizeof *pl->v);
        if (!pl->v)
            abort();
    }
    *pos = pl->n;
    pl->v[pl->n++] = p;
}

void ct_item_mature(content_t *c, uint32_t item)
{
    if (item >= c->item_cap || !c->item[item].fresh)
        return;
    for (uint32_t i = 0; i < c->item[item].n; i++)
        unpost(c, item, i, 1);
    c->item[item].fresh = 0;
    c->fresh_bits[item >> 6] &= ~(1ull << (item & 63));
    c->nfresh--;
}

static void remove_item(content_t *c, uint32_t item)
{
    citem_t *it = &c->item[item];
    ct_item_mature(c, item);
    for (uint32_t i = 0; i < it->n; i++)
        unpost(c, item, i, 0);
    for (uint32_t i = 0; i < it->n; i++)
        set_idf(c, it->f[i].term);
    if (it->n)
        c->nlive--;
    free(it->f);
    it->f = NULL;
    it->n = 0;
}

/* Whether item already has exactly the terms of t and the given freshness (a price or
 * stock update that leaves the text alone): then nothing needs to change. */
static int same_terms(const content_t *c, uint32_t item, const terms_t *t, int fresh)
{
    const citem_t *it = &c->item[item];
    if (it->n != t->n || it->fresh != (fresh != 0))
        return 0;
    for (uint32_t i = 0; i < t->n; i++)
        if (it->f[i].term != t->f[i].term || it->f[i].tf != t->f[i].tf)
            return 0;
    return 1;
}

static float idf(const content_t *c, uint32_t term);

void ct_item_set(content_t *c, uint32_t item, json_t *doc, int fresh)
{
    uint32_t cap = c->item_cap;
    c->item = grow(c->item, &c->item_cap, item, sizeof *c->item);
    c->near = grow(c->near, &cap, item, sizeof *c->near);
    c->fresh_bits = grow(c->fresh_bits, &c->fresh_words, item >> 6, sizeof *c->fresh_bits);
    terms_t *t = malloc(sizeof *t);
    if (!t)
        abort();
    t->c = c;
    t->n = 0;
    if (doc)
        collect(t, doc);
    if (doc && t->n && same_terms(c, item, t, fresh)) {
        free(t);
        return;
    }
    remove_item(c, item);
    c->near[item].epoch = 0; /* its own neighbours are to be searched again */
    if (t->n) {
        citem_t *it = &c->item[item];
        it->f = malloc(t->n * sizeof *it->f);
        if (!it->f)
            abort();
        it->n = t->n;
        for (uint32_t i = 0; i < t->n; i++) {
            uint32_t term = t->f[i].term;
            posting_t p = {item, t->f[i].tf / sqrtf((float)t->n)};
            it->f[i] = (feat_t){term, t->f[i].tf, 0, UINT32_MAX};
            post(&c->post, &c->post_cap, term, p, &it->f[i].pos);
            if (fresh)
                post(&c->fpost, &c->fpost_cap, term, p, &it->f[i].fpos);
            set_idf(c, term);
        }
        it->fresh = fresh != 0;
        c->nfresh += it->fresh;
        if (fresh)
            c->fresh_bits[item >> 6] |= 1ull << (item & 63);
        c->nlive++;
        if (fresh) { /* the fresh index changed: every cached list may miss it */
            uint32_t slot = c->add_seq++ & (NEAR_RING - 1);
            c->added[slot] = item;
            ct_vec_t *v = &c->added_vec[slot];
            ct_vector_free(v);
            ct_vector_new(c, item, v);
            for (uint32_t i = 0; i < v->n; i++)
                v->t[i].w *= idf(c, v->t[i].term);
        }
    }
    free(t);
    refresh_idf(c);
}

int ct_has(const content_t *c, uint32_t item)
{
    return item < c->item_cap && c->item[item].n > 0;
}

/* ln(x) for x >= 1 to about 1e-6 relative: exponent and mantissa apart, a short series
 * for the mantissa (logf itself was a quarter of the time of content answers). */
static float fast_ln(float x)
{
    int e;
    float m = frexpf(x, &e); /* x = m 2^e, m in [0.5, 1) */
    if (m < 0.70710678f) {
        m *= 2;
        e--;
    }
    /* ln(m) = 2 atanh(z), z = (m - 1) / (m + 1), |z| < 0.172 */
    float z = (m - 1) / (m + 1), z2 = z * z;
    float series = z * (2 + z2 * (2.0f / 3 + z2 * (2.0f / 5 + z2 * (2.0f / 7 + z2 * (2.0f / 9)))));
    return (float)e * 0.69314718f + series;
}

static float idf(const content_t *c, uint32_t term)
{
    return term < c->idf_cap ? c->idfv[term] : 0;
}

static float norm_of(const content_t *c, uint32_t item)
{
    const citem_t *it = &c->item[item];
    float s = 0;
    for (uint32_t i = 0; i < it->n; i++) {
        float w = it->f[i].tf * idf(c, it->f[i].term);
        s += w * w;
    }
    return sqrtf(s);
}

/* ---- queries ------------------------------------------------------------------------ */

void ct_query_init(ct_query_t *q)
{
    q->n = 0;
    memset(q->at, 0, sizeof q->at);
}

/* The slot of term in q->at: where it is, or the empty one where it would go. */
static size_t query_slot(const ct_query_t *q, uint32_t term)
{
    size_t h = (term * 2654435761u) >> 24;
    while (q->at[h] && q->t[q->at[h] - 1].term != term)
        h = (h + 1) & 255;
    return h;
}

static int term_heavier(const void *a, const void *b)
{
    const ct_term_t *x = a, *y = b;
    if (x->w != y->w)
        return x->w > y->w ? -1 : 1;
    return x->term < y->term ? -1 : x->term > y->term;
}

void ct_query_trim(ct_query_t *q)
{
    qsort(q->t, q->n, sizeof q->t[0], term_heavier);
    if (q->n > CT_QUERY)
        q->n = CT_QUERY;
    memset(q->at, 0, sizeof q->at);
    for (size_t i = 0; i < q->n; i++)
        q->at[query_slot(q, q->t[i].term)] = (uint8_t)(i + 1);
}

void ct_query_add(const content_t *c, ct_query_t *q, uint32_t item, float w)
{
    if (!ct_has(c, item) || !(w > 0))
        return;
    const citem_t *it = &c->item[item];
    float norm = norm_of(c, item);
    if (!(norm > 0))
        return;
    for (uint32_t i = 0; i < it->n; i++) {
        uint32_t term = it->f[i].term;
        float v = w * it->f[i].tf * idf(c, term) / norm;
        size_t h = query_slot(q, term);
        if (!q->at[h]) {
            if (q->n == sizeof q->t / sizeof q->t[0]) {
                ct_query_trim(q); /* keep the heaviest, make room */
                h = query_slot(q, term);
            }
            q->t[q->n] = (ct_term_t){term, 0};
            q->at[h] = (uint8_t)++q->n;
        }
        q->t[q->at[h] - 1].w += v;
    }
}

static int term_order(const void *a, const void *b)
{
    const ct_term_t *x = a, *y = b;
    return x->term < y->term ? -1 : x->term > y->term;
}

/* The search over one index: lists (by term, cap of them) holding nitems items. */
static size_t search(const content_t *c, const plist_t *lists, uint32_t lists_cap, uint32_t nitems,
                     size_t max_postings, const ct_query_t *q_in, vec_hit_t *out, size_t k)
{
    ct_query_t q = *q_in;
    ct_query_trim(&q);
    /* Candidates come from the postings of the query's distinctive terms, heaviest first,
     * within the budget; a term on more than CT_COMMON of the catalog ("item", a price
     * band every item shares) finds no one in particular and is not walked, though it
     * still counts in the similarity of the candidates found. */
    uint32_t max_df = nitems / CT_COMMON > 200 ? nitems / CT_COMMON : 200;
    uint32_t use[CT_QUERY];
    size_t nuse = 0, budget = max_postings, total = 0, rarest = SIZE_MAX;
    float qnorm = 0;
    for (size_t i = 0; i < q.n; i++) {
        qnorm += q.t[i].w * q.t[i].w;
        uint32_t df = q.t[i].term < lists_cap ? lists[q.t[i].term].n : 0;
        if (df && (rarest == SIZE_MAX || df < lists[q.t[rarest].term].n))
            rarest = i;
        if (df && df <= budget && df <= max_df) {
            use[nuse++] = (uint32_t)i;
            budget -= df;
            total += df;
        }
    }
    qnorm = sqrtf(qnorm);
    if (!nuse && rarest != SIZE_MAX) { /* only common terms: the rarest, as far as the budget goes */
        use[nuse++] = (uint32_t)rarest;
        total = lists[q.t[rarest].term].n < max_postings ? lists[q.t[rarest].term].n : max_postings;
    }
    if (!nuse || !(qnorm > 0))
        return 0;
    ct_term_t byterm[CT_QUERY];
    memcpy(byterm, q.t, q.n * sizeof *byterm);
    qsort(byterm, q.n, sizeof *byterm, term_order);
    size_t cap = 64;
    while (cap < total * 2)
        cap *= 2;
    /* Pass 1: the estimate over the walked terms, from the postings alone, per
     * candidate. */
    vec_hit_t *tab = malloc(cap * sizeof *tab);
    if (!tab)
        abort();
    for (size_t i = 0; i < cap; i++)
        tab[i].item = UINT32_MAX;
    for (size_t u = 0; u < nuse; u++) {
        const ct_term_t *qt = &q.t[use[u]];
        const plist_t *pl = &lists[qt->term];
        float f = qt->w * idf(c, qt->term);
        uint32_t np = pl->n < total ? pl->n : (uint32_t)total;
        for (uint32_t p = 0; p < np; p++) {
            uint32_t item = pl->v[p].item;
            size_t at = (item * 2654435761u) & (cap - 1);
            while (tab[at].item != UINT32_MAX && tab[at].item != item)
                at = (at + 1) & (cap - 1);
            if (tab[at].item == UINT32_MAX)
                tab[at] = (vec_hit_t){item, 0};
            tab[at].score += f * pl->v[p].tf;
        }
    }
    /* Pass 2: the best CT_RESCORE k of those by partial dot over sqrt(terms) (a norm
     * estimate that needs no weights, folded into the postings), then the exact cosine
     * over all their terms. */
    size_t want = CT_RESCORE * k, short_n = 0;
    for (size_t i = 0; i < cap; i++) /* the found ones to the front: the shortlist is their best */
        if (tab[i].item != UINT32_MAX && tab[i].score > 0)
            tab[short_n++] = tab[i];
    short_n = vec_select_hits(tab, short_n, want);
    const vec_hit_t *shortlist = tab;
    /* Each candidate costs two cache misses (its entry, then its terms): ask for all of
     * them before reading any, so that they overlap instead of queueing. */
    for (size_t i = 0; i < short_n; i++)
        __builtin_prefetch(&c->item[shortlist[i].item]);
    for (size_t i = 0; i < short_n; i++)
        __builtin_prefetch(c->item[shortlist[i].item].f);
    size_t got = 0;
    for (size_t i = 0; i < short_n; i++) {
        uint32_t item = shortlist[i].item;
        const citem_t *it = &c->item[item];
        float dot = 0, norm = 0;
        size_t at = 0; /* both are sorted by term: a merge finds the query's weights */
        for (uint32_t f = 0; f < it->n; f++) {
            uint32_t term = it->f[f].term;
            float w = it->f[f].tf * idf(c, term);
            norm += w * w;
            while (at < q.n && byterm[at].term < term)
                at++;
            dot += w * (at < q.n && byterm[at].term == term ? byterm[at].w : 0.0f);
        }
        if (norm > 0 && dot > 0)
            vec_heap_offer(out, &got, k, (vec_hit_t){item, dot / (sqrtf(norm) * qnorm)});
    }
    vec_sort_hits(out, got);
    free(tab);
    return got;
}

size_t ct_search(const content_t *c, const ct_query_t *q, vec_hit_t *out, size_t k)
{
    return search(c, c->post, c->post_cap, c->nlive, CT_MAX_POSTINGS, q, out, k);
}

size_t ct_search_fresh(const content_t *c, const ct_query_t *q, vec_hit_t *out, size_t k)
{
    return search(c, c->fpost, c->fpost_cap, c->nfresh, CT_FRESH_POSTINGS, q, out, k);
}

void ct_fresh_near_prefetch(const content_t *c, uint32_t item)
{
    if (item < c->item_cap) {
        __builtin_prefetch(&c->item[item]);                  /* ct_has reads it first */
        prefetch_span(&c->near[item], sizeof c->near[item]); /* 80 bytes: two lines */
    }
}

/* An item's term frequencies over its norm, by term, in an open-addressed table, so
 * that an added vector is scored against it by a probe per term of its own, without a
 * branch on whether the term is there: a walk of two sorted term lists side by side, or
 * a probe that stops at the term or an empty slot, mispredicts every few terms. The
 * table is filled with one hash after another, then at twice the size, until no two
 * terms share a slot, so that a probe reads one slot; past TT_MAX slots the last fill
 * stays, and a probe reads the `reach` slots from the term's own (inserting never wraps:
 * the table runs on past its hashed range), reach being the largest displacement. */
#define TT_FIRST 16 /* slots per term to start with */
#define TT_MAX (TT_FIRST * MAX_TERMS)
typedef struct {
    uint32_t term[TT_MAX + MAX_TERMS]; /* UINT32_MAX: empty */
    float w[TT_MAX + MAX_TERMS];       /* 0 where empty */
    uint32_t mul, shift, reach;        /* a term's slot: the high bits of term * mul */
} termtab_t;

static const uint32_t tt_mul[] = {2654435761u, 2246822519u, 3266489917u, 668265263u};

static void termtab_fill(const citem_t *it, const float *w, termtab_t *t, uint32_t size)
{
    memset(t->term, 0xff, (size + it->n) * sizeof t->term[0]);
    memset(t->w, 0, (size + it->n) * sizeof t->w[0]);
    t->reach = 1;
    for (uint32_t i = 0; i < it->n; i++) {
        uint32_t h0 = (it->f[i].term * t->mul) >> t->shift, h = h0;
        while (t->term[h] != UINT32_MAX)
            h++;
        t->term[h] = it->f[i].term;
        t->w[h] = w[i];
        if (h - h0 + 1 > t->reach)
            t->reach = h - h0 + 1;
    }
}

/* t for item with its terms' frequencies over norm: against an added vector (weights
 * times idf) a probe sums the cosine. */
static void termtab_init(const content_t *c, uint32_t item, float norm, termtab_t *t)
{
    const citem_t *it = &c->item[item];
    float w[MAX_TERMS];
    for (uint32_t i = 0; i < it->n; i++)
        w[i] = norm > 0 ? it->f[i].tf / norm : 0;
    uint32_t size = 16, shift = 28;
    while (size < TT_FIRST * it->n)
        size *= 2, shift--;
    for (;; size *= 2, shift--) {
        for (size_t m = 0; m < sizeof tt_mul / sizeof tt_mul[0]; m++) {
            t->mul = tt_mul[m];
            t->shift = shift;
            termtab_fill(it, w, t, size);
            if (t->reach == 1)
                return;
        }
        if (size * 2 > TT_MAX)
            return;
    }
}

/* Cosine of an added vector with the item of t. */
static float termtab_sim(const termtab_t *t, const ct_vec_t *v)
{
    float dot = 0;
    for (uint32_t i = 0; i < v->n; i++) {
        uint32_t term = v->t[i].term, h = (term * t->mul) >> t->shift;
        float w = 0;
        for (uint32_t d = 0; d < t->reach; d++) /* the terms that hashed here lie in reach */
            w += t->term[h + d] == term ? t->w[h + d] : 0.0f;
        dot += v->t[i].w * w;
    }
    return dot;
}

/* Brings item's cached list up to date with the additions to the fresh index since it
 * was made: each added item still fresh is scored against item (the search's cosine) and
 * takes its place in the list, replacing its old entry when its terms changed. Returns 0
 * when such an item of a full list now scores below the list's last (what lies between is
 * not known): the list is void then, to be searched again. Under the entry's stripe lock;
 * writers are held off. */
static int near_catch_up(const content_t *c, uint32_t item, near_t *e)
{
    termtab_t *t = NULL; /* made when the first addition needs it */
    termtab_t tab;
    for (; e->seq != c->add_seq; e->seq++) {
        uint32_t slot = e->seq & (NEAR_RING - 1), x = c->added[slot];
        if (x == item || !((c->fresh_bits[x >> 6] >> (x & 63)) & 1))
            continue;
        uint32_t n = 0;
        float worst = e->n == CT_NEAR ? e->hit[CT_NEAR - 1].score : 0; /* 0: all are listed */
        for (uint32_t i = 0; i < e->n; i++) /* its old entry, if any, goes */
            if (e->hit[i].item != x)
                e->hit[n++] = e->hit[i];
        int moved = n < e->n;
        e->n = n;
        if (!t)
            termtab_init(c, item, e->norm, t = &tab);
        float sim = termtab_sim(t, &c->added_vec[slot]);
        if (moved && worst > 0 && !(sim >= worst)) {
            e->epoch = 0; /* no other reader goes on from the list as it is now */
            return 0;
        }
        if (!(sim > 0) || (n == CT_NEAR && !(sim > e->hit[n - 1].score)))
            continue;
        uint32_t at = n < CT_NEAR ? n : CT_NEAR - 1; /* the last place, or the worst's */
        while (at > 0 && (e->hit[at - 1].score < sim || (e->hit[at - 1].score == sim && e->hit[at - 1].item > x))) {
            e->hit[at] = e->hit[at - 1];
            at--;
        }
        e->hit[at] = (vec_hit_t){x, sim};
        if (n < CT_NEAR)
            e->n = n + 1;
    }
    return 1;
}

/* The still-fresh entries of e, at most k, into out; returns how many, *alive how many
 * of e's are still fresh. */
static size_t near_alive(const content_t *c, const near_t *e, vec_hit_t *out, size_t k, uint32_t *alive)
{
    size_t n = 0;
    *alive = 0;
    for (uint32_t i = 0; i < e->n; i++) {
        uint32_t x = e->hit[i].item;
        int fresh = (c->fresh_bits[x >> 6] >> (x & 63)) & 1;
        if (fresh && n < k)
            out[n++] = e->hit[i];
        *alive += (uint32_t)fresh;
    }
    return n;
}

void ct_fresh_near_prefetch_terms(const content_t *c, uint32_t item)
{
    if (item < c->item_cap && c->near[item].seq != c->add_seq && c->item[item].n)
        prefetch_span(c->item[item].f, c->item[item].n * sizeof c->item[item].f[0]);
}

size_t ct_fresh_near(content_t *c, uint32_t item, vec_hit_t *out, size_t k, int *budget)
{
    if (!ct_has(c, item) || !c->nfresh)
        return 0;
    if (k > CT_NEAR)
        k = CT_NEAR;
    near_t *e = &c->near[item];
    pthread_mutex_t *mu = &c->near_mu[item % NEAR_LOCKS];
    size_t n = 0;
    uint32_t alive;
    pthread_mutex_lock(mu);
    int current = e->epoch == c->near_epoch && c->add_seq - e->seq <= NEAR_CATCHUP;
    int stale = e->epoch && !current; /* a list, but older than the idf table or far behind */
    if (current && near_catch_up(c, item, e)) {
        /* Matured (or deleted) items drop out; once half have, search again. */
        n = near_alive(c, e, out, k, &alive);
        if (2 * alive >= e->n) {
            pthread_mutex_unlock(mu);
            return n;
        }
    } else if (stale && budget && *budget <= 0) {
        /* Behind by more than a catch-up, with the caller's searches spent: the list as
         * it stands (without the newest items) rather than another search. */
        n = near_alive(c, e, out, k, &alive);
        pthread_mutex_unlock(mu);
        return n;
    }
    if (stale && budget)
        --*budget;
    uint32_t epoch = c->near_epoch; /* a writer cannot move it while readers run */
    pthread_mutex_unlock(mu);

    ct_query_t q;
    ct_query_init(&q);
    ct_query_add(c, &q, item, 1.0f);
    vec_hit_t hits[CT_NEAR + 1];
    size_t got = ct_search_fresh(c, &q, hits, CT_NEAR + 1), m = 0;
    for (size_t i = 0; i < got && m < CT_NEAR; i++)
        if (hits[i].item != item)
            hits[m++] = hits[i];
    pthread_mutex_lock(mu);
    memcpy(e->hit, hits, m * sizeof *hits);
    e->n = (uint32_t)m;
    e->epoch = epoch;
    e->seq = c->add_seq;
    e->norm = norm_of(c, item);
    pthread_mutex_unlock(mu);
    n = m < k ? m : k;
    memcpy(out, hits, n * sizeof *out);
    return n;
}

uint32_t ct_fresh_count(const content_t *c)
{
    return c->nfresh;
}

float ct_similarity(const content_t *c, uint32_t a, uint32_t b)
{
    if (!ct_has(c, a) || !ct_has(c, b))
        return 0;
    const citem_t *x = &c->item[a], *y = &c->item[b];
    float dot = 0;
    for (uint32_t i = 0, j = 0; i < x->n && j < y->n;) {
        if (x->f[i].term < y->f[j].term)
            i++;
        else if (x->f[i].term > y->f[j].term)
            j++;
        else {
            float w = idf(c, x->f[i].term);
            dot += x->f[i].tf * y->f[j].tf * w * w;
            i++, j++;
        }
    }
    float n = norm_of(c, a) * norm_of(c, b);
    return n > 0 ? dot / n : 0;
}

int ct_vector_new(const content_t *c, uint32_t item, ct_vec_t *v)
{
    v->t = NULL;
    v->n = 0;
    if (!ct_has(c, item))
        return -1;
    const citem_t *it = &c->item[item];
    float norm = norm_of(c, item);
    if (!(norm > 0))
        return -1;
    v->t = malloc(it->n * sizeof *v->t);
    if (!v->t)
        abort();
    for (uint32_t i = 0; i < it->n; i++) /* features are sorted by term already */
        v->t[i] = (ct_term_t){it->f[i].term, it->f[i].tf * idf(c, it->f[i].term) / norm};
    v->n = it->n;
    return 0;
}

void ct_vector_free(ct_vec_t *v)
{
    free(v->t);
    v->t = NULL;
    v->n = 0;
}

float ct_vec_dot(const ct_vec_t *a, const ct_vec_t *b)
{
    float dot = 0;
    for (size_t i = 0, j = 0; i < a->n && j < b->n;) {
        if (a->t[i].term < b->t[j].term)
            i++;
        else if (a->t[i].term > b->t[j].term)
            j++;
        else
            dot += a->t[i++].w * b->t[j++].w;
    }
    return dot;
}

float ct_similarity_to(const content_t *c, const ct_vec_t *v, uint32_t item)
{
    if (!v->n || !ct_has(c, item))
        return 0;
    const citem_t *it = &c->item[item];
    int shared = 0;
    for (uint32_t i = 0, j = 0; i < it->n && j < v->n && !shared;) {
        if (it->f[i].term < v->t[j].term)
            i++;
        else if (it->f[i].term > v->t[j].term)
            j++;
        else
            shared = 1;
    }
    if (!shared)
        return 0;
    ct_vec_t w;
    if (ct_vector_new(c, item, &w) != 0)
        return 0;
    float d = ct_vec_dot(v, &w);
    ct_vector_free(&w);
    return d;
}

void ct_describe(const content_t *c, uint32_t item, char *out, size_t cap)
{
    size_t at = 0;
    out[0] = '\0';
    if (!ct_has(c, item))
        return;
    const citem_t *it = &c->item[item];
    float norm = norm_of(c, item);
    for (uint32_t i = 0; i < it->n && at + 1 < cap; i++) {
        size_t n;
        const char *s = intern_str(c->terms, it->f[i].term, &n);
        int w = snprintf(out + at, cap - at, "%s%.*s %.2f", i ? ", " : "", (int)n, s,
                         norm > 0 ? it->f[i].tf * idf(c, it->f[i].term) / norm : 0);
        if (w < 0)
            break;
        at += (size_t)w;
    }
}

size_t ct_bytes(const content_t *c)
{
    size_t b = sizeof *c + intern_bytes(c->terms) + (size_t)c->item_cap * sizeof *c->item +
               (size_t)c->post_cap * sizeof *c->post;
    for (uint32_t i = 0; i < c->item_cap; i++)
        b += c->item[i].n * sizeof(feat_t);
    for (uint32_t t = 0; t < c->post_cap; t++)
        b += c->post[t].cap * sizeof(posting_t);
    b += (size_t)c->fpost_cap * sizeof *c->fpost + (size_t)c->item_cap * sizeof *c->near +
         (size_t)c->fresh_words * sizeof *c->fresh_bits;
    for (uint32_t t = 0; t < c->fpost_cap; t++)
        b += c->fpost[t].cap * sizeof(posting_t);
    return b;
}
