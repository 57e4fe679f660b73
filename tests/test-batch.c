/* Splitting request bodies into records: object, array, NDJSON, and what is refused. */
#include "ingest/batch.h"
#include "test.h"

static int parse(const char *body, int ndjson, size_t max, bat_t *b, val_error_t *err)
{
    return bat_parse(body, strlen(body), ndjson, max, b, err);
}

TEST(object_array_ndjson)
{
    bat_t b;
    val_error_t err;
    ASSERT_EQ(parse("{\"a\":1}", 0, 10, &b, &err), 0);
    ASSERT_EQ(b.n, 1);
    bat_free(&b);
    ASSERT_EQ(parse(" [ {\"a\":1}, {\"a\":2}, 3 ] ", 0, 10, &b, &err), 0);
    ASSERT_EQ(b.n, 3);
    ASSERT(json_is_integer(b.v[2].val));
    bat_free(&b);
    /* NDJSON: a broken line is an element of its own, its neighbours are kept. */
    ASSERT_EQ(parse("{\"a\":1}\n{\"a\":\n\n{\"a\":3}\n", 1, 10, &b, &err), 0);
    ASSERT_EQ(b.n, 3);
    ASSERT(b.v[0].val && !b.v[1].val && b.v[2].val);
    ASSERT_STR_EQ(b.v[1].err.code, "invalid_json");
    bat_free(&b);
    /* Several values one per line under application/json are read as NDJSON. */
    ASSERT_EQ(parse("{\"a\":1}\n{\"a\":2}", 0, 10, &b, &err), 0);
    ASSERT_EQ(b.n, 2);
    bat_free(&b);
}

TEST(refusals)
{
    bat_t b;
    val_error_t err;
    ASSERT_EQ(parse("", 0, 10, &b, &err), 400);
    ASSERT_STR_EQ(err.code, "empty_batch");
    ASSERT_EQ(parse("[]", 0, 10, &b, &err), 400);
    ASSERT_STR_EQ(err.code, "empty_batch");
    ASSERT_EQ(parse(" \n \n", 1, 10, &b, &err), 400);
    ASSERT_STR_EQ(err.code, "empty_batch");
    ASSERT_EQ(parse("[1,2,3]", 0, 2, &b, &err), 413);
    ASSERT_STR_EQ(err.code, "batch_too_large");
    ASSERT_EQ(parse("1\n2\n3\n", 1, 2, &b, &err), 413);
    ASSERT_STR_EQ(err.code, "batch_too_large");
    ASSERT_EQ(parse("{\"a\":", 0, 10, &b, &err), 400);
    ASSERT_STR_EQ(err.code, "invalid_json");
    ASSERT_EQ(parse("[{\"a\":\"\xff\"}]", 0, 10, &b, &err), 400);
    ASSERT_STR_EQ(err.code, "invalid_utf8");
    /* In NDJSON only the line with bad UTF-8 goes. */
    ASSERT_EQ(parse("{\"a\":\"\xc3\x28\"}\n{\"a\":1}", 1, 10, &b, &err), 0);
    ASSERT_EQ(b.n, 2);
    ASSERT_STR_EQ(b.v[0].err.code, "invalid_utf8");
    ASSERT(b.v[1].val);
    bat_free(&b);
}

TEST_MAIN(TEST_ENTRY(object_array_ndjson), TEST_ENTRY(refusals))
