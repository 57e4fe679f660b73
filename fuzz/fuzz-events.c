/* libFuzzer driver: POST /v1/events bodies.
 *
 * The first input byte picks the body mode (bit 0: 1 forces NDJSON, 0 lets bat_parse
 * decide between one object, an array, or NDJSON it detects); the remaining bytes are
 * the body. Every element that parses and validates is encoded to the binary log form,
 * decoded back, and must come back equal to what evt_from_json produced (type, ts,
 * quantity, price bits, every string field byte for byte); re-encoding the decoded
 * event must give the same bytes. Then, as post_events does, each event whose event_id
 * was not seen yet is applied to a store (one fresh state per input), and the user and
 * item it names are rendered with st_user_json / st_item_json, which must be valid
 * JSON. Anything else aborts. */
#include "ingest/batch.h"
#include "ingest/event.h"
#include "store/state.h"
#include "util/buf.h"
#include "util/slog.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 2025-11-25T09:30:00Z: fixed so that "24 h in the future" is deterministic. */
#define NOW_MS 1764063000000LL

#define CHECK(cond)                                                                                 \
    do {                                                                                            \
        if (!(cond)) {                                                                              \
            fprintf(stderr, "fuzz-events: check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                                \
        }                                                                                           \
    } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    slog_set_level(SLOG_ERROR + 1); /* silence the logfmt lines */
    json_object_seed(1);            /* deterministic hashing across runs */
    return 0;
}

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
    evt_batch_t bat;
    val_error_t err;
    int rc = evt_parse_batch((const char *)data + 1, size - 1, ndjson, 10000, NOW_MS, &bat, &err);
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
