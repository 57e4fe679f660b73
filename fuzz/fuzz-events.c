/* libFuzzer driver: POST /v1/events bodies.
 *
 * The first input byte picks the body mode (bit 0: 1 forces NDJSON, 0 lets
 * evt_parse_batch decide between one object, an array, or NDJSON it detects); the
 * remaining bytes are the body, read by evt_parse_batch (the allocation-free scanner of
 * src/ingest/jsonscan.c).
 *
 * Differential oracle: jansson, which read these bodies before the scanner and still
 * reads items and customers, parses the same bytes (the whole body, or each NDJSON line
 * split as the reader splits them), and ref_event below (the jansson-based validator the
 * scanner replaced, kept here as the reference) validates what it parsed:
 *   - a line is invalid_json / invalid_utf8 for the reader iff jansson refuses it;
 *   - a whole body: same status (0, 400 or 413) and as many elements as jansson finds;
 *   - a non-object element is invalid_type for the whole record;
 *   - an object is accepted by the reader iff ref_event accepts it (else same error code
 *     and field), and an accepted event holds exactly what jansson read: every string
 *     field byte for byte, quantity, price bits, ts, and the properties byte for byte as
 *     json_dumps(JSON_COMPACT | JSON_SORT_KEYS) writes them.
 * Deliberate differences from jansson are spelled out where they are allowed.
 *
 * Then, as before: every element that validates is encoded to the binary log form,
 * decoded back, and must come back equal (type, ts, quantity, price bits, every string
 * field byte for byte); re-encoding the decoded event must give the same bytes. As
 * post_events does, each event whose event_id was not seen yet is applied to a store (one
 * fresh state per input), and the user and item it names are rendered with st_user_json /
 * st_item_json, which must be valid JSON. Anything else aborts.
 *
 * FUZZ_EVENTS_KNOWN=1 in the environment tolerates the reader deviations already
 * reported (saved under crashes/fuzz-events/, see README.md), so that a long run can look
 * past them; without it they abort like any other disagreement. */
#include "ingest/batch.h"
#include "ingest/event.h"
#include "store/state.h"
#include "util/buf.h"
#include "util/slog.h"
#include "util/timeutil.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 2025-11-25T09:30:00Z: fixed so that "24 h in the future" is deterministic. */
#define NOW_MS 1764063000000LL
#define MAX_BATCH 10000

#define FUZZ_NAME "fuzz-events"
#include "fuzz.h"

static int tolerate_known; /* FUZZ_EVENTS_KNOWN */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    slog_set_level(SLOG_ERROR + 1); /* silence the logfmt lines */
    json_object_seed(1);            /* deterministic hashing across runs */
    const char *k = getenv("FUZZ_EVENTS_KNOWN");
    tolerate_known = k && *k && strcmp(k, "0") != 0;
    return 0;
}

/* ---- the oracle --------------------------------------------------------------------- */

/* Where the oracle is looking, for the message when it disagrees. */
typedef struct {
    const char *mode; /* "line", "array element", "single value" */
    size_t index;
    const char *text; /* the line (NDJSON) or the whole body */
    size_t len;
} where_t;

static void disagree(const where_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void disagree(const where_t *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz-events: reader and jansson disagree on %s %zu: ", w->mode, w->index);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  input (%zu bytes): %.*s\n", w->len, (int)(w->len > 300 ? 300 : w->len), w->text);
    abort();
}

static const char *code_of(const val_error_t *e)
{
    return e->code ? e->code : "(accepted)";
}

static int is(const char *code, const char *want)
{
    return code && strcmp(code, want) == 0;
}

/* Deviations already reported (see the file comment): tolerated only on request. */
static int known(const char *what)
{
    (void)what;
    return tolerate_known;
}

/* json_loadb, but with every NUL byte turned into 0x01 first. jansson 2.14 drops a NUL
 * that follows a number or a literal (its one-character push-back buffer takes the NUL
 * for "empty" and reads on), so it parses "[0\0]" as [0] and {"a":1\0} as {"a":1}.
 * RFC 8259 allows no NUL byte anywhere outside strings, and none raw inside them; 0x01
 * is refused by both sides wherever NUL is (an unexpected byte outside strings, a
 * control character inside), so jansson then answers as it would without the bug. */
static json_t *jansson_load(const char *p, size_t n, size_t flags, json_error_t *je)
{
    if (!memchr(p, 0, n))
        return json_loadb(p, n, flags, je);
    char *c = malloc(n);
    CHECK(c != NULL);
    for (size_t i = 0; i < n; i++)
        c[i] = p[i] ? p[i] : 1;
    json_t *v = json_loadb(c, n, flags, je);
    free(c);
    return v;
}

/* The validator the scanner replaced (evt_from_json, src/ingest/event.c before the
 * scanner), on a value jansson parsed: the rules of docs/API.md in their order. Properties
 * go to *props as json_dumps writes them (malloc'd; NULL when absent or empty). */
static int ref_id(json_t *obj, const char *field, int required, strv_t *out, val_error_t *err)
{
    return val_id(obj, field, required, &out->p, &out->n, err);
}

static int ref_event(json_t *obj, int64_t now_ms, evt_t *e, char **props, val_error_t *err)
{
    memset(e, 0, sizeof *e);
    e->price = -1;
    *props = NULL;
    if (!json_is_object(obj))
        return val_fail(err, "invalid_type", "", "an event must be a JSON object");
    json_t *t = json_object_get(obj, "type");
    if (!t || json_is_null(t))
        return val_fail(err, "missing_field", "type", "type is required");
    if (!json_is_string(t))
        return val_fail(err, "invalid_type", "type", "type must be a string");
    int type = evt_type_from_name(json_string_value(t));
    if (type < 0)
        return val_fail(err, "unknown_event_type", "type", "unknown event type");
    e->type = (evt_type_t)type;
    if (ref_id(obj, "event_id", 0, &e->event_id, err) || ref_id(obj, "user_id", 0, &e->user_id, err) ||
        ref_id(obj, "session_id", 0, &e->session_id, err))
        return -1;
    if (!e->user_id.p && !e->session_id.p)
        return val_fail(err, "missing_field", "user_id", "user_id or session_id is required");
    if (e->type == EVT_SEARCH) {
        if (val_string(obj, "query", 1, 1024, &e->query.p, &e->query.n, err))
            return -1;
        if (e->query.n == 0)
            return val_fail(err, "invalid_value", "query", "query must not be empty");
        if (ref_id(obj, "item_id", 0, &e->item_id, err))
            return -1;
    } else if (ref_id(obj, "item_id", 1, &e->item_id, err)) {
        return -1;
    }
    if (ref_id(obj, "order_id", 0, &e->order_id, err) || ref_id(obj, "rec_id", 0, &e->rec_id, err))
        return -1;
    json_t *q = json_object_get(obj, "quantity");
    if (q && !json_is_null(q)) {
        if (!json_is_integer(q))
            return val_fail(err, "invalid_type", "quantity", "quantity must be an integer");
        json_int_t qv = json_integer_value(q);
        if (qv < 0)
            return val_fail(err, "invalid_value", "quantity", "quantity must not be negative");
        if (qv == 0 || qv > 1000000)
            return val_fail(err, "invalid_value", "quantity", "quantity must be between 1 and 1000000");
        e->quantity = (uint32_t)qv;
    }
    int has_price;
    double price;
    if (val_nonneg_number(obj, "price", &price, &has_price, err))
        return -1;
    if (has_price)
        e->price = price;
    if (val_timestamp(obj, "ts", now_ms, &e->ts_ms, err))
        return -1;
    json_t *map;
    if (val_string_map(obj, "properties", &map, err))
        return -1;
    if (map && json_object_size(map)) {
        *props = json_dumps(map, JSON_COMPACT | JSON_SORT_KEYS);
        CHECK(*props != NULL);
    }
    return 0;
}

/* Whether a and b differ only in the case of hex digits of \u00XX escapes (the reader
 * writes \u001f where json_dumps writes \u001F). */
static int same_but_hex_case(const char *a, size_t an, const char *b, size_t bn)
{
    if (an != bn)
        return 0;
    for (size_t i = 0; i < an; i++) {
        if (a[i] == b[i])
            continue;
        int in_escape = (i >= 4 && memcmp(a + i - 4, "\\u00", 4) == 0) ||
                        (i >= 5 && memcmp(a + i - 5, "\\u00", 4) == 0);
        if (!in_escape || (a[i] | 0x20) != (b[i] | 0x20))
            return 0;
    }
    return 1;
}

static void same_string_field(const where_t *w, json_t *obj, const char *name, strv_t s)
{
    json_t *v = json_object_get(obj, name);
    if (!s.p) {
        if (v && !json_is_null(v))
            disagree(w, "the reader has no %s, jansson has one", name);
        return;
    }
    if (!json_is_string(v))
        disagree(w, "the reader has a %s, jansson has no string there", name);
    size_t n = json_string_length(v);
    if (n != s.n || memcmp(json_string_value(v), s.p, n) != 0)
        disagree(w, "%s: reader \"%.*s\" (%zu bytes), jansson \"%.*s\" (%zu bytes)", name, (int)(s.n > 100 ? 100 : s.n),
                 s.p, s.n, (int)(n > 100 ? 100 : n), json_string_value(v), n);
}

/* An event both sides accept: the reader's fields are what jansson read. */
static void same_as_jansson(const where_t *w, json_t *obj, const evt_t *e)
{
    json_t *t = json_object_get(obj, "type");
    CHECK(json_is_string(t));
    if (strcmp(json_string_value(t), evt_type_name(e->type)) != 0)
        disagree(w, "type: reader %s, jansson %s", evt_type_name(e->type), json_string_value(t));
    same_string_field(w, obj, "event_id", e->event_id);
    same_string_field(w, obj, "user_id", e->user_id);
    same_string_field(w, obj, "session_id", e->session_id);
    same_string_field(w, obj, "item_id", e->item_id);
    same_string_field(w, obj, "order_id", e->order_id);
    same_string_field(w, obj, "rec_id", e->rec_id);
    if (e->type == EVT_SEARCH)
        same_string_field(w, obj, "query", e->query);
    else if (e->query.p) /* only searches carry a query */
        disagree(w, "the reader kept a query on a %s event", evt_type_name(e->type));

    json_t *q = json_object_get(obj, "quantity");
    json_int_t want_q = q && !json_is_null(q) ? json_integer_value(q) : 0;
    if ((json_int_t)e->quantity != want_q)
        disagree(w, "quantity: reader %u, jansson %lld", e->quantity, (long long)want_q);

    json_t *pr = json_object_get(obj, "price");
    if (!pr || json_is_null(pr)) {
        if (!(e->price < 0))
            disagree(w, "the reader has a price (%.17g), jansson has none", e->price);
    } else {
        double want = json_number_value(pr);
        if (memcmp(&want, &e->price, sizeof want) != 0)
            disagree(w, "price: reader %.17g, jansson %.17g", e->price, want);
    }

    json_t *ts = json_object_get(obj, "ts");
    int64_t want_ts = NOW_MS;
    if (json_is_integer(ts))
        want_ts = json_integer_value(ts);
    else if (json_is_string(ts))
        CHECK(time_parse_rfc3339(json_string_value(ts), json_string_length(ts), &want_ts) == 0);
    else
        CHECK(!ts || json_is_null(ts));
    if (e->ts_ms != want_ts)
        disagree(w, "ts: reader %lld, jansson %lld", (long long)e->ts_ms, (long long)want_ts);

    json_t *props = json_object_get(obj, "properties");
    if (!props || json_is_null(props) || json_object_size(props) == 0) {
        /* An empty object is stored as no properties. */
        if (e->properties.p)
            disagree(w, "the reader has properties %.*s, jansson none", (int)e->properties.n, e->properties.p);
        return;
    }
    char *want = json_dumps(props, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK(want != NULL);
    size_t wn = strlen(want);
    if (!e->properties.p || e->properties.n != wn || memcmp(e->properties.p, want, wn) != 0) {
        /* Known: json_escape_to (src/util/buf.c) writes \u00XX in lower case, json_dumps
         * in upper case. */
        if (!(e->properties.p && same_but_hex_case(e->properties.p, e->properties.n, want, wn) &&
              known("properties-hex-case")))
            disagree(w, "properties: reader %.*s, json_dumps %s", e->properties.p ? (int)e->properties.n : 6,
                     e->properties.p ? e->properties.p : "(none)", want);
    }
    free(want);
}

/* Whether the object holds a properties object whose values are all strings. */
static int props_all_strings(json_t *obj)
{
    json_t *p = json_object_get(obj, "properties");
    if (!json_is_object(p))
        return 0;
    const char *k;
    json_t *v;
    json_object_foreach(p, k, v)
    {
        if (!json_is_string(v))
            return 0;
    }
    return 1;
}

static int key_cmp(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    size_t xn = strlen(x), yn = strlen(y), n = xn < yn ? xn : yn;
    int c = memcmp(x, y, n);
    return c ? c : xn < yn ? -1 : xn > yn;
}

/* The code the reader gives properties that break a rule: it looks at the keys in
 * byte order (jansson keeps the last value of a repeated key, as the reader does) and
 * reports the first one with a value that is not a string (invalid_type) or a key or
 * value too long (too_long); past that, more than 256 keys is too_long. */
static const char *props_first_problem(json_t *obj)
{
    json_t *p = json_object_get(obj, "properties");
    size_t n = json_object_size(p), i = 0;
    const char **keys = malloc((n ? n : 1) * sizeof *keys);
    const char *k;
    json_t *v;
    json_object_foreach(p, k, v) keys[i++] = k;
    qsort(keys, n, sizeof *keys, key_cmp);
    const char *code = n > 256 ? "too_long" : NULL;
    /* Past 1,024 keys the reader's pair table overflows: too_long before any value is
     * looked at (with exactly 1,024 keys a repeated key after them overflows it too). */
    for (i = 0; i < n && n < 1024; i++) {
        v = json_object_get(p, keys[i]);
        if (!json_is_string(v)) {
            code = "invalid_type";
            break;
        }
        if (strlen(keys[i]) > 256 || json_string_length(v) > 4096) {
            code = "too_long";
            break;
        }
    }
    free(keys);
    return code ? code : "(none)";
}

/* One element jansson parsed (v), against what the reader made of it. */
static void check_value(const where_t *w, json_t *v, const evt_t *e, const val_error_t *err)
{
    if (is(err->code, "invalid_json") || is(err->code, "invalid_utf8"))
        disagree(w, "the reader refuses it (%s: %s), jansson parses it", err->code, err->message);
    if (!json_is_object(v)) {
        if (!is(err->code, "invalid_type") || !err->field || err->field[0])
            disagree(w, "jansson parses a non-object, the reader says %s (field %s)", code_of(err),
                     err->field ? err->field : "-");
        return;
    }
    evt_t r;
    val_error_t rerr = {0};
    char *rprops;
    int ref_ok = ref_event(v, NOW_MS, &r, &rprops, &rerr) == 0;
    free(rprops);
    int ok = err->code == NULL;
    if (ok && ref_ok) {
        same_as_jansson(w, v, e);
        return;
    }
    if (!ok && ref_ok) {
        /* Known: a property whose earlier duplicate is not a string is refused, though
         * the last value (the one jansson keeps) is; and more than 1024 property pairs
         * are refused even when they hold at most 256 distinct keys. */
        if (is(err->code, "invalid_type") && is(err->field, "properties") && props_all_strings(v) &&
            known("properties-dup-nonstring"))
            return;
        if (is(err->code, "too_long") && is(err->field, "properties") && known("properties-1024-pairs"))
            return;
        disagree(w, "the reader refuses it (%s, field %s: %s), the reference accepts it", err->code, err->field,
                 err->message);
    }
    if (ok && !ref_ok)
        disagree(w, "the reader accepts it, the reference refuses it (%s, field %s: %s)", rerr.code, rerr.field,
                 rerr.message);
    /* Both refuse: the same rule must have fired. */
    if (!is(err->field, rerr.field))
        disagree(w, "refused for another field: reader %s (%s), reference %s (%s)", err->field, err->code, rerr.field,
                 rerr.code);
    if (strcmp(rerr.field, "properties") == 0 && json_is_object(json_object_get(v, "properties"))) {
        /* The reference checks the map in hash order, stopping at the first problem;
         * the reader reports a non-string value before any length problem. */
        const char *want = props_first_problem(v);
        if (is(err->code, want))
            return;
        if (is(err->code, "invalid_type") && props_all_strings(v) && known("properties-dup-nonstring"))
            return;
        disagree(w, "properties refused with %s, expected %s (reference said %s)", err->code, want, rerr.code);
    }
    if (!is(err->code, rerr.code))
        disagree(w, "refused with %s, the reference says %s (field %s)", err->code, rerr.code, rerr.field);
}

/* One NDJSON line as jansson reads it. */
static void check_line(const where_t *w, const evt_t *e, const val_error_t *err)
{
    json_error_t je;
    json_t *v = jansson_load(w->text, w->len, JSON_DECODE_ANY, &je);
    if (v) {
        check_value(w, v, e, err);
        json_decref(v);
        return;
    }
    enum json_error_code jc = json_error_code(&je);
    if (is(err->code, "invalid_json") || is(err->code, "invalid_utf8")) {
        /* Both refuse. The reader checks a line's UTF-8 first, jansson as it reads, so
         * a line with a syntax error before a bad byte is invalid_json for jansson and
         * invalid_utf8 for the reader: either code is fine, but a bad byte jansson saw
         * must be a bad byte for the reader too. */
        if (jc == json_error_invalid_utf8 && !is(err->code, "invalid_utf8"))
            disagree(w, "jansson finds invalid UTF-8, the reader says %s", err->code);
        return;
    }
    /* Known: the reader allows one level more than jansson's 2048 (jansson counts every
     * value, scalars included, from the top; the scanner counts containers only, from
     * where js_skip starts). */
    if (jc == json_error_stack_overflow && known("depth"))
        return;
    disagree(w, "jansson refuses it (%s, code %d), the reader says %s", je.text, (int)jc, code_of(err));
}

static int only_space(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
            return 0;
    return 1;
}

/* NDJSON: the lines the reader must have read, split as it splits them. */
static void check_lines(const char *body, size_t len, int rc, const evt_batch_t *b, const val_error_t *err)
{
    size_t lines = 0;
    const char *p = body, *end = body + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        if (!only_space(p, (size_t)(le - p)))
            lines++;
        p = le + 1;
    }
    where_t w = {"body", 0, body, len};
    if (lines == 0) {
        if (rc != 400 || !is(err->code, "empty_batch"))
            disagree(&w, "no lines, the reader returns %d (%s)", rc, code_of(err));
        return;
    }
    if (lines > MAX_BATCH) {
        if (rc != 413 || !is(err->code, "batch_too_large"))
            disagree(&w, "%zu lines, the reader returns %d (%s)", lines, rc, code_of(err));
        return;
    }
    if (rc != 0 || b->n != lines)
        disagree(&w, "%zu lines, the reader returns %d (%s) with %zu elements", lines, rc, code_of(err), b->n);
    size_t i = 0;
    for (p = body; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        if (!only_space(p, (size_t)(le - p))) {
            where_t lw = {"line", i, p, (size_t)(le - p)};
            check_line(&lw, &b->ev[i], &b->err[i]);
            i++;
        }
        p = le + 1;
    }
}

/* Whether the body starts (after whitespace) with true, false or null and a letter. */
static int glued_literal(const char *p, size_t n)
{
    static const char *const lits[] = {"true", "false", "null"};
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    for (int k = 0; k < 3; k++) {
        size_t l = strlen(lits[k]);
        if (n - i > l && memcmp(p + i, lits[k], l) == 0) {
            char c = (char)(p[i + l] | 0x20);
            return c >= 'a' && c <= 'z';
        }
    }
    return 0;
}

/* A body without forced NDJSON. */
static void check_body(const char *body, size_t len, int rc, const evt_batch_t *b, const val_error_t *err)
{
    where_t w = {"body", 0, body, len};
    if (only_space(body, len)) {
        if (rc != 400 || !is(err->code, "empty_batch"))
            disagree(&w, "an empty body, the reader returns %d (%s)", rc, code_of(err));
        return;
    }
    json_error_t je;
    json_t *root = jansson_load(body, len, JSON_DECODE_ANY, &je);
    if (root && json_is_array(root)) {
        size_t n = json_array_size(root);
        if (n == 0) {
            if (rc != 400 || !is(err->code, "empty_batch"))
                disagree(&w, "an empty array, the reader returns %d (%s)", rc, code_of(err));
        } else if (n > MAX_BATCH) {
            if (rc != 413 || !is(err->code, "batch_too_large"))
                disagree(&w, "an array of %zu, the reader returns %d (%s)", n, rc, code_of(err));
        } else {
            if (rc != 0 || b->n != n)
                disagree(&w, "an array of %zu, the reader returns %d (%s) with %zu elements", n, rc, code_of(err),
                         b->n);
            for (size_t i = 0; i < n; i++) {
                where_t ew = {"array element", i, body, len};
                check_value(&ew, json_array_get(root, i), &b->ev[i], &b->err[i]);
            }
        }
        json_decref(root);
        return;
    }
    if (root) {
        if (rc != 0 || b->n != 1)
            disagree(&w, "one value, the reader returns %d (%s) with %zu elements", rc, code_of(err), b->n);
        where_t ew = {"single value", 0, body, len};
        check_value(&ew, root, &b->ev[0], &b->err[0]);
        json_decref(root);
        return;
    }
    enum json_error_code jc = json_error_code(&je);
    /* Does a complete value start the body (something else follows it)? */
    json_error_t je1;
    json_t *first = jansson_load(body, len, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, &je1);
    size_t first_n = json_is_array(first) ? json_array_size(first) : 0;
    json_decref(first);
    if (first && first_n > MAX_BATCH && rc == 413 && is(err->code, "batch_too_large"))
        return; /* the reader counts the first array's elements before it sees what follows */
    if (jc == json_error_end_of_input_expected) {
        /* Several values: the body is NDJSON sent as application/json. */
        if (rc == 400 && is(err->code, "invalid_utf8") && known("detected-ndjson-utf8"))
            return; /* Known: the reader refuses the whole body for one bad line. */
        check_lines(body, len, rc, b, err);
        return;
    }
    if ((first || glued_literal(body, len) || jc == json_error_invalid_utf8) && rc == 0) {
        /* (Bad UTF-8 in a body with more after its first value: jansson refuses the
         * whole body, the reader rejects the bad lines alone. The lines are checked.) */
        /* jansson reads the first value, then fails to lex the token after it (a
         * control byte in a string, a too big number, ...), which it reports as that
         * error rather than "end of file expected"; or it lexes a literal and the letters
         * glued to it as one invalid token ("truex"; but "1x" and "{}x" are a value and
         * more). The reader reads such a body as NDJSON, as it does any body with
         * something after its first value: jansson's 400 and the reader's lines are
         * both allowed (the lines must then be what jansson makes of them). */
        check_lines(body, len, rc, b, err);
        return;
    }
    if (rc != 400) {
        if (jc == json_error_stack_overflow && rc == 0 && known("depth"))
            return;
        /* An array of more than 10,000 elements that is also broken further on: the
         * reader stops counting at 10,001 (413) before it reaches the damage, jansson
         * reads on to it (400). Both refuse the body; either answer is right. */
        size_t lead = 0;
        while (lead < len && (body[lead] == ' ' || body[lead] == '\t' || body[lead] == '\r' || body[lead] == '\n'))
            lead++;
        if (rc == 413 && is(err->code, "batch_too_large") && lead < len && body[lead] == '[')
            return;
        disagree(&w, "jansson refuses the body (%s, code %d), the reader returns %d (%s)", je.text, (int)jc, rc,
                 code_of(err));
    }
}

/* ---- the reader's own promises ------------------------------------------------------- */

/* The codec writes an absent string as length 0 and decodes length 0 as absent, so
 * absent and "" compare equal; everything else must match byte for byte. */
static void same_str(const char *what, strv_t a, strv_t b)
{
    size_t an = a.p ? a.n : 0, bn = b.p ? b.n : 0;
    if (an != bn || (an && memcmp(a.p, b.p, an) != 0)) {
        fprintf(stderr, "fuzz-events: field %s differs after encode/decode (%zu vs %zu bytes)\n", what, an, bn);
        abort();
    }
}

static void same_event(const evt_t *a, const evt_t *b)
{
    CHECK(a->type == b->type);
    CHECK(a->ts_ms == b->ts_ms);
    CHECK(a->quantity == b->quantity);
    /* Absent prices are < 0 on both sides; present ones must keep their exact bits. */
    if (a->price < 0 || b->price < 0)
        CHECK(a->price < 0 && b->price < 0);
    else
        CHECK(memcmp(&a->price, &b->price, sizeof a->price) == 0);
    same_str("event_id", a->event_id, b->event_id);
    same_str("user_id", a->user_id, b->user_id);
    same_str("session_id", a->session_id, b->session_id);
    same_str("item_id", a->item_id, b->item_id);
    same_str("query", a->query, b->query);
    same_str("order_id", a->order_id, b->order_id);
    same_str("rec_id", a->rec_id, b->rec_id);
    same_str("properties", a->properties, b->properties);
}

/* What GET /v1/users/{id} and GET /v1/items/{id} would answer must parse. */
static void render(const state_t *st, int item, strv_t id)
{
    if (!id.p)
        return;
    buf_t out;
    buf_init(&out);
    int rc = item ? st_item_json(st, id.p, id.n, &out) : st_user_json(st, id.p, id.n, &out);
    if (rc == 0) {
        json_error_t je;
        json_t *v = json_loadb(out.data, out.len, 0, &je);
        if (!v) {
            fprintf(stderr, "fuzz-events: st_%s_json renders invalid JSON: %s\n%.*s\n", item ? "item" : "user",
                    je.text, (int)out.len, out.data);
            abort();
        }
        json_decref(v);
    }
    buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int ndjson = data[0] & 1;
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    evt_batch_t bat;
    val_error_t err = {0};
    int rc = evt_parse_batch(body, len, ndjson, MAX_BATCH, NOW_MS, &bat, &err);

    if (ndjson)
        check_lines(body, len, rc, &bat, &err);
    else
        check_body(body, len, rc, &bat, &err);

    if (rc != 0) {
        CHECK(rc == 400 || rc == 413);
        CHECK(err.code != NULL);
        evt_batch_free(&bat);
        return 0;
    }
    CHECK(bat.n > 0);

    buf_t enc, enc2;
    buf_init(&enc);
    buf_init(&enc2);
    state_t *st = NULL;
    for (size_t i = 0; i < bat.n; i++) {
        if (bat.err[i].code) {
            CHECK(bat.err[i].field != NULL);
            continue;
        }
        evt_t e = bat.ev[i], d, d2;
        /* What validation promises. */
        CHECK((unsigned)e.type < EVT__COUNT);
        CHECK(e.user_id.p || e.session_id.p);
        CHECK(e.type == EVT_SEARCH ? e.query.p != NULL : e.item_id.p != NULL);
        CHECK(e.ts_ms >= 0 && e.ts_ms <= NOW_MS + 24LL * 3600 * 1000);
        CHECK(e.quantity <= 1000000);

        enc.len = 0;
        evt_encode(&e, &enc);
        CHECK(evt_decode(enc.data, enc.len, &d) == 0);
        same_event(&e, &d);

        enc2.len = 0;
        evt_encode(&d, &enc2);
        CHECK(enc2.len == enc.len && memcmp(enc2.data, enc.data, enc.len) == 0);
        CHECK(evt_decode(enc2.data, enc2.len, &d2) == 0);
        same_event(&d, &d2);

        if (!st)
            st = st_new();
        if (e.event_id.p && st_event_seen(st, e.event_id.p, e.event_id.n))
            continue; /* a duplicate: the server skips it */
        CHECK(st_apply(st, REC_EVENT, enc.data, enc.len) == 0);
        if (e.event_id.p)
            CHECK(st_event_seen(st, e.event_id.p, e.event_id.n));
        render(st, 0, e.user_id);
        render(st, 1, e.item_id); /* catalog-less items are not rendered (-1) */
    }
    st_free(st);
    buf_free(&enc);
    buf_free(&enc2);
    evt_batch_free(&bat);
    return 0;
}
