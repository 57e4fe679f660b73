/* A strict, allocation-free JSON pull scanner for the hot ingest path. jansson builds a
 * tree of malloc'd nodes for every event; profiling POST /v1/events showed jansson and
 * malloc at three quarters of the time (BENCHMARKS.md), so events are read straight
 * from the request body into their fields instead. Strings without escapes are views
 * into the input; escaped ones are decoded into a caller-provided arena that is never
 * larger than the input. Grammar and limits follow jansson's, which stays in use for the
 * rare documents (items, customers) and serves as the oracle in fuzz/. */
#ifndef AISLE_JSONSCAN_H
#define AISLE_JSONSCAN_H

#include "valid.h"

#include <stddef.h>
#include <stdint.h>

#define JS_MAX_DEPTH 2048

typedef enum { JS_NULL, JS_FALSE, JS_TRUE, JS_INT, JS_REAL, JS_STRING, JS_OBJECT, JS_ARRAY } js_kind_t;

typedef struct {
    const char *p, *end; /* input */
    const char *start;   /* for error positions */
    char *arena;         /* decoded strings; at least as large as the input */
    size_t alen;
    val_error_t *err;
    int depth; /* containers open around the cursor; a value there is at depth + 1 */
} js_t;

void js_init(js_t *j, const char *p, size_t n, char *arena, val_error_t *err);
void js_skip_ws(js_t *j);
/* The kind of the value at the cursor (after whitespace), from its first byte; -1 at
 * end of input or on a byte no value starts with (err set). */
int js_peek(js_t *j);
/* Reads a string (cursor on '"'); *s and *n view the decoded bytes. -1 on error. */
int js_string(js_t *j, const char **s, size_t *n);
/* Reads a number; *kind is JS_INT (value in *i, refused when out of int64 range) or
 * JS_REAL (*d; refused when it overflows). */
int js_number(js_t *j, js_kind_t *kind, int64_t *i, double *d);
/* Reads and discards one value of any kind, checking it fully. */
int js_skip(js_t *j);
/* Checks that a value at the cursor would not be nested deeper than jansson allows
 * (JS_MAX_DEPTH levels, every value counted, the top-level one at 1). */
int js_depth_ok(js_t *j);
/* Expects byte c after optional whitespace and consumes it. */
int js_expect(js_t *j, char c);
/* After a member or element: consumes ',' (returns 1) or the closing byte (returns 0). */
int js_next(js_t *j, char close);
/* Sets err to invalid_json with the position of the cursor. Returns -1. */
int js_fail(js_t *j, const char *what);
/* Whether [p, p+n) is valid UTF-8; ASCII runs are checked 8 bytes at a time. */
int js_utf8_ok(const char *p, size_t n);

#endif
