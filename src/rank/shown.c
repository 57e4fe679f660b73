/* The ring of answers: slot = sequence % cap; an entry is valid while its sequence
 * number is still the one stored in its slot. Every answer writes one, so the ring takes
 * no lock: a sequence number is claimed atomically and each slot is a small seqlock (a
 * loop preempted while holding a ring-wide mutex stalled all the others). */
#include "shown.h"

#include "../util/hash.h"
#include "../util/prefetch.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOT_BUSY UINT32_MAX /* a slot being written; 0 is a slot never written */

typedef struct {
    uint32_t seq; /* atomic: SLOT_BUSY while written, then the answer's sequence number */
    uint32_t profile;
    uint8_t n;
    uint32_t items[SHOWN_MAX_ITEMS];
} entry_t;

/* A customer's impressions: one bucket of two cache lines, the items shown to them most
 * recently, each with how often and when last. An answer reads and writes one bucket (a
 * table keyed by customer and item cost it a cache miss per candidate). A customer's
 * bucket is one of a pair, so that two customers who land on the same place both keep
 * theirs; a third takes over the one recorded to longest ago. */
typedef struct {
    uint32_t profile;                       /* owner; UINT32_MAX: none */
    uint32_t used_s;                        /* when last recorded to */
    uint32_t item[SHOWN_IMPRESSION_WAYS];   /* UINT32_MAX: a free way */
    uint32_t last_s[SHOWN_IMPRESSION_WAYS]; /* when last shown, seconds */
    uint8_t count[SHOWN_IMPRESSION_WAYS];   /* showings, saturating at 255 */
} __attribute__((aligned(128))) impr_bucket_t;
_Static_assert(sizeof(impr_bucket_t) == 128, "a bucket is two cache lines");

#define IMPR_LOCKS 64 /* stripes of the buckets' locks (a power of two) */
_Static_assert(SHOWN_IMPRESSION_CUSTOMERS % IMPR_LOCKS == 0, "stripes share the buckets evenly");

struct shown {
    /* A bucket is only ever touched under its stripe's lock, so that answers to different
     * customers seldom queue for one lock. */
    pthread_mutex_t impr_mu[IMPR_LOCKS];
    impr_bucket_t *impr; /* SHOWN_IMPRESSION_CUSTOMERS, in pairs chosen by profile */
    uint32_t run;        /* names this server run */
    uint32_t next;       /* atomic: next sequence number, from 1 (0 and SLOT_BUSY are skipped) */
    size_t cap;
    entry_t *e;
};

static void clear_bucket(impr_bucket_t *b, uint32_t profile)
{
    b->profile = profile;
    b->used_s = 0;
    for (int w = 0; w < SHOWN_IMPRESSION_WAYS; w++) {
        b->item[w] = UINT32_MAX;
        b->last_s[w] = 0;
        b->count[w] = 0;
    }
}

shown_t *shown_new(size_t cap, int64_t now_ms)
{
    shown_t *s = calloc(1, sizeof *s);
    if (!s)
        abort();
    s->e = calloc(cap ? cap : 1, sizeof *s->e);
    if (!s->e)
        abort();
    s->cap = cap ? cap : 1;
    s->impr = aligned_alloc(128, SHOWN_IMPRESSION_CUSTOMERS * sizeof *s->impr);
    if (!s->impr)
        abort();
    for (size_t i = 0; i < SHOWN_IMPRESSION_CUSTOMERS; i++)
        clear_bucket(&s->impr[i], UINT32_MAX);
    s->run = (uint32_t)hash_mix((uint64_t)now_ms ^ ((uint64_t)(uintptr_t)s << 16));
    s->next = 1;
    for (int i = 0; i < IMPR_LOCKS; i++)
        pthread_mutex_init(&s->impr_mu[i], NULL);
    return s;
}

void shown_free(shown_t *s)
{
    if (!s)
        return;
    for (int i = 0; i < IMPR_LOCKS; i++)
        pthread_mutex_destroy(&s->impr_mu[i]);
    free(s->impr);
    free(s->e);
    free(s);
}

/* The first of profile's pair of buckets. */
static size_t pair_of(uint32_t profile)
{
    return (size_t)(hash_mix(profile) & (SHOWN_IMPRESSION_CUSTOMERS / 2 - 1)) * 2;
}

void shown_prefetch(shown_t *s, uint32_t profile)
{
    if (profile == UINT32_MAX)
        return;
    prefetch_span(&s->impr[pair_of(profile)], 2 * sizeof(impr_bucket_t)); /* the pair: four lines */
}

/* Locks profile's pair of buckets; returns the one it owns, NULL when neither. The
 * stripe's lock is *mu; *pair is the pair's first bucket. */
static impr_bucket_t *impr_lock(shown_t *s, uint32_t profile, pthread_mutex_t **mu, impr_bucket_t **pair)
{
    size_t i = pair_of(profile);
    *mu = &s->impr_mu[(i / 2) & (IMPR_LOCKS - 1)];
    pthread_mutex_lock(*mu);
    *pair = &s->impr[i];
    return s->impr[i].profile == profile       ? &s->impr[i]
           : s->impr[i + 1].profile == profile ? &s->impr[i + 1]
                                               : NULL;
}

/* The way holding item, or -1. */
static int way_of(const impr_bucket_t *b, uint32_t item)
{
    for (int w = 0; w < SHOWN_IMPRESSION_WAYS; w++)
        if (b->item[w] == item)
            return w;
    return -1;
}

static int remembered(const impr_bucket_t *b, int w, uint32_t now_s)
{
    return (int64_t)(now_s - b->last_s[w]) * 1000 < SHOWN_MEMORY_MS;
}

/* Counts a showing of item: a way of its own, else a free one, else the one shown
 * longest ago (the fewest showings among equals). */
static void impr_count(impr_bucket_t *b, uint32_t item, uint32_t now_s)
{
    int w = way_of(b, item);
    if (w >= 0 && remembered(b, w, now_s)) {
        if (b->count[w] < UINT8_MAX)
            b->count[w]++;
        b->last_s[w] = now_s;
        return;
    }
    if (w < 0) {
        w = 0;
        for (int v = 0; v < SHOWN_IMPRESSION_WAYS; v++) {
            if (b->item[v] == UINT32_MAX) {
                w = v;
                break;
            }
            if (b->last_s[v] < b->last_s[w] || (b->last_s[v] == b->last_s[w] && b->count[v] < b->count[w]))
                w = v;
        }
    }
    b->item[w] = item;
    b->count[w] = 1;
    b->last_s[w] = now_s;
}

void shown_put(shown_t *s, uint32_t profile, const uint32_t *items, size_t n, int64_t now_ms, char id[17])
{
    if (n > SHOWN_MAX_ITEMS)
        n = SHOWN_MAX_ITEMS;
    uint32_t now_s = (uint32_t)(now_ms / 1000);
    if (profile != UINT32_MAX) {
        pthread_mutex_t *mu;
        impr_bucket_t *pair, *b = impr_lock(s, profile, &mu, &pair);
        if (!b) { /* the pair's free bucket, else the one recorded to longest ago */
            b = pair[1].used_s < pair[0].used_s ? &pair[1] : &pair[0];
            clear_bucket(b, profile);
        }
        b->used_s = now_s;
        /* The top of an answer is what it shows most: past the bucket's ways, the rest
         * would only push those out. */
        for (size_t i = 0; i < n && i < SHOWN_IMPRESSION_WAYS; i++)
            impr_count(b, items[i], now_s);
        pthread_mutex_unlock(mu);
    }
    uint32_t seq;
    do
        seq = __atomic_fetch_add(&s->next, 1, __ATOMIC_RELAXED);
    while (seq == 0 || seq == SLOT_BUSY);
    entry_t *e = &s->e[seq % s->cap];
    /* Claim the slot. Another writer holds it only if the ring went round once while it
     * wrote: then this answer is simply not remembered, like one the ring forgot. */
    uint32_t old = __atomic_load_n(&e->seq, __ATOMIC_RELAXED);
    if (old != SLOT_BUSY &&
        __atomic_compare_exchange_n(&e->seq, &old, SLOT_BUSY, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
        __atomic_thread_fence(__ATOMIC_RELEASE); /* BUSY is seen before any new item */
        e->profile = profile;
        e->n = (uint8_t)n;
        memcpy(e->items, items, n * sizeof *items);
        __atomic_store_n(&e->seq, seq, __ATOMIC_RELEASE);
    }
    static const char hex[] = "0123456789abcdef"; /* "%08x%08x" without printf: every answer */
    for (int i = 0; i < 8; i++) {
        id[i] = hex[(s->run >> (28 - 4 * i)) & 15];
        id[8 + i] = hex[(seq >> (28 - 4 * i)) & 15];
    }
    id[16] = '\0';
}

int shown_get(shown_t *s, const char *id, uint32_t *items, uint32_t *profile)
{
    if (strlen(id) != 16)
        return -1;
    char hi[9], lo[9];
    memcpy(hi, id, 8);
    memcpy(lo, id + 8, 8);
    hi[8] = lo[8] = '\0';
    char *end1, *end2;
    unsigned long run = strtoul(hi, &end1, 16), seq = strtoul(lo, &end2, 16);
    if (*end1 || *end2 || run != s->run || seq == 0 || seq == SLOT_BUSY)
        return -1;
    entry_t *e = &s->e[seq % s->cap];
    if (__atomic_load_n(&e->seq, __ATOMIC_ACQUIRE) != (uint32_t)seq)
        return -1;
    uint32_t who = e->profile;
    int n = e->n;
    if (n > SHOWN_MAX_ITEMS)
        return -1;
    memcpy(items, e->items, (size_t)n * sizeof *items);
    /* The copy counts only if no writer took the slot meanwhile (a seqlock read). */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(&e->seq, __ATOMIC_RELAXED) != (uint32_t)seq)
        return -1;
    if (profile)
        *profile = who;
    return n;
}

void shown_engaged(shown_t *s, uint32_t profile, uint32_t item)
{
    pthread_mutex_t *mu;
    impr_bucket_t *pair, *b = impr_lock(s, profile, &mu, &pair);
    int w = b ? way_of(b, item) : -1;
    if (w >= 0) {
        b->item[w] = UINT32_MAX;
        b->count[w] = 0;
        b->last_s[w] = 0;
    }
    pthread_mutex_unlock(mu);
}

void shown_demote(shown_t *s, uint32_t profile, const uint32_t *items, float *scores, size_t n,
                  int64_t now_ms)
{
    if (profile == UINT32_MAX || !n)
        return;
    uint32_t now_s = (uint32_t)(now_ms / 1000);
    pthread_mutex_t *mu;
    impr_bucket_t *pair, *b = impr_lock(s, profile, &mu, &pair);
    if (b)
        for (size_t i = 0; i < n; i++) {
            int w = way_of(b, items[i]);
            if (w < 0 || b->count[w] <= SHOWN_REPEAT_FREE || !remembered(b, w, now_s))
                continue;
            /* Halved per extra showing, down to 2^-20: it goes behind everything else, but
             * an answer of items all shown too often is still an answer, not an empty list. */
            uint32_t extra = b->count[w] - SHOWN_REPEAT_FREE;
            scores[i] *= 1.0f / (float)(1u << (extra > 20 ? 20 : extra));
        }
    pthread_mutex_unlock(mu);
}
