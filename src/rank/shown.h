/* What was shown under each rec_id: a bounded ring of recent answers, so that a later
 * click or purchase carrying the rec_id can be attributed, and so that "the next page"
 * of an answer can leave out what the first page showed. Thread-safe (own mutex).
 * rec_ids are 16 hex digits: 32 bits naming this server run, 32 bits of sequence. */
#ifndef AISLE_SHOWN_H
#define AISLE_SHOWN_H

#include <stddef.h>
#include <stdint.h>

#define SHOWN_MAX_ITEMS 100

typedef struct shown shown_t;

/* cap: answers remembered (older ones are forgotten). Caller owns; shown_free frees. */
shown_t *shown_new(size_t cap, int64_t now_ms);
void shown_free(shown_t *s);
/* Records an answer; writes its rec_id (17 bytes with the NUL) into id. */
void shown_put(shown_t *s, uint32_t profile, const uint32_t *items, size_t n, char id[17]);
/* The items shown under id (up to SHOWN_MAX_ITEMS) and the profile they were shown to.
 * Returns the count, or -1 when id is unknown or forgotten. */
int shown_get(shown_t *s, const char *id, uint32_t *items, uint32_t *profile);

#endif
