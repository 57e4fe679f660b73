/* What was shown under each rec_id: a bounded ring of recent answers, so that a later
 * click or purchase carrying the rec_id can be attributed, and so that "the next page"
 * of an answer can leave out what the first page showed. Thread-safe (own locks).
 * rec_ids are 16 hex digits: 32 bits naming this server run, 32 bits of sequence. */
#ifndef AISLE_SHOWN_H
#define AISLE_SHOWN_H

#include <stddef.h>
#include <stdint.h>

#define SHOWN_MAX_ITEMS 100
#define SHOWN_IMPRESSION_CUSTOMERS (1u << 16) /* buckets of the impression table (a power of two) */
#define SHOWN_IMPRESSION_WAYS 12              /* items remembered per customer */
#define SHOWN_REPEAT_FREE 2                   /* showings before demotion starts */
#define SHOWN_MEMORY_MS (24ll * 3600 * 1000)  /* impressions older than this are forgotten */

typedef struct shown shown_t;

/* cap: answers remembered (older ones are forgotten). Caller owns; shown_free frees. */
shown_t *shown_new(size_t cap, int64_t now_ms);
void shown_free(shown_t *s);
/* Records an answer; writes its rec_id (17 bytes with the NUL) into id. */
void shown_put(shown_t *s, uint32_t profile, const uint32_t *items, size_t n, int64_t now_ms, char id[17]);
/* The items shown under id (up to SHOWN_MAX_ITEMS) and the profile they were shown to.
 * Returns the count, or -1 when id is unknown or forgotten. */
int shown_get(shown_t *s, const char *id, uint32_t *items, uint32_t *profile);

/* Anti-repetition. Each customer's impressions are a bucket of SHOWN_IMPRESSION_WAYS
 * items (the table is SHOWN_IMPRESSION_CUSTOMERS buckets, 8 MiB, in pairs chosen by
 * customer: a third customer on a pair takes over the bucket recorded to longest ago). shown_put counts the
 * first SHOWN_IMPRESSION_WAYS items it records, a new item taking the place of the one shown longest ago;
 * shown_engaged (a click, cart or purchase of the item) forgets it; shown_demote is the factor for an item
 * shown more than SHOWN_REPEAT_FREE times in the last day without engagement: 0.5 per extra showing, at most
 * 2^-20 (demoted, never dropped). */
/* Starts bringing profile's bucket into the cache (an answer asks early, reads it late). */
void shown_prefetch(shown_t *s, uint32_t profile);
void shown_engaged(shown_t *s, uint32_t profile, uint32_t item);
/* Multiplies scores[i] of items[i] by their demotion factors, under one lock. */
void shown_demote(shown_t *s, uint32_t profile, const uint32_t *items, float *scores, size_t n,
                  int64_t now_ms);

#endif
