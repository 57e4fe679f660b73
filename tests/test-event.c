/* Event validation (each rule of docs/API.md), the binary codec, and timestamps. */
#include "ingest/event.h"
#include "test.h"
#include "util/timeutil.h"

#define NOW 1764000000000LL /* 2025-11-24T16:00:00Z */

static int check(const char *json, const char *code, const char *field)
{
    json_error_t je;
    json_t *o = json_loads(json, 0, &je);
    if (!o)
        FAIL("bad test JSON %s: %s", json, je.text);
    evt_t e;
    buf_t props;
    buf_init(&props);
    val_error_t err;
    int rc = evt_from_json(o, NOW, &e, &props, &err);
    if (code) {
        if (rc == 0)
            FAIL("accepted %s, want %s", json, code);
        if (strcmp(err.code, code) != 0 || strcmp(err.field, field) != 0)
            FAIL("%s: got %s/%s (%s), want %s/%s", json, err.code, err.field, err.message, code, field);
        ASSERT(strlen(err.message) > 5);
    } else if (rc != 0) {
        FAIL("rejected %s: %s %s", json, err.code, err.message);
    }
    buf_free(&props);
    json_decref(o);
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
    json_t *o = json_loads("{\"type\":\"purchase\",\"user_id\":\"u1\",\"session_id\":\"s1\",\"item_id\":\"i1\","
                           "\"quantity\":3,\"price\":9.5,\"order_id\":\"o1\",\"rec_id\":\"r1\",\"event_id\":\"e1\","
                           "\"ts\":\"2025-11-24T10:00:00Z\",\"properties\":{\"b\":\"2\",\"a\":\"1\"}}",
                           0, NULL);
    evt_t e, d;
    buf_t props, enc;
    buf_init(&props);
    buf_init(&enc);
    val_error_t err;
    ASSERT(evt_from_json(o, NOW, &e, &props, &err) == 0);
    evt_encode(&e, &enc);
    ASSERT(evt_decode(enc.data, enc.len, &d) == 0);
    ASSERT_EQ(d.type, EVT_PURCHASE);
    ASSERT_EQ(d.quantity, 3);
    ASSERT(d.price == 9.5);
    ASSERT_EQ(d.ts_ms, 1763978400000LL);
    ASSERT(d.user_id.n == 2 && memcmp(d.user_id.p, "u1", 2) == 0);
    ASSERT(d.order_id.n == 2 && memcmp(d.order_id.p, "o1", 2) == 0);
    ASSERT(d.query.p == NULL);
    ASSERT(d.properties.n == 17 && memcmp(d.properties.p, "{\"a\":\"1\",\"b\":\"2\"}", 17) == 0);
    /* Truncated or extended payloads are refused, never read past. */
    for (size_t n = 0; n < enc.len; n++)
        ASSERT(evt_decode(enc.data, n, &d) != 0);
    buf_append(&enc, "x", 1);
    ASSERT(evt_decode(enc.data, enc.len, &d) != 0);
    buf_free(&props);
    buf_free(&enc);
    json_decref(o);
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
          TEST_ENTRY(codec_round_trip), TEST_ENTRY(rfc3339))
