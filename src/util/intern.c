/* Open-addressing hash table (linear probing) over slots holding 32 bits of the hash and
 * where the string's entry is in an append-only arena. An entry carries its id and length
 * before the bytes, so a look-up waits on two memory reads (slot, entry), not three. */
#include "intern.h"

#include "bigmem.h"
#include "hash.h"

#include <stdlib.h>
#include <string.h>

#define NO_ENTRY UINT32_MAX

typedef struct {
    uint32_t tag;   /* upper hash bits, to skip most string compares */
    uint32_t entry; /* arena offset of the entry / ENTRY_ALIGN, or NO_ENTRY when empty */
} slot_t;

/* An arena entry: id, length, the bytes and a NUL, padded to ENTRY_ALIGN so that a
 * 32-bit slot reaches 32 GiB of strings. */
#define ENTRY_ALIGN 8
#define ENTRY_HEAD 8

struct intern {
    slot_t *slots;
    uint32_t mask;
    uint32_t count;
    uint64_t *offs; /* id -> arena offset of its entry (for intern_str) */
    uint32_t offs_cap;
    char *arena;
    size_t arena_len, arena_cap;
};

#define SEED 0x5ca1ab1e0ddba11ull

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q)
        abort();
    return q;
}

intern_t *intern_new(void)
{
    intern_t *t = calloc(1, sizeof *t);
    if (!t)
        abort();
    t->mask = 1023;
    t->slots = xrealloc(NULL, (t->mask + 1) * sizeof(slot_t));
    memset(t->slots, 0xff, (t->mask + 1) * sizeof(slot_t));
    return t;
}

void intern_free(intern_t *t)
{
    if (!t)
        return;
    free(t->slots);
    free(t->offs);
    free(t->arena);
    free(t);
}

/* The entry at arena offset off: its id and length, and the string. */
static inline const char *entry_at(const intern_t *t, uint64_t off, uint32_t *id, uint32_t *len)
{
    const char *p = t->arena + off;
    memcpy(id, p, 4);
    memcpy(len, p + 4, 4);
    return p + ENTRY_HEAD;
}

static void grow(intern_t *t)
{
    uint32_t ncap = (t->mask + 1) * 2;
    slot_t *ns = bigmem_alloc((size_t)ncap * sizeof(slot_t));
    memset(ns, 0xff, (size_t)ncap * sizeof(slot_t));
    uint32_t nmask = ncap - 1;
    for (uint32_t i = 0; i <= t->mask; i++) {
        slot_t s = t->slots[i];
        if (s.entry == NO_ENTRY)
            continue;
        uint32_t id, len;
        const char *str = entry_at(t, (uint64_t)s.entry * ENTRY_ALIGN, &id, &len);
        uint64_t h = hash_bytes(str, len, SEED);
        uint32_t j = (uint32_t)h & nmask;
        while (ns[j].entry != NO_ENTRY)
            j = (j + 1) & nmask;
        ns[j] = s;
    }
    free(t->slots);
    t->slots = ns;
    t->mask = nmask;
}

static uint32_t lookup(const intern_t *t, const char *s, size_t n, uint64_t h, uint32_t *slot_out)
{
    uint32_t tag = (uint32_t)(h >> 32);
    uint32_t j = (uint32_t)h & t->mask;
    for (;;) {
        slot_t sl = t->slots[j];
        if (sl.entry == NO_ENTRY) {
            *slot_out = j;
            return INTERN_NONE;
        }
        if (sl.tag == tag) {
            uint32_t id, len;
            const char *str = entry_at(t, (uint64_t)sl.entry * ENTRY_ALIGN, &id, &len);
            if (len == n && memcmp(str, s, n) == 0)
                return id;
        }
        j = (j + 1) & t->mask;
    }
}

uint64_t intern_hash(const char *s, size_t n)
{
    return hash_bytes(s, n, SEED);
}

void intern_prefetch_h(const intern_t *t, uint64_t h)
{
    __builtin_prefetch(&t->slots[(uint32_t)h & t->mask]);
}

void intern_prefetch(const intern_t *t, const char *s, size_t n)
{
    intern_prefetch_h(t, intern_hash(s, n));
}

void intern_prefetch_entry_h(const intern_t *t, uint64_t h)
{
    slot_t sl = t->slots[(uint32_t)h & t->mask];
    if (sl.entry != NO_ENTRY && sl.tag == (uint32_t)(h >> 32))
        __builtin_prefetch(t->arena + (uint64_t)sl.entry * ENTRY_ALIGN);
}

void intern_prefetch_offsets(const intern_t *t, const uint32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] < t->count)
            __builtin_prefetch(&t->offs[ids[i]]);
}

void intern_prefetch_strs(const intern_t *t, const uint32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] < t->count)
            __builtin_prefetch(t->arena + t->offs[ids[i]]);
}

uint32_t intern_get(const intern_t *t, const char *s, size_t n)
{
    uint32_t slot;
    return lookup(t, s, n, hash_bytes(s, n, SEED), &slot);
}

uint32_t intern_put(intern_t *t, const char *s, size_t n, int *added)
{
    return intern_put_h(t, s, n, intern_hash(s, n), added);
}

uint32_t intern_put_h(intern_t *t, const char *s, size_t n, uint64_t h, int *added)
{
    uint32_t slot = 0;
    uint32_t id = lookup(t, s, n, h, &slot);
    if (added)
        *added = id == INTERN_NONE;
    if (id != INTERN_NONE)
        return id;
    if (t->count == INTERN_NONE - 1 || n > UINT32_MAX)
        abort(); /* 4 billion ids, or a 4 GiB id: the callers bound both far below */
    if ((uint64_t)(t->count + 1) * 10 > (uint64_t)(t->mask + 1) * 7) {
        grow(t);
        lookup(t, s, n, h, &slot);
    }
    id = t->count++;
    if (id >= t->offs_cap) {
        t->offs_cap = t->offs_cap ? t->offs_cap * 2 : 1024;
        t->offs = xrealloc(t->offs, (size_t)t->offs_cap * sizeof(uint64_t));
    }
    size_t at = (t->arena_len + ENTRY_ALIGN - 1) & ~(size_t)(ENTRY_ALIGN - 1);
    size_t need = at + ENTRY_HEAD + n + 1;
    if ((uint64_t)at / ENTRY_ALIGN >= NO_ENTRY)
        abort(); /* 32 GiB of ids */
    if (need > t->arena_cap) {
        size_t cap = t->arena_cap ? t->arena_cap : 16384;
        while (cap < need)
            cap *= 2;
        t->arena = xrealloc(t->arena, cap);
        t->arena_cap = cap;
    }
    uint32_t len32 = (uint32_t)n;
    t->offs[id] = at;
    memcpy(t->arena + at, &id, 4);
    memcpy(t->arena + at + 4, &len32, 4);
    memcpy(t->arena + at + ENTRY_HEAD, s, n);
    t->arena[at + ENTRY_HEAD + n] = '\0';
    t->arena_len = need;
    t->slots[slot].tag = (uint32_t)(h >> 32);
    t->slots[slot].entry = (uint32_t)(at / ENTRY_ALIGN);
    return id;
}

const char *intern_str(const intern_t *t, uint32_t id, size_t *n)
{
    if (id >= t->count)
        return NULL;
    uint32_t eid, len;
    const char *s = entry_at(t, t->offs[id], &eid, &len);
    if (n)
        *n = len;
    return s;
}

uint32_t intern_count(const intern_t *t)
{
    return t->count;
}

size_t intern_bytes(const intern_t *t)
{
    return (size_t)(t->mask + 1) * sizeof(slot_t) + (size_t)t->offs_cap * sizeof(uint64_t) + t->arena_cap;
}
