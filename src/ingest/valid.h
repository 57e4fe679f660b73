/* Shared input validation: the structured error every rejected input carries, and the
 * checks common to events, items and users (ids, strings, timestamps, string maps). */
#ifndef AISLE_VALID_H
#define AISLE_VALID_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define VAL_MAX_ID 256
/* Prices and other amounts: a billion per unit is past any shop's catalog, and keeps
 * sums (revenue) finite. */
#define VAL_MAX_NUMBER 1e9

/* What goes wrong with one input: a stable machine code, a message for a person and the
 * offending field (JSON name, "" for the whole object). Codes are listed in docs/API.md. */
typedef struct {
    const char *code;
    const char *field;
    char message[200];
} val_error_t;

int val_fail(val_error_t *err, const char *code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* An id: a non-empty string of at most 256 bytes. Absent is 0 with *s = NULL when
 * optional, an error when required. Returns 0 or -1 (err filled). */
int val_id(json_t *obj, const char *field, int required, const char **s, size_t *n, val_error_t *err);
/* A string of at most max bytes; same conventions. */
int val_string(json_t *obj, const char *field, int required, size_t max, const char **s, size_t *n,
               val_error_t *err);
/* A number from 0 to VAL_MAX_NUMBER (integer or real). *present tells whether it was there. */
int val_nonneg_number(json_t *obj, const char *field, double *v, int *present, val_error_t *err);
/* RFC 3339 string or epoch milliseconds; absent gives now_ms. Refuses more than 24 h ahead. */
int val_timestamp(json_t *obj, const char *field, int64_t now_ms, int64_t *ms, val_error_t *err);
/* An object whose values are all strings ("free string map"); NULL when absent. */
int val_string_map(json_t *obj, const char *field, json_t **map, val_error_t *err);
/* An array of non-empty strings of at most max_each bytes and max_count entries. */
int val_string_array(json_t *obj, const char *field, size_t max_count, size_t max_each, json_t **arr,
                     val_error_t *err);



/* Whether s[0..n) is well-formed UTF-8 (no overlongs, no surrogates). */
int val_utf8(const char *s, size_t n);
#endif
