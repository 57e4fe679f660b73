/* libFuzzer driver: catalog items and customer records (PUT /v1/items/{id},
 * PUT /v1/users/{id}, POST /v1/items elements).
 *
 * The bytes are parsed with jansson (any JSON value, as a batch element may be one),
 * then validated both as an item and as a customer record, with the id taken from the
 * body. A document that validates must serialise with json_dumps and parse back equal,
 * carry its id, and go through the store the way the server sends it: encoded as a log
 * payload, applied to a fresh state, and rendered by st_item_json / st_user_json, which
 * must give valid JSON. The stored document, and the input written as the store writes
 * documents when it is an object, cut to a set of fields drawn from the input
 * (ent_item_project, what `fields=` answers), must parse to those fields' members. */
#include "ingest/entity.h"
#include "store/state.h"
#include "util/buf.h"
#include "util/slog.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW_MS 1764063000000LL /* 2025-11-25T09:30:00Z */

#define FUZZ_NAME "fuzz-entity"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    slog_set_level(SLOG_ERROR + 1);
    json_object_seed(1);
    return 0;
}

/* json_dumps, then json_loads: must parse and be equal. */
static void roundtrip(json_t *doc)
{
    char *s = json_dumps(doc, JSON_COMPACT);
    CHECK(s != NULL);
    json_error_t je;
    json_t *back = json_loads(s, 0, &je);
    if (!back) {
        fprintf(stderr, "fuzz-entity: document does not parse back: %s (%s)\n", je.text, s);
        abort();
    }
    CHECK(json_equal(doc, back));
    json_decref(back);
    free(s);
}

/* The fields of mask among obj's members, as jansson keeps them. */
static json_t *expected_cut(json_t *obj, uint32_t mask)
{
    json_t *want = json_object();
    for (int f = 0; f < ENT_ITEM_NFIELDS; f++) {
        json_t *v = json_object_get(obj, ent_item_fields[f]);
        if ((mask & (1u << f)) && v)
            json_object_set(want, ent_item_fields[f], v);
    }
    return want;
}

/* ent_item_project of text (a JSON object) against obj, its parse. */
static void check_cut(const char *text, size_t len, json_t *obj, uint32_t mask)
{
    buf_t out;
    buf_init(&out);
    CHECK(ent_item_project(&out, text, len, mask) == 0);
    json_error_t je;
    json_t *got = json_loadb(out.data, out.len, JSON_ALLOW_NUL, &je);
    if (!got) {
        fprintf(stderr, "fuzz-entity: a cut is not JSON: %s\n%.*s\n", je.text, (int)out.len, out.data);
        abort();
    }
    json_t *want = expected_cut(obj, mask);
    CHECK(json_equal(got, want));
    json_decref(want);
    json_decref(got);
    buf_free(&out);
}

/* Stores doc as the server does and renders it back through the state. */
static void through_state(json_t *doc, const char *idfield, int is_item)
{
    json_t *idv = json_object_get(doc, idfield);
    CHECK(json_is_string(idv));
    const char *id = json_string_value(idv);
    size_t idn = json_string_length(idv);
    CHECK(idn >= 1 && idn <= VAL_MAX_ID);

    buf_t payload, out;
    buf_init(&payload);
    buf_init(&out);
    st_encode_doc(&payload, id, idn, doc);
    state_t *st = st_new();
    CHECK(st_apply(st, is_item ? REC_ITEM_PUT : REC_USER_PUT, payload.data, payload.len) == 0);
    int rc = is_item ? st_item_json(st, id, idn, &out) : st_user_json(st, id, idn, &out);
    CHECK(rc == 0);
    json_error_t je;
    json_t *got = json_loadb(out.data, out.len, JSON_ALLOW_NUL, &je);
    if (!got) {
        fprintf(stderr, "fuzz-entity: %s renders invalid JSON: %s\n%.*s\n", is_item ? "item" : "user", je.text,
                (int)out.len, out.data);
        abort();
    }
    CHECK(json_equal(json_object_get(got, idfield), idv));
    json_decref(got);
    if (is_item) {
        uint32_t x = intern_get(st->items, id, idn);
        CHECK(x != INTERN_NONE && st->item[x].doc != NULL);
        /* Against the stored text's own parse: the store keeps reals to 15 digits. */
        json_t *stored = json_loadb(st->item[x].doc, st->item[x].doc_len, JSON_ALLOW_NUL, &je);
        CHECK(stored != NULL);
        for (uint32_t mask = 1; mask < (1u << ENT_ITEM_NFIELDS); mask = mask * 3 + 1)
            check_cut(st->item[x].doc, st->item[x].doc_len, stored, mask);
        json_decref(stored);
    }
    st_free(st);
    buf_free(&payload);
    buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t je;
    json_t *obj = json_loadb((const char *)data, size, JSON_DECODE_ANY, &je);
    if (!obj)
        return 0;

    /* Any object cut as a stored document would be, once written as the store writes
     * documents (the mask from the input's bytes); the raw bytes too, which need not be
     * of that shape: refused or not, never read past their end. */
    uint32_t mask = size ? (uint32_t)data[0] * 0x9e3779b1u : 1;
    if (json_is_object(obj)) {
        buf_t text;
        buf_init(&text);
        st_dump_doc(&text, obj);
        json_t *back = json_loadb(text.data, text.len, JSON_ALLOW_NUL, &je);
        CHECK(back != NULL); /* reals to 15 digits: the cut is held to this parse */
        check_cut(text.data, text.len, back, mask);
        json_decref(back);
        buf_free(&text);
    }
    buf_t raw;
    buf_init(&raw);
    if (ent_item_project(&raw, (const char *)data, size, mask) != 0)
        CHECK(raw.len == 2 && memcmp(raw.data, "{}", 2) == 0);
    buf_free(&raw);

    json_t *doc;
    val_error_t err;
    if (ent_item_from_json(obj, NULL, NOW_MS, &doc, &err) == 0) {
        CHECK(json_is_object(doc));
        CHECK(json_is_boolean(json_object_get(doc, "in_stock")));
        roundtrip(doc);
        through_state(doc, "item_id", 1);
        json_decref(doc);
    } else {
        CHECK(doc == NULL && err.code != NULL && err.field != NULL);
    }

    if (ent_user_from_json(obj, NULL, &doc, &err) == 0) {
        CHECK(json_is_object(doc));
        roundtrip(doc);
        through_state(doc, "user_id", 0);
        json_decref(doc);
    } else {
        CHECK(doc == NULL && err.code != NULL && err.field != NULL);
    }

    /* The PUT path: the id comes from the URL. */
    if (ent_item_from_json(obj, "fuzz-item", NOW_MS, &doc, &err) == 0) {
        CHECK(strcmp(json_string_value(json_object_get(doc, "item_id")), "fuzz-item") == 0);
        roundtrip(doc);
        json_decref(doc);
    }
    if (ent_user_from_json(obj, "fuzz-user", &doc, &err) == 0) {
        CHECK(strcmp(json_string_value(json_object_get(doc, "user_id")), "fuzz-user") == 0);
        roundtrip(doc);
        json_decref(doc);
    }
    json_decref(obj);
    return 0;
}
