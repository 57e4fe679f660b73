/* Real-time item-to-item co-occurrence with bounded memory. Per item, a fixed number of
 * neighbour slots kept as Space-Saving heavy hitters (Metwally et al. 2005): a new
 * neighbour that finds the slots full takes the lightest slot and inherits its weight,
 * so frequent pairs stay and memory never grows past COOC_SLOTS per item. Each item also
 * keeps its total co-occurrence mass, for normalising weights into similarities so that
 * popular items do not dominate every list. Not thread-safe: the store's lock guards it. */
#ifndef AISLE_COOC_H
#define AISLE_COOC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define COOC_SLOTS 32

typedef struct {
    uint32_t item;
    float w;
} cooc_slot_t;

/* Public only for the inline cooc_sim: an answer computes a thousand similarities, and
 * a call each was a tenth of its time. Everything else goes through the functions. */
typedef struct cooc {
    struct cooc_block **blk; /* by item; NULL until the item's first pair */
    /* 1 / sqrt(mass) per item in a 16-bit float (cooc_inv reads it): a dense array, so
     * that normalising a neighbour's weight does not read the neighbour's block, and
     * half a float's size, so that it stays in the core's cache beside everything else
     * an answer reads (read as floats, it was a miss for most neighbours). */
    uint16_t *inv;
    uint32_t cap;
    size_t nblocks;
} cooc_t;

cooc_t *cooc_new(void);
void cooc_free(cooc_t *c);
/* Adds w to the pair (a, b), one direction. */
void cooc_add(cooc_t *c, uint32_t a, uint32_t b, float w);
/* a's neighbour slots (unordered) and their count; *out is valid until the next add. */
size_t cooc_get(const cooc_t *c, uint32_t a, const cooc_slot_t **out);
/* Total weight ever added from a. */
float cooc_mass(const cooc_t *c, uint32_t a);
/* Asks the cache for what cooc_sim will read of slots s[0..n) (their items' masses), so
 * that the misses overlap. */
void cooc_prefetch(const cooc_t *c, const cooc_slot_t *s, size_t n);
/* Asks the cache for the neighbour lists of items a[0..n) (the seeds of an answer),
 * all before the first is read. */
void cooc_prefetch_items(const cooc_t *c, const uint32_t *a, size_t n);
/* The first step of that for one item, to be taken well before: its list's address. */
void cooc_prefetch_ref(const cooc_t *c, uint32_t a);
/* The 16-bit form of 1 / sqrt(mass): 6 bits of exponent, 2^-24 up to 2^40 (any mass up
 * to 2^48), and the top 10 bits of the mantissa, rounded (a relative error below 2^-11,
 * far under what separates two neighbours). 0 stays 0. A shift and an add to read. */
#define COOC_INV_BASE (103u << 23)
static inline float cooc_inv(const cooc_t *c, uint32_t a)
{
    uint32_t h = c->inv[a];
    uint32_t u = ((h << 13) + COOC_INV_BASE) & -(uint32_t)(h != 0);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
/* Cosine-style similarity of a's neighbour slot s: w / sqrt(mass(a) * mass(b)). */
static inline float cooc_sim(const cooc_t *c, uint32_t a, const cooc_slot_t *s)
{
    if (a >= c->cap || s->item >= c->cap)
        return 0;
    return s->w * cooc_inv(c, a) * cooc_inv(c, s->item);
}
/* The similarity of b as a's neighbour; 0 when b is not in a's list. */
float cooc_sim_with(const cooc_t *c, uint32_t a, uint32_t b);
size_t cooc_bytes(const cooc_t *c);

#endif
