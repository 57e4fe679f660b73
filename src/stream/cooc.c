/* Co-occurrence tables: an array indexed by item id of lazily allocated slot blocks. */
#include "cooc.h"

#include "../util/prefetch.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct cooc_block {
    float mass;
    uint8_t n;
    uint8_t min; /* once full: the lightest slot (the first of equals), the next to go */
    cooc_slot_t slot[COOC_SLOTS];
} block_t;

cooc_t *cooc_new(void)
{
    cooc_t *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    return c;
}

void cooc_free(cooc_t *c)
{
    if (!c)
        return;
    for (uint32_t i = 0; i < c->cap; i++)
        free(c->blk[i]);
    free(c->blk);
    free(c->inv);
    free(c);
}

static block_t *block(cooc_t *c, uint32_t a)
{
    if (a >= c->cap) {
        uint32_t ncap = c->cap ? c->cap : 1024;
        while (ncap <= a)
            ncap *= 2;
        block_t **nb = realloc(c->blk, (size_t)ncap * sizeof *nb);
        uint16_t *ni = realloc(c->inv, (size_t)ncap * sizeof *ni);
        if (!nb || !ni)
            abort();
        memset(nb + c->cap, 0, (size_t)(ncap - c->cap) * sizeof *nb);
        memset(ni + c->cap, 0, (size_t)(ncap - c->cap) * sizeof *ni);
        c->blk = nb;
        c->inv = ni;
        c->cap = ncap;
    }
    if (!c->blk[a]) {
        c->blk[a] = calloc(1, sizeof(block_t));
        if (!c->blk[a])
            abort();
        c->nblocks++;
    }
    return c->blk[a];
}

/* cooc_inv's form of x > 0: clamped to the range, rounded to nearest. */
static uint16_t inv16(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if (!(x > 0))
        return 0;
    if (u < COOC_INV_BASE)
        return 1;
    uint32_t h = (u - COOC_INV_BASE + (1u << 12)) >> 13;
    return (uint16_t)(h > 0xffff ? 0xffff : h);
}

static uint8_t lightest(const block_t *k)
{
    int min = 0;
    for (int i = 1; i < k->n; i++)
        if (k->slot[i].w < k->slot[min].w)
            min = i;
    return (uint8_t)min;
}

void cooc_add(cooc_t *c, uint32_t a, uint32_t b, float w)
{
    if (a == b)
        return;
    block_t *k = block(c, a);
    k->mass += w;
    c->inv[a] = inv16(1.0f / sqrtf(k->mass));
    /* Weights only grow, so the lightest slot changes only when it is the one that grew:
     * the search for it runs then, not on every add. */
    for (int i = 0; i < k->n; i++) {
        if (k->slot[i].item == b) {
            k->slot[i].w += w;
            if (k->n == COOC_SLOTS && i == k->min)
                k->min = lightest(k);
            return;
        }
    }
    if (k->n < COOC_SLOTS) {
        k->slot[k->n++] = (cooc_slot_t){b, w};
        if (k->n == COOC_SLOTS)
            k->min = lightest(k);
        return;
    }
    /* Space-Saving: the newcomer replaces the lightest and inherits its count, an
     * overestimate bounded by that count. */
    k->slot[k->min].item = b;
    k->slot[k->min].w += w;
    k->min = lightest(k);
}

size_t cooc_get(const cooc_t *c, uint32_t a, const cooc_slot_t **out)
{
    if (a >= c->cap || !c->blk[a]) {
        *out = NULL;
        return 0;
    }
    *out = c->blk[a]->slot;
    return c->blk[a]->n;
}

float cooc_mass(const cooc_t *c, uint32_t a)
{
    return a < c->cap && c->blk[a] ? c->blk[a]->mass : 0;
}

void cooc_prefetch(const cooc_t *c, const cooc_slot_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i].item < c->cap)
            __builtin_prefetch(&c->inv[s[i].item]);
}

void cooc_prefetch_items(const cooc_t *c, const uint32_t *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] < c->cap)
            __builtin_prefetch(&c->blk[a[i]]);
    /* The whole block, whatever its count: reading the count first would wait for its
     * miss, one item after another (it was most of this function's time). */
    for (size_t i = 0; i < n; i++) {
        const block_t *b = a[i] < c->cap ? c->blk[a[i]] : NULL;
        if (b)
            prefetch_span(b, sizeof *b);
    }
}

void cooc_prefetch_ref(const cooc_t *c, uint32_t a)
{
    if (a < c->cap)
        __builtin_prefetch(&c->blk[a]);
}

float cooc_sim_with(const cooc_t *c, uint32_t a, uint32_t b)
{
    const cooc_slot_t *s;
    size_t n = cooc_get(c, a, &s);
    for (size_t i = 0; i < n; i++)
        if (s[i].item == b)
            return cooc_sim(c, a, &s[i]);
    return 0;
}

size_t cooc_bytes(const cooc_t *c)
{
    return (size_t)c->cap * (sizeof(block_t *) + sizeof *c->inv) + c->nblocks * sizeof(block_t);
}
