/* All in-memory state of the embedded store, rebuilt from the log on start: interned ids,
 * the catalog, customers with what Aisle computed about them, sessions, event-id dedup
 * and counters. Every change arrives as a log record applied by st_apply, live and on
 * replay alike, so that replay rebuilds exactly what was served.
 *
 * Locking: one reader-writer lock. Writers hold it across "append to log + apply" so that
 * log order is apply order; readers hold it while they read. */
#ifndef AISLE_STATE_H
#define AISLE_STATE_H

#include "../ingest/event.h"
#include "../util/buf.h"
#include "../util/intern.h"

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

/* Log record types. */
enum { REC_EVENT = 1, REC_ITEM_PUT = 2, REC_ITEM_DEL = 3, REC_USER_PUT = 4 };

typedef struct {
    json_t *doc; /* canonical document; NULL when never upserted or deleted */
    double price;
    uint32_t brand;    /* INTERN_NONE when absent */
    uint32_t category; /* leaf of the category path, INTERN_NONE when absent */
    uint8_t in_stock;
    uint32_t counts[EVT__COUNT];
    int64_t last_event_ms;
} st_item_t;

typedef struct {
    json_t *doc; /* attributes and consent from PUT /v1/users; NULL when never sent */
    uint32_t counts[EVT__COUNT];
    int64_t first_seen_ms, last_seen_ms;
    uint32_t orders;
    uint32_t last_order; /* INTERN_NONE before the first */
    uint32_t units;
    double revenue;
} st_user_t;

typedef struct {
    uint32_t user; /* INTERN_NONE while anonymous */
    uint32_t events;
    int64_t last_seen_ms;
} st_session_t;

typedef struct state {
    pthread_rwlock_t lock;
    intern_t *users, *items, *sessions, *categories, *brands, *orders;
    st_item_t *item;
    st_user_t *user;
    st_session_t *session;
    uint32_t item_cap, user_cap, session_cap;
    uint32_t live_items;

    uint64_t *seen; /* hashes of event_ids applied; 0 marks an empty slot */
    uint64_t seen_mask, seen_count;

    uint64_t events, by_type[EVT__COUNT];
    int64_t last_event_ms;
} state_t;

state_t *st_new(void);
void st_free(state_t *st);

/* Applies one log record. Returns 0, or -1 when the payload is malformed. */
int st_apply(state_t *st, uint8_t type, const void *payload, size_t len);
/* Whether an event with this event_id was applied already. */
int st_event_seen(const state_t *st, const char *id, size_t n);

/* Payload builders for the non-event records (the caller appends them to the log). */
void st_encode_doc(buf_t *out, const char *id, size_t idn, json_t *doc);
void st_encode_id(buf_t *out, const char *id, size_t idn);

/* Readers: call with the lock held for reading. Append JSON to out; -1 when unknown. */
int st_item_json(const state_t *st, const char *id, size_t n, buf_t *out);
int st_user_json(const state_t *st, const char *id, size_t n, buf_t *out);
/* Approximate bytes held by the store's tables. */
size_t st_memory(const state_t *st);

#endif
