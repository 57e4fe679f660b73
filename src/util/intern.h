/* String interning: maps external ids (user, item, session, category ids, as the shop
 * sends them) to dense 32-bit ids 0,1,2,... so everything downstream works on arrays.
 * The table owns copies of the strings. Not thread-safe: the store's lock guards it. */
#ifndef AISLE_INTERN_H
#define AISLE_INTERN_H

#include <stddef.h>
#include <stdint.h>

#define INTERN_NONE UINT32_MAX

typedef struct intern intern_t;

intern_t *intern_new(void);
void intern_free(intern_t *t);
/* Returns the id of s, adding it when new (*added set to 1 then, when added != NULL). */
uint32_t intern_put(intern_t *t, const char *s, size_t n, int *added);
/* Starts bringing the table slot of s into the cache, so that a look-up of s soon after
 * waits less on memory (replay looks ids up a batch at a time). */
void intern_prefetch(const intern_t *t, const char *s, size_t n);
/* s's hash, for the _h forms below: a batch that prefetches and then looks up each id
 * hashes it once. */
uint64_t intern_hash(const char *s, size_t n);
uint32_t intern_put_h(intern_t *t, const char *s, size_t n, uint64_t h, int *added);
void intern_prefetch_h(const intern_t *t, uint64_t h);
/* The second step: once the slot is in the cache, starts bringing in the string entry it
 * points to (the look-up's other wait). */
void intern_prefetch_entry_h(const intern_t *t, uint64_t h);
/* Starts bringing the strings of ids[0..n) into the cache for intern_str on each soon
 * after: two dependent misses each, so in two steps. The first brings their offsets;
 * the second, taken once those have come (other work between), reads them and brings
 * the strings. */
void intern_prefetch_offsets(const intern_t *t, const uint32_t *ids, size_t n);
void intern_prefetch_strs(const intern_t *t, const uint32_t *ids, size_t n);
/* Returns the id of s or INTERN_NONE. */
uint32_t intern_get(const intern_t *t, const char *s, size_t n);
/* The string of an id (NUL-terminated), and its length. */
const char *intern_str(const intern_t *t, uint32_t id, size_t *n);
uint32_t intern_count(const intern_t *t);
/* Bytes held (tables and strings), for /v1/stats. */
size_t intern_bytes(const intern_t *t);

#endif
