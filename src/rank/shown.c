/* The ring of answers: slot = sequence % cap; an entry is valid while its sequence
 * number is still the one stored in its slot. Every answer writes one, so the ring takes
 * no lock: a sequence number is claimed atomically and each slot is a small seqlock (a
 * loop preempted while holding a ring-wide mutex stalled all the others). */
#include "shown.h"

#include "../util/hash.h"

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

typedef struct {
    uint32_t profile, item;
    uint32_t count;
    uint32_t last_s;
} impression_t;

#define IMPR_LOCKS 64 /* stripes of the impression table's locks, by profile (a power of two) */
_Static_assert(SHOWN_IMPRESSION_SLOTS % IMPR_LOCKS == 0, "stripes share the table evenly");

struct shown {
    /* A profile's impressions are all under the lock of its stripe, so that answers to
     * different customers do not queue for one lock while each reads a dozen or more
     * slots of a 4 MiB table (a cache miss each). */
    pthread_mutex_t impr_mu[IMPR_LOCKS];
    impression_t *impr; /* SHOWN_IMPRESSION_SLOTS, direct-mapped by (profile, item) */
    uint32_t run;  /* names this server run */
    uint32_t next; /* atomic: next sequence number, from 1 (0 and SLOT_BUSY are skipped) */
    size_t cap;
    entry_t *e;
};

shown_t *shown_new(size_t cap, int64_t now_ms)
{
    shown_t *s = calloc(1, sizeof *s);
    if (!s)
        abort();
    s->e = calloc(cap ? cap : 1, sizeof *s->e);
    if (!s->e)
        abort();
    s->cap = cap ? cap : 1;
    s->impr = calloc(SHOWN_IMPRESSION_SLOTS, sizeof *s->impr);
    if (!s->impr)
        abort();
    for (size_t i = 0; i < SHOWN_IMPRESSION_SLOTS; i++)
        s->impr[i].profile = UINT32_MAX;
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

static size_t stripe_of(uint32_t profile)
{
    return (size_t)(hash_mix(profile) % IMPR_LOCKS);
}

/* Each stripe owns its own part of the table, so that a slot is only ever touched under
 * its stripe's lock. */
static impression_t *slot_of(shown_t *s, uint32_t profile, uint32_t item)
{
    const size_t per = SHOWN_IMPRESSION_SLOTS / IMPR_LOCKS;
    return &s->impr[stripe_of(profile) * per + (hash_mix((uint64_t)profile << 32 | item) & (per - 1))];
}

/* Locks profile's stripe, the slots of items[0..n) asked of the cache first (so that
 * their misses overlap, outside the lock). */
static pthread_mutex_t *impr_lock(shown_t *s, uint32_t profile, const uint32_t *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        __builtin_prefetch(slot_of(s, profile, items[i]));
    pthread_mutex_t *mu = &s->impr_mu[stripe_of(profile)];
    pthread_mutex_lock(mu);
    return mu;
}

void shown_put(shown_t *s, uint32_t profile, const uint32_t *items, size_t n, int64_t now_ms, char id[17])
{
    if (n > SHOWN_MAX_ITEMS)
        n = SHOWN_MAX_ITEMS;
    uint32_t now_s = (uint32_t)(now_ms / 1000);
    if (profile != UINT32_MAX) {
        pthread_mutex_t *mu = impr_lock(s, profile, items, n);
        for (size_t i = 0; i < n; i++) {
            impression_t *im = slot_of(s, profile, items[i]);
            if (im->profile == profile && im->item == items[i] &&
                (int64_t)(now_s - im->last_s) * 1000 < SHOWN_MEMORY_MS)
                im->count++;
            else
                *im = (impression_t){profile, items[i], 1, now_s};
            im->last_s = now_s;
        }
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
    if (old != SLOT_BUSY && __atomic_compare_exchange_n(&e->seq, &old, SLOT_BUSY, 0, __ATOMIC_RELAXED,
                                                        __ATOMIC_RELAXED)) {
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
    pthread_mutex_t *mu = impr_lock(s, profile, &item, 1);
    impression_t *im = slot_of(s, profile, item);
    if (im->profile == profile && im->item == item)
        im->profile = UINT32_MAX;
    pthread_mutex_unlock(mu);
}

void shown_demote(shown_t *s, uint32_t profile, const uint32_t *items, float *scores, size_t n, int64_t now_ms)
{
    if (profile == UINT32_MAX)
        return;
    uint32_t now_s = (uint32_t)(now_ms / 1000);
    pthread_mutex_t *mu = impr_lock(s, profile, items, n);
    for (size_t i = 0; i < n; i++) {
        impression_t *im = slot_of(s, profile, items[i]);
        if (im->profile != profile || im->item != items[i] || im->count <= SHOWN_REPEAT_FREE ||
            (int64_t)(now_s - im->last_s) * 1000 >= SHOWN_MEMORY_MS)
            continue;
        /* Halved per extra showing, down to 2^-20: it goes behind everything else, but an
         * answer of items all shown too often is still an answer, not an empty list. */
        uint32_t extra = im->count - SHOWN_REPEAT_FREE;
        scores[i] *= 1.0f / (float)(1u << (extra > 20 ? 20 : extra));
    }
    pthread_mutex_unlock(mu);
}
