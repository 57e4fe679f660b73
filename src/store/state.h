/* All in-memory state of the embedded store, rebuilt from the log on start: interned ids,
 * the catalog, customers with what Aisle computed about them, sessions, event-id dedup
 * and counters. Every change arrives as a log record applied by st_apply, live and on
 * replay alike, so that replay rebuilds exactly what was served.
 *
 * Locking: one reader-writer lock. Writers hold it across "append to log + apply" so that
 * log order is apply order; readers hold it while they read. Writers are preferred: an
 * event must not wait for a gap in a steady stream of answers. So no thread may take the
 * read lock twice (a waiting writer would block the second), and no one holds either side
 * for long: batches are applied a chunk at a time (ST_WRITE_CHUNK records). */
#ifndef AISLE_STATE_H
#define AISLE_STATE_H

#define ST_WRITE_CHUNK 256 /* records applied under one hold of the write lock */

#include "../ingest/event.h"
#include "../rank/rules.h"
#include "../stream/content.h"
#include "../stream/cooc.h"
#include "../stream/profile.h"
#include "../util/buf.h"
#include "../util/intern.h"

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

/* An item is fresh (in the content index of new items, docs/CONTENT.md) until it has
 * this many events of any type. */
#define ST_FRESH_EVENTS 10

/* Log record types. */
enum { REC_EVENT = 1, REC_ITEM_PUT = 2, REC_ITEM_DEL = 3, REC_USER_PUT = 4, REC_RULE_PUT = 5, REC_RULE_DEL = 6 };

typedef struct {
    /* The document as the log keeps it: compact JSON text, NUL-terminated, and after it in
     * the same allocation its title's text (unescaped, NUL-terminated). Owned; NULL when
     * never upserted or deleted. Text, not a jansson tree: about a tenth of the memory
     * per item (2.3 KB as a tree for aisle gen's items); st_item_doc parses it. */
    char *doc;
    const char *title; /* in doc's allocation, NULL when it has none: answers name items
                          by it, and a look-up in the document costs several misses */
    uint32_t doc_len, title_len;
    double price;
    uint32_t brand;    /* INTERN_NONE when absent */
    uint32_t category; /* leaf of the category path, INTERN_NONE when absent */
    uint8_t in_stock;
    uint32_t counts[EVT__COUNT];
    int64_t last_event_ms;
    /* Weighted interactions, exponentially decayed with a short and a long half-life
     * (trending compares the two; popularity is the long one), as of pop_ms. */
    float pop_short, pop_long;
    int64_t pop_ms;
    uint32_t *tags; /* interned, owned */
    uint32_t ntags;
} st_item_t;

typedef struct {
    /* Attributes and consent from PUT /v1/users, as the log keeps them: compact JSON text,
     * NUL-terminated, owned; NULL when never sent. Text, not a jansson tree: a tenth of
     * the memory per customer, and nothing to parse on replay (st_user_doc parses it). */
    char *doc;
    uint32_t doc_len;
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
    uint32_t prof; /* the anonymous profile, or the customer's once logged in */
} st_session_t;

/* Items filed under a category (a leaf or any of its ancestors). */
typedef struct {
    uint32_t *v;
    uint32_t n, cap;
} st_idlist_t;

typedef struct {
    prof_config_t prof;
    double trend_short_ms, trend_long_ms; /* half-lives of item activity */
    float recency_decay; /* for_you: weight of each older recent interaction relative to
                            the next newer one (0.85: tastes; 0.5: the very last item) */
    int64_t dedup_window_ms; /* event ids are remembered (duplicates refused) for at least
                                this much stream time, at most twice it; 0: forever */
} st_config_t;

/* One generation of the event-id set: 64-bit hashes of event_ids in open addressing,
 * 0 marking an empty slot. */
typedef struct {
    uint64_t *slot;
    uint64_t mask, count;
} st_seen_t;

/* What the filters of every answer read of an item, kept apart and small (24 bytes
 * against st_item_t's 112): checking a candidate stays in cache. apply_item keeps it
 * equal to the item's fields. */
typedef struct {
    double price;      /* -1 when absent */
    uint32_t brand;    /* INTERN_NONE when absent */
    uint32_t category; /* leaf of the category path, INTERN_NONE when absent */
    uint8_t live;      /* in the catalog (a document, not deleted) */
    uint8_t in_stock;
} st_filt_t;

typedef struct state {
    pthread_rwlock_t lock;
    intern_t *users, *items, *sessions, *categories, *brands, *orders;
    st_item_t *item;
    st_filt_t *filt; /* by item id, item_cap of them */
    st_user_t *user;
    /* By user id, as user: the live profile, PROF_NONE until the first event. Apart from
     * the records (88 bytes each, spread over tens of MiB) because an answer reads only
     * this of a customer's record: 4 bytes each stay in the cache. */
    uint32_t *user_prof;
    st_session_t *session;
    uint32_t item_cap, user_cap, session_cap;
    uint32_t live_items;
    size_t doc_bytes; /* the items' and customers' documents held as text (with titles) */

    /* The event-id set, in two generations so that its memory stays bounded: ids go into
     * seen[seen_cur]; once the stream clock (the latest event time applied) is a dedup
     * window past seen_since_ms, the older generation is dropped and a new one started.
     * Updated in log order on live writes and replay alike, so replay rebuilds it. */
    st_seen_t seen[2];
    int seen_cur;
    int64_t seen_clock_ms, seen_since_ms; /* INT64_MIN until the first id */

    uint64_t events, by_type[EVT__COUNT];
    int64_t last_event_ms;

    st_config_t cfg;
    prof_t *prof; /* live profiles, of customers and of anonymous sessions */
    uint32_t nprof, prof_cap;
    cooc_t *coview; /* viewed/clicked/carted in the same session: "similar" */
    cooc_t *cobuy;  /* bought by the same customer within an hour: "bought together" */
    content_t *content; /* the catalog's terms and their index (content-based filtering) */
    intern_t *tags;
    rule_t *rules; /* business rules, in the order they were created */
    uint32_t nrules, rules_cap;
    uint32_t *cat_parent; /* category id -> parent id (INTERN_NONE at the top) */
    st_idlist_t *cat_items;
    uint32_t cat_cap;
} state_t;

void st_config_default(st_config_t *c);
/* A store with the default configuration, or with cfg. Caller owns; st_free frees. */
state_t *st_new(void);
state_t *st_new_with(const st_config_t *cfg);
void st_free(state_t *st);

/* Applies one log record. Returns 0, or -1 when the payload is malformed. */
int st_apply(state_t *st, uint8_t type, const void *payload, size_t len);

/* Replay on two threads: the log reader's thread decodes each event and interns its ids
 * (st_replay_add), a second thread applies what was resolved, in log order, handed over
 * in bounded blocks; other records wait for the hand-over to drain and are applied in
 * place. The state that results is st_apply's, record by record (tests/test-log.c
 * compares them). Nothing else may touch st until st_replay_finish. One CPU: st_apply
 * directly. Caller owns; st_replay_finish waits for the last event and frees. */
typedef struct st_replay st_replay_t;
st_replay_t *st_replay_new(state_t *st);
/* As st_apply (-1: a record that cannot be decoded). */
int st_replay_add(st_replay_t *r, uint8_t type, const void *payload, size_t len);
void st_replay_finish(st_replay_t *r);
/* Sizes the event-id set up front for the ids a log of log_bytes bytes may hold, so that
 * replay does not rehash it again and again (and zero each bigger table) while it fills. */
void st_reserve_for_log(state_t *st, uint64_t log_bytes);
/* Whether an event with this event_id was applied already. */
int st_event_seen(const state_t *st, const char *id, size_t n);
/* The event ids remembered (both generations), and the bytes their tables take. */
uint64_t st_event_ids(const state_t *st);
size_t st_event_id_bytes(const state_t *st);

/* Payload builders for the non-event records (the caller appends them to the log). */
void st_encode_doc(buf_t *out, const char *id, size_t idn, json_t *doc);
void st_encode_id(buf_t *out, const char *id, size_t idn);
/* The customer document of uid parsed, or NULL when none was sent. Caller owns. */
json_t *st_user_doc(const state_t *st, uint32_t uid);
/* The catalog document of item iid parsed, or NULL when it has none. Caller owns. */
json_t *st_item_doc(const state_t *st, uint32_t iid);
/* Appends doc as compact JSON (15 significant digits for reals), the form the log stores
 * and the API answers with. */
void st_dump_doc(buf_t *out, json_t *doc);

/* Readers: call with the lock held for reading. Append JSON to out; -1 when unknown. */
int st_item_json(const state_t *st, const char *id, size_t n, buf_t *out);
int st_user_json(const state_t *st, const char *id, size_t n, buf_t *out);
/* Decayed activity of an item at now_ms: popularity (long half-life) and a trending
 * score (how far short-term activity runs above its long-term rate). */
float st_item_popularity(const state_t *st, uint32_t item, int64_t now_ms);
float st_item_trending(const state_t *st, uint32_t item, int64_t now_ms);
/* Whether item is filed under category cat (its leaf or an ancestor). */
int st_item_in_category(const state_t *st, uint32_t item, uint32_t cat);
/* The live profile of a customer or session id, or NULL. */
const prof_t *st_user_profile(const state_t *st, const char *id, size_t n);
const prof_t *st_session_profile(const state_t *st, const char *id, size_t n);
/* The profile an event's user or session belongs to, or PROF_NONE. */
uint32_t st_profile_of(const state_t *st, const evt_t *e);
/* Index of the rule with this id, or -1. */
int st_rule_find(const state_t *st, const char *id);
/* Whether item carries tag (an interned tag id). */
int st_item_has_tag(const state_t *st, uint32_t item, uint32_t tag);
/* Approximate bytes held by the store's tables. */
size_t st_memory(const state_t *st);

#endif
