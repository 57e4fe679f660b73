/* Events: reading them from request bodies (one object, an array or NDJSON) with the
 * scanner of jsonscan.h, the validation rules docs/API.md promises, and the binary codec.
 * Binary layout: u8 version, u8 type, i64 ts, varint quantity, f64 price (NaN when
 * absent), then seven strings and the properties, each a varint length + bytes. */
#include "event.h"

#include "../util/flags.h"
#include "../util/timeutil.h"
#include "jsonscan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVT_CODEC_VERSION 1

static const char *type_names[EVT__COUNT] = {"view", "click", "search", "add_to_cart", "remove_from_cart",
                                             "purchase"};

const char *evt_type_name(evt_type_t t)
{
    return (unsigned)t < EVT__COUNT ? type_names[t] : "unknown";
}

int evt_type_from_name(const char *s)
{
    for (int i = 0; i < EVT__COUNT; i++)
        if (strcmp(s, type_names[i]) == 0)
            return i;
    return -1;
}

static int set_weight(void *ud, const char *name, double v)
{
    int type = evt_type_from_name(name);
    if (type < 0)
        return -1;
    ((float *)ud)[type] = (float)v;
    return 0;
}

int evt_parse_weights(const char *list, float *w)
{
    float out[EVT__COUNT];
    memcpy(out, w, sizeof out);
    if (flags_pairs(list, 0, 1000, set_weight, out) != 0)
        return -1;
    memcpy(w, out, sizeof out);
    return 0;
}

/* ---- reading one event object ---------------------------------------------------- */

enum { F_TYPE, F_EVENT_ID, F_USER_ID, F_SESSION_ID, F_ITEM_ID, F_QUERY, F_ORDER_ID, F_REC_ID, F_QUANTITY,
       F_PRICE, F_TS, F_PROPERTIES, F__N };
static const char *field_names[F__N] = {"type",     "event_id", "user_id",  "session_id", "item_id",  "query",
                                        "order_id", "rec_id",   "quantity", "price",      "ts",       "properties"};

#define ABSENT (-1)
#define MAX_PROP_PAIRS 1024

typedef struct {
    int kind; /* ABSENT or a js_kind_t */
    const char *s;
    size_t n;
    int64_t i;
    double d;
} raw_t;

typedef struct {
    const char *k, *v;
    size_t kn, vn;
    int order;
    int bad; /* the value is not a string */
} pair_t;

typedef struct {
    raw_t f[F__N];
    pair_t pairs[MAX_PROP_PAIRS];
    int npairs;
    int too_many_pairs;
} rawevt_t;

static int field_of(const char *k, size_t n)
{
    for (int i = 0; i < F__N; i++)
        if (strlen(field_names[i]) == n && memcmp(field_names[i], k, n) == 0)
            return i;
    return -1;
}

/* Reads any value into r: strings and numbers are kept, the rest only checked. */
static int read_value(js_t *j, raw_t *r)
{
    int k = js_peek(j);
    if (k < 0 || js_depth_ok(j))
        return -1;
    r->kind = k;
    switch (k) {
    case JS_STRING:
        return js_string(j, &r->s, &r->n);
    case JS_INT: {
        js_kind_t kind;
        if (js_number(j, &kind, &r->i, &r->d))
            return -1;
        r->kind = kind;
        return 0;
    }
    default:
        return js_skip(j);
    }
}

static int pair_cmp(const void *a, const void *b);

/* Steps into the object at the cursor (one level deeper); returns 1 when it is empty,
 * which it then also leaves. */
static int open_object(js_t *j)
{
    j->p++; /* '{' */
    j->depth++;
    js_skip_ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        j->depth--;
        return 1;
    }
    return 0;
}

/* Sorts the pairs by key and keeps the last value of each key, as jansson does. */
static void dedup_pairs(rawevt_t *e)
{
    qsort(e->pairs, (size_t)e->npairs, sizeof(pair_t), pair_cmp);
    int m = 0;
    for (int i = 0; i < e->npairs; i++) {
        pair_t *p = &e->pairs[i];
        if (i + 1 < e->npairs && p->kn == p[1].kn && memcmp(p->k, p[1].k, p->kn) == 0)
            continue; /* a later duplicate key replaces this one */
        e->pairs[m++] = *p;
    }
    e->npairs = m;
}

static int read_properties(js_t *j, rawevt_t *e)
{
    e->f[F_PROPERTIES].kind = JS_OBJECT;
    e->npairs = 0;
    e->too_many_pairs = 0;
    if (open_object(j))
        return 0; /* {} */
    for (;;) {
        const char *k;
        size_t kn;
        if (js_peek(j) != JS_STRING)
            return j->p < j->end && *j->p != '"' ? js_fail(j, "expected a string key") : -1;
        if (js_string(j, &k, &kn) || js_expect(j, ':'))
            return -1;
        raw_t v;
        if (read_value(j, &v))
            return -1;
        if (e->npairs == MAX_PROP_PAIRS) {
            dedup_pairs(e); /* many repeats of a few keys are fine; many keys are not */
            for (int i = 0; i < e->npairs; i++)
                e->pairs[i].order = i;
        }
        if (e->npairs == MAX_PROP_PAIRS)
            e->too_many_pairs = 1;
        else {
            e->pairs[e->npairs] = (pair_t){k, v.kind == JS_STRING ? v.s : NULL, kn, v.kind == JS_STRING ? v.n : 0,
                                           e->npairs, v.kind != JS_STRING};
            e->npairs++;
        }
        int more = js_next(j, '}');
        if (more < 0)
            return -1;
        if (!more) {
            j->depth--;
            return 0;
        }
    }
}

/* Reads the object at the cursor into e. -1 on a syntax error. */
static int read_object(js_t *j, rawevt_t *e)
{
    for (int i = 0; i < F__N; i++)
        e->f[i].kind = ABSENT;
    e->npairs = 0;
    e->too_many_pairs = 0;
    if (js_depth_ok(j))
        return -1;
    if (open_object(j))
        return 0; /* {} */
    for (;;) {
        int k = js_peek(j);
        if (k < 0)
            return -1;
        if (k != JS_STRING)
            return js_fail(j, "expected a string key");
        const char *key;
        size_t kn;
        if (js_string(j, &key, &kn) || js_expect(j, ':'))
            return -1;
        int f = field_of(key, kn);
        if (f == F_PROPERTIES && js_peek(j) == JS_OBJECT && !js_depth_ok(j)) {
            if (read_properties(j, e))
                return -1;
        } else if (f >= 0) {
            if (read_value(j, &e->f[f]))
                return -1;
        } else if (js_skip(j)) { /* unknown fields are ignored */
            return -1;
        }
        int more = js_next(j, '}');
        if (more < 0)
            return -1;
        if (!more) {
            j->depth--;
            return 0;
        }
    }
}

/* ---- validation: the rules of docs/API.md, checked in a fixed order ------------------ */

static int is_absent(const raw_t *r)
{
    return r->kind == ABSENT || r->kind == JS_NULL;
}

static int want_id(const raw_t *r, int f, int required, strv_t *out, val_error_t *err)
{
    const char *name = field_names[f];
    out->p = NULL;
    out->n = 0;
    if (is_absent(r))
        return required ? val_fail(err, "missing_field", name, "%s is required", name) : 0;
    if (r->kind != JS_STRING)
        return val_fail(err, "invalid_type", name, "%s must be a string", name);
    if (r->n == 0)
        return val_fail(err, "invalid_id", name, "%s must not be empty", name);
    if (r->n > VAL_MAX_ID)
        return val_fail(err, "invalid_id", name, "%s is longer than %d bytes", name, VAL_MAX_ID);
    out->p = r->s;
    out->n = r->n;
    return 0;
}

static int pair_cmp(const void *a, const void *b)
{
    const pair_t *x = a, *y = b;
    size_t n = x->kn < y->kn ? x->kn : y->kn;
    int c = memcmp(x->k, y->k, n);
    if (c)
        return c;
    if (x->kn != y->kn)
        return x->kn < y->kn ? -1 : 1;
    return x->order - y->order; /* equal keys: the later one last, and it wins */
}

/* Writes the properties as compact JSON with sorted keys (the form the log stores). */
/* Length of at most max bytes of s that does not cut a UTF-8 sequence in half. */
static int utf8_prefix(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return (int)n;
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
        max--;
    return (int)max;
}

static int canonical_properties(rawevt_t *r, js_t *j, strv_t *out, val_error_t *err)
{
    if (r->too_many_pairs)
        return val_fail(err, "too_long", "properties", "properties has more than 256 keys");
    dedup_pairs(r);
    for (int i = 0; i < r->npairs; i++) {
        pair_t *p = &r->pairs[i];
        if (p->bad)
            return val_fail(err, "invalid_type", "properties", "properties.%.*s must be a string",
                            utf8_prefix(p->k, p->kn, 100), p->k);
        if (p->kn > VAL_MAX_ID || p->vn > 4096)
            return val_fail(err, "too_long", "properties", "properties.%.*s: key over 256 or value over 4096 bytes",
                            utf8_prefix(p->k, p->kn, 100), p->k);
    }
    if (r->npairs > 256)
        return val_fail(err, "too_long", "properties", "properties has more than 256 keys");
    if (r->npairs == 0)
        return 0;
    /* The arena has room (see evt_parse_batch): escaped text is never longer than the
     * source it was decoded from. */
    char *start = j->arena + j->alen, *o = start;
    *o++ = '{';
    int first = 1;
    for (int i = 0; i < r->npairs; i++) {
        pair_t *p = &r->pairs[i];
        if (!first)
            *o++ = ',';
        first = 0;
        o += json_escape_to(o, p->k, p->kn);
        *o++ = ':';
        o += json_escape_to(o, p->v, p->vn);
    }
    *o++ = '}';
    out->p = start;
    out->n = (size_t)(o - start);
    j->alen += out->n;
    return 0;
}

static int validate(rawevt_t *r, js_t *j, int64_t now_ms, evt_t *e, val_error_t *err)
{
    memset(e, 0, sizeof *e);
    e->price = -1;
    raw_t *f = r->f;
    if (is_absent(&f[F_TYPE]))
        return val_fail(err, "missing_field", "type", "type is required");
    if (f[F_TYPE].kind != JS_STRING)
        return val_fail(err, "invalid_type", "type", "type must be a string");
    int type = -1;
    for (int t = 0; t < EVT__COUNT; t++)
        if (strlen(type_names[t]) == f[F_TYPE].n && memcmp(type_names[t], f[F_TYPE].s, f[F_TYPE].n) == 0)
            type = t;
    if (type < 0)
        return val_fail(err, "unknown_event_type", "type",
                        "unknown event type; use view, click, search, add_to_cart, remove_from_cart or purchase");
    e->type = (evt_type_t)type;

    if (want_id(&f[F_EVENT_ID], F_EVENT_ID, 0, &e->event_id, err) ||
        want_id(&f[F_USER_ID], F_USER_ID, 0, &e->user_id, err) ||
        want_id(&f[F_SESSION_ID], F_SESSION_ID, 0, &e->session_id, err))
        return -1;
    if (!e->user_id.p && !e->session_id.p)
        return val_fail(err, "missing_field", "user_id", "user_id or session_id is required");

    if (e->type == EVT_SEARCH) {
        raw_t *q = &f[F_QUERY];
        if (is_absent(q))
            return val_fail(err, "missing_field", "query", "query is required");
        if (q->kind != JS_STRING)
            return val_fail(err, "invalid_type", "query", "query must be a string");
        if (q->n > 1024)
            return val_fail(err, "too_long", "query", "query is longer than 1024 bytes");
        if (q->n == 0)
            return val_fail(err, "invalid_value", "query", "query must not be empty");
        e->query.p = q->s;
        e->query.n = q->n;
        if (want_id(&f[F_ITEM_ID], F_ITEM_ID, 0, &e->item_id, err))
            return -1;
    } else if (want_id(&f[F_ITEM_ID], F_ITEM_ID, 1, &e->item_id, err)) {
        return -1;
    }
    if (want_id(&f[F_ORDER_ID], F_ORDER_ID, 0, &e->order_id, err) ||
        want_id(&f[F_REC_ID], F_REC_ID, 0, &e->rec_id, err))
        return -1;

    raw_t *q = &f[F_QUANTITY];
    if (!is_absent(q)) {
        if (q->kind != JS_INT)
            return val_fail(err, "invalid_type", "quantity", "quantity must be an integer");
        if (q->i < 0)
            return val_fail(err, "invalid_value", "quantity", "quantity must not be negative");
        if (q->i == 0 || q->i > 1000000)
            return val_fail(err, "invalid_value", "quantity", "quantity must be between 1 and 1000000");
        e->quantity = (uint32_t)q->i;
    }
    raw_t *pr = &f[F_PRICE];
    if (!is_absent(pr)) {
        if (pr->kind != JS_INT && pr->kind != JS_REAL)
            return val_fail(err, "invalid_type", "price", "price must be a number");
        double d = pr->kind == JS_INT ? (double)pr->i : pr->d;
        if (d < 0)
            return val_fail(err, "invalid_value", "price", "price must not be negative");
        if (d > VAL_MAX_NUMBER)
            return val_fail(err, "invalid_value", "price", "price must be at most %.0e", VAL_MAX_NUMBER);
        e->price = d;
    }
    raw_t *ts = &f[F_TS];
    if (is_absent(ts)) {
        e->ts_ms = now_ms;
    } else {
        int64_t t;
        if (ts->kind == JS_INT) {
            t = ts->i;
            if (t < 0)
                return val_fail(err, "invalid_timestamp", "ts", "ts must not be negative");
        } else if (ts->kind == JS_STRING) {
            if (time_parse_rfc3339(ts->s, ts->n, &t) != 0)
                return val_fail(err, "invalid_timestamp", "ts",
                                "ts must be RFC 3339 (2026-11-25T09:30:00Z) or epoch milliseconds");
            if (t < 0)
                return val_fail(err, "invalid_timestamp", "ts", "ts is before 1970");
        } else {
            return val_fail(err, "invalid_type", "ts", "ts must be an RFC 3339 string or epoch milliseconds");
        }
        if (t > now_ms + 24ll * 3600 * 1000)
            return val_fail(err, "timestamp_in_future", "ts", "ts is more than 24 hours in the future");
        e->ts_ms = t;
    }
    raw_t *props = &f[F_PROPERTIES];
    if (!is_absent(props)) {
        if (props->kind != JS_OBJECT)
            return val_fail(err, "invalid_type", "properties", "properties must be an object of strings");
        if (canonical_properties(r, j, &e->properties, err))
            return -1;
    }
    return 0;
}

/* ---- batches ------------------------------------------------------------------------- */

static void push(evt_batch_t *b, const evt_t *e, const val_error_t *err)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->ev = realloc(b->ev, b->cap * sizeof *b->ev);
        b->err = realloc(b->err, b->cap * sizeof *b->err);
        if (!b->ev || !b->err)
            abort();
    }
    if (e)
        b->ev[b->n] = *e;
    else
        memset(&b->ev[b->n], 0, sizeof *b->ev);
    if (err)
        b->err[b->n] = *err;
    else
        memset(&b->err[b->n], 0, sizeof *b->err);
    b->n++;
}

/* Reads one element at the cursor: 0 valid (*e), 1 rejected (*err), -1 syntax error. */
static int read_element(js_t *j, rawevt_t *raw, int64_t now_ms, evt_t *e, val_error_t *err)
{
    int k = js_peek(j);
    if (k < 0)
        return -1;
    if (k != JS_OBJECT) {
        if (js_skip(j))
            return -1;
        val_fail(err, "invalid_type", "", "an event must be a JSON object");
        return 1;
    }
    if (read_object(j, raw))
        return -1;
    return validate(raw, j, now_ms, e, err) ? 1 : 0;
}

static int only_space(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
            return 0;
    return 1;
}

static int parse_lines(const char *body, size_t len, size_t max, int64_t now_ms, evt_batch_t *b, rawevt_t *raw,
                       size_t *alen, val_error_t *err)
{
    const char *p = body, *end = body + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        size_t n = (size_t)(le - p);
        if (!only_space(p, n)) {
            if (b->n == max)
                return val_fail(err, "batch_too_large", "", "more than %zu records in one request", max), 413;
            val_error_t e = {0};
            evt_t ev;
            if (!js_utf8_ok(p, n)) {
                val_fail(&e, "invalid_utf8", "", "line is not valid UTF-8");
                push(b, NULL, &e);
            } else {
                js_t j;
                js_init(&j, p, n, b->arena, &e);
                j.alen = *alen;
                int rc = read_element(&j, raw, now_ms, &ev, &e);
                if (rc >= 0) {
                    js_skip_ws(&j);
                    if (j.p != j.end)
                        rc = js_fail(&j, "end of input expected");
                }
                push(b, rc == 0 ? &ev : NULL, rc == 0 ? NULL : &e);
                *alen = j.alen;
            }
        }
        p = le + 1;
    }
    return 0;
}

int evt_parse_batch(const char *body, size_t len, int ndjson, size_t max, int64_t now_ms, evt_batch_t *b,
                    val_error_t *err)
{
    memset(b, 0, sizeof *b);
    /* Decoded strings and canonical properties are never longer than their source text,
     * so two times the body is room enough for both and nothing moves. */
    b->arena = malloc(2 * len + 64);
    rawevt_t *raw = malloc(sizeof *raw);
    if (!b->arena || !raw)
        abort();
    size_t alen = 0;
    int rc = 0;
    if (only_space(body, len)) {
        rc = (val_fail(err, "empty_batch", "", "the request body holds no records"), 400);
        goto out;
    }
    if (ndjson) {
        rc = parse_lines(body, len, max, now_ms, b, raw, &alen, err);
        goto out;
    }
    js_t j;
    js_init(&j, body, len, b->arena, err);
    int k = js_peek(&j);
    if (k < 0) {
        rc = 400;
        goto out;
    }
    evt_t ev;
    val_error_t e;
    if (k == JS_ARRAY) {
        j.p++;
        j.depth = 1;
        js_skip_ws(&j);
        if (j.p < j.end && *j.p == ']') {
            j.p++;
        } else {
            for (;;) {
                if (b->n == max) {
                    rc = (val_fail(err, "batch_too_large", "", "more than %zu records in one request", max), 413);
                    goto out;
                }
                memset(&e, 0, sizeof e);
                int r = read_element(&j, raw, now_ms, &ev, &e);
                if (r < 0) { /* a syntax error: j.err (= err) says where */
                    rc = 400;
                    goto out;
                }
                push(b, r == 0 ? &ev : NULL, r == 0 ? NULL : &e);
                int more = js_next(&j, ']');
                if (more < 0) {
                    rc = 400;
                    goto out;
                }
                if (!more)
                    break;
            }
        }
    } else {
        memset(&e, 0, sizeof e);
        int r = read_element(&j, raw, now_ms, &ev, &e);
        if (r < 0) {
            rc = 400;
            goto out;
        }
        push(b, r == 0 ? &ev : NULL, r == 0 ? NULL : &e);
    }
    js_skip_ws(&j);
    if (j.p != j.end) {
        /* More than one value: the body is NDJSON sent as application/json, and a bad
         * line (bad UTF-8 included) is rejected alone. */
        b->n = 0;
        alen = 0;
        rc = parse_lines(body, len, max, now_ms, b, raw, &alen, err);
    } else if (!js_utf8_ok(body, len)) {
        /* The scanner passes bytes of strings through unchecked: check them now. */
        b->n = 0;
        rc = (val_fail(err, "invalid_utf8", "", "body is not valid UTF-8"), 400);
    }
out:
    if (rc == 0 && b->n == 0)
        rc = (val_fail(err, "empty_batch", "", "the request body holds no records"), 400);
    free(raw);
    return rc;
}

void evt_batch_free(evt_batch_t *b)
{
    free(b->ev);
    free(b->err);
    free(b->arena);
    memset(b, 0, sizeof *b);
}

/* ---- binary codec -------------------------------------------------------------------- */

static void put_sv(buf_t *out, strv_t s)
{
    buf_put_str(out, s.p ? s.p : "", s.p ? s.n : 0);
}

void evt_encode(const evt_t *e, buf_t *out)
{
    buf_put_u8(out, EVT_CODEC_VERSION);
    buf_put_u8(out, (uint8_t)e->type);
    buf_put_u64(out, (uint64_t)e->ts_ms);
    buf_put_varint(out, e->quantity);
    double price = e->price < 0 ? NAN : e->price;
    uint64_t bits;
    memcpy(&bits, &price, 8);
    buf_put_u64(out, bits);
    put_sv(out, e->event_id);
    put_sv(out, e->user_id);
    put_sv(out, e->session_id);
    put_sv(out, e->item_id);
    put_sv(out, e->query);
    put_sv(out, e->order_id);
    put_sv(out, e->rec_id);
    put_sv(out, e->properties);
}

static int get_sv(rd_t *r, strv_t *s)
{
    if (rd_str(r, &s->p, &s->n))
        return -1;
    if (s->n == 0)
        s->p = NULL;
    return 0;
}

int evt_decode(const void *p, size_t n, evt_t *e)
{
    rd_t r = {p, (const unsigned char *)p + n};
    uint8_t ver, type;
    uint64_t ts, qty, bits;
    memset(e, 0, sizeof *e);
    if (rd_u8(&r, &ver) || ver != EVT_CODEC_VERSION || rd_u8(&r, &type) || type >= EVT__COUNT ||
        rd_u64(&r, &ts) || rd_varint(&r, &qty) || qty > UINT32_MAX || rd_u64(&r, &bits))
        return -1;
    if ((int64_t)ts < 0 || (int64_t)ts > TIME_MAX_S * 1000 + 999)
        return -1; /* no validated event carries such a time */
    e->type = (evt_type_t)type;
    e->ts_ms = (int64_t)ts;
    e->quantity = (uint32_t)qty;
    double price;
    memcpy(&price, &bits, 8);
    if (!isnan(price) && !(price >= 0 && price <= VAL_MAX_NUMBER))
        return -1; /* no validated event carries such a price */
    e->price = isnan(price) ? -1 : price;
    if (get_sv(&r, &e->event_id) || get_sv(&r, &e->user_id) || get_sv(&r, &e->session_id) ||
        get_sv(&r, &e->item_id) || get_sv(&r, &e->query) || get_sv(&r, &e->order_id) || get_sv(&r, &e->rec_id) ||
        get_sv(&r, &e->properties))
        return -1;
    if (r.p != r.end)
        return -1;
    return 0;
}
