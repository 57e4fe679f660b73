/* Event validation (each rule of docs/API.md), the binary codec, and timestamps. */
#include "ingest/event.h"
#include "test.h"
#include "util/timeutil.h"

#define NOW 1764000000000LL /* 2025-11-24T16:00:00Z */

/* Parses one event body; checks it is accepted (code NULL) or rejected with code/field. */
static int check(const char *json, const char *code, const char *field)
{
    evt_batch_t b;
    val_error_t err;
    int status = evt_parse_batch(json, strlen(json), 0, 10, NOW, &b, &err);
    if (status)
        FAIL("%s: whole body refused: %s", json, err.message);
    ASSERT_EQ(b.n, 1);
    int rc = b.err[0].code ? -1 : 0;
    if (code) {
        if (rc == 0)
            FAIL("accepted %s, want %s", json, code);
        if (strcmp(b.err[0].code, code) != 0 || strcmp(b.err[0].field, field) != 0)
            FAIL("%s: got %s/%s (%s), want %s/%s", json, b.err[0].code, b.err[0].field, b.err[0].message, code,
                 field);
        ASSERT(strlen(b.err[0].message) > 5);
    } else if (rc != 0) {
        FAIL("rejected %s: %s %s", json, b.err[0].code, b.err[0].message);
    }
    evt_batch_free(&b);
    return rc;
}

TEST(valid_events)
{
    check("{\"type\":\"view\",\"user_id\":\"u\",\"item_id\":\"i\"}", NULL, NULL);
    check("{\"type\":\"view\",\"session_id\":\"s\",\"item_id\":\"i\"}", NULL, NULL);
    check("{\"type\":\"search\",\"session_id\":\"s\",\"query\":\"red mug\"}", NULL, NULL);
    check("{\"type\":\"purchase\",\"user_id\":\"u\",\"item_id\":\"i\",\"quantity\":2,\"price\":0,"
          "\"order_id\":\"o\",\"ts\":\"2025-11-24T10:00:00.123+01:00\",\"rec_id\":\"r\",\"event_id\":\"e\","
          "\"properties\":{\"channel\":\"app\"}}",
          NULL, NULL);
    check("{\"type\":\"click\",\"user_id\":\"u\",\"item_id\":\"i\",\"ts\":1764000000000}", NULL, NULL);
}

TEST(rejections_name_code_and_field)
{
    check("[1]", "invalid_type", "");
    check("{\"user_id\":\"u\",\"item_id\":\"i\"}", "missing_field", "type");
    check("{\"type\":7,\"user_id\":\"u\",\"item_id\":\"i\"}", "invalid_type", "type");
    check("{\"type\":\"like\",\"user_id\":\"u\",\"item_id\":\"i\"}", "unknown_event_type", "type");
    check("{\"type\":\"view\",\"item_id\":\"i\"}", "missing_field", "user_id");
    check("{\"type\":\"view\",\"user_id\":\"u\"}", "missing_field", "item_id");
    check("{\"type\":\"search\",\"user_id\":\"u\"}", "missing_field", "query");
    check("{\"type\":\"view\",\"user_id\":5,\"item_id\":\"i\"}", "invalid_type", "user_id");
    check("{\"type\":\"view\",\"user_id\":\"\",\"item_id\":\"i\"}", "invalid_id", "user_id");
    check("{\"type\":\"view\",\"user_id\":\"u\",\"item_id\":[\"i\"]}", "invalid_type", "item_id");
    check("{\"type\":\"view\",\"user_id\":\"u\",\"item_id\":\"i\",\"quantity\":-1}", "invalid_value", "quantity");
    check("{\"type\":\"view\",\"user_id\":\"u\",\"item_id\":\"i\",\"quantity\":1.5}", "invalid_type", "quantity");
    check("{\"type\":\"view\",\"user_id\":\"u\",\"item_id\":\"i\",\"price\":-0.01}", "invalid_value", "price");
    check("{\"type\":\"view\",\"user_id\":\"u\",\"item_id\":\"i\",\"price\":\"3\"}", "invalid_type", "price");
    check("{\"type\":\"view\",\"user_id\":\"u\",\"item_id\":\"i\",\"ts\":\"yesterday\"}", "invalid_timestamp", "ts");
    check("{\"type\":\"view\",\"user_id\":\"u\",\"item_id\":\"i\",\"ts\":\"2025-02-30T00:00:00Z\"}",
          "invalid_timestamp", "ts");
    check("{\"type\":\"view\",\"user_id\":\"u\",\"item_id\":\"i\",\"ts\":1764172800001}", "timestamp_in_future",
          "ts");
    check("{\"type\":\"view\",\"user_id\":\"u\",\"item_id\":\"i\",\"properties\":{\"a\":1}}", "invalid_type",
          "properties");
    check("{\"type\":\"view\",\"user_id\":\"u\",\"item_id\":\"i\",\"event_id\":\"\"}", "invalid_id", "event_id");
}

TEST(id_length_limit)
{
    char json[1024], id[300];
    memset(id, 'x', 256);
    id[256] = '\0';
    snprintf(json, sizeof json, "{\"type\":\"view\",\"user_id\":\"%s\",\"item_id\":\"i\"}", id);
    check(json, NULL, NULL);
    id[256] = 'x';
    id[257] = '\0';
    snprintf(json, sizeof json, "{\"type\":\"view\",\"user_id\":\"%s\",\"item_id\":\"i\"}", id);
    check(json, "invalid_id", "user_id");
}

TEST(codec_round_trip)
{
    const char *body = "{\"type\":\"purchase\",\"user_id\":\"u1\",\"session_id\":\"s1\",\"item_id\":\"i\\u00e91\","
                       "\"quantity\":3,\"price\":9.5,\"order_id\":\"o1\",\"rec_id\":\"r1\",\"event_id\":\"e1\","
                       "\"ts\":\"2025-11-24T10:00:00Z\",\"properties\":{\"b\":\"2\",\"a\":\"1\",\"b\":\"3\\n\"},"
                       "\"ignored\":[1,{\"x\":null}]}";
    evt_batch_t b;
    val_error_t err;
    ASSERT_EQ(evt_parse_batch(body, strlen(body), 0, 10, NOW, &b, &err), 0);
    ASSERT(b.err[0].code == NULL);
    evt_t d;
    buf_t enc;
    buf_init(&enc);
    evt_encode(&b.ev[0], &enc);
    ASSERT(evt_decode(enc.data, enc.len, &d) == 0);
    ASSERT_EQ(d.type, EVT_PURCHASE);
    ASSERT_EQ(d.quantity, 3);
    ASSERT(d.price == 9.5);
    ASSERT_EQ(d.ts_ms, 1763978400000LL);
    ASSERT(d.user_id.n == 2 && memcmp(d.user_id.p, "u1", 2) == 0);
    ASSERT(d.item_id.n == 4 && memcmp(d.item_id.p, "i\xc3\xa9" "1", 4) == 0); /* \u00e9 decoded */
    ASSERT(d.order_id.n == 2 && memcmp(d.order_id.p, "o1", 2) == 0);
    ASSERT(d.query.p == NULL);
    /* Properties: sorted keys, the later duplicate wins, escapes as jansson writes them. */
    const char *props = "{\"a\":\"1\",\"b\":\"3\\n\"}";
    if (d.properties.n != strlen(props) || memcmp(d.properties.p, props, d.properties.n) != 0)
        FAIL("properties: %.*s", (int)d.properties.n, d.properties.p);
    /* Truncated or extended payloads are refused, never read past. */
    for (size_t n = 0; n < enc.len; n++)
        ASSERT(evt_decode(enc.data, n, &d) != 0);
    buf_append(&enc, "x", 1);
    ASSERT(evt_decode(enc.data, enc.len, &d) != 0);
    buf_free(&enc);
    evt_batch_free(&b);
}

TEST(strict_json)
{
    /* What jansson refuses, the event reader refuses too (the whole body: 400). */
    static const char *bad[] = {"{\"type\":\"view\",}", "{\"type\":'view'}", "{\"a\":01}", "{\"a\":1.}",
                                "{\"a\":\"\\u0000\"}", "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}",
                                "{\"a\":\"x\ty\"}", "{\"a\":tru}", "{\"a\":99999999999999999999}", "{\"a\":1e999}",
                                "[{}", "{\"a\" 1}", "{\"a\":\"\\x\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        evt_batch_t b;
        val_error_t err;
        int st = evt_parse_batch(bad[i], strlen(bad[i]), 0, 10, NOW, &b, &err);
        if (st != 400 || strcmp(err.code, "invalid_json") != 0)
            FAIL("%s: status %d code %s", bad[i], st, st ? err.code : "-");
        evt_batch_free(&b);
    }
    /* Deep nesting in an ignored field is read without recursion. */
    size_t depth = 3000, n = 0;
    char *deep = malloc(depth * 2 + 100);
    n += (size_t)sprintf(deep, "{\"x\":");
    for (size_t i = 0; i < depth; i++)
        deep[n++] = '[';
    for (size_t i = 0; i < depth; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    evt_batch_t b;
    val_error_t err;
    ASSERT_EQ(evt_parse_batch(deep, n, 0, 10, NOW, &b, &err), 400); /* deeper than jansson's 2048 */
    evt_batch_free(&b);
    free(deep);
}

TEST(bodies_object_array_ndjson)
{
    evt_batch_t b;
    val_error_t err;
    const char *arr = " [ {\"type\":\"view\",\"user_id\":\"u\",\"item_id\":\"i\"}, 3, {\"type\":\"x\"} ] ";
    ASSERT_EQ(evt_parse_batch(arr, strlen(arr), 0, 10, NOW, &b, &err), 0);
    ASSERT_EQ(b.n, 3);
    ASSERT(b.err[0].code == NULL);
    ASSERT_STR_EQ(b.err[1].code, "invalid_type");
    ASSERT_STR_EQ(b.err[2].code, "unknown_event_type");
    evt_batch_free(&b);
    /* NDJSON: a broken line or bad UTF-8 is rejected alone. */
    const char *nd = "{\"type\":\"view\",\"user_id\":\"u\",\"item_id\":\"i\"}\n{\"type\":\n\n"
                     "{\"type\":\"view\",\"user_id\":\"\xc3\x28\",\"item_id\":\"i\"}\n"
                     "{\"type\":\"view\",\"user_id\":\"u\",\"item_id\":\"j\"} x\n"
                     "{\"type\":\"view\",\"user_id\":\"v\",\"item_id\":\"k\"}";
    ASSERT_EQ(evt_parse_batch(nd, strlen(nd), 1, 10, NOW, &b, &err), 0);
    ASSERT_EQ(b.n, 5);
    ASSERT(b.err[0].code == NULL);
    ASSERT_STR_EQ(b.err[1].code, "invalid_json");
    ASSERT_STR_EQ(b.err[2].code, "invalid_utf8");
    ASSERT_STR_EQ(b.err[3].code, "invalid_json");
    ASSERT(b.err[4].code == NULL);
    ASSERT(b.ev[4].user_id.n == 1 && b.ev[4].user_id.p[0] == 'v');
    evt_batch_free(&b);
    /* Several values one per line under application/json: read as NDJSON. */
    const char *two = "{\"type\":\"view\",\"user_id\":\"u\",\"item_id\":\"i\"}\n{\"type\":\"click\",\"user_id\":\"u\",\"item_id\":\"i\"}";
    ASSERT_EQ(evt_parse_batch(two, strlen(two), 0, 10, NOW, &b, &err), 0);
    ASSERT_EQ(b.n, 2);
    ASSERT_EQ(b.ev[1].type, EVT_CLICK);
    evt_batch_free(&b);
    /* Refusals of the whole body. */
    ASSERT_EQ(evt_parse_batch("[]", 2, 0, 10, NOW, &b, &err), 400);
    ASSERT_STR_EQ(err.code, "empty_batch");
    evt_batch_free(&b);
    ASSERT_EQ(evt_parse_batch(" \n", 2, 1, 10, NOW, &b, &err), 400);
    ASSERT_STR_EQ(err.code, "empty_batch");
    evt_batch_free(&b);
    ASSERT_EQ(evt_parse_batch("[{},{},{}]", 10, 0, 2, NOW, &b, &err), 413);
    ASSERT_STR_EQ(err.code, "batch_too_large");
    evt_batch_free(&b);
    ASSERT_EQ(evt_parse_batch("[{\"a\":\"\xff\"}]", 11, 0, 2, NOW, &b, &err), 400);
    ASSERT_STR_EQ(err.code, "invalid_utf8");
    evt_batch_free(&b);
}

TEST(rfc3339)
{
    int64_t ms;
    ASSERT(time_parse_rfc3339("1970-01-01T00:00:00Z", 20, &ms) == 0 && ms == 0);
    ASSERT(time_parse_rfc3339("2024-02-29T12:00:00.5Z", 22, &ms) == 0 && ms == 1709208000500LL);
    ASSERT(time_parse_rfc3339("2024-02-29T13:00:00+01:00", 25, &ms) == 0 && ms == 1709208000000LL);
    ASSERT(time_parse_rfc3339("2023-02-29T12:00:00Z", 20, &ms) != 0);
    ASSERT(time_parse_rfc3339("2024-02-29T12:00:00", 19, &ms) != 0);
    ASSERT(time_parse_rfc3339("2024-02-29T12:00:00Zjunk", 24, &ms) != 0);
    char out[32];
    time_format_rfc3339(1709208000500LL, out);
    ASSERT_STR_EQ(out, "2024-02-29T12:00:00.500Z");
    int64_t d;
    ASSERT(time_parse_duration("10m", &d) == 0 && d == 600000);
    ASSERT(time_parse_duration("5x", &d) != 0);
}

TEST_MAIN(TEST_ENTRY(valid_events), TEST_ENTRY(rejections_name_code_and_field), TEST_ENTRY(id_length_limit),
          TEST_ENTRY(codec_round_trip), TEST_ENTRY(strict_json), TEST_ENTRY(bodies_object_array_ndjson),
          TEST_ENTRY(rfc3339))
