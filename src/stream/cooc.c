/* Co-occurrence tables: an array indexed by item id of lazily allocated slot blocks. */
#include "cooc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    float mass;
    uint8_t n;
    cooc_slot_t slot[COOC_SLOTS];
} block_t;

struct cooc {
    block_t **blk;
    uint32_t cap;
    size_t nblocks;
};

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
    free(c);
}

static block_t *block(cooc_t *c, uint32_t a)
{
    if (a >= c->cap) {
        uint32_t ncap = c->cap ? c->cap : 1024;
        while (ncap <= a)
            ncap *= 2;
        block_t **nb = realloc(c->blk, (size_t)ncap * sizeof *nb);
        if (!nb)
            abort();
        memset(nb + c->cap, 0, (size_t)(ncap - c->cap) * sizeof *nb);
        c->blk = nb;
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

void cooc_add(cooc_t *c, uint32_t a, uint32_t b, float w)
{
    if (a == b)
        return;
    block_t *k = block(c, a);
    k->mass += w;
    int min = 0;
    for (int i = 0; i < k->n; i++) {
        if (k->slot[i].item == b) {
            k->slot[i].w += w;
            return;
        }
        if (k->slot[i].w < k->slot[min].w)
            min = i;
    }
    if (k->n < COOC_SLOTS) {
        k->slot[k->n++] = (cooc_slot_t){b, w};
        return;
    }
    /* Space-Saving: the newcomer replaces the lightest and inherits its count, an
     * overestimate bounded by that count. */
    k->slot[min].item = b;
    k->slot[min].w += w;
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

float cooc_sim(const cooc_t *c, uint32_t a, const cooc_slot_t *s)
{
    float ma = cooc_mass(c, a), mb = cooc_mass(c, s->item);
    if (ma <= 0 || mb <= 0)
        return 0;
    return s->w / sqrtf(ma * mb);
}

size_t cooc_bytes(const cooc_t *c)
{
    return (size_t)c->cap * sizeof(block_t *) + c->nblocks * sizeof(block_t);
}
