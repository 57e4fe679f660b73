/* Candidate generation, blending and filtering. Scores from different sources are put
 * on comparable scales before blending: co-occurrence similarities are in (0, 1],
 * category and trending scores are divided by the best of their list. */
#include "recs.h"
#include "ranker.h"

#include "../util/flags.h"
#include "../util/hash.h"
#include "../util/prefetch.h"
#include "../util/timeutil.h"

#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#define TOP_LIST 256   /* length of cached top lists */
#define MAX_SEEDS PROF_RECENT /* recent interactions whose neighbours are candidates (8 would
                                 halve the work but cost 8% of HR@10 on aisle gen data) */

const char *const rec_source_names[REC_NSOURCES] = {"co_view", "co_purchase", "category", "trending", "popular",
                                                    "history",  "knn",         "ease",     "ials",     "content",
                                                    "sequence"};

void rec_blend_default(rec_blend_t *b)
{
    *b = (rec_blend_t){.coview = 1.0f, .cobuy = 1.5f, .category = 0.3f, .trending = 0.1f, .popular = 0.05f, .knn = 1.0f,
                       .ease = 1.0f, .ials = 1.0f, .content = 0.3f, .seq = 1.0f, .ranker = 1.0f,
                       .history_decay = 1.0f};
}

static int set_source_weight(void *ud, const char *name, double v)
{
    rec_blend_t *b = ud;
    float *slot[REC_NSOURCES] = {&b->coview, &b->cobuy, &b->category, &b->trending, &b->popular,
                                 NULL,       &b->knn,   &b->ease,     &b->ials,     &b->content,
                                 &b->seq};
    if (strcmp(name, "ranker") == 0) { /* 0: the blend orders for_you even when a ranker is loaded */
        b->ranker = (float)v;
        return 0;
    }
    for (int k = 0; k < REC_NSOURCES; k++)
        if (slot[k] && strcmp(rec_source_names[k], name) == 0) {
            *slot[k] = (float)v;
            return 0;
        }
    return -1;
}

int rec_blend_parse(rec_blend_t *b, const char *list)
{
    rec_blend_t out = *b;
    if (flags_pairs(list, 0, 1000, set_source_weight, &out) != 0)
        return -1;
    *b = out;
    return 0;
}

/* ---- candidate accumulator --------------------------------------------------------- */

#define ACC_SLOTS 8192 /* hash slots, power of two */
#define ACC_MAX 4096   /* candidates kept */
_Static_assert(ACC_MAX < 65536, "acc_t.at holds 1 + an index in 16 bits");
#define MODEL_HIST 64  /* the customer's most recent items the trained models read */
#define MODEL_CANDIDATES 200 /* best items asked of each trained model */
#define CONTENT_HIST 16      /* history items in the content profile */
#define CONTENT_CANDIDATES 100 /* best items asked of the content index */
#define CONTENT_THIN 10         /* co-occurrence proposals below which content searches every item */
#define CONTENT_FRESH 20        /* fresh items asked of it otherwise */
#define CONTENT_REFRESH 2       /* lists far behind the fresh index searched again per answer */
#define COLD_TRENDING 0.1f   /* trending's share of a newcomer's answer (popular: 1) */
_Static_assert(CONTENT_HIST * CT_NEAR <= 128, "content_candidates indexes its sums in a byte, at most half full");

typedef struct {
    uint32_t key[ACC_SLOTS];
    uint16_t at[ACC_SLOTS]; /* 1 + index in e, 0 for an empty slot (half the bytes to clear) */
    rec_hit_t e[ACC_MAX];
    float best[ACC_MAX]; /* largest single contribution: it names the reason */
    float feat[ACC_MAX][RK_NSOURCE_FEATS]; /* each source's unweighted score (for_you) */
    size_t n;
    int feats; /* whether feat is kept: only a ranker reads it */
} acc_t;

static acc_t *acc_new(void)
{
    acc_t *a = malloc(sizeof *a);
    if (!a)
        abort();
    memset(a->at, 0, sizeof a->at);
    a->n = 0;
    a->feats = 0;
    return a;
}

/* Adds score to item's candidate; returns its index, or -1 when the accumulator is full. */
static int acc_add(acc_t *a, uint32_t item, float score, rec_why_t why, uint32_t ref, uint32_t src)
{
    uint32_t h = (item * 2654435761u) & (ACC_SLOTS - 1);
    while (a->at[h] && a->key[h] != item)
        h = (h + 1) & (ACC_SLOTS - 1);
    size_t i; /* the index itself, not e - a->e: that division by 20 was a tenth of this */
    if (!a->at[h]) {
        if (a->n == ACC_MAX)
            return -1;
        i = a->n++;
        a->key[h] = item;
        a->at[h] = (uint16_t)(i + 1);
        a->e[i] = (rec_hit_t){item, 0, why, ref, 0};
        a->best[i] = -INFINITY;
        if (a->feats)
            memset(a->feat[i], 0, sizeof a->feat[0]);
    } else {
        i = (size_t)a->at[h] - 1;
    }
    rec_hit_t *e = &a->e[i];
    e->score += score;
    e->sources |= src;
    if (score > a->best[i]) {
        a->best[i] = score;
        e->why = why;
        e->ref = ref;
    }
    return (int)i;
}

/* The ranker feature of a source bit (-1: none). */
static int source_feature(uint32_t src)
{
    switch (src) {
    case SRC_COVIEW: return RK_COVIEW;
    case SRC_COBUY: return RK_COBUY;
    case SRC_CATEGORY: return RK_CATEGORY;
    case SRC_TRENDING: return RK_TRENDING;
    case SRC_POPULAR: return RK_POPULAR;
    case SRC_KNN: return RK_KNN;
    case SRC_EASE: return RK_EASE;
    case SRC_IALS: return RK_IALS;
    case SRC_CONTENT: return RK_CONTENT;
    case SRC_SEQ: return RK_SEQ;
    }
    return -1;
}

/* for_you's form of acc_add: weight times a source's own score, which is kept apart too
 * (a ranker feature). */
static void acc_source(acc_t *a, uint32_t item, float weight, float raw, rec_why_t why, uint32_t ref, uint32_t src)
{
    int i = acc_add(a, item, weight * raw, why, ref, src);
    if (!a->feats || i < 0)
        return;
    int f = source_feature(src);
    if (f >= 0)
        a->feat[i][f] += raw;
}

/* ---- filters and final ordering ---------------------------------------------------- */

void rec_filter_default(rec_filter_t *f)
{
    memset(f, 0, sizeof *f);
    f->category = f->brand = INTERN_NONE;
    f->price_min = f->price_max = -1;
    f->in_stock_only = 1;
    f->exclude_bought = 1;
    f->exclude_cart = 1;
    f->profile = PROF_NONE;
}

static int passes(const state_t *st, const prof_t *p, const rec_filter_t *f, uint32_t item)
{
    if (item >= intern_count(st->items))
        return 0;
    const st_filt_t *it = &st->filt[item];
    if (!it->live) /* not in the catalog (or deleted): nothing to show */
        return 0;
    if (f->in_stock_only && !it->in_stock)
        return 0;
    if (f->brand != INTERN_NONE && it->brand != f->brand)
        return 0;
    if (f->category != INTERN_NONE && !st_item_in_category(st, item, f->category))
        return 0;
    if ((f->price_min >= 0 || f->price_max >= 0) && it->price < 0)
        return 0;
    if (f->price_min >= 0 && it->price < f->price_min)
        return 0;
    if (f->price_max >= 0 && it->price > f->price_max)
        return 0;
    for (size_t i = 0; i < f->nexclude; i++)
        if (f->exclude[i] == item)
            return 0;
    if (p && f->exclude_bought && prof_bought_count(p, item, NULL))
        return 0;
    if (p && f->exclude_cart && prof_in_cart(p, item))
        return 0;
    return 1;
}

static int hit_cmp(const void *a, const void *b)
{
    const rec_hit_t *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->item < y->item ? -1 : x->item > y->item;
}

static int hit_cmp_seeded(const void *a, const void *b, void *seed)
{
    const rec_hit_t *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    uint64_t s = *(const uint64_t *)seed, hx = hash_mix(s ^ x->item), hy = hash_mix(s ^ y->item);
    return hx < hy ? -1 : hx > hy;
}

/* Sorts hits best first, ties by item (or by a hash of it under a tie seed). An answer
 * sorts a few dozen: insertion, in place, without qsort's calls through a pointer. */
static void sort_hits(rec_hit_t *h, size_t n, uint64_t tie_seed)
{
    if (n > 64) {
        if (tie_seed)
            qsort_r(h, n, sizeof *h, hit_cmp_seeded, &tie_seed);
        else
            qsort(h, n, sizeof *h, hit_cmp);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        rec_hit_t x = h[i];
        size_t j = i;
        while (j > 0 && (tie_seed ? hit_cmp_seeded(&x, &h[j - 1], &tie_seed) : hit_cmp(&x, &h[j - 1])) < 0) {
            h[j] = h[j - 1];
            j--;
        }
        h[j] = x;
    }
}

/* ---- business rules ------------------------------------------------------------------ */

typedef struct {
    const rule_t *r;
    uint32_t id; /* the matched tag, category, brand or item, resolved */
} active_t;

/* The rules in force for this answer, with their match values resolved to ids. */
static size_t active_rules(const state_t *st, const rec_filter_t *f, active_t *out)
{
    size_t n = 0;
    for (uint32_t i = 0; i < st->nrules && n < RULE_MAX; i++) {
        const rule_t *r = &st->rules[i];
        if (!(r->scenarios & f->scenario) || (r->start_ms && f->wall_ms < r->start_ms) ||
            (r->end_ms && f->wall_ms >= r->end_ms))
            continue;
        const intern_t *t = r->match == MATCH_TAG        ? st->tags
                            : r->match == MATCH_CATEGORY ? st->categories
                            : r->match == MATCH_BRAND    ? st->brands
                                                         : st->items;
        uint32_t id = intern_get(t, r->value, strlen(r->value));
        if (id != INTERN_NONE)
            out[n++] = (active_t){r, id};
    }
    return n;
}

static int rule_matches(const state_t *st, const active_t *a, uint32_t item)
{
    switch (a->r->match) {
    case MATCH_TAG: return st_item_has_tag(st, item, a->id);
    case MATCH_CATEGORY: return st_item_in_category(st, item, a->id);
    case MATCH_BRAND: return st->filt[item].brand == a->id;
    case MATCH_ITEM: return item == a->id;
    }
    return 0;
}

static int excluded_by_rule(const state_t *st, const active_t *rules, size_t nrules, uint32_t item)
{
    for (size_t j = 0; j < nrules; j++)
        if (rules[j].r->action == RULE_EXCLUDE && rule_matches(st, &rules[j], item))
            return 1;
    return 0;
}

/* Pins: each pin rule puts its best-scoring matching item (for an item_id rule, that item
 * even when no source proposed it) at its position of the first page. */
static size_t apply_pins(const state_t *st, const prof_t *p, const rec_filter_t *f, const active_t *rules,
                         size_t nrules, const rec_hit_t *sorted, size_t k, rec_hit_t *out, size_t m, size_t cap)
{
    for (size_t j = 0; j < nrules; j++) {
        const active_t *a = &rules[j];
        if (a->r->action != RULE_PIN)
            continue;
        rec_hit_t pick = {INTERN_NONE, 0, WHY_POPULAR, INTERN_NONE, 0};
        for (size_t i = 0; i < k && pick.item == INTERN_NONE; i++)
            if (rule_matches(st, a, sorted[i].item) && passes(st, p, f, sorted[i].item) &&
                !excluded_by_rule(st, rules, nrules, sorted[i].item))
                pick = sorted[i];
        if (pick.item == INTERN_NONE && a->r->match == MATCH_ITEM && passes(st, p, f, a->id) &&
            !excluded_by_rule(st, rules, nrules, a->id))
            pick.item = a->id;
        if (pick.item == INTERN_NONE)
            continue;
        for (size_t i = 0; i < m; i++) /* drop it where it stands */
            if (out[i].item == pick.item) {
                memmove(&out[i], &out[i + 1], (m - i - 1) * sizeof *out);
                m--;
                break;
            }
        size_t at = (size_t)a->r->position - 1;
        if (at > m)
            at = m;
        if (m == cap)
            m--; /* the last one makes room */
        if (at > m)
            at = m;
        memmove(&out[at + 1], &out[at], (m - at) * sizeof *out);
        out[at] = pick;
        m++;
    }
    return m;
}

/* score after the boost, bury and exclude rules that match item (0: excluded). */
static float ruled_score(const state_t *st, const active_t *rules, size_t nrules, uint32_t item, float score)
{
    for (size_t j = 0; j < nrules; j++) {
        const rule_t *r = rules[j].r;
        if (r->action == RULE_PIN || !rule_matches(st, &rules[j], item))
            continue;
        score = r->action == RULE_EXCLUDE ? 0 : score * r->factor;
    }
    return score;
}

/* The answer as it is written, best first: at most max_per_category items per leaf
 * category, the first `offset` of those left skipped. */
typedef struct {
    uint32_t cats[64], counts[64];
    size_t ncats, skipped, m;
} emit_t;

/* Appends x to out (e->m of them so far) unless diversity or the offset leaves it out. */
static void emit(const state_t *st, const rec_filter_t *f, emit_t *e, const rec_hit_t *x, rec_hit_t *out)
{
    if (f->max_per_category > 0) {
        uint32_t cat = st->filt[x->item].category;
        size_t j = 0;
        while (j < e->ncats && e->cats[j] != cat)
            j++;
        if (j == e->ncats && e->ncats < 64) {
            e->cats[e->ncats] = cat;
            e->counts[e->ncats++] = 0;
        }
        if (j < e->ncats && e->counts[j] >= (uint32_t)f->max_per_category)
            return;
        if (j < e->ncats)
            e->counts[j]++;
    }
    if (e->skipped < f->offset) {
        e->skipped++;
        return;
    }
    out[e->m++] = *x;
}

/* Filters, rules, anti-repetition, a full sort, diversity and offset over every candidate
 * of hits[0..k) (the way with a boost rule in force, which can lift anything); writes up
 * to cap hits to out. */
static size_t rank_all(const state_t *st, const prof_t *p, const rec_filter_t *f, const active_t *rules,
                       size_t nrules, const rec_hit_t *hits, size_t k, rec_hit_t *work, rec_hit_t *out, size_t cap)
{
    size_t kk = 0;
    for (size_t i = 0; i < k; i++) /* each is a miss in the item table: overlap them */
        if (hits[i].item < intern_count(st->items))
            __builtin_prefetch(&st->filt[hits[i].item]);
    for (size_t i = 0; i < k; i++) {
        if (!passes(st, p, f, hits[i].item))
            continue;
        rec_hit_t h = hits[i];
        h.score = ruled_score(st, rules, nrules, h.item, h.score);
        if (h.score > 0)
            work[kk++] = h;
    }
    if (f->impressions && f->profile != PROF_NONE && kk) {
        /* Shown again and again without a click: let something else have the place. */
        uint32_t items[512];
        float scores[512];
        for (size_t at = 0; at < kk; at += 512) {
            size_t c = kk - at < 512 ? kk - at : 512;
            for (size_t i = 0; i < c; i++)
                items[i] = work[at + i].item, scores[i] = work[at + i].score;
            shown_demote(f->impressions, f->profile, items, scores, c, f->wall_ms);
            for (size_t i = 0; i < c; i++)
                work[at + i].score = scores[i];
        }
    }
    sort_hits(work, kk, f->tie_seed);
    emit_t e = {.ncats = 0, .skipped = 0, .m = 0};
    for (size_t i = 0; i < kk && e.m < cap && work[i].score > 0; i++)
        emit(st, f, &e, &work[i], out);
    return e.m;
}

/* The best-first order of finish's heap: score, then item (or a seeded hash of it),
 * packed into one key so that a comparison is one branch-free compare: the score's bits
 * (positive floats order as their bits do) above the tie-break's inverse. With a seed,
 * the tie-break is the top half of the item's seeded hash; keys equal there (two items
 * of one score, one in four billion) go on to the whole hash, as the full sort does. */
typedef struct {
    uint64_t key;
    uint32_t at; /* index in hits, | HEAP_FINAL once filters, rules and anti-repetition are applied */
} hent_t;

#define HEAP_FINAL 0x80000000u

static hent_t hent(float score, uint32_t at, const rec_hit_t *hits, uint64_t seed)
{
    uint32_t bits, item = hits[at & ~HEAP_FINAL].item;
    memcpy(&bits, &score, sizeof bits);
    uint32_t tie = seed ? (uint32_t)(hash_mix(seed ^ item) >> 32) : item;
    return (hent_t){(uint64_t)bits << 32 | (UINT32_MAX - tie), at};
}

static float hent_score(const hent_t *x)
{
    uint32_t bits = (uint32_t)(x->key >> 32);
    float s;
    memcpy(&s, &bits, sizeof s);
    return s;
}

static int hent_before(const hent_t *x, const hent_t *y, const rec_hit_t *hits, uint64_t seed)
{
    if (__builtin_expect(x->key != y->key || !seed, 1))
        return x->key > y->key;
    uint32_t a = hits[x->at & ~HEAP_FINAL].item, b = hits[y->at & ~HEAP_FINAL].item;
    uint64_t ha = hash_mix(seed ^ a), hb = hash_mix(seed ^ b);
    return ha != hb ? ha < hb : a < b;
}

static void heap_down(hent_t *h, size_t n, size_t i, const rec_hit_t *hits, uint64_t seed)
{
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= n)
            return;
        size_t c = l + (l + 1 < n && hent_before(&h[l + 1], &h[l], hits, seed)); /* the better child */
        if (!hent_before(&h[c], &h[i], hits, seed))
            return;
        hent_t t = h[i];
        h[i] = h[c];
        h[c] = t;
        i = c;
    }
}

static void heap_up(hent_t *h, size_t i, const rec_hit_t *hits, uint64_t seed)
{
    while (i > 0 && hent_before(&h[i], &h[(i - 1) / 2], hits, seed)) {
        hent_t t = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

#define FINISH_BATCH 16   /* candidates filtered (and demoted, under one lock) at a time */
#define FINISH_SLICE 24   /* candidates put on the heap at a time (an answer of 10 needs a few dozen;
                             24 measured a little faster in bench-answers than 48) */
#define SCORE_BUCKETS 512 /* slices of the score range: 8 per power of two from 2^-32 */
#define SCORE_BUCKET_LO (0x2f800000u >> 20) /* the top 12 bits of the float 2^-32 */

/* Scores' top bits (sign, exponent, 3 bits of mantissa) order positive floats: bucket
 * b holds scores from score_floor(b) up to the next one's. */
static uint32_t score_bucket(float s)
{
    uint32_t bits;
    memcpy(&bits, &s, sizeof bits);
    uint32_t x = bits >> 20;
    if (x <= SCORE_BUCKET_LO)
        return 0;
    x -= SCORE_BUCKET_LO;
    return x < SCORE_BUCKETS ? x : SCORE_BUCKETS - 1;
}

static float score_floor(uint32_t b)
{
    if (b == 0)
        return 0;
    uint32_t bits = (b + SCORE_BUCKET_LO) << 20;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* finish without boost rules: filters, bury and exclude rules and anti-repetition only
 * ever lower a score, so candidates are looked at best raw score first, and only as far
 * as the answer needs. They go on a heap a slice of the score range at a time (the best
 * FINISH_SLICE or so, found by a histogram of their scores: no sort of the hundreds
 * below). A batch of the best raw ones on the heap is filtered, its scores lowered, and
 * put back marked final; a final one on top is the next of the answer once no candidate
 * outside the heap could beat it. Writes up to cap hits to out (after the offset). */
static size_t finish_lazy(const state_t *st, const prof_t *p, const rec_filter_t *f, const active_t *rules,
                          size_t nrules, const rec_hit_t *hits, size_t k, rec_hit_t *out, size_t cap)
{
    uint64_t seed = f->tie_seed;
    /* One allocation: the heap, then each candidate's bucket, then the order. */
    size_t kk = k ? k : 1;
    hent_t *h = malloc(kk * (sizeof *h + 2 * sizeof(uint16_t)));
    if (!h)
        abort();
    uint16_t *bk = (uint16_t *)(h + kk), *order = bk + kk;
    _Static_assert(ACC_MAX < 65536, "bucket counts and candidate indices fit in 16 bits");
    /* The candidates by bucket, best bucket first (a counting sort): each slice is then
     * the next run of order, however many slices an answer takes (anti-repetition can
     * push an answer deep). Even and odd candidates are counted and placed apart: many
     * share a bucket, and one counter would chain every increment to the one before. */
    uint16_t even[SCORE_BUCKETS] = {0}, odd[SCORE_BUCKETS] = {0}, count[SCORE_BUCKETS];
    /* Only the buckets from the lowest to the highest used are walked (an answer's scores
     * span a hundred or so of the 512: the walk of all of them was a fifth of this). */
    uint32_t bmin = k ? SCORE_BUCKETS - 1 : 0, bmax = 0;
    size_t i = 0;
    for (; i + 1 < k; i += 2) {
        uint32_t b0 = score_bucket(hits[i].score), b1 = score_bucket(hits[i + 1].score);
        even[bk[i] = (uint16_t)b0]++;
        odd[bk[i + 1] = (uint16_t)b1]++;
        uint32_t lo = b0 < b1 ? b0 : b1, hi = b0 < b1 ? b1 : b0;
        bmin = lo < bmin ? lo : bmin;
        bmax = hi > bmax ? hi : bmax;
    }
    if (i < k) {
        uint32_t b0 = score_bucket(hits[i].score);
        even[bk[i] = (uint16_t)b0]++;
        bmin = b0 < bmin ? b0 : bmin;
        bmax = b0 > bmax ? b0 : bmax;
    }
    uint32_t at_even[SCORE_BUCKETS], at_odd[SCORE_BUCKETS];
    for (uint32_t b = bmax + 1, pos = 0; b-- > bmin;) {
        count[b] = (uint16_t)(even[b] + odd[b]);
        at_even[b] = pos;
        at_odd[b] = pos + even[b];
        pos += count[b];
    }
    for (i = 0; i + 1 < k; i += 2) {
        order[at_even[bk[i]]++] = (uint16_t)i;
        order[at_odd[bk[i + 1]]++] = (uint16_t)(i + 1);
    }
    if (i < k)
        order[at_even[bk[i]]++] = (uint16_t)i;
    uint32_t hi = bmax + 1; /* buckets at and above hi have been put on the heap */
    size_t next = 0;        /* their candidates: order[0..next) */
    float floor = INFINITY;      /* every candidate not put on the heap yet scores below it */
    emit_t e = {.ncats = 0, .skipped = 0, .m = 0};
    size_t n = 0;
    while (e.m < cap) {
        if (hi > bmin && (!n || ((h[0].at & HEAP_FINAL) && hent_score(&h[0]) < floor))) {
            uint32_t lo = hi, c = 0; /* the next slice */
            while (lo > bmin && c < FINISH_SLICE)
                c += count[--lo];
            for (size_t j = next; j < next + c; j++) {
                h[n] = hent(hits[order[j]].score, order[j], hits, seed);
                heap_up(h, n++, hits, seed);
                /* Its filter record is read when it comes to the top: a miss, asked now. */
                if (hits[order[j]].item < intern_count(st->items))
                    __builtin_prefetch(&st->filt[hits[order[j]].item]);
            }
            next += c;
            hi = lo;
            floor = score_floor(lo);
            continue;
        }
        if (!n)
            break;
        if (h[0].at & HEAP_FINAL) {
            rec_hit_t x = hits[h[0].at & ~HEAP_FINAL];
            x.score = hent_score(&h[0]);
            h[0] = h[--n];
            heap_down(h, n, 0, hits, seed);
            emit(st, f, &e, &x, out);
            continue;
        }
        /* The best raw ones, up to the first final one. */
        uint32_t at[FINISH_BATCH], items[FINISH_BATCH];
        float score[FINISH_BATCH];
        size_t nb = 0;
        while (n && nb < FINISH_BATCH && !(h[0].at & HEAP_FINAL)) {
            at[nb] = h[0].at;
            items[nb] = hits[h[0].at].item;
            nb++;
            h[0] = h[--n];
            heap_down(h, n, 0, hits, seed);
        }
        size_t kept = 0;
        for (size_t b = 0; b < nb; b++) {
            if (!passes(st, p, f, items[b]))
                continue;
            float sc = ruled_score(st, rules, nrules, items[b], hits[at[b]].score);
            if (sc > 0) {
                at[kept] = at[b];
                items[kept] = items[b];
                score[kept++] = sc;
            }
        }
        /* Shown again and again without a click: let something else have the place. */
        if (f->impressions && f->profile != PROF_NONE && kept)
            shown_demote(f->impressions, f->profile, items, score, kept, f->wall_ms);
        for (size_t b = 0; b < kept; b++)
            if (score[b] > 0) {
                h[n] = hent(score[b], at[b] | HEAP_FINAL, hits, seed);
                heap_up(h, n++, hits, seed);
            }
    }
    free(h);
    return e.m;
}

/* Filters, applies the business rules, orders, applies diversity and the offset, copies
 * up to cap hits. With a boost rule in force (it can lift anything) every candidate is
 * filtered and sorted; otherwise only as many as the answer needs (finish_lazy). */
static size_t finish(const state_t *st, const prof_t *p, const rec_filter_t *f, rec_hit_t *hits, size_t n,
                     rec_hit_t *out, size_t cap)
{
    active_t *rules = NULL;
    size_t nrules = 0;
    int boosts = 0, pins = 0;
    if (f->scenario && st->nrules) {
        rules = malloc(st->nrules * sizeof *rules);
        if (!rules)
            abort();
        nrules = active_rules(st, f, rules);
        for (size_t j = 0; j < nrules; j++) {
            boosts |= rules[j].r->action == RULE_BOOST;
            pins |= rules[j].r->action == RULE_PIN;
        }
    }
    /* Candidates without a positive score are dropped; for_you's rarely has one, so the
     * copying starts only at the first. */
    size_t k = 0;
    while (k < n && hits[k].score > 0)
        k++;
    for (size_t i = k; i < n; i++)
        if (hits[i].score > 0)
            hits[k++] = hits[i];
    size_t m;
    if (boosts) {
        rec_hit_t *work = malloc((k ? k : 1) * sizeof *work);
        if (!work)
            abort();
        m = rank_all(st, p, f, rules, nrules, hits, k, work, out, cap);
        free(work);
    } else {
        m = finish_lazy(st, p, f, rules, nrules, hits, k, out, cap);
    }
    if (pins && f->offset == 0) {
        /* Pins look for matches among all candidates, best first. */
        qsort(hits, k, sizeof *hits, hit_cmp);
        m = apply_pins(st, p, f, rules, nrules, hits, k, out, m, cap);
    }
    free(rules);
    return m;
}

/* ---- cached top lists -------------------------------------------------------------- */

enum { TOP_TRENDING, TOP_POPULAR };

typedef struct {
    int kind;
    uint32_t cat;     /* INTERN_NONE: all items */
    int64_t built_ms; /* 0: never built */
    size_t n;
    rec_hit_t hit[TOP_LIST];
} top_list_t;

/* An entry is two lists, the current one and the next one being written, so that a
 * rebuild never makes an answer wait: answers read the current list without a lock and
 * keep their copy only if no new list was published meanwhile (a seqlock over two
 * buffers: a writer only ever writes the buffer that is not current). */
typedef struct {
    uint64_t ver; /* atomic: list[ver & 1] is current; one more per publication */
    int building; /* atomic: a thread rebuilds it; the others use the old list meanwhile */
    int used;     /* atomic: asked for since the refresher last rebuilt it */
    top_list_t list[2];
} top_t;

#define CACHE_ENTRIES 2048 /* power of two; a shop has a few hundred categories */
_Static_assert(CACHE_ENTRIES <= 65536, "the refresher lists due entries in 16 bits");
#define CACHE_PROBES 8

struct rec_cache {
    /* Answers read the entries without a lock (four times per for_you answer); whoever
     * creates, takes over or publishes an entry holds write_mu. */
    pthread_mutex_t write_mu;
    pthread_mutex_t mu;  /* stop, with wake */
    pthread_cond_t wake; /* stops the refresher */
    int64_t ttl_ms;
    top_t *e[CACHE_ENTRIES]; /* atomic pointers, set once under write_mu, freed at the end */
    state_t *st;             /* set when the refresher runs */
    pthread_t refresher;
    int stop;
};

rec_cache_t *rec_cache_new(int64_t ttl_ms)
{
    rec_cache_t *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    pthread_mutex_init(&c->write_mu, NULL);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->wake, NULL);
    c->ttl_ms = ttl_ms;
    return c;
}

static void build_top_chunked(state_t *st, top_list_t *t);

static const top_list_t *current(const top_t *t, uint64_t *ver)
{
    *ver = __atomic_load_n(&t->ver, __ATOMIC_ACQUIRE);
    return &t->list[*ver & 1];
}

/* Makes (kind, cat, built_ms, hit[0..n)) t's current list (with write_mu held). */
static void publish(top_t *t, int kind, uint32_t cat, int64_t built_ms, const rec_hit_t *hit, size_t n)
{
    uint64_t v = __atomic_load_n(&t->ver, __ATOMIC_RELAXED);
    top_list_t *next = &t->list[(v + 1) & 1];
    next->kind = kind;
    next->cat = cat;
    next->built_ms = built_ms;
    next->n = n;
    if (n)
        memcpy(next->hit, hit, n * sizeof *next->hit);
    __atomic_store_n(&t->ver, v + 1, __ATOMIC_RELEASE);
}

/* Whether a list will do at wall time: young enough, or being rebuilt (or due to be,
 * by the refresher), so that the old list serves meanwhile. */
static int usable(const rec_cache_t *c, const top_t *t, const top_list_t *l, int64_t wall)
{
    return l->built_ms && c->ttl_ms &&
           (wall - l->built_ms < c->ttl_ms || __atomic_load_n(&t->building, __ATOMIC_RELAXED) || c->st);
}

/* Rebuilds entry i if it is due: built before, asked for since, and not being built. */
static void refresh_entry(rec_cache_t *c, size_t i, top_list_t *nt)
{
    pthread_mutex_lock(&c->write_mu);
    top_t *t = c->e[i];
    uint64_t v;
    const top_list_t *l = t ? current(t, &v) : NULL;
    if (!t || !l->built_ms || t->building || !__atomic_load_n(&t->used, __ATOMIC_RELAXED)) {
        pthread_mutex_unlock(&c->write_mu);
        return;
    }
    __atomic_store_n(&t->building, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&t->used, 0, __ATOMIC_RELAXED);
    nt->kind = l->kind;
    nt->cat = l->cat;
    pthread_mutex_unlock(&c->write_mu);
    build_top_chunked(c->st, nt);
    pthread_mutex_lock(&c->write_mu);
    publish(t, nt->kind, nt->cat, time_now_ms(), nt->hit, nt->n);
    __atomic_store_n(&t->building, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&c->write_mu);
}

static void *refresher_main(void *arg)
{
    rec_cache_t *c = arg;
    top_list_t *nt = malloc(sizeof *nt);
    uint16_t *due = malloc(CACHE_ENTRIES * sizeof *due);
    if (!nt || !due)
        abort();
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (c->ttl_ms % 1000) * 1000000;
        ts.tv_sec += c->ttl_ms / 1000 + ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&c->wake, &c->mu, &ts);
        if (c->stop)
            break;
        pthread_mutex_unlock(&c->mu);
        /* Which lists are due; each is then rebuilt on its own, outside any lock, and
         * published under write_mu (refresh_entry checks again there). */
        size_t ndue = 0;
        pthread_mutex_lock(&c->write_mu);
        for (size_t i = 0; i < CACHE_ENTRIES; i++) {
            const top_t *t = c->e[i];
            uint64_t v;
            if (t && current(t, &v)->built_ms && !t->building && __atomic_load_n(&t->used, __ATOMIC_RELAXED))
                due[ndue++] = (uint16_t)i;
        }
        pthread_mutex_unlock(&c->write_mu);
        for (size_t i = 0; i < ndue; i++) {
            refresh_entry(c, due[i], nt);
            /* Hundreds of lists are due each second, tens of milliseconds of work: let a
             * loop woken meanwhile go first rather than wait out this thread's slice (a
             * refresh run back to back was the p99 of answers at half load). Without
             * anything else to run, this returns at once. */
            sched_yield();
        }
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    free(due);
    free(nt);
    return NULL;
}

int rec_cache_start(rec_cache_t *c, state_t *st)
{
    if (c->ttl_ms <= 0 || c->st)
        return 0;
    c->st = st;
    if (pthread_create(&c->refresher, NULL, refresher_main, c) != 0) {
        c->st = NULL;
        return -1;
    }
    return 0;
}

void rec_cache_free(rec_cache_t *c)
{
    if (!c)
        return;
    if (c->st) {
        pthread_mutex_lock(&c->mu);
        c->stop = 1;
        pthread_cond_signal(&c->wake);
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->refresher, NULL);
    }
    pthread_cond_destroy(&c->wake);
    for (size_t i = 0; i < CACHE_ENTRIES; i++)
        free(c->e[i]);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->write_mu);
    free(c);
}

static size_t cache_hash(int kind, uint32_t cat)
{
    return (size_t)hash_mix(((uint64_t)kind << 32) | cat) & (CACHE_ENTRIES - 1);
}

/* Without a lock: copies up to limit hits of the usable current list of (kind, cat)
 * into out and returns 1 (the count in *n), or returns 0 when there is none. */
static int read_top(rec_cache_t *c, int kind, uint32_t cat, int64_t wall, rec_hit_t *out, size_t limit, size_t *n)
{
    if (limit > TOP_LIST)
        limit = TOP_LIST;
    size_t h = cache_hash(kind, cat);
    for (int attempt = 0; attempt < 4; attempt++) {
        top_t *t = NULL;
        const top_list_t *l = NULL;
        uint64_t v = 0;
        for (int i = 0; i < CACHE_PROBES; i++) {
            top_t *p = __atomic_load_n(&c->e[(h + (size_t)i) & (CACHE_ENTRIES - 1)], __ATOMIC_ACQUIRE);
            if (!p)
                return 0;
            const top_list_t *pl = current(p, &v);
            if (pl->kind == kind && pl->cat == cat) {
                t = p;
                l = pl;
                break;
            }
        }
        if (!t || !usable(c, t, l, wall))
            return 0;
        size_t m = l->n < limit ? l->n : limit; /* limit <= TOP_LIST: in bounds even if torn */
        memcpy(out, l->hit, m * sizeof *out);
        /* The copy counts only if the list stayed current all along; a writer writes
         * the other buffer until it publishes, and this one only after that. */
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&t->ver, __ATOMIC_RELAXED) == v) {
            if (!__atomic_load_n(&t->used, __ATOMIC_RELAXED))
                __atomic_store_n(&t->used, 1, __ATOMIC_RELAXED);
            *n = m;
            return 1;
        }
    }
    return 0;
}

/* The entry of (kind, cat), created (or taking over the last probed slot) when absent.
 * Call with write_mu held. */
static top_t *cache_slot(rec_cache_t *c, int kind, uint32_t cat)
{
    size_t h = cache_hash(kind, cat), at = h;
    uint64_t v;
    for (int i = 0; i < CACHE_PROBES; i++) {
        at = (h + (size_t)i) & (CACHE_ENTRIES - 1);
        top_t *t = c->e[at];
        if (t && current(t, &v)->kind == kind && current(t, &v)->cat == cat)
            return t;
        if (!t)
            break;
    }
    top_t *t = c->e[at];
    if (!t) {
        t = calloc(1, sizeof *t);
        if (!t)
            abort();
    } else if (t->building) {
        return NULL; /* its builder still writes it: do without the cache this time */
    }
    publish(t, kind, cat, 0, NULL, 0); /* readers of the old (kind, cat) see the version move */
    __atomic_store_n(&t->used, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&c->e[at], t, __ATOMIC_RELEASE);
    return t;
}

static float top_score(const state_t *st, int kind, uint32_t item, int64_t now_ms)
{
    return kind == TOP_TRENDING ? st_item_trending(st, item, now_ms) : st_item_popularity(st, item, now_ms);
}

/* Keeps the TOP_LIST best of a scan: a min-heap on score. */
static void heap_push(rec_hit_t *h, size_t *n, rec_hit_t x)
{
    if (*n == TOP_LIST) {
        if (x.score <= h[0].score)
            return;
        h[0] = x;
        size_t i = 0;
        for (;;) { /* sift down */
            size_t l = 2 * i + 1, r = l + 1, m = i;
            if (l < *n && h[l].score < h[m].score)
                m = l;
            if (r < *n && h[r].score < h[m].score)
                m = r;
            if (m == i)
                break;
            rec_hit_t t = h[i];
            h[i] = h[m];
            h[m] = t;
            i = m;
        }
        return;
    }
    size_t i = (*n)++;
    h[i] = x;
    while (i > 0 && h[(i - 1) / 2].score > h[i].score) { /* sift up */
        rec_hit_t t = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

/* The items a list of cat ranks: its category's, or all (ids NULL, the first n). */
static const uint32_t *top_items(const state_t *st, uint32_t cat, uint32_t *n)
{
    if (cat == INTERN_NONE) {
        *n = intern_count(st->items);
        return NULL;
    }
    *n = st->cat_items[cat].n;
    return st->cat_items[cat].v;
}

/* Puts the live items at [from, to) of the list's items on t's heap, scored at now_ms;
 * returns how many items the list ranks. */
static uint32_t top_scan(const state_t *st, top_list_t *t, uint32_t from, uint32_t to, int64_t now_ms)
{
    rec_why_t why = t->kind == TOP_TRENDING ? WHY_TRENDING : WHY_POPULAR;
    uint32_t src = t->kind == TOP_TRENDING ? SRC_TRENDING : SRC_POPULAR;
    uint32_t n;
    const uint32_t *ids = top_items(st, t->cat, &n);
    for (uint32_t i = from; i < to && i < n; i++) {
        uint32_t item = ids ? ids[i] : i;
        if (!st->filt[item].live)
            continue;
        float s = top_score(st, t->kind, item, now_ms);
        if (s > 0)
            heap_push(t->hit, &t->n, (rec_hit_t){item, s, why, t->cat, src});
    }
    return n;
}

static int hit_by_item(const void *a, const void *b)
{
    const rec_hit_t *x = a, *y = b;
    return x->item < y->item ? -1 : x->item > y->item;
}

static void build_top(const state_t *st, top_list_t *t, int64_t now_ms)
{
    t->n = 0;
    top_scan(st, t, 0, UINT32_MAX, now_ms);
    qsort(t->hit, t->n, sizeof t->hit[0], hit_cmp);
}

#define REFRESH_CHUNK 4096 /* items scanned per hold of the store's lock when refreshing */

/* build_top for the refresher, which holds no lock: the scan takes the store's read
 * lock for REFRESH_CHUNK items at a time and yields between. A list of all items was
 * milliseconds of one thread's time under the lock: a writer waited it out, and the
 * answers queued behind the writer (the lock prefers writers), or the loops behind the
 * thread. Between chunks the catalog may change; an item removed from a category and
 * added back moves to its end and can be scanned twice, so the list drops repeats. */
static void build_top_chunked(state_t *st, top_list_t *t)
{
    t->n = 0;
    int64_t now_ms = 0; /* one time for the whole list, so that its scores compare */
    for (uint32_t from = 0;; from += REFRESH_CHUNK) {
        pthread_rwlock_rdlock(&st->lock);
        if (!from)
            now_ms = st->last_event_ms;
        uint32_t n = top_scan(st, t, from, from + REFRESH_CHUNK, now_ms);
        pthread_rwlock_unlock(&st->lock);
        if (n <= from + REFRESH_CHUNK)
            break;
        sched_yield();
    }
    qsort(t->hit, t->n, sizeof t->hit[0], hit_by_item);
    size_t kept = 0;
    for (size_t i = 0; i < t->n; i++)
        if (!kept || t->hit[kept - 1].item != t->hit[i].item)
            t->hit[kept++] = t->hit[i];
        else if (t->hit[i].score > t->hit[kept - 1].score)
            t->hit[kept - 1] = t->hit[i];
    t->n = kept;
    qsort(t->hit, t->n, sizeof t->hit[0], hit_cmp);
}

/* Copies the first `limit` entries of the top list of (kind, cat) into out. A list older
 * than the cache's TTL is rebuilt by one request while the others go on with the old
 * one; a list never built yet is built by whoever needs it. */
static size_t top_list(const state_t *st, rec_cache_t *c, int kind, uint32_t cat, int64_t now_ms, rec_hit_t *out,
                       size_t limit)
{
    int64_t wall = time_now_ms();
    size_t n;
    if (read_top(c, kind, cat, wall, out, limit, &n)) /* the common case: many answers at once */
        return n;

    pthread_mutex_lock(&c->write_mu);
    top_t *t = cache_slot(c, kind, cat);
    uint64_t v;
    if (t) {
        const top_list_t *l = current(t, &v);
        __atomic_store_n(&t->used, 1, __ATOMIC_RELAXED);
        if (usable(c, t, l, wall)) { /* another request built it meanwhile */
            n = l->n < limit ? l->n : limit;
            memcpy(out, l->hit, n * sizeof *out);
            pthread_mutex_unlock(&c->write_mu);
            return n;
        }
        __atomic_store_n(&t->building, 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&c->write_mu);

    top_list_t *nt = malloc(sizeof *nt);
    if (!nt)
        abort();
    nt->kind = kind;
    nt->cat = cat;
    build_top(st, nt, now_ms);
    n = nt->n < limit ? nt->n : limit;
    memcpy(out, nt->hit, n * sizeof *out);

    pthread_mutex_lock(&c->write_mu);
    if (t) { /* no one takes over an entry being built */
        publish(t, kind, cat, wall, nt->hit, nt->n);
        __atomic_store_n(&t->building, 0, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&c->write_mu);
    free(nt);
    return n;
}

/* ---- scenarios --------------------------------------------------------------------- */

static size_t finish_acc(const state_t *st, const prof_t *p, const rec_filter_t *f, acc_t *a, rec_hit_t *out,
                         size_t cap)
{
    size_t n = finish(st, p, f, a->e, a->n, out, cap);
    free(a);
    return n;
}

/* Whether item is among p's recent interactions. An answer asks this of every candidate
 * (a thousand or more), so a 1024-bit Bloom filter of the recent items turns away all but
 * about 1.5% of the others before the scan (with 64 bits it was a fifth of them, and
 * these checks a fifth of candidate generation). */
typedef struct {
    uint64_t w[16];
} bloom_t;

static uint32_t bloom_pos(uint32_t item)
{
    return (item * 2654435761u) >> 22;
}

static void recent_bloom(const prof_t *p, bloom_t *b)
{
    memset(b, 0, sizeof *b);
    for (int i = 0; p && i < p->recent_n; i++) {
        uint32_t at = bloom_pos(p->recent_item[i]);
        b->w[at >> 6] |= 1ull << (at & 63);
    }
}

static int in_recent(const prof_t *p, const bloom_t *b, uint32_t item)
{
    uint32_t at = bloom_pos(item);
    if (!(b->w[at >> 6] & (1ull << (at & 63))))
        return 0;
    for (int i = 0; i < p->recent_n; i++)
        if (p->recent_item[i] == item)
            return 1;
    return 0;
}

/* A customer's items as the trained models read them (store ids): the recent
 * interactions and everything bought, each with the summed weight of its events, newest
 * first, at most MODEL_HIST. Times are in seconds; within one second the order of the
 * recent interactions (log order) decides, which the sequence model reads. */
typedef struct {
    uint32_t item;
    float w, r; /* summed event weights; recency: decay^(its place, newest first) */
    int64_t ts;
    uint32_t ord; /* place in the recent interactions, newest 0; past them: bought earlier */
} hist_t;

static int hist_newer(const void *a, const void *b)
{
    const hist_t *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts > y->ts ? -1 : 1;
    if (x->ord != y->ord)
        return x->ord < y->ord ? -1 : 1;
    return x->item < y->item ? -1 : x->item > y->item;
}

static size_t live_history(const state_t *st, const prof_t *p, float decay, hist_t *out)
{
    const float *w = st->cfg.prof.weight;
    size_t n = 0;
    hist_t *all = malloc(((size_t)p->recent_n + p->nbought + 1) * sizeof *all);
    if (!all)
        abort();
    for (int k = 0; k < p->recent_n; k++) {
        uint32_t item;
        int type;
        int64_t ts;
        prof_recent(p, k, &item, &type, &ts);
        if (w[type] <= 0)
            continue;
        size_t i = 0;
        while (i < n && all[i].item != item)
            i++;
        if (i == n)
            all[n++] = (hist_t){item, 0, 1, ts, (uint32_t)k};
        if (type != EVT_PURCHASE) /* purchases are counted from the bought list */
            all[i].w += w[type];
    }
    size_t nrecent = n; /* bought items are distinct: only these can repeat one */
    for (uint32_t b = 0; b < p->nbought; b++) {
        const prof_bought_t *pb = &p->bought[b];
        size_t i = 0;
        while (i < nrecent && all[i].item != pb->item)
            i++;
        if (i == nrecent)
            i = n;
        int64_t ts = (int64_t)pb->last_s * 1000;
        if (i == n)
            all[n++] = (hist_t){pb->item, 0, 1, ts, PROF_RECENT};
        all[i].w += w[EVT_PURCHASE] * pb->count;
        if (ts > all[i].ts)
            all[i].ts = ts;
    }
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) /* a purchase seen in the ring but no longer in the bought list */
        if (all[i].w > 0)
            all[kept++] = all[i];
    n = kept;
    if (n > 32) {
        qsort(all, n, sizeof *all, hist_newer);
    } else { /* the usual few: insertion, without calls through a pointer */
        for (size_t i = 1; i < n; i++) {
            hist_t x = all[i];
            size_t j = i;
            for (; j > 0 && hist_newer(&x, &all[j - 1]) < 0; j--)
                all[j] = all[j - 1];
            all[j] = x;
        }
    }
    if (n > MODEL_HIST)
        n = MODEL_HIST;
    float r = 1;
    for (size_t i = 0; i < n; i++, r *= decay)
        all[i].r = r;

    memcpy(out, all, n * sizeof *out);
    free(all);
    return n;
}

/* The history in a model's item numbers. */
static size_t model_input(const ms_model_t *mm, const hist_t *h, size_t nh, model_in_t *in)
{
    size_t n = 0;
    for (size_t i = 0; i < nh; i++)
        if (h[i].item < mm->nstore && mm->to_model[h[i].item] != MODEL_NONE)
            in[n++] = (model_in_t){mm->to_model[h[i].item], h[i].w, h[i].r};
    return n;
}

/* The weight of history item i in the content profile: what its events say, decayed
 * by age (the affinities' half-life). */
static float content_weight(const state_t *st, const hist_t *h, int64_t now_ms)
{
    double age = now_ms > h->ts ? (double)(now_ms - h->ts) : 0;
    return log1pf(h->w) * h->r * (float)exp2(-age / st->cfg.prof.half_life_ms);
}

/* Items like what the customer did: where co-occurrence is thin, the sum of the history
 * items' TF-IDF vectors (the content profile) searched over the whole catalog. Where it
 * has much to say, content adds what co-occurrence cannot see yet, the fresh items: each
 * history item's cached fresh neighbours, weighted as in the profile and summed (the
 * profile's dot product, item by item, without a search per answer). */
static size_t content_candidates(const state_t *st, const hist_t *h, size_t nh, int everything, int64_t now_ms,
                                 vec_hit_t *out, uint32_t *because, size_t k)
{
    if (nh > CONTENT_HIST)
        nh = CONTENT_HIST; /* the newest: older ones have decayed, and each costs a look-up per term */
    if (everything) {
        ct_query_t q;
        ct_query_init(&q);
        for (size_t i = 0; i < nh; i++)
            ct_query_add(st->content, &q, h[i].item, content_weight(st, &h[i], now_ms));
        size_t n = ct_search(st->content, &q, out, k);
        for (size_t i = 0; i < n; i++)
            because[i] = INTERN_NONE; /* worked out for the picks that make the answer */
        return n;
    }
    for (size_t i = 0; i < nh; i++) /* a miss each: overlap them */
        ct_fresh_near_prefetch(st->content, h[i].item);
    for (size_t i = 0; i < nh; i++)
        ct_fresh_near_prefetch_terms(st->content, h[i].item);
    vec_hit_t sum[CONTENT_HIST * CT_NEAR];
    float top[CONTENT_HIST * CT_NEAR]; /* the largest single history item's share, and which */
    uint32_t top_of[CONTENT_HIST * CT_NEAR];
    uint8_t at[256] = {0}; /* item hash -> 1 + its index in sum (linear probing, at most half full) */
    size_t n = 0;
    int budget = CONTENT_REFRESH;
    for (size_t i = 0; i < nh; i++) {
        float w = content_weight(st, &h[i], now_ms);
        vec_hit_t near[CT_NEAR];
        size_t m = w > 0 ? ct_fresh_near(st->content, h[i].item, near, CT_NEAR, &budget) : 0;
        for (size_t j = 0; j < m; j++) {
            size_t s = (near[j].item * 2654435761u) >> 24;
            while (at[s] && sum[at[s] - 1].item != near[j].item)
                s = (s + 1) & 255;
            if (!at[s]) {
                sum[n] = (vec_hit_t){near[j].item, 0};
                top[n] = 0;
                top_of[n] = h[i].item;
                at[s] = (uint8_t)++n;
            }
            size_t x = at[s] - 1;
            sum[x].score += w * near[j].score;
            if (w * near[j].score > top[x]) {
                top[x] = w * near[j].score;
                top_of[x] = h[i].item;
            }
        }
    }
    if (k > CONTENT_FRESH)
        k = CONTENT_FRESH;
    vec_hit_t pick[CONTENT_HIST * CT_NEAR]; /* sum stays in place: at indexes it */
    memcpy(pick, sum, n * sizeof *pick);
    n = vec_select_hits(pick, n, k);
    vec_sort_hits(pick, n);
    for (size_t i = 0; i < n; i++) {
        out[i] = pick[i];
        size_t s = (pick[i].item * 2654435761u) >> 24;
        while (sum[at[s] - 1].item != pick[i].item)
            s = (s + 1) & 255;
        because[i] = top_of[at[s] - 1];
    }
    return n;
}

static const struct {
    model_kind_t kind;
    rec_why_t why;
    uint32_t src;
} model_sources[] = {{MODEL_KNN, WHY_SIMILAR_TO, SRC_KNN}, {MODEL_EASE, WHY_CHOSEN_WITH, SRC_EASE},
                     {MODEL_IALS, WHY_TASTE, SRC_IALS}, {MODEL_SEQ, WHY_NEXT, SRC_SEQ}};

static float model_weight(const rec_blend_t *b, model_kind_t k)
{
    return k == MODEL_KNN ? b->knn : k == MODEL_EASE ? b->ease : k == MODEL_IALS ? b->ials : b->seq;
}

/* The history item that speaks most for a model's pick: the reason shown with it. */
static uint32_t model_because(const ms_model_t *mm, const model_in_t *in, size_t nin, uint32_t item)
{
    const model_t *m = mm->m;
    if (m->kind == MODEL_SEQ) /* what comes after the latest item */
        return nin ? mm->to_store[in[0].item] : INTERN_NONE;
    uint32_t best = MODEL_NONE;
    float best_v = -INFINITY;
    for (size_t h = 0; h < nin; h++) {
        float v = 0;
        if (m->kind == MODEL_EASE) {
            v = m->B[(size_t)in[h].item * m->nitems + item];
        } else if (m->kind == MODEL_KNN) {
            const uint32_t *nb = m->nbr + (size_t)in[h].item * m->dim;
            for (uint32_t i = 0; i < m->dim && nb[i] != MODEL_NONE; i++)
                if (nb[i] == item) {
                    v = m->sim[(size_t)in[h].item * m->dim + i];
                    break;
                }
        } else {
            v = vec_dot(m->Y + (size_t)in[h].item * m->dim, m->Y + (size_t)item * m->dim, m->dim);
        }
        v *= model_cell(m, in[h].w) * in[h].r;
        if (v > best_v) {
            best_v = v;
            best = in[h].item;
        }
    }
    return best == MODEL_NONE ? INTERN_NONE : mm->to_store[best];
}

/* for_you's candidate generation: every source into the accumulator (each source's own
 * score kept apart, for the ranker), the history the models and content read into hist.
 * Returns the accumulator (caller frees). */
static acc_t *gather(const state_t *st, rec_cache_t *c, const ms_set_t *models, const rec_blend_t *blend,
                     const prof_t *p, int64_t now_ms, int feats, hist_t *hist, size_t *nhist_out)
{
    acc_t *a = acc_new();
    a->feats = feats;
    rec_hit_t *top = malloc(TOP_LIST * sizeof *top);
    if (!top)
        abort();
    const float *w = st->cfg.prof.weight;
    int personal = 0;
    size_t nhist = 0, ncooc = 0; /* co-occurrence's proposals */
    bloom_t bloom;
    recent_bloom(p, &bloom);
    if (p && p->nbought) /* searched for each candidate that makes it to the filters */
        prefetch_span(p->bought, (p->nbought < 32 ? p->nbought : 32) * sizeof *p->bought);
    if (p) {
        /* Neighbours of what the customer did last, newest first and weighted by how
         * much each kind of event says. An item seen, carted and bought is one seed with
         * the three weights summed (a third of the recent interactions repeat an item). */
        uint32_t seed[MAX_SEEDS] = {0};
        float seed_sw[MAX_SEEDS];
        int nseed = 0;
        float seed_w = 1.0f;
        for (int k = 0; k < p->recent_n && k < MAX_SEEDS && (blend->coview > 0 || blend->cobuy > 0);
             k++, seed_w *= st->cfg.recency_decay) {
            uint32_t item;
            int type;
            int64_t ts;
            prof_recent(p, k, &item, &type, &ts);
            float sw = seed_w * w[type];
            if (sw <= 0)
                continue;
            int j = 0;
            while (j < nseed && seed[j] != item)
                j++;
            if (j == nseed) {
                seed[nseed] = item;
                seed_sw[nseed++] = 0;
            }
            seed_sw[j] += sw;
        }
        if (blend->coview > 0)
            cooc_prefetch_items(st->coview, seed, (size_t)nseed);
        if (blend->cobuy > 0)
            cooc_prefetch_items(st->cobuy, seed, (size_t)nseed);
        for (int k = 0; k < nseed; k++) { /* then every list's neighbours' masses, all at once */
            const cooc_slot_t *s = NULL;
            size_t n = blend->coview > 0 ? cooc_get(st->coview, seed[k], &s) : 0;
            cooc_prefetch(st->coview, s, n);
            n = blend->cobuy > 0 ? cooc_get(st->cobuy, seed[k], &s) : 0;
            cooc_prefetch(st->cobuy, s, n);
        }
        for (int k = 0; k < nseed; k++) {
            uint32_t item = seed[k];
            float sw = seed_sw[k];
            const cooc_slot_t *s = NULL;
            size_t n = blend->coview > 0 ? cooc_get(st->coview, item, &s) : 0;
            for (size_t i = 0; i < n; i++)
                if (!in_recent(p, &bloom, s[i].item)) {
                    acc_source(a, s[i].item, blend->coview, sw * cooc_sim(st->coview, item, &s[i]), WHY_VIEWED_WITH,
                               item, SRC_COVIEW);
                    ncooc++;
                }
            n = blend->cobuy > 0 ? cooc_get(st->cobuy, item, &s) : 0;
            for (size_t i = 0; i < n; i++)
                if (!in_recent(p, &bloom, s[i].item)) {
                    acc_source(a, s[i].item, blend->cobuy, sw * cooc_sim(st->cobuy, item, &s[i]), WHY_BOUGHT_WITH,
                               item, SRC_COBUY);
                    ncooc++;
                }
            personal = 1;
        }
        /* Popular items of the categories the customer likes most. */
        float total = 0, catw[PROF_CATS];
        for (int i = 0; i < PROF_CATS && blend->category > 0; i++)
            total += catw[i] = prof_cat_weight(p, i, now_ms, &st->cfg.prof);
        for (int i = 0; i < PROF_CATS && total > 0; i++) {
            float cw = catw[i] / total;
            if (cw < 0.1f || p->cat[i] >= st->cat_cap)
                continue;
            size_t n = top_list(st, c, TOP_POPULAR, p->cat[i], now_ms, top, 40);
            for (size_t j = 0; j < n; j++)
                if (!in_recent(p, &bloom, top[j].item))
                    acc_source(a, top[j].item, blend->category, cw * top[j].score / top[0].score, WHY_CATEGORY,
                               p->cat[i], SRC_CATEGORY);
            personal = 1;
        }
        /* The trained models, each read with the customer's live history; the content
         * profile from the same history. */
        if (models || blend->content > 0)
            nhist = live_history(st, p, blend->history_decay, hist);
        if (blend->content > 0 && nhist) {
            vec_hit_t ch[CONTENT_CANDIDATES];
            uint32_t because[CONTENT_CANDIDATES];
            size_t n = content_candidates(st, hist, nhist, ncooc < CONTENT_THIN, now_ms, ch, because,
                                          CONTENT_CANDIDATES);
            for (size_t j = 0; j < n && ch[0].score > 0 && ch[j].score > 0; j++)
                if (!in_recent(p, &bloom, ch[j].item))
                    acc_source(a, ch[j].item, blend->content, ch[j].score / ch[0].score, WHY_CONTENT, because[j],
                               SRC_CONTENT);
            personal |= n > 0;
        }
        for (size_t k = 0; k < sizeof model_sources / sizeof model_sources[0] && nhist; k++) {
            const ms_model_t *mm = ms_get(models, model_sources[k].kind);
            float mw = model_weight(blend, model_sources[k].kind);
            if (!mm || mw <= 0)
                continue;
            model_in_t in[MODEL_HIST];
            size_t nin = model_input(mm, hist, nhist, in);
            vec_hit_t mh[MODEL_CANDIDATES];
            size_t n = nin ? model_score(mm->m, in, nin, mh, MODEL_CANDIDATES) : 0;
            for (size_t j = 0; j < n && mh[0].score > 0 && mh[j].score > 0; j++) {
                uint32_t item = mm->to_store[mh[j].item];
                if (item != INTERN_NONE && !in_recent(p, &bloom, item))
                    acc_source(a, item, mw, mh[j].score / mh[0].score, model_sources[k].why, INTERN_NONE,
                               model_sources[k].src);
            }
            personal |= n > 0;
        }
    }
    /* A visitor we know nothing of gets what sells now (popularity over the long
     * half-life) with a pinch of what is rising: on every log measured, rising items
     * alone were almost never a newcomer's first purchase (docs/EVAL.md). Everyone
     * else gets a pinch of both (so the ranker can weigh them). */
    size_t n = top_list(st, c, TOP_TRENDING, INTERN_NONE, now_ms, top, 50);
    float tw = personal ? blend->trending : COLD_TRENDING;
    for (size_t i = 0; i < n && tw > 0 && top[0].score > 0; i++)
        if (!in_recent(p, &bloom, top[i].item))
            acc_source(a, top[i].item, tw, top[i].score / top[0].score, WHY_TRENDING, INTERN_NONE, SRC_TRENDING);
    float pw = personal ? blend->popular : 1.0f;
    if (pw > 0) {
        n = top_list(st, c, TOP_POPULAR, INTERN_NONE, now_ms, top, 100);
        for (size_t i = 0; i < n && top[0].score > 0; i++)
            if (!in_recent(p, &bloom, top[i].item))
                acc_source(a, top[i].item, pw, top[i].score / top[0].score, WHY_POPULAR, INTERN_NONE, SRC_POPULAR);
    }
    free(top);
    /* (No source above proposed what the customer just looked at: it is on their screen
     * already.) */
    *nhist_out = nhist;
    return a;
}

/* What the "last item" features need, worked out once per answer. */
typedef struct {
    uint32_t last; /* the customer's newest item (store id), INTERN_NONE when none */
    const ms_model_t *knn, *ease, *ials;
    uint32_t last_knn, last_ease, last_ials; /* last in each model's numbering */
    vec_hit_t nbr[1000]; /* last's kNN neighbours, by item (model numbering) */
    size_t nnbr;
    float last_norm; /* of its iALS factors */
    ct_vec_t last_content;
} last_t;

static int by_item(const void *a, const void *b)
{
    const vec_hit_t *x = a, *y = b;
    return x->item < y->item ? -1 : x->item > y->item;
}

static uint32_t to_model(const ms_model_t *mm, uint32_t item)
{
    return mm && item < mm->nstore ? mm->to_model[item] : MODEL_NONE;
}

static void last_init(last_t *l, const content_t *st_content, const ms_set_t *models, const hist_t *hist,
                      size_t nhist, const prof_t *p)
{
    l->last = INTERN_NONE;
    if (p && p->recent_n) {
        int type;
        int64_t ts;
        prof_recent(p, 0, &l->last, &type, &ts);
    } else if (nhist) {
        l->last = hist[0].item;
    }
    l->knn = ms_get(models, MODEL_KNN);
    l->ease = ms_get(models, MODEL_EASE);
    l->ials = ms_get(models, MODEL_IALS);
    l->last_knn = to_model(l->knn, l->last);
    l->last_ease = to_model(l->ease, l->last);
    l->last_ials = to_model(l->ials, l->last);
    l->nnbr = 0;
    if (l->last_knn != MODEL_NONE) {
        const model_t *m = l->knn->m;
        for (uint32_t k = 0; k < m->dim && k < 1000 && m->nbr[(size_t)l->last_knn * m->dim + k] != MODEL_NONE; k++)
            l->nbr[l->nnbr++] = (vec_hit_t){m->nbr[(size_t)l->last_knn * m->dim + k], m->sim[(size_t)l->last_knn * m->dim + k]};
        qsort(l->nbr, l->nnbr, sizeof l->nbr[0], by_item);
    }
    ct_vector_new(st_content, l->last, &l->last_content);
    l->last_norm = 0;
    if (l->last_ials != MODEL_NONE) {
        const model_t *m = l->ials->m;
        const float *y = m->Y + (size_t)l->last_ials * m->dim;
        l->last_norm = sqrtf(vec_dot(y, y, m->dim));
    }
}

/* The ranker's features of candidate i of the accumulator. */
static void features(const state_t *st, const prof_t *p, const acc_t *a, size_t i, int64_t now_ms, const last_t *l,
                     float *x)
{
    uint32_t item = a->e[i].item;
    const st_item_t *it = &st->item[item];
    for (int s = 0; s < RK_NSOURCE_FEATS; s++) {
        x[s] = a->feat[i][s];
        x[RK_HAS_FIRST + s] = a->feat[i][s] > 0;
    }
    uint32_t events = 0;
    for (int t = 0; t < EVT__COUNT; t++)
        events += it->counts[t];
    x[RK_POPULARITY] = log1pf((float)events);
    x[RK_DECAYED_POP] = log1pf(st_item_popularity(st, item, now_ms));
    float tr = st_item_trending(st, item, now_ms);
    x[RK_TREND] = tr < -5 ? -5 : tr > 10 ? 10 : tr;
    double hours = it->last_event_ms && now_ms > it->last_event_ms ? (double)(now_ms - it->last_event_ms) / 3.6e6 : 0;
    x[RK_RECENCY] = it->last_event_ms ? (float)log1p(hours) : 10;
    x[RK_CAT_AFFINITY] = x[RK_BRAND_AFFINITY] = x[RK_PRICE_FIT] = 0;
    if (p) {
        float total = 0, mine = 0;
        for (int k = 0; k < PROF_CATS; k++) {
            float cw = prof_cat_weight(p, k, now_ms, &st->cfg.prof);
            total += cw;
            if (p->cat[k] != PROF_NONE && p->cat[k] < st->cat_cap && st_item_in_category(st, item, p->cat[k]))
                mine += cw;
        }
        x[RK_CAT_AFFINITY] = total > 0 ? mine / total : 0;
        total = mine = 0;
        for (int k = 0; k < PROF_BRANDS; k++) {
            float bw = prof_brand_weight(p, k, now_ms, &st->cfg.prof);
            total += bw;
            if (it->brand != INTERN_NONE && p->brand[k] == it->brand)
                mine += bw;
        }
        x[RK_BRAND_AFFINITY] = total > 0 ? mine / total : 0;
        double centre = prof_price_center(p);
        if (centre > 0 && it->price > 0)
            x[RK_PRICE_FIT] = (float)exp(-fabs(log(it->price / centre)));
    }
    x[RK_BLEND] = a->e[i].score;
    x[RK_LAST_COOC] = x[RK_LAST_KNN] = x[RK_LAST_EASE] = x[RK_LAST_IALS] = x[RK_LAST_CONTENT] = 0;
    if (l->last == INTERN_NONE)
        return;
    x[RK_LAST_COOC] = cooc_sim_with(st->coview, l->last, item) + cooc_sim_with(st->cobuy, l->last, item);
    x[RK_LAST_CONTENT] = ct_similarity_to(st->content, &l->last_content, item);
    uint32_t mi;
    if (l->nnbr && (mi = to_model(l->knn, item)) != MODEL_NONE) {
        vec_hit_t key = {mi, 0}, *hit = bsearch(&key, l->nbr, l->nnbr, sizeof key, by_item);
        if (hit)
            x[RK_LAST_KNN] = hit->score;
    }
    if (l->last_ease != MODEL_NONE && (mi = to_model(l->ease, item)) != MODEL_NONE)
        x[RK_LAST_EASE] = l->ease->m->B[(size_t)l->last_ease * l->ease->m->nitems + mi];
    if (l->last_norm > 0 && (mi = to_model(l->ials, item)) != MODEL_NONE) {
        const model_t *m = l->ials->m;
        const float *y = m->Y + (size_t)mi * m->dim;
        float n = sqrtf(vec_dot(y, y, m->dim));
        if (n > 0)
            x[RK_LAST_IALS] = vec_dot(y, m->Y + (size_t)l->last_ials * m->dim, m->dim) / (n * l->last_norm);
    }
}

size_t rec_for_you(const state_t *st, rec_cache_t *c, const ms_set_t *models, const rec_blend_t *blend,
                   const prof_t *p, const rec_filter_t *f, int64_t now_ms, rec_hit_t *out, size_t cap)
{
    rec_blend_t defaults;
    if (!blend) {
        rec_blend_default(&defaults);
        blend = &defaults;
    }
    hist_t hist[MODEL_HIST];
    size_t nhist;
    /* The learned ranker, when there is one, orders the candidates instead of the blend
     * (its probability keeps scores positive, as filters and rules expect). */
    const ms_model_t *rk = blend->ranker > 0 && p ? ms_get(models, MODEL_RANKER) : NULL;
    acc_t *a = gather(st, c, models, blend, p, now_ms, rk != NULL, hist, &nhist);
    if (rk) {
        const rk_model_t *rm = (const rk_model_t *)rk->m->ranker;
        float x[RK_NFEAT];
        last_t *l = malloc(sizeof *l);
        if (!l)
            abort();
        last_init(l, st->content, models, hist, nhist, p);
        for (size_t i = 0; i < a->n; i++) {
            if (a->e[i].score <= 0)
                continue;
            features(st, p, a, i, now_ms, l, x);
            float pr = 1.0f / (1.0f + expf(-rk_score(rm, x)));
            a->e[i].score = pr > 1e-30f ? pr : 1e-30f;
        }
        ct_vector_free(&l->last_content);
        free(l);
    }
    size_t m = finish_acc(st, p, f, a, out, cap);
    /* Name the reason of the models' picks that made the answer (only for these: it
     * takes a look at each history item). */
    ct_vec_t *hv = NULL; /* the history's content vectors, made once if a pick needs them */
    for (size_t i = 0; i < m; i++) {
        if (out[i].why == WHY_CONTENT && out[i].ref == INTERN_NONE) {
            if (!hv) {
                hv = calloc(nhist + 1, sizeof *hv);
                if (!hv)
                    abort();
                for (size_t h = 0; h < nhist; h++)
                    ct_vector_new(st->content, hist[h].item, &hv[h]);
            }
            ct_vec_t pick;
            float best = 0;
            if (ct_vector_new(st->content, out[i].item, &pick) == 0)
                for (size_t h = 0; h < nhist; h++) {
                    float sim = ct_vec_dot(&hv[h], &pick);
                    if (sim > best) {
                        best = sim;
                        out[i].ref = hist[h].item;
                    }
                }
            ct_vector_free(&pick);
        }
        for (size_t k = 0; k < sizeof model_sources / sizeof model_sources[0]; k++) {
            const ms_model_t *mm;
            if (out[i].why != model_sources[k].why || !(mm = ms_get(models, model_sources[k].kind)))
                continue;
            model_in_t in[MODEL_HIST];
            size_t nin = model_input(mm, hist, nhist, in);
            uint32_t mi = out[i].item < mm->nstore ? mm->to_model[out[i].item] : MODEL_NONE;
            out[i].ref = mi == MODEL_NONE ? INTERN_NONE : model_because(mm, in, nin, mi);
        }
    }
    for (size_t h = 0; hv && h < nhist; h++)
        ct_vector_free(&hv[h]);
    free(hv);
    return m;
}

static int cand_cmp(const void *a, const void *b)
{
    const rec_cand_t *x = a, *y = b;
    float sx = x->x[RK_BLEND], sy = y->x[RK_BLEND];
    if (sx != sy)
        return sx > sy ? -1 : 1;
    return x->item < y->item ? -1 : x->item > y->item;
}

size_t rec_candidates(const state_t *st, rec_cache_t *c, const ms_set_t *models, const rec_blend_t *blend,
                      const prof_t *p, const rec_filter_t *f, int64_t now_ms, rec_cand_t *out, size_t cap)
{
    hist_t hist[MODEL_HIST];
    size_t nhist, n = 0;
    acc_t *a = gather(st, c, models, blend, p, now_ms, 1, hist, &nhist);
    rec_cand_t *all = malloc((a->n + 1) * sizeof *all);
    last_t *l = malloc(sizeof *l);
    if (!all || !l)
        abort();
    last_init(l, st->content, models, hist, nhist, p);
    for (size_t i = 0; i < a->n; i++)
        if (a->e[i].score > 0 && passes(st, p, f, a->e[i].item)) {
            all[n].item = a->e[i].item;
            features(st, p, a, i, now_ms, l, all[n].x);
            n++;
        }
    ct_vector_free(&l->last_content);
    free(l);
    qsort(all, n, sizeof *all, cand_cmp);
    if (n > cap)
        n = cap;
    memcpy(out, all, n * sizeof *out);
    free(all);
    free(a);
    return n;
}

size_t rec_buy_again(const state_t *st, const prof_t *p, const rec_filter_t *f, int64_t now_ms, rec_hit_t *out,
                     size_t cap)
{
    acc_t *a = acc_new();
    rec_filter_t g = *f;
    g.exclude_bought = 0;
    if (p) {
        for (uint32_t i = 0; i < p->nbought; i++) {
            const prof_bought_t *b = &p->bought[i];
            double days = (double)(now_ms - (int64_t)b->last_s * 1000) / 86400000.0;
            if (days < 0)
                days = 0;
            /* Bought often and not too long ago: consumables come first. */
            float s = (float)(log1p(b->count) * exp(-days / 90.0)) * (b->count > 1 ? 2.0f : 1.0f);
            acc_add(a, b->item, s, WHY_BUY_AGAIN, b->count, SRC_HISTORY);
        }
    }
    return finish_acc(st, p, &g, a, out, cap);
}

size_t rec_recently_viewed(const state_t *st, const prof_t *p, const rec_filter_t *f, rec_hit_t *out, size_t cap)
{
    acc_t *a = acc_new();
    uint32_t seen[PROF_RECENT];
    int nseen = 0;
    for (int k = 0; p && k < p->recent_n; k++) {
        uint32_t item;
        int type;
        int64_t ts;
        if (prof_recent(p, k, &item, &type, &ts) != 0)
            break;
        if (type == EVT_SEARCH || type == EVT_REMOVE_FROM_CART) /* (bought items are filtered) */
            continue;
        int j = 0;
        while (j < nseen && seen[j] != item)
            j++;
        if (j < nseen) /* placed by its latest interaction */
            continue;
        seen[nseen++] = item;
        acc_add(a, item, (float)(PROF_RECENT - k), WHY_RECENT, (uint32_t)type, SRC_HISTORY);
    }
    return finish_acc(st, p, f, a, out, cap);
}

static size_t from_top(const state_t *st, rec_cache_t *c, int kind, const prof_t *p, const rec_filter_t *f,
                       int64_t now_ms, rec_hit_t *out, size_t cap)
{
    rec_hit_t *top = malloc(TOP_LIST * sizeof *top);
    if (!top)
        abort();
    /* A top list holds each item once: its hits are the candidates as they stand, scaled
     * so that the best scores 1, with no accumulator to merge them in (which cost as much
     * as the rest of the answer: a 300 KB table cleared and filled for 256 items). */
    size_t n = top_list(st, c, kind, f->category, now_ms, top, TOP_LIST);
    if (!n || top[0].score <= 0)
        n = 0;
    float best = n ? top[0].score : 0;
    for (size_t i = 0; i < n; i++) {
        top[i].score /= best;
        top[i].ref = f->category;
    }
    if (p) {
        /* A customer's liked categories lift their items a little: each item's category
         * path walked once, against the customer's few categories. */
        float total = 0, cw[PROF_CATS];
        for (int i = 0; i < PROF_CATS; i++)
            total += cw[i] = prof_cat_weight(p, i, now_ms, &st->cfg.prof);
        for (size_t i = 0; i < n && total > 0; i++)
            for (uint32_t c = st->filt[top[i].item].category; c != INTERN_NONE; c = st->cat_parent[c])
                for (int k = 0; k < PROF_CATS; k++)
                    if (p->cat[k] == c)
                        top[i].score *= 1.0f + 0.5f * cw[k] / total;
    }
    size_t m = finish(st, p, f, top, n, out, cap);
    free(top);
    return m;
}

size_t rec_trending(const state_t *st, rec_cache_t *c, const prof_t *p, const rec_filter_t *f, int64_t now_ms,
                    rec_hit_t *out, size_t cap)
{
    return from_top(st, c, TOP_TRENDING, p, f, now_ms, out, cap);
}

size_t rec_popular(const state_t *st, rec_cache_t *c, const prof_t *p, const rec_filter_t *f, int64_t now_ms,
                   rec_hit_t *out, size_t cap)
{
    return from_top(st, c, TOP_POPULAR, p, f, now_ms, out, cap);
}

size_t rec_similar(const state_t *st, rec_cache_t *c, const prof_t *p, uint32_t item, const rec_filter_t *f,
                   int64_t now_ms, rec_hit_t *out, size_t cap)
{
    acc_t *a = acc_new();
    rec_filter_t g = *f;
    const uint32_t self[1] = {item};
    const cooc_slot_t *s;
    size_t n = cooc_get(st->coview, item, &s);
    for (size_t i = 0; i < n; i++)
        acc_add(a, s[i].item, cooc_sim(st->coview, item, &s[i]), WHY_VIEWED_WITH, item, SRC_COVIEW);
    /* Thin co-occurrence: items like it by content first, then what is popular in the
     * same leaf category. */
    if (n < 10 && ct_has(st->content, item)) {
        ct_query_t q;
        ct_query_init(&q);
        ct_query_add(st->content, &q, item, 1.0f);
        vec_hit_t ch[64];
        size_t m = ct_search(st->content, &q, ch, 64);
        for (size_t i = 0; i < m; i++)
            if (ch[i].item != item)
                acc_add(a, ch[i].item, 0.3f * ch[i].score, WHY_CONTENT, item, SRC_CONTENT);
    }
    uint32_t cat = item < intern_count(st->items) ? st->item[item].category : INTERN_NONE;
    if (n < 10 && cat != INTERN_NONE) {
        rec_hit_t *top = malloc(TOP_LIST * sizeof *top);
        if (!top)
            abort();
        size_t m = top_list(st, c, TOP_POPULAR, cat, now_ms, top, 50);
        for (size_t i = 0; i < m; i++)
            acc_add(a, top[i].item, 0.01f * top[i].score / top[0].score, WHY_CATEGORY, cat, SRC_CATEGORY);
        free(top);
    }
    /* The item itself never, whatever the caller excludes. */
    uint32_t *ex = NULL;
    if (f->nexclude) {
        ex = malloc((f->nexclude + 1) * sizeof *ex);
        if (!ex)
            abort();
        memcpy(ex, f->exclude, f->nexclude * sizeof *ex);
        ex[f->nexclude] = item;
        g.exclude = ex;
        g.nexclude = f->nexclude + 1;
    } else {
        g.exclude = self;
        g.nexclude = 1;
    }
    size_t m = finish_acc(st, p, &g, a, out, cap);
    free(ex);
    return m;
}

size_t rec_bought_together(const state_t *st, const prof_t *p, uint32_t item, const rec_filter_t *f, rec_hit_t *out,
                           size_t cap)
{
    acc_t *a = acc_new();
    const cooc_slot_t *s;
    size_t n = cooc_get(st->cobuy, item, &s);
    for (size_t i = 0; i < n; i++)
        if (s[i].item != item)
            acc_add(a, s[i].item, cooc_sim(st->cobuy, item, &s[i]), WHY_BOUGHT_WITH, item, SRC_COBUY);
    return finish_acc(st, p, f, a, out, cap);
}

size_t rec_cart(const state_t *st, const prof_t *p, const uint32_t *items, size_t nitems, const rec_filter_t *f,
                rec_hit_t *out, size_t cap)
{
    acc_t *a = acc_new();
    for (size_t k = 0; k < nitems; k++) {
        const cooc_slot_t *s;
        size_t n = cooc_get(st->cobuy, items[k], &s);
        for (size_t i = 0; i < n; i++)
            acc_add(a, s[i].item, cooc_sim(st->cobuy, items[k], &s[i]), WHY_BOUGHT_WITH, items[k], SRC_COBUY);
        n = cooc_get(st->coview, items[k], &s);
        for (size_t i = 0; i < n; i++)
            acc_add(a, s[i].item, 0.3f * cooc_sim(st->coview, items[k], &s[i]), WHY_VIEWED_WITH, items[k],
                    SRC_COVIEW);
    }
    /* Never what is already in the basket. */
    rec_filter_t g = *f;
    uint32_t *ex = malloc((f->nexclude + nitems + 1) * sizeof *ex);
    if (!ex)
        abort();
    memcpy(ex, f->exclude, f->nexclude * sizeof *ex);
    memcpy(ex + f->nexclude, items, nitems * sizeof *ex);
    g.exclude = ex;
    g.nexclude = f->nexclude + nitems;
    size_t m = finish_acc(st, p, &g, a, out, cap);
    free(ex);
    return m;
}
