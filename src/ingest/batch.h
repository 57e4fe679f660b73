/* Request bodies that carry many records (POST /v1/events, POST /v1/items): one JSON
 * object, a JSON array, or NDJSON (one object per line). Splits a body into elements so
 * that a bad line is rejected alone and the valid ones beside it are kept. */
#ifndef AISLE_BATCH_H
#define AISLE_BATCH_H

#include "valid.h"

#include <jansson.h>
#include <stddef.h>

typedef struct {
    json_t *val;      /* owned by the batch; NULL when the element did not parse */
    val_error_t err;  /* why, when val is NULL */
} bat_elem_t;

typedef struct {
    bat_elem_t *v;
    size_t n;
} bat_t;

#define BAT_MAX_DEFAULT 10000

/* Parses body into b (caller frees with bat_free). ndjson forces line mode; otherwise a
 * body holding several JSON values one per line is read as NDJSON too. Returns 0, or
 * an HTTP status (400 malformed or empty, 413 more than max elements) with err set. */
int bat_parse(const char *body, size_t len, int ndjson, size_t max, bat_t *b, val_error_t *err);
void bat_free(bat_t *b);
/* Fills err from a jansson parse error (invalid_utf8 or invalid_json). */
void bat_json_error(const json_error_t *je, val_error_t *err);

#endif
