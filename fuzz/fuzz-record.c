/* libFuzzer driver: log record payloads, as replay hands them to the store.
 *
 * 1. evt_decode over the whole input must not crash; when it accepts, encoding the
 *    decoded event and decoding that again must give the same event.
 * 2. st_apply(type = data[0] % 6, data + 1, size - 1) on a fresh state (with a small
 *    fixed prelude already applied: item "i1", user "u1", one purchase) must not
 *    crash, nor the readers st_item_json / st_user_json afterwards, on the prelude ids
 *    and on the ids the record names; what they render must be valid JSON. */
#include "ingest/event.h"
#include "store/state.h"
#include "util/buf.h"
#include "util/slog.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NAME "fuzz-record"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    slog_set_level(SLOG_ERROR + 1);
    json_object_seed(1);
    return 0;
}

static int same_sv(strv_t a, strv_t b)
{
    size_t an = a.p ? a.n : 0, bn = b.p ? b.n : 0;
    return an == bn && (an == 0 || memcmp(a.p, b.p, an) == 0);
}

static void check_decode(const uint8_t *data, size_t size)
{
    evt_t e, d;
    if (evt_decode(data, size, &e) != 0)
        return;
    CHECK((unsigned)e.type < EVT__COUNT);
    buf_t enc;
    buf_init(&enc);
    evt_encode(&e, &enc);
    CHECK(evt_decode(enc.data, enc.len, &d) == 0);
    CHECK(d.type == e.type && d.ts_ms == e.ts_ms && d.quantity == e.quantity);
    /* A negative (absent) price is written as NaN and read back as -1. */
    CHECK(e.price < 0 ? d.price < 0 : memcmp(&d.price, &e.price, sizeof e.price) == 0);
    CHECK(same_sv(e.event_id, d.event_id) && same_sv(e.user_id, d.user_id) && same_sv(e.session_id, d.session_id) &&
          same_sv(e.item_id, d.item_id) && same_sv(e.query, d.query) && same_sv(e.order_id, d.order_id) &&
          same_sv(e.rec_id, d.rec_id) && same_sv(e.properties, d.properties));
    buf_free(&enc);
}

/* Fixed records applied before the fuzzed one, so that the readers have a catalog
 * document, a customer document and event counts to render. */
static void prelude(state_t *st)
{
    buf_t b;
    buf_init(&b);
    json_t *item = json_pack("{s:s, s:s, s:[s,s], s:s, s:f, s:b}", "item_id", "i1", "title", "Kettle",
                             "categories", "Home", "Kitchen", "brand", "Acme", "price", 29.9, "in_stock", 1);
    st_encode_doc(&b, "i1", 2, item);
    CHECK(st_apply(st, REC_ITEM_PUT, b.data, b.len) == 0);
    json_decref(item);

    b.len = 0;
    json_t *user = json_pack("{s:s, s:s, s:{s:b}}", "user_id", "u1", "country", "DE", "consent", "personalization", 1);
    st_encode_doc(&b, "u1", 2, user);
    CHECK(st_apply(st, REC_USER_PUT, b.data, b.len) == 0);
    json_decref(user);

    b.len = 0;
    evt_t e;
    memset(&e, 0, sizeof e);
    e.type = EVT_PURCHASE;
    e.ts_ms = 1764000000000LL;
    e.user_id = (strv_t){"u1", 2};
    e.session_id = (strv_t){"s1", 2};
    e.item_id = (strv_t){"i1", 2};
    e.order_id = (strv_t){"o1", 2};
    e.event_id = (strv_t){"e1", 2};
    e.quantity = 2;
    e.price = 29.9;
    evt_encode(&e, &b);
    CHECK(st_apply(st, REC_EVENT, b.data, b.len) == 0);
    buf_free(&b);
}

static void render(const state_t *st, int item, const char *id, size_t n)
{
    if (!id || n == 0)
        return;
    buf_t out;
    buf_init(&out);
    int rc = item ? st_item_json(st, id, n, &out) : st_user_json(st, id, n, &out);
    if (rc == 0) {
        /* Ids come from the record unvalidated (the API checks them before they are
         * logged): NUL bytes render as \u0000, which is valid JSON, and invalid UTF-8
         * is passed through, which is not worth a report. Anything else must parse. */
        json_error_t je;
        json_t *v = json_loadb(out.data, out.len, JSON_ALLOW_NUL, &je);
        if (!v && json_error_code(&je) != json_error_invalid_utf8) {
            fprintf(stderr, "fuzz-record: st_%s_json renders invalid JSON: %s\n%.*s\n", item ? "item" : "user",
                    je.text, (int)out.len, out.data);
            abort();
        }
        json_decref(v);
    }
    buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_decode(data, size);
    if (size < 1)
        return 0;

    uint8_t type = data[0] % 6;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    state_t *st = st_new();
    prelude(st);
    int rc = st_apply(st, type, p, n);
    CHECK(rc == 0 || rc == -1);
    if (type < REC_EVENT || type > REC_USER_PUT)
        CHECK(rc == -1);

    render(st, 1, "i1", 2);
    render(st, 0, "u1", 2);
    render(st, 0, "nobody", 6);
    if (rc == 0) {
        /* The ids the record itself names. */
        if (type == REC_EVENT) {
            evt_t e;
            CHECK(evt_decode(p, n, &e) == 0);
            render(st, 1, e.item_id.p, e.item_id.n);
            render(st, 0, e.user_id.p, e.user_id.n);
            CHECK(st_event_seen(st, "e1", 2));
            if (e.event_id.p)
                CHECK(st_event_seen(st, e.event_id.p, e.event_id.n));
        } else {
            rd_t r = {p, p + n};
            const char *id;
            size_t idn;
            CHECK(rd_str(&r, &id, &idn) == 0);
            render(st, type != REC_USER_PUT, id, idn);
        }
    }
    (void)st_memory(st);
    st_free(st);
    return 0;
}
