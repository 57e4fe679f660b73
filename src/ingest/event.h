/* Behavioural events (view, click, search, cart, purchase): validation of the JSON a shop
 * sends, and the compact binary form stored in the log and replayed. */
#ifndef AISLE_EVENT_H
#define AISLE_EVENT_H

#include "../util/buf.h"
#include "valid.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    EVT_VIEW,
    EVT_CLICK,
    EVT_SEARCH,
    EVT_ADD_TO_CART,
    EVT_REMOVE_FROM_CART,
    EVT_PURCHASE,
    EVT__COUNT
} evt_type_t;

typedef struct {
    const char *p; /* not NUL-terminated in decoded events; NULL when absent */
    size_t n;
} strv_t;

/* One event. String fields are views into memory the caller keeps alive: the request
 * body or batch arena for evt_parse_batch, the payload for evt_decode. */
typedef struct {
    evt_type_t type;
    int64_t ts_ms;
    strv_t event_id, user_id, session_id, item_id, query, order_id, rec_id;
    uint32_t quantity; /* 0 when absent */
    double price;      /* < 0 when absent */
    strv_t properties; /* compact JSON object text, or absent */
} evt_t;

const char *evt_type_name(evt_type_t t);
/* -1 for an unknown name. */
int evt_type_from_name(const char *s);
/* Parses "view=1,click=2,purchase=8" into w[EVT__COUNT]; types not named keep their
 * weight. Weights are 0 to 1000. Returns 0, or -1 (w untouched) when malformed. */
int evt_parse_weights(const char *list, float *w);

/* The events of one request body (POST /v1/events, an NDJSON file): a single object, a
 * JSON array, or NDJSON. Each element is either a valid event (err[i].code == NULL) or
 * carries why it was rejected. Events view the body or the batch's arena, so the body
 * must outlive the batch. */
typedef struct {
    evt_t *ev;
    val_error_t *err;
    size_t n, cap;
    char *arena; /* decoded strings and canonical properties */
} evt_batch_t;

/* Parses and validates body. ndjson forces line mode; otherwise a body holding several
 * JSON values one per line is read as NDJSON too. Returns 0, or an HTTP status (400
 * malformed or empty, 413 more than max events) with *err set. Caller frees b with
 * evt_batch_free (also after an error). */
int evt_parse_batch(const char *body, size_t len, int ndjson, size_t max, int64_t now_ms, evt_batch_t *b,
                    val_error_t *err);
void evt_batch_free(evt_batch_t *b);
/* Appends the binary form to out. */
void evt_encode(const evt_t *e, buf_t *out);
/* Decodes a payload written by evt_encode; views point into p. -1 when malformed. */
int evt_decode(const void *p, size_t n, evt_t *e);

#endif
