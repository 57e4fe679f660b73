/* The HTTP API end to end against the real binary: every endpoint, every bad input of
 * the foundation issue (each answered with a structured error, the server staying up),
 * persistence across restarts, and a torn log tail. */
#include "harness.h"
#include "util/buf.h"
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static server_t S;
static char DIR_[256];

static void up(void)
{
    tmpdir_make(DIR_);
    server_start(&S, DIR_, "--threads", "2", "--loop-slice-us", "100", NULL);
    server_wait_ready(&S, 30000);
}

static void down(void)
{
    ASSERT_EQ(server_stop(&S), 0);
    rmrf(DIR_);
}

static long long events_total(void)
{
    json_t *j = http_json(&S, "GET", "/v1/stats", NULL, 200);
    long long n = jint(j, "events.total");
    json_decref(j);
    return n;
}

/* Sends a body with a content type; checks the status and, when code is given, that the
 * body is {"error":{"code":code,...,"field":field}}. */
static void expect_error(const char *method, const char *path, const char *ctype, const char *body, size_t len,
                         long status, const char *code, const char *field)
{
    http_resp_t r;
    http(&S, method, path, ctype, body, len, &r);
    if (r.status != status)
        FAIL("%s %s: status %ld, want %ld: %.500s", method, path, r.status, status, r.body);
    json_t *j = resp_json(&r);
    ASSERT_STR_EQ(jstr(j, "error.code"), code);
    ASSERT(jstr(j, "error.message") && strlen(jstr(j, "error.message")) > 5);
    if (field)
        ASSERT_STR_EQ(jstr(j, "error.field"), field);
    json_decref(j);
    http_free(&r);
}

static void expect_event_error(const char *event_json, const char *code, const char *field)
{
    expect_error("POST", "/v1/events", "application/json", event_json, strlen(event_json), 400, code, field);
}

TEST(health_ready_and_routing)
{
    up();
    json_t *j = http_json(&S, "GET", "/healthz", NULL, 200);
    ASSERT_STR_EQ(jstr(j, "status"), "ok");
    json_decref(j);
    j = http_json(&S, "GET", "/readyz", NULL, 200);
    ASSERT_STR_EQ(jstr(j, "status"), "ready");
    json_decref(j);
    expect_error("GET", "/nope", NULL, NULL, 0, 404, "not_found", NULL);
    expect_error("GET", "/v1/items/a/b", NULL, NULL, 0, 404, "not_found", NULL);
    /* Wrong method: 405 with an Allow header. */
    http_resp_t r;
    http(&S, "GET", "/v1/events", NULL, NULL, 0, &r);
    ASSERT_EQ(r.status, 405);
    ASSERT_CONTAINS(r.headers, "allow: POST");
    ASSERT_CONTAINS(r.body, "\"method_not_allowed\"");
    http_free(&r);
    http(&S, "DELETE", "/v1/users/u1", NULL, NULL, 0, &r);
    ASSERT_EQ(r.status, 405);
    ASSERT_CONTAINS(r.headers, "allow: GET, PUT");
    http_free(&r);
    down();
}

TEST(events_object_array_ndjson_and_duplicates)
{
    up();
    json_t *j = http_json(&S, "POST", "/v1/events",
                          "{\"event_id\":\"e1\",\"type\":\"view\",\"user_id\":\"u1\",\"item_id\":\"i1\"}", 200);
    ASSERT_EQ(jint(j, "accepted"), 1);
    ASSERT_EQ(jint(j, "duplicates"), 0);
    ASSERT_EQ(json_array_size(jget(j, "rejected")), 0);
    json_decref(j);

    /* An array mixing valid and invalid events keeps the valid ones. */
    j = http_json(&S, "POST", "/v1/events",
                  "[{\"event_id\":\"e1\",\"type\":\"view\",\"user_id\":\"u1\",\"item_id\":\"i1\"},"
                  " {\"event_id\":\"e2\",\"type\":\"add_to_cart\",\"user_id\":\"u1\",\"item_id\":\"i1\",\"quantity\":2,"
                  "\"price\":3.5},"
                  " {\"type\":\"teleport\",\"user_id\":\"u1\",\"item_id\":\"i1\"},"
                  " {\"event_id\":\"e3\",\"type\":\"purchase\",\"user_id\":\"u1\",\"item_id\":\"i1\",\"quantity\":2,"
                  "\"price\":3.5,\"order_id\":\"o1\"},"
                  " {\"type\":\"view\",\"user_id\":\"u1\"}]",
                  200);
    ASSERT_EQ(jint(j, "accepted"), 2);
    ASSERT_EQ(jint(j, "duplicates"), 1);
    ASSERT_EQ(json_array_size(jget(j, "rejected")), 2);
    ASSERT_EQ(jint(j, "rejected.0.index"), 2);
    ASSERT_STR_EQ(jstr(j, "rejected.0.code"), "unknown_event_type");
    ASSERT_STR_EQ(jstr(j, "rejected.0.field"), "type");
    ASSERT_EQ(jint(j, "rejected.1.index"), 4);
    ASSERT_STR_EQ(jstr(j, "rejected.1.code"), "missing_field");
    ASSERT_STR_EQ(jstr(j, "rejected.1.field"), "item_id");
    json_decref(j);

    /* NDJSON with a broken line: the others are kept; anonymous session events count. */
    const char *nd = "{\"type\":\"search\",\"session_id\":\"s9\",\"query\":\"mug\"}\n"
                     "{\"type\":\"view\",\"session_id\":\"s9\",\n"
                     "{\"type\":\"click\",\"session_id\":\"s9\",\"item_id\":\"i2\"}\n";
    http_resp_t r;
    http(&S, "POST", "/v1/events", "application/x-ndjson", nd, strlen(nd), &r);
    ASSERT_EQ(r.status, 200);
    j = resp_json(&r);
    ASSERT_EQ(jint(j, "accepted"), 2);
    ASSERT_EQ(jint(j, "rejected.0.index"), 1);
    ASSERT_STR_EQ(jstr(j, "rejected.0.code"), "invalid_json");
    json_decref(j);
    http_free(&r);
    ASSERT_EQ(events_total(), 5);

    /* The customer view reflects the events at once (read your writes). */
    j = http_json(&S, "GET", "/v1/users/u1", NULL, 200);
    ASSERT_EQ(jint(j, "computed.events.view"), 1);
    ASSERT_EQ(jint(j, "computed.events.add_to_cart"), 1);
    ASSERT_EQ(jint(j, "computed.events.purchase"), 1);
    ASSERT_EQ(jint(j, "computed.orders"), 1);
    ASSERT_EQ(jint(j, "computed.units_purchased"), 2);
    ASSERT(json_real_value(jget(j, "computed.revenue")) == 7.0);
    ASSERT(jstr(j, "computed.last_seen") != NULL);
    json_decref(j);
    down();
}

TEST(bad_events_get_structured_errors)
{
    up();
    expect_event_error("{\"type\":\"view\",", "invalid_json", "");
    expect_event_error("{\"type\":\"view\",\"user_id\":42,\"item_id\":\"i\"}", "invalid_type", "user_id");
    expect_event_error("{\"type\":\"view\",\"user_id\":\"u\",\"item_id\":\"i\",\"price\":\"free\"}", "invalid_type",
                       "price");
    expect_event_error("{\"type\":\"view\",\"item_id\":\"i\"}", "missing_field", "user_id");
    expect_event_error("{\"type\":\"view\",\"user_id\":\"u\"}", "missing_field", "item_id");
    expect_event_error("{\"type\":\"wishlist\",\"user_id\":\"u\",\"item_id\":\"i\"}", "unknown_event_type", "type");
    expect_event_error("{\"type\":\"view\",\"user_id\":\"\",\"item_id\":\"i\"}", "invalid_id", "user_id");
    char big[600];
    memset(big, 'x', sizeof big);
    snprintf(big, sizeof big, "{\"type\":\"view\",\"user_id\":\"u\",\"item_id\":\"%0300d\"}", 7);
    expect_event_error(big, "invalid_id", "item_id");
    expect_event_error("{\"type\":\"view\",\"user_id\":\"u\xff\xfe\",\"item_id\":\"i\"}", "invalid_utf8", "");
    expect_event_error("{\"type\":\"add_to_cart\",\"user_id\":\"u\",\"item_id\":\"i\",\"quantity\":-2}", "invalid_value",
                       "quantity");
    expect_event_error("{\"type\":\"purchase\",\"user_id\":\"u\",\"item_id\":\"i\",\"price\":-1}", "invalid_value",
                       "price");
    expect_event_error("{\"type\":\"view\",\"user_id\":\"u\",\"item_id\":\"i\",\"ts\":\"last tuesday\"}",
                       "invalid_timestamp", "ts");
    char future[200];
    long long ms = (long long)time(NULL) * 1000 + 48LL * 3600 * 1000;
    snprintf(future, sizeof future, "{\"type\":\"view\",\"user_id\":\"u\",\"item_id\":\"i\",\"ts\":%lld}", ms);
    expect_event_error(future, "timestamp_in_future", "ts");
    expect_error("POST", "/v1/events", "application/json", "[]", 2, 400, "empty_batch", NULL);
    expect_error("POST", "/v1/events", "application/json", "", 0, 400, "empty_batch", NULL);
    expect_error("POST", "/v1/events", "text/plain", "{}", 2, 415, "unsupported_media_type", "Content-Type");
    expect_error("POST", "/v1/events", NULL, "{}", 2, 415, "unsupported_media_type", "Content-Type");

    /* 10,001 events: 413, and none of them applied. */
    const char *one = "{\"type\":\"view\",\"user_id\":\"u\",\"item_id\":\"i\"},";
    size_t n1 = strlen(one);
    char *body = malloc(n1 * 10001 + 3);
    size_t len = 0;
    body[len++] = '[';
    for (int i = 0; i < 10001; i++, len += n1)
        memcpy(body + len, one, n1);
    body[len - 1] = ']';
    expect_error("POST", "/v1/events", "application/json", body, len, 413, "batch_too_large", NULL);
    /* Exactly 10,000 is fine. */
    len -= n1;
    body[len - 1] = ']';
    http_resp_t r;
    http(&S, "POST", "/v1/events", "application/json", body, len, &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.body, "\"accepted\":10000");
    http_free(&r);
    free(body);
    ASSERT_EQ(events_total(), 10000);
    /* The server is still up and answering. */
    json_t *j = http_json(&S, "GET", "/healthz", NULL, 200);
    json_decref(j);
    down();
}

TEST(body_limit_and_client_disconnect)
{
    tmpdir_make(DIR_);
    server_start(&S, DIR_, "--max-body", "65536", NULL);
    server_wait_ready(&S, 30000);
    size_t len = 100000;
    char *body = malloc(len);
    memset(body, ' ', len);
    body[0] = '[';
    body[len - 1] = ']';
    expect_error("POST", "/v1/events", "application/json", body, len, 413, "body_too_large", NULL);
    free(body);

    /* A client that sends half a body and hangs up: nothing applied, server fine. */
    for (int k = 0; k < 5; k++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)S.port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        ASSERT(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
        const char *req = "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          "Content-Length: 5000\r\n\r\n"
                          "[{\"type\":\"view\",\"user_id\":\"u\",\"item_id\":\"i\"},";
        ASSERT(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
        close(fd);
    }
    json_t *j = http_json(&S, "POST", "/v1/events", "{\"type\":\"view\",\"user_id\":\"u\",\"item_id\":\"i\"}", 200);
    ASSERT_EQ(jint(j, "accepted"), 1);
    json_decref(j);
    ASSERT_EQ(events_total(), 1);
    down();
}

static int connect_server(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)S.port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ASSERT(fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* GET /healthz on a kept-alive connection: the whole answer, which must be a 200. */
static void healthz_on(int fd)
{
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
    char in[4096];
    size_t n = 0;
    const char *end = NULL;
    while (!end || n < (size_t)(end - in) + 4 + strtoul(strcasestr(in, "content-length:") + 15, NULL, 10)) {
        ssize_t r = read(fd, in + n, sizeof in - 1 - n);
        ASSERT(r > 0);
        n += (size_t)r;
        in[n] = '\0';
        end = strstr(in, "\r\n\r\n");
        ASSERT(!end || strcasestr(in, "content-length:"));
    }
    ASSERT(strncmp(in, "HTTP/1.1 200", 12) == 0);
}

/* The open connections each loop serves, as /v1/stats says; returns their sum. */
static int loop_connections(int *per, int nloops)
{
    json_t *j = http_json(&S, "GET", "/v1/stats", NULL, 200);
    json_t *a = jget(j, "connections");
    ASSERT(json_is_array(a) && (int)json_array_size(a) == nloops);
    int sum = 0;
    for (int i = 0; i < nloops; i++)
        sum += per[i] = (int)json_integer_value(json_array_get(a, (size_t)i));
    json_decref(j);
    return sum;
}

/* The kernel spreads connections over the loops' listening sockets by a hash of their
 * addresses; the loops hand connections over so that each serves as many as the others,
 * within one (by the hash alone, 33 connections over 4 loops almost never are). A handed
 * connection answers; a closed one leaves the count. */
TEST(connections_are_spread_evenly_over_the_loops)
{
    enum { LOOPS = 4, N = 32 };
    tmpdir_make(DIR_);
    server_start(&S, DIR_, "--threads", "4", NULL);
    server_wait_ready(&S, 30000);
    int fd[N], per[LOOPS];
    for (int i = 0; i < N; i++)
        fd[i] = connect_server();
    for (int i = 0; i < N; i++)
        healthz_on(fd[i]);
    /* The harness's earlier connections close asynchronously: wait until only these and
     * the stats request's own are left. */
    uint64_t deadline = (uint64_t)time(NULL) + 20;
    int sum;
    while ((sum = loop_connections(per, LOOPS)) != N + 1 && (uint64_t)time(NULL) < deadline)
        usleep(10000);
    ASSERT_EQ(sum, N + 1);
    int lo = per[0], hi = per[0];
    for (int i = 1; i < LOOPS; i++) {
        lo = per[i] < lo ? per[i] : lo;
        hi = per[i] > hi ? per[i] : hi;
    }
    if (hi - lo > 1)
        FAIL("connections per loop %d %d %d %d", per[0], per[1], per[2], per[3]);
    for (int i = 0; i < N; i++) /* still served after the count */
        healthz_on(fd[i]);
    for (int i = 0; i < N; i++)
        close(fd[i]);
    while ((sum = loop_connections(per, LOOPS)) != 1 && (uint64_t)time(NULL) < deadline)
        usleep(10000);
    ASSERT_EQ(sum, 1);
    down();
}

TEST(items_crud_and_validation)
{
    up();
    json_t *j = http_json(&S, "PUT", "/v1/items/mug%2F1",
                          "{\"title\":\"Red mug\",\"description\":\"A red mug\",\"categories\":[\"Home\",\"Kitchen\","
                          "\"Mugs\"],\"brand\":\"Acme\",\"price\":4.5,\"currency\":\"EUR\",\"tags\":[\"red\"],"
                          "\"attributes\":{\"colour\":\"red\",\"volume_ml\":300},\"created_at\":\"2025-01-02T03:04:05Z\"}",
                          201);
    ASSERT_STR_EQ(jstr(j, "item_id"), "mug/1");
    ASSERT_STR_EQ(jstr(j, "created_at"), "2025-01-02T03:04:05.000Z");
    ASSERT(json_is_true(jget(j, "in_stock")));
    json_decref(j);
    j = http_json(&S, "GET", "/v1/items/mug%2F1", NULL, 200);
    ASSERT_STR_EQ(jstr(j, "title"), "Red mug");
    ASSERT_STR_EQ(jstr(j, "categories.2"), "Mugs");
    ASSERT_STR_EQ(jstr(j, "brand"), "Acme");
    ASSERT(json_number_value(jget(j, "price")) == 4.5);
    ASSERT_EQ(jint(j, "attributes.volume_ml"), 300);
    ASSERT_EQ(jint(j, "stats.view"), 0);
    json_decref(j);
    /* Replace: 200, and fields not sent are gone. */
    j = http_json(&S, "PUT", "/v1/items/mug%2F1", "{\"title\":\"Blue mug\",\"in_stock\":false}", 200);
    json_decref(j);
    j = http_json(&S, "GET", "/v1/items/mug%2F1", NULL, 200);
    ASSERT_STR_EQ(jstr(j, "title"), "Blue mug");
    ASSERT(json_is_false(jget(j, "in_stock")));
    ASSERT(jget(j, "brand") == NULL);
    json_decref(j);

    /* Batch upsert with one bad item. */
    j = http_json(&S, "POST", "/v1/items",
                  "[{\"item_id\":\"a\",\"title\":\"A\",\"price\":1},{\"item_id\":\"b\",\"price\":-3},"
                  "{\"title\":\"no id\"},{\"item_id\":\"c\",\"prize\":2}]",
                  200);
    ASSERT_EQ(jint(j, "accepted"), 1);
    ASSERT_STR_EQ(jstr(j, "rejected.0.code"), "invalid_value");
    ASSERT_STR_EQ(jstr(j, "rejected.0.field"), "price");
    ASSERT_STR_EQ(jstr(j, "rejected.1.code"), "missing_field");
    ASSERT_STR_EQ(jstr(j, "rejected.1.field"), "item_id");
    ASSERT_STR_EQ(jstr(j, "rejected.2.code"), "unknown_field");
    ASSERT_STR_EQ(jstr(j, "rejected.2.field"), "prize");
    json_decref(j);
    j = http_json(&S, "GET", "/v1/items/a", NULL, 200);
    json_decref(j);
    expect_error("GET", "/v1/items/b", NULL, NULL, 0, 404, "not_found", "item_id");

    expect_error("PUT", "/v1/items/x", "application/json", "{\"currency\":\"euro\"}", 19, 400, "invalid_value",
                 "currency");
    expect_error("PUT", "/v1/items/x", "application/json", "{\"categories\":\"Home\"}", 21, 400, "invalid_type",
                 "categories");
    expect_error("PUT", "/v1/items/x", "application/json", "[1]", 3, 400, "invalid_type", "");
    expect_error("PUT", "/v1/items/x", "application/json", "{", 1, 400, "invalid_json", NULL);
    expect_error("PUT", "/v1/items/%ff", "application/json", "{}", 2, 400, "invalid_id", "item_id");

    /* Delete. */
    j = http_json(&S, "DELETE", "/v1/items/a", NULL, 200);
    ASSERT(json_is_true(jget(j, "deleted")));
    json_decref(j);
    expect_error("GET", "/v1/items/a", NULL, NULL, 0, 404, "not_found", "item_id");
    expect_error("DELETE", "/v1/items/a", NULL, NULL, 0, 404, "not_found", "item_id");
    j = http_json(&S, "GET", "/v1/stats", NULL, 200);
    ASSERT_EQ(jint(j, "items"), 1);
    json_decref(j);
    down();
}

TEST(users_attributes_consent_and_computed)
{
    up();
    json_t *j = http_json(&S, "PUT", "/v1/users/u7",
                          "{\"age_band\":\"25-34\",\"gender\":\"f\",\"country\":\"FR\",\"loyalty_tier\":\"gold\","
                          "\"attributes\":{\"newsletter\":true},\"consent\":{\"personalization\":true,"
                          "\"analytics\":false}}",
                          201);
    ASSERT_STR_EQ(jstr(j, "loyalty_tier"), "gold");
    json_decref(j);
    expect_error("PUT", "/v1/users/u7", "application/json", "{\"consent\":{\"ads\":true}}", 24, 400, "unknown_field",
                 "consent");
    expect_error("PUT", "/v1/users/u7", "application/json", "{\"consent\":{\"analytics\":\"yes\"}}", 31, 400,
                 "invalid_type", "consent");
    expect_error("GET", "/v1/users/ghost", NULL, NULL, 0, 404, "not_found", "user_id");
    /* Batch upsert of customers, NDJSON, one bad line. */
    const char *nd = "{\"user_id\":\"b1\",\"country\":\"IT\"}\n{\"user_id\":\"b2\",\"age\":3}\n{\"user_id\":\"b3\"}\n";
    http_resp_t r;
    http(&S, "POST", "/v1/users", "application/x-ndjson", nd, strlen(nd), &r);
    ASSERT_EQ(r.status, 200);
    json_t *b = resp_json(&r);
    ASSERT_EQ(jint(b, "accepted"), 2);
    ASSERT_EQ(jint(b, "rejected.0.index"), 1);
    ASSERT_STR_EQ(jstr(b, "rejected.0.code"), "unknown_field");
    json_decref(b);
    http_free(&r);
    j = http_json(&S, "GET", "/v1/users/b1", NULL, 200);
    ASSERT_STR_EQ(jstr(j, "country"), "IT");
    json_decref(j);

    /* An anonymous session that logs in: its earlier events count for the customer. */
    j = http_json(&S, "POST", "/v1/events",
                  "[{\"type\":\"view\",\"session_id\":\"s1\",\"item_id\":\"i1\"},"
                  "{\"type\":\"view\",\"session_id\":\"s1\",\"user_id\":\"u7\",\"item_id\":\"i2\"},"
                  "{\"type\":\"purchase\",\"session_id\":\"s1\",\"item_id\":\"i2\",\"price\":10,\"quantity\":1}]",
                  200);
    ASSERT_EQ(jint(j, "accepted"), 3);
    json_decref(j);
    j = http_json(&S, "GET", "/v1/users/u7", NULL, 200);
    ASSERT_STR_EQ(jstr(j, "country"), "FR");
    ASSERT(json_is_false(jget(j, "consent.analytics")));
    ASSERT(json_is_true(jget(j, "attributes.newsletter")));
    ASSERT_EQ(jint(j, "computed.events.view"), 1);
    ASSERT_EQ(jint(j, "computed.events.purchase"), 1);
    ASSERT_EQ(jint(j, "computed.orders"), 1);
    json_decref(j);
    down();
}

TEST(state_survives_restart_and_torn_tail)
{
    up();
    json_t *j = http_json(&S, "PUT", "/v1/items/i1", "{\"title\":\"Teapot\",\"price\":20}", 201);
    json_decref(j);
    j = http_json(&S, "PUT", "/v1/users/u1", "{\"country\":\"DE\"}", 201);
    json_decref(j);
    j = http_json(&S, "POST", "/v1/events",
                  "[{\"event_id\":\"a\",\"type\":\"view\",\"user_id\":\"u1\",\"item_id\":\"i1\"},"
                  "{\"event_id\":\"b\",\"type\":\"purchase\",\"user_id\":\"u1\",\"item_id\":\"i1\",\"price\":20}]",
                  200);
    json_decref(j);
    ASSERT_EQ(server_stop(&S), 0);

    /* A crash mid-write leaves garbage after the last record. */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "printf 'torn-record-bytes' >> \"$(ls %s/log/*.seg | sort | tail -n 1)\"", DIR_);
    ASSERT(system(cmd) == 0);

    server_start(&S, DIR_, NULL);
    server_wait_ready(&S, 30000);
    j = http_json(&S, "GET", "/v1/stats", NULL, 200);
    ASSERT_EQ(jint(j, "events.total"), 2);
    ASSERT_EQ(jint(j, "replay.records"), 4);
    ASSERT_EQ(jint(j, "replay.truncated_bytes"), 17);
    ASSERT_EQ(jint(j, "items"), 1);
    json_decref(j);
    j = http_json(&S, "GET", "/v1/users/u1", NULL, 200);
    ASSERT_STR_EQ(jstr(j, "country"), "DE");
    ASSERT_EQ(jint(j, "computed.events.purchase"), 1);
    json_decref(j);
    /* event_ids applied before the restart are still recognised. */
    j = http_json(&S, "POST", "/v1/events", "{\"event_id\":\"a\",\"type\":\"view\",\"user_id\":\"u1\",\"item_id\":\"i1\"}",
                  200);
    ASSERT_EQ(jint(j, "accepted"), 0);
    ASSERT_EQ(jint(j, "duplicates"), 1);
    json_decref(j);
    j = http_json(&S, "GET", "/v1/items/i1", NULL, 200);
    ASSERT_STR_EQ(jstr(j, "title"), "Teapot");
    json_decref(j);
    down();
}

TEST(batches_longer_than_a_write_chunk_are_applied_and_logged_whole)
{
    /* A batch is applied ST_WRITE_CHUNK (256) records per hold of the store's lock, each
     * chunk appended to the log before the lock goes. 1,000 events with duplicates on
     * both sides of the chunk boundaries and 700 items: every record counted once, in the
     * state and, after a restart, in the log. */
    up();
    buf_t b;
    buf_init(&b);
    for (int i = 0; i < 700; i++)
        buf_printf(&b, "{\"item_id\":\"it%d\",\"title\":\"Item %d\",\"price\":%d}\n", i, i, 1 + i % 50);
    http_resp_t r;
    http(&S, "POST", "/v1/items", "application/x-ndjson", b.data, b.len, &r);
    ASSERT_EQ(r.status, 200);
    json_t *j = resp_json(&r);
    ASSERT_EQ(jint(j, "accepted"), 700);
    json_decref(j);
    http_free(&r);
    b.len = 0;
    int dups = 0;
    for (int i = 0; i < 1000; i++) {
        int dup = i == 255 || i == 256 || i == 257 || i == 600 || i == 999; /* repeat an earlier id */
        int id = dup ? i - 200 : i;
        dups += dup;
        buf_printf(&b, "{\"event_id\":\"ev%d\",\"type\":\"view\",\"user_id\":\"u%d\",\"item_id\":\"it%d\"}\n", id,
                   i % 37, i % 700);
    }
    http(&S, "POST", "/v1/events", "application/x-ndjson", b.data, b.len, &r);
    ASSERT_EQ(r.status, 200);
    j = resp_json(&r);
    ASSERT_EQ(jint(j, "accepted"), 1000 - dups);
    ASSERT_EQ(jint(j, "duplicates"), dups);
    json_decref(j);
    http_free(&r);
    buf_free(&b);
    ASSERT_EQ(events_total(), 1000 - dups);
    ASSERT_EQ(server_stop(&S), 0);
    server_start(&S, DIR_, NULL);
    server_wait_ready(&S, 30000);
    j = http_json(&S, "GET", "/v1/stats", NULL, 200);
    ASSERT_EQ(jint(j, "events.total"), 1000 - dups);
    ASSERT_EQ(jint(j, "items"), 700);
    ASSERT_EQ(jint(j, "replay.records"), 700 + 1000 - dups);
    json_decref(j);
    down();
}

TEST(flags_and_help)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "%s serve --help | grep -q -- '--fsync'", AISLE_BIN);
    ASSERT(system(cmd) == 0);
    snprintf(cmd, sizeof cmd, "%s --help | grep -q serve", AISLE_BIN);
    ASSERT(system(cmd) == 0);
    snprintf(cmd, sizeof cmd, "%s serve --fsync=sometimes 2>/dev/null", AISLE_BIN);
    ASSERT_EQ(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "AISLE_LISTEN=nonsense %s serve 2>/dev/null", AISLE_BIN);
    ASSERT_EQ(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "%s serve --recency-decay 2 2>/dev/null", AISLE_BIN);
    ASSERT_EQ(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "%s serve --event-weights view=x 2>/dev/null", AISLE_BIN);
    ASSERT_EQ(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "%s serve --loop-slice-us 5 2>/dev/null", AISLE_BIN);
    ASSERT_EQ(WEXITSTATUS(system(cmd)), 2);
    /* fsync=batch and the environment route. */
    tmpdir_make(DIR_);
    setenv("AISLE_FSYNC", "batch:5", 1);
    server_start(&S, DIR_, NULL);
    unsetenv("AISLE_FSYNC");
    server_wait_ready(&S, 30000);
    json_t *j = http_json(&S, "POST", "/v1/events", "{\"type\":\"view\",\"user_id\":\"u\",\"item_id\":\"i\"}", 200);
    ASSERT_EQ(jint(j, "accepted"), 1);
    json_decref(j);
    down();
}

/* The value of the /metrics line that starts with name (labels included), or -1. */
static double metric(const char *body, const char *name)
{
    for (const char *at = body; (at = strstr(at, name)); at++)
        if ((at == body || at[-1] == '\n') && at[strlen(name)] == ' ')
            return strtod(at + strlen(name) + 1, NULL);
    return -1;
}

TEST(metrics_count_each_route_status_and_duration)
{
    up();
    const char *ev = "{\"type\":\"view\",\"user_id\":\"m1\",\"item_id\":\"i1\",\"timestamp\":\"2026-12-01T10:00:00Z\"}";
    json_decref(http_json(&S, "POST", "/v1/events", ev, 200)); /* durable: counted once the log is */
    json_decref(http_json(&S, "POST", "/v1/events", ev, 200));
    expect_event_error("{\"type\":\"view\"}", "missing_field", "user_id");
    for (int i = 0; i < 3; i++)
        json_decref(http_json(&S, "GET", "/v1/users/m1/recommendations?n=5", NULL, 200));
    expect_error("GET", "/nope", NULL, NULL, 0, 404, "not_found", NULL);
    http_resp_t r;
    http(&S, "GET", "/metrics", NULL, NULL, 0, &r);
    ASSERT_EQ(r.status, 200);
    ASSERT_CONTAINS(r.headers, "content-type: text/plain; version=0.0.4");
    ASSERT_EQ(metric(r.body, "aisle_http_requests_total{route=\"events\",code=\"2xx\"}"), 2);
    ASSERT_EQ(metric(r.body, "aisle_http_requests_total{route=\"events\",code=\"4xx\"}"), 1);
    ASSERT_EQ(metric(r.body, "aisle_http_requests_total{route=\"recommendations\",code=\"2xx\"}"), 3);
    ASSERT_EQ(metric(r.body, "aisle_http_requests_total{route=\"not_found\",code=\"4xx\"}"), 1);
    ASSERT_EQ(metric(r.body, "aisle_http_requests_total{route=\"similar\",code=\"2xx\"}"), -1);
    ASSERT_EQ(metric(r.body, "aisle_http_request_duration_seconds_count{route=\"recommendations\"}"), 3);
    ASSERT_EQ(metric(r.body, "aisle_http_request_duration_seconds_bucket{route=\"recommendations\",le=\"+Inf\"}"), 3);
    double sum = metric(r.body, "aisle_http_request_duration_seconds_sum{route=\"recommendations\"}");
    ASSERT(sum > 0 && sum < 3);
    /* Cumulative buckets never fall. */
    double prev = 0;
    for (const char *at = r.body; (at = strstr(at, "_bucket{route=\"events\",le=\"")); at++) {
        double v = strtod(strchr(at, '}') + 2, NULL);
        ASSERT(v >= prev);
        prev = v;
    }
    ASSERT_EQ(prev, 3);
    ASSERT_EQ(metric(r.body, "aisle_events_total{type=\"view\"}"), 2);
    ASSERT_EQ(metric(r.body, "aisle_ready"), 1);
    ASSERT_EQ(metric(r.body, "aisle_users"), 1);
    ASSERT(metric(r.body, "aisle_resident_memory_bytes") > 1e6);
    http_free(&r);
    /* /v1/stats: the same counts, with quantiles of the server's own time. */
    json_t *j = http_json(&S, "GET", "/v1/stats", NULL, 200);
    ASSERT_EQ(jint(j, "http.recommendations.requests"), 3);
    ASSERT_EQ(jint(j, "http.recommendations.errors"), 0);
    ASSERT_EQ(jint(j, "http.events.requests"), 3);
    ASSERT_EQ(jint(j, "http.events.errors"), 1);
    ASSERT_EQ(jint(j, "http.admin.requests"), 1); /* the /metrics above; not this one yet */
    double p50 = json_number_value(jget(j, "http.recommendations.p50_ms"));
    double p99 = json_number_value(jget(j, "http.recommendations.p99_ms"));
    ASSERT(p50 > 0 && p50 <= p99 && p99 < 3000);
    json_decref(j);
    http(&S, "POST", "/metrics", NULL, NULL, 0, &r);
    ASSERT_EQ(r.status, 405);
    http_free(&r);
    down();
}

/* POSTs one view with this event_id at base + min minutes; returns "accepted" (1) or 0
 * for a duplicate. */
static int post_at(const char *eid, time_t base, int min)
{
    char ts[32], body[256];
    time_t t = base + min * 60;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(body, sizeof body,
             "{\"event_id\":\"%s\",\"type\":\"view\",\"user_id\":\"u1\",\"item_id\":\"i1\",\"ts\":\"%s\"}", eid,
             ts);
    json_t *j = http_json(&S, "POST", "/v1/events", body, 200);
    int acc = (int)jint(j, "accepted");
    ASSERT_EQ(acc + jint(j, "duplicates"), 1);
    json_decref(j);
    return acc;
}

static long long event_ids(void)
{
    json_t *j = http_json(&S, "GET", "/v1/stats", NULL, 200);
    long long n = jint(j, "event_ids");
    ASSERT(jint(j, "memory.event_id_bytes") >= 2 * 1024 * 8);
    json_decref(j);
    return n;
}

/* --dedup-window 1h: a resend is a duplicate while the stream clock (the latest event
 * time) is within one to two hours of the id, and accepted again past that; a restart
 * rebuilds the same memory of ids from the log. */
TEST(duplicates_are_recognised_within_the_dedup_window)
{
    tmpdir_make(DIR_);
    server_start(&S, DIR_, "--dedup-window", "1h", NULL);
    server_wait_ready(&S, 30000);
    time_t base = time(NULL) - 10 * 3600;
    ASSERT_EQ(post_at("d1", base, 0), 1);
    ASSERT_EQ(post_at("x1", base, 30), 1);
    ASSERT_EQ(post_at("d1", base, 30), 0);
    ASSERT_EQ(post_at("x2", base, 70), 1); /* a new generation: d1 and x1 in the older */
    ASSERT_EQ(post_at("d1", base, 70), 0);
    ASSERT_EQ(event_ids(), 3);
    ASSERT_EQ(post_at("x3", base, 140), 1); /* another: d1 and x1 forgotten */
    ASSERT_EQ(event_ids(), 2);
    ASSERT_EQ(post_at("d1", base, 140), 1);
    ASSERT_EQ(post_at("x2", base, 140), 0);
    ASSERT_EQ(server_stop(&S), 0);

    server_start(&S, DIR_, "--dedup-window", "1h", NULL);
    server_wait_ready(&S, 30000);
    ASSERT_EQ(event_ids(), 3);
    ASSERT_EQ(post_at("d1", base, 140), 0);
    ASSERT_EQ(post_at("x2", base, 141), 0);
    ASSERT_EQ(post_at("x1", base, 141), 1);
    ASSERT_EQ(server_stop(&S), 0);
    rmrf(DIR_);
}

TEST_MAIN(TEST_ENTRY(metrics_count_each_route_status_and_duration),
          TEST_ENTRY(batches_longer_than_a_write_chunk_are_applied_and_logged_whole), TEST_ENTRY(connections_are_spread_evenly_over_the_loops), TEST_ENTRY(health_ready_and_routing), TEST_ENTRY(events_object_array_ndjson_and_duplicates),
          TEST_ENTRY(bad_events_get_structured_errors), TEST_ENTRY(body_limit_and_client_disconnect),
          TEST_ENTRY(items_crud_and_validation), TEST_ENTRY(users_attributes_consent_and_computed),
          TEST_ENTRY(state_survives_restart_and_torn_tail), TEST_ENTRY(flags_and_help),
          TEST_ENTRY(duplicates_are_recognised_within_the_dedup_window))
