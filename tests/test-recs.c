/* Recommendations end to end on a small hand-made catalog with exact expectations:
 * every answer reflects the event posted just before it (read your writes). */
#include "harness.h"
#include "rank/recs.h"
#include "rank/rules.h"
#include "rank/shown.h"
#include "store/log.h"
#include "store/state.h"
#include "test.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

static server_t S;
static char DIR_[256];

/* Kitchen items co-viewed in sessions, a teapot bought with tea, a lamp out of stock. */
static const char *CATALOG =
    "[{\"item_id\":\"mug\",\"title\":\"Red mug\",\"categories\":[\"Home\",\"Kitchen\",\"Mugs\"],\"brand\":\"Acme\",\"price\":5,\"tags\":[\"sale\"]},"
    "{\"item_id\":\"mug2\",\"title\":\"Blue mug\",\"categories\":[\"Home\",\"Kitchen\",\"Mugs\"],\"brand\":\"Acme\",\"price\":6},"
    "{\"item_id\":\"teapot\",\"title\":\"Teapot\",\"categories\":[\"Home\",\"Kitchen\",\"Tea\"],\"brand\":\"Brew\",\"price\":20},"
    "{\"item_id\":\"tea\",\"title\":\"Green tea\",\"categories\":[\"Food\",\"Tea\"],\"brand\":\"Leaf\",\"price\":4},"
    "{\"item_id\":\"spoon\",\"title\":\"Spoon\",\"categories\":[\"Home\",\"Kitchen\",\"Cutlery\"],\"brand\":\"Acme\",\"price\":2},"
    "{\"item_id\":\"lamp\",\"title\":\"Lamp\",\"categories\":[\"Home\",\"Lighting\"],\"brand\":\"Glow\",\"price\":30},"
    "{\"item_id\":\"sofa\",\"title\":\"Sofa\",\"categories\":[\"Home\",\"Living\"],\"brand\":\"Comfy\",\"price\":500}]";

static const char *HISTORY =
    "[{\"type\":\"view\",\"session_id\":\"h1\",\"item_id\":\"mug\"},{\"type\":\"view\",\"session_id\":\"h1\",\"item_id\":\"teapot\"},"
    "{\"type\":\"view\",\"session_id\":\"h2\",\"item_id\":\"mug\"},{\"type\":\"view\",\"session_id\":\"h2\",\"item_id\":\"teapot\"},"
    "{\"type\":\"view\",\"session_id\":\"h3\",\"item_id\":\"mug\"},{\"type\":\"view\",\"session_id\":\"h3\",\"item_id\":\"spoon\"},"
    "{\"type\":\"view\",\"session_id\":\"h4\",\"item_id\":\"lamp\"},{\"type\":\"view\",\"session_id\":\"h4\",\"item_id\":\"sofa\"},"
    "{\"type\":\"purchase\",\"user_id\":\"b1\",\"item_id\":\"teapot\",\"order_id\":\"o1\"},"
    "{\"type\":\"purchase\",\"user_id\":\"b1\",\"item_id\":\"tea\",\"order_id\":\"o1\"},"
    "{\"type\":\"purchase\",\"user_id\":\"b2\",\"item_id\":\"teapot\",\"order_id\":\"o2\"},"
    "{\"type\":\"purchase\",\"user_id\":\"b2\",\"item_id\":\"tea\",\"order_id\":\"o2\"}]";

static void up(void)
{
    tmpdir_make(DIR_);
    server_start(&S, DIR_, "--rank-cache-ms", "0", "--diversity", "0", NULL);
    server_wait_ready(&S, 30000);
    json_t *j = http_json(&S, "POST", "/v1/items", CATALOG, 200);
    ASSERT_EQ(jint(j, "accepted"), 7);
    json_decref(j);
    j = http_json(&S, "POST", "/v1/events", HISTORY, 200);
    ASSERT_EQ(jint(j, "accepted"), 12);
    json_decref(j);
}

static void down(void)
{
    ASSERT_EQ(server_stop(&S), 0);
    rmrf(DIR_);
}

static void post(const char *ev)
{
    json_t *j = http_json(&S, "POST", "/v1/events", ev, 200);
    ASSERT_EQ(jint(j, "accepted"), 1);
    json_decref(j);
}

/* Position of item in an answer's items, or -1. */
static int pos(json_t *ans, const char *item)
{
    json_t *items = jget(ans, "items");
    ASSERT(json_is_array(items));
    for (size_t i = 0; i < json_array_size(items); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(items, i), "item_id")), item) == 0)
            return (int)i;
    return -1;
}

static json_t *get(const char *path)
{
    return http_json(&S, "GET", path, NULL, 200);
}

TEST(view_brings_coviewed_items)
{
    up();
    post("{\"type\":\"view\",\"user_id\":\"u1\",\"item_id\":\"mug\"}");
    json_t *a = get("/v1/users/u1/recommendations?n=5");
    ASSERT_STR_EQ(jstr(a, "scenario"), "for_you");
    ASSERT(jstr(a, "rec_id") && strlen(jstr(a, "rec_id")) == 16);
    /* teapot was viewed with the mug twice, the spoon once: both, teapot first. */
    ASSERT_EQ(pos(a, "teapot"), 0);
    ASSERT_STR_EQ(jstr(a, "items.0.reasons.0"), "viewed together with Red mug");
    ASSERT_STR_EQ(jstr(a, "items.0.sources.0"), "co_view");
    ASSERT(pos(a, "spoon") > 0);
    ASSERT_EQ(pos(a, "mug"), -1); /* just seen */
    ASSERT(json_number_value(jget(a, "items.0.score")) > 0);
    json_decref(a);
    /* The similar list says the same. */
    a = get("/v1/items/mug/similar");
    ASSERT_EQ(pos(a, "teapot"), 0);
    ASSERT_EQ(pos(a, "spoon"), 1);
    ASSERT_EQ(pos(a, "mug"), -1);
    json_decref(a);
    down();
}

TEST(purchase_removes_item_and_lifts_bought_together)
{
    up();
    post("{\"type\":\"view\",\"user_id\":\"u2\",\"item_id\":\"teapot\"}");
    json_t *a = get("/v1/users/u2/recommendations?n=10");
    int at = pos(a, "tea");
    double before = 0;
    if (at >= 0) {
        char path[64];
        snprintf(path, sizeof path, "items.%d.score", at);
        before = json_number_value(jget(a, path));
    }
    json_decref(a);
    post("{\"type\":\"purchase\",\"user_id\":\"u2\",\"item_id\":\"teapot\",\"order_id\":\"o9\"}");
    a = get("/v1/users/u2/recommendations?n=10");
    ASSERT_EQ(pos(a, "teapot"), -1);
    ASSERT_EQ(pos(a, "tea"), 0);
    ASSERT(json_number_value(jget(a, "items.0.score")) > before); /* a purchase says more than a view */
    ASSERT_STR_EQ(jstr(a, "items.0.reasons.0"), "bought together with Teapot");
    json_decref(a);
    a = get("/v1/items/teapot/bought-together");
    ASSERT_EQ(pos(a, "tea"), 0);
    json_decref(a);
    /* buy_again lists it. */
    a = get("/v1/users/u2/recommendations?scenario=buy_again");
    ASSERT_STR_EQ(jstr(a, "scenario"), "buy_again");
    ASSERT_EQ(pos(a, "teapot"), 0);
    ASSERT_STR_EQ(jstr(a, "items.0.reasons.0"), "you bought this before");
    json_decref(a);
    down();
}

TEST(out_of_stock_and_deleted_vanish)
{
    up();
    json_t *a = get("/v1/items/lamp/similar");
    ASSERT_EQ(pos(a, "sofa"), 0);
    json_decref(a);
    a = http_json(&S, "PUT", "/v1/items/sofa",
                  "{\"title\":\"Sofa\",\"categories\":[\"Home\",\"Living\"],\"price\":500,\"in_stock\":false}", 200);
    json_decref(a);
    a = get("/v1/items/lamp/similar");
    ASSERT_EQ(pos(a, "sofa"), -1);
    json_decref(a);
    a = get("/v1/items/lamp/similar?in_stock=false");
    ASSERT_EQ(pos(a, "sofa"), 0);
    json_decref(a);
    a = http_json(&S, "DELETE", "/v1/items/teapot", NULL, 200);
    json_decref(a);
    a = get("/v1/items/mug/similar");
    ASSERT_EQ(pos(a, "teapot"), -1);
    json_decref(a);
    down();
}

TEST(anonymous_session_personalised_from_second_event)
{
    up();
    /* First event of an unknown visitor: cold start, still an answer. */
    json_t *a = get("/v1/recommendations?session_id=anon7");
    ASSERT(json_array_size(jget(a, "items")) > 0);
    json_decref(a);
    post("{\"type\":\"view\",\"session_id\":\"anon7\",\"item_id\":\"mug\"}");
    a = get("/v1/recommendations?session_id=anon7&n=3");
    ASSERT_EQ(pos(a, "teapot"), 0);
    ASSERT_STR_EQ(jstr(a, "items.0.reasons.0"), "viewed together with Red mug");
    json_decref(a);
    /* The visitor logs in: the customer's recommendations carry the session's history. */
    post("{\"type\":\"view\",\"session_id\":\"anon7\",\"user_id\":\"u7\",\"item_id\":\"lamp\"}");
    a = get("/v1/users/u7/recommendations?n=5");
    ASSERT(pos(a, "teapot") >= 0); /* from the anonymous mug view */
    ASSERT(pos(a, "sofa") >= 0);   /* from the lamp */
    json_decref(a);
    /* A customer Aisle never saw gets the cold-start answer, not a 404. */
    a = get("/v1/users/stranger/recommendations");
    ASSERT(json_array_size(jget(a, "items")) > 0);
    ASSERT_STR_EQ(jstr(a, "items.0.sources.0"), "trending"); /* listed first of its sources */
    json_decref(a);
    down();
}

TEST(a_newcomer_gets_what_sells_before_what_rises)
{
    /* The sofa sold ten times ten days ago (long-term popular, not rising); the lamp was
     * viewed twenty times just now (rising, nothing sold). A customer Aisle never saw gets
     * the best-seller first, the rising item after it. */
    up();
    char ev[4096];
    long long ago = (long long)time(NULL) * 1000 - 10LL * 24 * 3600 * 1000;
    size_t n = (size_t)snprintf(ev, sizeof ev, "[");
    for (int i = 0; i < 10; i++)
        n += (size_t)snprintf(ev + n, sizeof ev - n,
                              "%s{\"type\":\"purchase\",\"user_id\":\"s%d\",\"item_id\":\"sofa\",\"ts\":%lld}",
                              i ? "," : "", i, ago + i);
    for (int i = 0; i < 20; i++)
        n += (size_t)snprintf(ev + n, sizeof ev - n, ",{\"type\":\"view\",\"session_id\":\"l%d\",\"item_id\":\"lamp\"}", i);
    snprintf(ev + n, sizeof ev - n, "]");
    json_t *j = http_json(&S, "POST", "/v1/events", ev, 200);
    ASSERT_EQ(jint(j, "accepted"), 30);
    json_decref(j);
    json_t *t = get("/v1/trending?n=3");
    ASSERT_EQ(pos(t, "lamp"), 0); /* the lamp is what rises */
    ASSERT(pos(t, "sofa") != 0);
    json_decref(t);
    json_t *a = get("/v1/users/stranger/recommendations?n=7");
    ASSERT_EQ(pos(a, "sofa"), 0);
    ASSERT_STR_EQ(jstr(a, "items.0.reasons.0"), "popular now");
    ASSERT(pos(a, "lamp") > 0);
    json_decref(a);
    down();
}

TEST(filters_pagination_and_cart)
{
    up();
    json_t *a = get("/v1/popular?category=Home/Kitchen&n=10");
    size_t n = json_array_size(jget(a, "items"));
    ASSERT(n == 3); /* mug, teapot, spoon: the Kitchen items with activity */
    ASSERT_EQ(pos(a, "tea"), -1);
    json_decref(a);
    a = get("/v1/popular?brand=Acme");
    ASSERT(pos(a, "mug") >= 0 && pos(a, "teapot") == -1);
    json_decref(a);
    a = get("/v1/popular?price_min=3&price_max=10");
    ASSERT(pos(a, "mug") >= 0 && pos(a, "teapot") == -1 && pos(a, "spoon") == -1);
    json_decref(a);
    a = get("/v1/popular?exclude=mug,teapot");
    ASSERT(pos(a, "mug") == -1 && pos(a, "teapot") == -1 && pos(a, "tea") >= 0);
    json_decref(a);
    a = get("/v1/popular?category=Nowhere");
    ASSERT_EQ(json_array_size(jget(a, "items")), 0);
    json_decref(a);
    /* Diversity: at most one per leaf category. */
    a = get("/v1/popular?diversity=1&n=10");
    ASSERT(pos(a, "mug") >= 0 || pos(a, "mug2") >= 0);
    json_decref(a);
    /* Next page by rec_id: nothing shown twice. */
    a = get("/v1/popular?n=2");
    char path[200];
    snprintf(path, sizeof path, "/v1/popular?n=2&after=%s", jstr(a, "rec_id"));
    json_t *b = get(path);
    for (size_t i = 0; i < json_array_size(jget(b, "items")); i++)
        ASSERT_EQ(pos(a, json_string_value(json_object_get(json_array_get(jget(b, "items"), i), "item_id"))), -1);
    ASSERT(json_array_size(jget(b, "items")) > 0);
    json_decref(a);
    json_decref(b);
    /* Offset. */
    a = get("/v1/popular?n=3");
    b = get("/v1/popular?n=2&offset=1");
    ASSERT_STR_EQ(jstr(a, "items.1.item_id"), jstr(b, "items.0.item_id"));
    json_decref(a);
    json_decref(b);
    /* Cart complements leave out the basket. */
    a = http_json(&S, "POST", "/v1/recommendations/cart", "{\"items\":[\"teapot\"]}", 200);
    ASSERT_STR_EQ(jstr(a, "scenario"), "cart");
    ASSERT_EQ(pos(a, "tea"), 0);
    ASSERT_EQ(pos(a, "teapot"), -1);
    json_decref(a);
    /* Items in the customer's cart are not recommended. */
    post("{\"type\":\"view\",\"user_id\":\"c1\",\"item_id\":\"mug\"}");
    post("{\"type\":\"add_to_cart\",\"user_id\":\"c1\",\"item_id\":\"spoon\"}");
    a = get("/v1/users/c1/recommendations?n=10");
    ASSERT_EQ(pos(a, "spoon"), -1);
    json_decref(a);
    down();
}

/* The item's catalog document in the answer, cut to the fields asked for: one request
 * renders a carousel. */
static json_t *item_of(json_t *ans, const char *item)
{
    int at = pos(ans, item);
    ASSERT(at >= 0);
    return json_object_get(json_array_get(jget(ans, "items"), (size_t)at), "item");
}

TEST(answers_carry_the_catalog_fields_asked_for)
{
    up();
    /* A document with escapes, nested attributes and an array, made popular. */
    json_t *put = http_json(&S, "PUT", "/v1/items/kettle",
                            "{\"title\":\"The \\\"Whistler\\\" kettle \\u00e9\\\\\",\"categories\":[\"Home\",\"Kitchen\"],"
                            "\"price\":35.5,\"tags\":[\"steel\",\"gift\"],\"attributes\":{\"colour\":\"red\","
                            "\"size\":{\"litres\":1.7,\"note\":\"a } and a \\\",\\\" inside\"}}}",
                            201);
    for (int i = 0; i < 5; i++)
        post("{\"type\":\"purchase\",\"user_id\":\"k1\",\"item_id\":\"kettle\"}");
    json_t *a = get("/v1/popular?n=10&fields=title,price,attributes");
    json_t *it = item_of(a, "kettle");
    ASSERT(json_is_object(it));
    ASSERT_EQ(json_object_size(it), 3);
    ASSERT(json_equal(json_object_get(it, "title"), json_object_get(put, "title")));
    ASSERT_STR_EQ(json_string_value(json_object_get(it, "title")), "The \"Whistler\" kettle \xc3\xa9\\");
    ASSERT(json_equal(json_object_get(it, "price"), json_object_get(put, "price")));
    ASSERT(json_equal(json_object_get(it, "attributes"), json_object_get(put, "attributes")));
    it = item_of(a, "mug");
    ASSERT_EQ(json_object_size(it), 2); /* no attributes: only what the item has */
    ASSERT_STR_EQ(json_string_value(json_object_get(it, "title")), "Red mug");
    ASSERT(json_number_value(json_object_get(it, "price")) == 5);
    json_decref(a);
    /* "*": the whole document, as GET /v1/items/{id} gives it without its stats. */
    a = get("/v1/popular?n=10&fields=*");
    json_t *doc = get("/v1/items/kettle");
    json_object_del(doc, "stats");
    ASSERT(json_equal(item_of(a, "kettle"), doc));
    ASSERT(json_equal(item_of(a, "kettle"), put));
    json_decref(doc);
    json_decref(a);
    /* On every endpoint; without fields, no "item". */
    a = get("/v1/items/mug/similar?fields=brand");
    ASSERT_STR_EQ(json_string_value(json_object_get(item_of(a, "teapot"), "brand")), "Brew");
    json_decref(a);
    a = http_json(&S, "POST", "/v1/recommendations/cart?fields=title,in_stock", "{\"items\":[\"teapot\"]}", 200);
    ASSERT_STR_EQ(json_string_value(json_object_get(item_of(a, "tea"), "title")), "Green tea");
    ASSERT(json_is_true(json_object_get(item_of(a, "tea"), "in_stock")));
    json_decref(a);
    post("{\"type\":\"view\",\"user_id\":\"f1\",\"item_id\":\"mug\"}");
    a = get("/v1/users/f1/recommendations?fields=categories");
    json_t *cats = json_object_get(item_of(a, "teapot"), "categories");
    ASSERT_EQ(json_array_size(cats), 3);
    ASSERT_STR_EQ(json_string_value(json_array_get(cats, 2)), "Tea");
    json_decref(a);
    a = get("/v1/popular?n=10");
    ASSERT(json_object_get(json_array_get(jget(a, "items"), 0), "item") == NULL);
    json_decref(a);
    static const char *bad[] = {"/v1/popular?fields=colour", "/v1/popular?fields=", "/v1/popular?fields=title,",
                                "/v1/popular?fields=title,*", "/v1/users/f1/recommendations?fields=title%2Cstock"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = http_json(&S, "GET", bad[i], NULL, 400);
        ASSERT_STR_EQ(jstr(j, "error.code"), "invalid_value");
        ASSERT_STR_EQ(jstr(j, "error.field"), "fields");
        ASSERT_CONTAINS(jstr(j, "error.message"), "attributes");
        json_decref(j);
    }
    json_decref(put);
    down();
}

/* The items of a customer's recent interactions, newest first, each once; filters and
 * rules as elsewhere, anti-repetition not (it would reorder the customer's own history). */
static void expect_items(json_t *ans, const char *const *want, size_t n)
{
    json_t *items = jget(ans, "items");
    ASSERT_EQ(json_array_size(items), n);
    for (size_t i = 0; i < n; i++)
        ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(items, i), "item_id")), want[i]);
}

TEST(recently_viewed_is_the_customers_own_history)
{
    up();
    post("{\"type\":\"view\",\"user_id\":\"rv\",\"item_id\":\"mug\"}");
    post("{\"type\":\"view\",\"user_id\":\"rv\",\"item_id\":\"teapot\"}");
    post("{\"type\":\"click\",\"user_id\":\"rv\",\"item_id\":\"spoon\"}");
    post("{\"type\":\"view\",\"user_id\":\"rv\",\"item_id\":\"mug\"}");
    post("{\"type\":\"search\",\"user_id\":\"rv\",\"query\":\"lamp\"}");
    json_t *a = get("/v1/users/rv/recommendations?scenario=recently_viewed");
    ASSERT_STR_EQ(jstr(a, "scenario"), "recently_viewed");
    static const char *const first[] = {"mug", "spoon", "teapot"};
    expect_items(a, first, 3);
    ASSERT_STR_EQ(jstr(a, "items.0.reasons.0"), "you looked at this recently");
    ASSERT_STR_EQ(jstr(a, "items.0.sources.0"), "history");
    json_decref(a);
    /* The newest shown again and again without a click: the order stays. */
    for (int i = 0; i < 4; i++) {
        a = get("/v1/users/rv/recommendations?scenario=recently_viewed&n=1");
        expect_items(a, first, 1);
        json_decref(a);
    }
    a = get("/v1/users/rv/recommendations?scenario=recently_viewed");
    expect_items(a, first, 3);
    json_decref(a);
    /* In the cart: left out until it leaves the cart; bought: left out. */
    post("{\"type\":\"add_to_cart\",\"user_id\":\"rv\",\"item_id\":\"sofa\"}");
    a = get("/v1/users/rv/recommendations?scenario=recently_viewed");
    expect_items(a, first, 3);
    json_decref(a);
    post("{\"type\":\"remove_from_cart\",\"user_id\":\"rv\",\"item_id\":\"sofa\"}");
    post("{\"type\":\"purchase\",\"user_id\":\"rv\",\"item_id\":\"spoon\",\"order_id\":\"rv-o1\"}");
    a = get("/v1/users/rv/recommendations?scenario=recently_viewed&fields=title");
    static const char *const second[] = {"sofa", "mug", "teapot"};
    expect_items(a, second, 3);
    ASSERT_STR_EQ(jstr(a, "items.0.reasons.0"), "you put this in your cart recently");
    ASSERT_STR_EQ(jstr(a, "items.1.item.title"), "Red mug");
    json_decref(a);
    /* Filters, diversity when asked for, paging. */
    post("{\"type\":\"view\",\"user_id\":\"rv\",\"item_id\":\"mug2\"}");
    a = get("/v1/users/rv/recommendations?scenario=recently_viewed&category=Home/Kitchen");
    static const char *const kitchen[] = {"mug2", "mug", "teapot"};
    expect_items(a, kitchen, 3);
    json_decref(a);
    a = get("/v1/users/rv/recommendations?scenario=recently_viewed&category=Home/Kitchen&diversity=1");
    static const char *const one_mug[] = {"mug2", "teapot"};
    expect_items(a, one_mug, 2);
    json_decref(a);
    a = get("/v1/users/rv/recommendations?scenario=recently_viewed&n=2&offset=1");
    static const char *const page[] = {"sofa", "mug"};
    expect_items(a, page, 2);
    json_decref(a);
    /* A rule for this scenario only. */
    json_decref(http_json(&S, "POST", "/v1/rules",
                          "{\"action\":\"exclude\",\"match\":{\"item_id\":\"sofa\"},\"scenarios\":[\"recently_viewed\"]}",
                          201));
    a = get("/v1/users/rv/recommendations?scenario=recently_viewed");
    ASSERT_EQ(pos(a, "sofa"), -1);
    ASSERT_EQ(pos(a, "mug2"), 0);
    json_decref(a);
    a = get("/v1/popular?n=10");
    ASSERT(pos(a, "sofa") >= 0);
    json_decref(a);
    /* Anonymous visitors by session; someone never seen: an empty list. */
    post("{\"type\":\"view\",\"session_id\":\"rv-s\",\"item_id\":\"tea\"}");
    a = get("/v1/recommendations?session_id=rv-s&scenario=recently_viewed");
    static const char *const tea[] = {"tea"};
    expect_items(a, tea, 1);
    json_decref(a);
    a = get("/v1/users/nobody/recommendations?scenario=recently_viewed");
    expect_items(a, NULL, 0);
    json_decref(a);
    down();
}

/* What a customer bought or has in the cart is left out on every endpoint that knows who
 * asks, not only in for_you. */
TEST(every_endpoint_leaves_out_the_customers_purchases_and_cart)
{
    up();
    /* Before: similar and bought-together name teapot and tea. */
    json_t *a = get("/v1/items/mug/similar?user_id=x1");
    ASSERT(pos(a, "teapot") >= 0 && pos(a, "spoon") >= 0);
    json_decref(a);
    post("{\"type\":\"purchase\",\"user_id\":\"x1\",\"item_id\":\"teapot\",\"order_id\":\"x1-o\"}");
    post("{\"type\":\"add_to_cart\",\"user_id\":\"x1\",\"item_id\":\"spoon\"}");
    a = get("/v1/items/mug/similar?user_id=x1");
    ASSERT_EQ(pos(a, "teapot"), -1);
    ASSERT_EQ(pos(a, "spoon"), -1);
    json_decref(a);
    a = get("/v1/items/mug/similar"); /* nobody named: as before */
    ASSERT(pos(a, "teapot") >= 0 && pos(a, "spoon") >= 0);
    json_decref(a);
    post("{\"type\":\"purchase\",\"user_id\":\"x2\",\"item_id\":\"tea\",\"order_id\":\"x2-o\"}");
    a = get("/v1/items/teapot/bought-together?user_id=x2");
    ASSERT_EQ(pos(a, "tea"), -1);
    json_decref(a);
    a = get("/v1/items/teapot/bought-together?user_id=x1");
    ASSERT_EQ(pos(a, "tea"), 0);
    json_decref(a);
    a = get("/v1/popular?n=10&user_id=x1");
    ASSERT_EQ(pos(a, "teapot"), -1);
    ASSERT_EQ(pos(a, "spoon"), -1);
    ASSERT(pos(a, "tea") >= 0);
    json_decref(a);
    a = get("/v1/trending?n=10&user_id=x2");
    ASSERT_EQ(pos(a, "tea"), -1);
    json_decref(a);
    /* An anonymous visit's cart, by session. */
    post("{\"type\":\"add_to_cart\",\"session_id\":\"x-s\",\"item_id\":\"teapot\"}");
    a = get("/v1/items/mug/similar?session_id=x-s");
    ASSERT_EQ(pos(a, "teapot"), -1);
    json_decref(a);
    down();
}

TEST(bad_parameters)
{
    up();
    static const char *bad[][2] = {{"/v1/users/u/recommendations?n=0", "n"},
                                   {"/v1/users/u/recommendations?n=5000", "n"},
                                   {"/v1/users/u/recommendations?n=x", "n"},
                                   {"/v1/users/u/recommendations?scenario=magic", "scenario"},
                                   {"/v1/popular?price_min=-1", "price_min"},
                                   {"/v1/popular?in_stock=maybe", "in_stock"},
                                   {"/v1/popular?after=nope", "after"},
                                   {"/v1/recommendations?session_id=", "session_id"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = http_json(&S, "GET", bad[i][0], NULL, 400);
        ASSERT_STR_EQ(jstr(j, "error.field"), bad[i][1]);
        json_decref(j);
    }
    json_t *j = http_json(&S, "GET", "/v1/items/ghost/similar", NULL, 404);
    ASSERT_STR_EQ(jstr(j, "error.code"), "not_found");
    json_decref(j);
    j = http_json(&S, "POST", "/v1/recommendations/cart", "{\"items\":[]}", 400);
    ASSERT_STR_EQ(jstr(j, "error.field"), "items");
    json_decref(j);
    j = http_json(&S, "POST", "/v1/trending", "{}", 405);
    json_decref(j);
    down();
}

/* Each endpoint takes its own parameters: a misspelt one, one the endpoint has no use
 * for, or one given twice is refused, naming it, rather than silently changing nothing
 * (the answer labelled with a scenario it did not run, an exclude list cut to its first). */
TEST(unknown_misplaced_and_repeated_parameters_are_refused)
{
    up();
    static const char *bad[][3] = {
        {"/v1/users/u1/recommendations?n=3&catgory=Kitchen", "catgory", "unknown_parameter"},
        {"/v1/items/mug/similar?scenario=buy_again", "scenario", "unknown_parameter"},
        {"/v1/items/mug/bought-together?scenario=for_you", "scenario", "unknown_parameter"},
        {"/v1/trending?scenario=for_you", "scenario", "unknown_parameter"},
        {"/v1/popular?n=2&scenario=trending", "scenario", "unknown_parameter"},
        {"/v1/users/u1/recommendations?user_id=u2", "user_id", "unknown_parameter"},
        {"/v1/users/u1/recommendations?exclude=mug&exclude=teapot", "exclude", "invalid_value"},
        {"/v1/recommendations?user_id=u1&n=2&n=3", "n", "invalid_value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = http_json(&S, "GET", bad[i][0], NULL, 400);
        ASSERT_STR_EQ(jstr(j, "error.code"), bad[i][2]);
        ASSERT_STR_EQ(jstr(j, "error.field"), bad[i][1]);
        json_decref(j);
    }
    /* The message tells what the endpoint takes. */
    json_t *j = http_json(&S, "GET", "/v1/items/mug/similar?scenario=x", NULL, 400);
    ASSERT(strstr(jstr(j, "error.message"), "GET /v1/items/{id}/similar takes no parameter scenario") != NULL);
    ASSERT(strstr(jstr(j, "error.message"), "user_id") != NULL);
    json_decref(j);
    /* The cart's customer is in its body, not its query. */
    j = http_json(&S, "POST", "/v1/recommendations/cart?user_id=u1", "{\"items\":[\"mug\"]}", 400);
    ASSERT_STR_EQ(jstr(j, "error.field"), "user_id");
    json_decref(j);
    /* What each endpoint does take still goes through, empty pieces of a query included. */
    static const char *good[] = {
        "/v1/users/u1/recommendations?n=3&scenario=for_you&session_id=s1&category=Kitchen&in_stock=true&",
        "/v1/recommendations?user_id=u1&&n=2&exclude=mug,teapot&fields=title&diversity=0",
        "/v1/items/mug/similar?user_id=u1&n=2&price_min=0&price_max=100&brand=Acme&offset=0",
        "/v1/popular?session_id=s1&n=2",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        j = http_json(&S, "GET", good[i], NULL, 200);
        ASSERT(json_is_array(json_object_get(j, "items")));
        json_decref(j);
    }
    j = http_json(&S, "POST", "/v1/recommendations/cart?n=2&fields=title", "{\"items\":[\"mug\"]}", 200);
    ASSERT_STR_EQ(jstr(j, "scenario"), "cart");
    json_decref(j);
    down();
}

TEST(repeated_items_without_click_are_demoted)
{
    up();
    post("{\"type\":\"view\",\"user_id\":\"r1\",\"item_id\":\"mug\"}");
    post("{\"type\":\"view\",\"user_id\":\"r2\",\"item_id\":\"mug\"}");
    /* Shown twice: still first. */
    for (int i = 0; i < 2; i++) {
        json_t *a = get("/v1/users/r1/recommendations?n=1");
        ASSERT_EQ(pos(a, "teapot"), 0);
        json_decref(a);
    }
    /* The third and fourth showing without a click push it down. */
    json_t *a = get("/v1/users/r1/recommendations?n=1");
    json_decref(a);
    a = get("/v1/users/r1/recommendations?n=1");
    ASSERT_EQ(pos(a, "spoon"), 0); /* shown once at most (n=1): not demoted */
    json_decref(a);
    /* Another customer is not affected. */
    a = get("/v1/users/r2/recommendations?n=1");
    ASSERT_EQ(pos(a, "teapot"), 0);
    json_decref(a);
    down();
}

TEST(customer_profile_and_item_statistics)
{
    up();
    post("{\"type\":\"view\",\"session_id\":\"p1\",\"item_id\":\"mug\"}");
    post("{\"type\":\"view\",\"session_id\":\"p1\",\"user_id\":\"pp\",\"item_id\":\"teapot\"}");
    post("{\"type\":\"add_to_cart\",\"user_id\":\"pp\",\"item_id\":\"spoon\",\"price\":2}");
    post("{\"type\":\"purchase\",\"user_id\":\"pp\",\"item_id\":\"tea\",\"price\":4,\"quantity\":3,\"order_id\":\"x\"}");
    json_t *u = get("/v1/users/pp");
    json_t *p = jget(u, "computed.profile");
    ASSERT(p);
    /* Newest first; the anonymous session's mug view was merged in at login. */
    ASSERT_STR_EQ(jstr(p, "recent.0.item_id"), "tea");
    ASSERT_STR_EQ(jstr(p, "recent.0.type"), "purchase");
    ASSERT_STR_EQ(jstr(p, "recent.3.item_id"), "mug");
    ASSERT_STR_EQ(jstr(p, "cart.0"), "spoon");
    ASSERT_STR_EQ(jstr(p, "purchased.0.item_id"), "tea");
    ASSERT_EQ(jint(p, "purchased.0.count"), 3);
    ASSERT_STR_EQ(jstr(p, "categories.0.category"), "Food/Tea"); /* a purchase weighs most */
    ASSERT(json_number_value(jget(p, "categories.0.affinity")) > json_number_value(jget(p, "categories.1.affinity")));
    ASSERT(json_is_true(jget(p, "session.active")));
    ASSERT_EQ(jint(p, "session.events"), 4);
    ASSERT(jget(p, "price_band.center") != NULL);
    ASSERT(json_number_value(jget(u, "computed.engagement.score")) > 0);
    ASSERT_EQ(jint(u, "computed.engagement.frequency_orders"), 1);
    json_decref(u);
    json_t *i = get("/v1/items/teapot");
    ASSERT(json_number_value(jget(i, "stats.popularity")) > 0);
    ASSERT(json_number_value(jget(i, "stats.conversion_rate")) > 0);
    ASSERT(jget(i, "stats.trending") != NULL);
    json_decref(i);
    down();
}

TEST(cached_top_lists_are_refreshed_in_the_background)
{
    tmpdir_make(DIR_);
    server_start(&S, DIR_, "--rank-cache-ms", "200", "--diversity", "0", NULL);
    server_wait_ready(&S, 30000);
    json_decref(http_json(&S, "POST", "/v1/items", CATALOG, 200));
    json_decref(http_json(&S, "POST", "/v1/events", HISTORY, 200));
    json_t *a = get("/v1/popular?n=1");
    ASSERT_STR_EQ(jstr(a, "items.0.item_id"), "teapot");
    json_decref(a);
    /* The sofa becomes the most popular item; the cached list catches up within a few
     * refresh periods. */
    for (int i = 0; i < 10; i++)
        post("{\"type\":\"purchase\",\"user_id\":\"z\",\"item_id\":\"sofa\"}");
    int seen = 0;
    for (int tries = 0; tries < 100 && !seen; tries++) {
        a = get("/v1/popular?n=1");
        seen = strcmp(jstr(a, "items.0.item_id"), "sofa") == 0;
        json_decref(a);
        if (!seen)
            usleep(50000);
    }
    ASSERT(seen);
    down();
}

static json_t *rule(const char *body, long status)
{
    return http_json(&S, "POST", "/v1/rules", body, status);
}

TEST(business_rules)
{
    up();
    json_t *a = get("/v1/popular?n=10");
    ASSERT(pos(a, "mug") > 0); /* teapot leads without rules */
    json_decref(a);
    /* Boost a tag: the mug comes first. */
    json_t *r = rule("{\"rule_id\":\"summer\",\"action\":\"boost\",\"match\":{\"tag\":\"sale\"},\"factor\":100}", 201);
    ASSERT_STR_EQ(jstr(r, "rule_id"), "summer");
    json_decref(r);
    a = get("/v1/popular?n=10");
    ASSERT_EQ(pos(a, "mug"), 0);
    json_decref(a);
    /* Exclude a category, bury a brand. */
    r = rule("{\"action\":\"exclude\",\"match\":{\"category\":\"Food\"}}", 201);
    ASSERT(jstr(r, "rule_id") != NULL); /* generated */
    json_decref(r);
    a = get("/v1/popular?n=10");
    ASSERT_EQ(pos(a, "tea"), -1);
    json_decref(a);
    /* Pin an item nobody proposed, only in one scenario. */
    r = rule("{\"rule_id\":\"pin\",\"action\":\"pin\",\"match\":{\"item_id\":\"mug2\"},\"position\":2,"
             "\"scenarios\":[\"popular\"]}", 201);
    json_decref(r);
    a = get("/v1/popular?n=10");
    ASSERT_EQ(pos(a, "mug2"), 1);
    json_decref(a);
    a = get("/v1/trending?n=10");
    ASSERT_EQ(pos(a, "mug2"), -1);
    json_decref(a);
    /* A campaign window: a rule that ended has no effect; one that runs for a moment
     * applies now and stops at its end. */
    long long now = (long long)time(NULL) * 1000;
    char body[400];
    snprintf(body, sizeof body,
             "{\"rule_id\":\"past\",\"action\":\"exclude\",\"match\":{\"item_id\":\"teapot\"},\"end\":%lld}", now - 1000);
    json_decref(rule(body, 201));
    a = get("/v1/popular?n=10");
    ASSERT(pos(a, "teapot") >= 0);
    json_decref(a);
    long long end = now + 2000;
    snprintf(body, sizeof body,
             "{\"rule_id\":\"flash\",\"action\":\"exclude\",\"match\":{\"brand\":\"Brew\"},\"end\":%lld}", end);
    json_decref(rule(body, 201));
    a = get("/v1/popular?n=10");
    ASSERT_EQ(pos(a, "teapot"), -1);
    json_decref(a);
    while ((long long)time(NULL) * 1000 < end + 1000) /* wait for the wall clock to pass the end */
        usleep(100000);
    a = get("/v1/popular?n=10");
    ASSERT(pos(a, "teapot") >= 0);
    json_decref(a);
    /* Listing, replacing, deleting; rules survive a restart. */
    a = get("/v1/rules");
    ASSERT_EQ(json_array_size(jget(a, "rules")), 5);
    json_decref(a);
    a = http_json(&S, "PUT", "/v1/rules/summer", "{\"action\":\"bury\",\"match\":{\"tag\":\"sale\"}}", 200);
    ASSERT(json_number_value(jget(a, "factor")) < 1);
    json_decref(a);
    a = http_json(&S, "DELETE", "/v1/rules/flash", NULL, 200);
    json_decref(a);
    ASSERT_EQ(server_stop(&S), 0);
    server_start(&S, DIR_, "--rank-cache-ms", "0", "--diversity", "0", NULL);
    server_wait_ready(&S, 30000);
    a = get("/v1/rules");
    ASSERT_EQ(json_array_size(jget(a, "rules")), 4);
    json_decref(a);
    a = get("/v1/rules/summer");
    ASSERT_STR_EQ(jstr(a, "action"), "bury");
    json_decref(a);
    a = get("/v1/popular?n=10");
    ASSERT_EQ(pos(a, "mug2"), 1); /* the pin is back too */
    json_decref(a);
    /* Validation. */
    json_decref(rule("{\"action\":\"promote\",\"match\":{\"tag\":\"x\"}}", 400));
    r = rule("{\"action\":\"boost\"}", 400);
    ASSERT_STR_EQ(jstr(r, "error.field"), "match");
    json_decref(r);
    r = rule("{\"action\":\"boost\",\"match\":{\"tag\":\"x\"},\"factor\":0.5}", 400);
    ASSERT_STR_EQ(jstr(r, "error.field"), "factor");
    json_decref(r);
    r = rule("{\"action\":\"pin\",\"match\":{\"colour\":\"red\"}}", 400);
    ASSERT_STR_EQ(jstr(r, "error.field"), "match");
    json_decref(r);
    r = http_json(&S, "GET", "/v1/rules/nope", NULL, 404);
    json_decref(r);
    down();
}


/* ---- the order of an answer against a full sort ----------------------------------- */

static int replay_one(void *ud, uint8_t type, const void *payload, size_t len, uint64_t lsn)
{
    (void)lsn;
    return st_apply(ud, type, payload, len);
}

/* A generated shop in a new directory dir (256 bytes), replayed into a new store (caller
 * frees both). */
static state_t *shop_state(char *dir, uint32_t items, uint32_t users, uint64_t events)
{
    char logdir[300];
    tmpdir_make(dir);
    shop_make(dir, items, users, events);
    state_t *st = st_new();
    snprintf(logdir, sizeof logdir, "%s/log", dir);
    log_replay_stats_t rs;
    ASSERT(log_scan(logdir, replay_one, st, &rs) == 0);
    return st;
}

static void put_record(state_t *st, uint8_t type, const char *id, json_t *doc)
{
    buf_t b;
    buf_init(&b);
    if (doc)
        st_encode_doc(&b, id, strlen(id), doc);
    else
        st_encode_id(&b, id, strlen(id));
    ASSERT_EQ(st_apply(st, type, b.data, b.len), 0);
    buf_free(&b);
    json_decref(doc);
}

static void put_rule(state_t *st, const char *json)
{
    json_t *doc, *obj = json_loads(json, 0, NULL);
    val_error_t err;
    ASSERT(obj && rule_from_json(obj, "r", 0, &doc, &err) == 0);
    json_decref(obj);
    char id[64];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(doc, "rule_id")));
    put_record(st, REC_RULE_PUT, id, doc);
}

static int same_hits(const rec_hit_t *a, size_t na, const rec_hit_t *b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (a[i].item != b[i].item || a[i].score != b[i].score || a[i].why != b[i].why || a[i].ref != b[i].ref)
            return 0;
    return 1;
}

TEST(answers_are_ordered_as_a_full_sort_orders_them)
{
    /* An answer looks at its candidates best first and only as far as it needs (filters,
     * bury rules and anti-repetition only lower scores). With a boost rule in force every
     * candidate is filtered and sorted instead. A boost of an item that is deleted (so
     * never a candidate) changes no score: both ways must give the same answers, for
     * every customer of a generated shop, under filters that drop most candidates, rules,
     * diversity, offsets and repeated showings. */
    char dir[256], cmd[4096];
    state_t *st = shop_state(dir, 600, 800, 40000);
    ASSERT(st->nprof > 300);
    put_record(st, REC_ITEM_PUT, "gone", json_pack("{s:s}", "title", "Gone"));
    put_record(st, REC_ITEM_DEL, "gone", NULL);
    size_t bn;
    const char *brand = intern_str(st->brands, 0, &bn), *cat = intern_str(st->categories, 1, NULL);
    snprintf(cmd, sizeof cmd, "{\"rule_id\":\"b\",\"action\":\"bury\",\"match\":{\"category\":\"%s\"},\"factor\":0.3}", cat);
    put_rule(st, cmd);
    snprintf(cmd, sizeof cmd, "{\"rule_id\":\"x\",\"action\":\"exclude\",\"match\":{\"brand\":\"%.*s\"}}", (int)bn,
             brand);
    put_rule(st, cmd);

    rec_cache_t *cache = rec_cache_new(1000000000);
    shown_t *shown = shown_new(1000, st->last_event_ms);
    rec_blend_t blend;
    rec_blend_default(&blend);
    enum { CUSTOMERS = 300, VARIANTS = 4, N = 12 };
    rec_hit_t(*lazy)[VARIANTS][N] = calloc(CUSTOMERS, sizeof *lazy);
    size_t(*nlazy)[VARIANTS] = calloc(CUSTOMERS, sizeof *nlazy);
    size_t answered = 0, short_answers = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) /* a no-op boost: the full sort from now on */
            put_rule(st, "{\"rule_id\":\"noop\",\"action\":\"boost\",\"match\":{\"item_id\":\"gone\"},\"factor\":5}");
        for (uint32_t c = 0; c < CUSTOMERS; c++) {
            const prof_t *p = &st->prof[c * (st->nprof / CUSTOMERS)];
            uint32_t pid = (uint32_t)(p - st->prof);
            if (pass == 0 && c % 3 == 0) { /* shown often without a click: demoted */
                rec_hit_t first[N];
                rec_filter_t f;
                rec_filter_default(&f);
                size_t n = rec_for_you(st, cache, NULL, &blend, p, &f, st->last_event_ms, first, N);
                uint32_t ids[N];
                char rid[17];
                for (size_t i = 0; i < n; i++)
                    ids[i] = first[i].item;
                for (int k = 0; k < 5; k++)
                    shown_put(shown, pid, ids, n / 2, st->last_event_ms, rid);
            }
            for (int v = 0; v < VARIANTS; v++) {
                rec_filter_t f;
                rec_filter_default(&f);
                f.scenario = rule_scenario_bit("for_you");
                f.wall_ms = st->last_event_ms;
                f.impressions = shown;
                f.profile = pid;
                if (v == 1)
                    f.max_per_category = 2, f.offset = 3;
                if (v == 2)
                    f.price_max = 12; /* most of the candidates go */
                if (v == 3)
                    f.in_stock_only = 0, f.tie_seed = 99, f.max_per_category = 1;
                rec_hit_t out[N];
                size_t n = rec_for_you(st, cache, NULL, &blend, p, &f, st->last_event_ms, out, N);
                if (pass == 0) {
                    memcpy(lazy[c][v], out, n * sizeof *out);
                    nlazy[c][v] = n;
                    answered += n > 0;
                    short_answers += n < N;
                } else if (!same_hits(lazy[c][v], nlazy[c][v], out, n)) {
                    fprintf(stderr, "customer %u variant %d: %zu hits lazily, %zu sorted\n", c, v, nlazy[c][v], n);
                    ASSERT(0);
                }
            }
        }
    }
    fprintf(stderr, "%zu answers, %zu short of %d\n", answered, short_answers, N);
    ASSERT(answered > CUSTOMERS * VARIANTS * 9 / 10);
    free(lazy);
    free(nlazy);
    shown_free(shown);
    rec_cache_free(cache);
    st_free(st);
    rmrf(dir);
}

typedef struct {
    state_t *st;
    rec_cache_t *cache;
    int *stop;   /* atomic */
    size_t want; /* every answer's length */
    long answers, short_answers;
} top_reader_t;

static void *top_reader(void *arg)
{
    top_reader_t *j = arg;
    rec_hit_t out[256];
    while (!__atomic_load_n(j->stop, __ATOMIC_RELAXED)) {
        rec_filter_t f;
        rec_filter_default(&f);
        f.in_stock_only = 0;
        pthread_rwlock_rdlock(&j->st->lock);
        size_t n = rec_trending(j->st, j->cache, NULL, &f, j->st->last_event_ms, out, 256);
        pthread_rwlock_unlock(&j->st->lock);
        j->answers++;
        j->short_answers += n != j->want;
    }
    return NULL;
}

/* The best of every live item, by brute force: what a top list must hold. */
static size_t best_live(const state_t *st, int trending, uint32_t cat, int64_t now_ms, rec_hit_t *out, size_t cap)
{
    size_t n = 0;
    rec_hit_t *all = malloc(intern_count(st->items) * sizeof *all);
    ASSERT(all);
    for (uint32_t i = 0; i < intern_count(st->items); i++) {
        float s = trending ? st_item_trending(st, i, now_ms) : st_item_popularity(st, i, now_ms);
        if (st->filt[i].live && s > 0 && (cat == INTERN_NONE || st_item_in_category(st, i, cat)))
            all[n++] = (rec_hit_t){i, s, 0, 0, 0};
    }
    for (size_t i = 1; i < n; i++) /* best first, ties by item */
        for (size_t j = i; j > 0 && (all[j].score > all[j - 1].score ||
                                     (all[j].score == all[j - 1].score && all[j].item < all[j - 1].item));
             j--) {
            rec_hit_t t = all[j];
            all[j] = all[j - 1];
            all[j - 1] = t;
        }
    n = n < cap ? n : cap;
    memcpy(out, all, n * sizeof *out);
    free(all);
    return n;
}

/* A rebuild skips items whose undecayed sums cannot make the list, and reads the live
 * flag only of those that would: the lists must still be exactly the best live items.
 * The most popular items are deleted first, so that a skipped live check shows (it
 * does); a bound 20% too low fails it too, one 3% too low does not (too few close calls
 * at the list's edge). */
TEST(top_lists_hold_the_best_live_items)
{
    char dir[256];
    state_t *st = shop_state(dir, 900, 400, 20000);
    /* A purchase of each of 600 items, a second apart: all of them trend, so that the
     * trending list is full too. */
    evt_t e = {0};
    buf_t b;
    buf_init(&b);
    for (uint32_t k = 0; k < 600; k++) {
        size_t len;
        e.type = EVT_PURCHASE;
        e.ts_ms = st->last_event_ms + 1000;
        e.price = -1;
        e.user_id = (strv_t){"buyer", 5};
        e.item_id = (strv_t){intern_str(st->items, k, &len), 0};
        e.item_id.n = len;
        b.len = 0;
        evt_encode(&e, &b);
        ASSERT(st_apply(st, REC_EVENT, b.data, b.len) == 0);
    }
    buf_free(&b);
    /* At the purchases' time: the bound is exact for the items just bought, so a bound a
     * little too low would drop some of them. */
    int64_t now = st->last_event_ms;
    rec_hit_t want[256], got[256];
    ASSERT_EQ(best_live(st, 0, INTERN_NONE, now, want, 5), 5);
    for (int i = 0; i < 5; i++)
        put_record(st, REC_ITEM_DEL, intern_str(st->items, want[i].item, NULL), NULL);
    rec_cache_t *cache = rec_cache_new(0);
    rec_filter_t f;
    rec_filter_default(&f);
    f.in_stock_only = 0;
    uint32_t big_cat = INTERN_NONE; /* the category with the most items */
    for (uint32_t c = 0; c < st->cat_cap; c++)
        if (big_cat == INTERN_NONE || st->cat_items[c].n > st->cat_items[big_cat].n)
            big_cat = c;
    for (int trending = 0; trending < 2; trending++)
        for (int in_cat = 0; in_cat < 2; in_cat++) {
            f.category = in_cat ? big_cat : INTERN_NONE;
            size_t nw = best_live(st, trending, f.category, now, want, 256);
            size_t ng = trending ? rec_trending(st, cache, NULL, &f, now, got, 256)
                                 : rec_popular(st, cache, NULL, &f, now, got, 256);
            if (nw < (in_cat ? 50u : 256u)) /* a category's list is not full here */
                FAIL("%s%s: only %zu items to rank", trending ? "trending" : "popular", in_cat ? " in a category" : "", nw);
            ASSERT_EQ(ng, nw);
            for (size_t i = 0; i < nw; i++)
                if (got[i].item != want[i].item)
                    FAIL("%s list%s: place %zu holds item %u, the best live one there is %u",
                         trending ? "trending" : "popular", in_cat ? " of a category" : "", i, got[i].item,
                         want[i].item);
        }
    rec_cache_free(cache);
    st_free(st);
    rmrf(dir);
}

static void buy(state_t *st, uint32_t item, int64_t ts_ms)
{
    evt_t e = {0};
    buf_t b;
    buf_init(&b);
    size_t len;
    e.type = EVT_PURCHASE;
    e.ts_ms = ts_ms;
    e.price = -1;
    e.user_id = (strv_t){"buyer", 5};
    e.item_id = (strv_t){intern_str(st->items, item, &len), 0};
    e.item_id.n = len;
    evt_encode(&e, &b);
    pthread_rwlock_wrlock(&st->lock);
    ASSERT(st_apply(st, REC_EVENT, b.data, b.len) == 0);
    pthread_rwlock_unlock(&st->lock);
    buf_free(&b);
}

/* The refresher rebuilds a list a few thousand items at a time, letting go of the
 * store's lock between: with three times as many items, what it publishes after the
 * catalog and the events changed must be exactly the best live items again, the
 * items past the first stretches included. */
TEST(refreshed_top_lists_hold_the_best_live_items)
{
    char dir[256];
    state_t *st = shop_state(dir, 13000, 400, 20000);
    uint32_t nitems = intern_count(st->items);
    ASSERT(nitems > 12000);
    for (uint32_t k = 0; k < 600; k++) /* all of these trend: the trending list is full */
        buy(st, k * 7 % nitems, st->last_event_ms + 1000);
    uint32_t big_cat = INTERN_NONE;
    for (uint32_t c = 0; c < st->cat_cap; c++)
        if (big_cat == INTERN_NONE || st->cat_items[c].n > st->cat_items[big_cat].n)
            big_cat = c;
    rec_cache_t *cache = rec_cache_new(1);
    ASSERT(rec_cache_start(cache, st) == 0);
    rec_filter_t f;
    rec_filter_default(&f);
    f.in_stock_only = 0;
    rec_hit_t want[256], got[256];
    for (int list = 0; list < 4; list++) { /* built once by the answer, then refreshed */
        f.category = list & 1 ? big_cat : INTERN_NONE;
        pthread_rwlock_rdlock(&st->lock);
        ASSERT(list & 2 ? rec_trending(st, cache, NULL, &f, st->last_event_ms, got, 256)
                        : rec_popular(st, cache, NULL, &f, st->last_event_ms, got, 256));
        pthread_rwlock_unlock(&st->lock);
    }
    /* Now the last items take the lead, and the best one overall is deleted. */
    for (uint32_t k = 0; k < 1000; k++)
        buy(st, nitems - 1 - k % 50, st->last_event_ms + 100);
    pthread_rwlock_rdlock(&st->lock);
    ASSERT_EQ(best_live(st, 0, INTERN_NONE, st->last_event_ms, want, 1), 1);
    pthread_rwlock_unlock(&st->lock);
    ASSERT(want[0].item >= nitems - 50);
    pthread_rwlock_wrlock(&st->lock);
    put_record(st, REC_ITEM_DEL, intern_str(st->items, want[0].item, NULL), NULL);
    pthread_rwlock_unlock(&st->lock);
    int same = 0;
    uint64_t deadline = time_mono_ns() + 20000000000ull;
    while (!same && time_mono_ns() < deadline) {
        same = 1;
        pthread_rwlock_rdlock(&st->lock);
        for (int list = 0; list < 4 && same; list++) {
            f.category = list & 1 ? big_cat : INTERN_NONE;
            int64_t now = st->last_event_ms;
            size_t nw = best_live(st, list & 2, f.category, now, want, 256);
            size_t ng = list & 2 ? rec_trending(st, cache, NULL, &f, now, got, 256)
                                 : rec_popular(st, cache, NULL, &f, now, got, 256);
            same = nw == ng && nw > 50;
            for (size_t i = 0; i < nw && same; i++)
                same = got[i].item == want[i].item;
        }
        pthread_rwlock_unlock(&st->lock);
        if (!same)
            usleep(2000); /* the refresher rebuilds every millisecond */
    }
    ASSERT(same);
    rec_cache_free(cache);
    st_free(st);
    rmrf(dir);
}

TEST(top_lists_read_while_they_are_rebuilt_are_whole)
{
    /* Answers copy the cached top lists without a lock while the refresher publishes new
     * ones (every millisecond here) and events move what trends. Every answer must stay
     * whole: 256 distinct items (a copy mixing two lists would repeat some and lose
     * others). Two publications within one copy are too rare for this to catch a tear
     * in the double buffer itself; it exercises the lock-free reads, the publications
     * and the writers' turn on the store's lock under load (and under ASan). */
    char dir[256];
    state_t *st = shop_state(dir, 600, 400, 20000);
    /* The readers answer back to back: the store's lock lets the events in all the same
     * (writers first). */
    rec_cache_t *cache = rec_cache_new(1);
    int stop = 0;
    enum { READERS = 2 };
    top_reader_t jobs[READERS];
    pthread_t th[READERS];
    evt_t e = {0};
    buf_t b;
    buf_init(&b);
    uint32_t nitems = intern_count(st->items);
    /* Purchases spread over the items, time moving on: what trends changes all along. */
    for (uint32_t k = 0; k < nitems + 30000; k++) {
        if (k == nitems) { /* each item bought once: all of them trend, the list is full */
            ASSERT(rec_cache_start(cache, st) == 0);
            rec_hit_t first[256];
            rec_filter_t f;
            rec_filter_default(&f);
            f.in_stock_only = 0;
            ASSERT_EQ(rec_trending(st, cache, NULL, &f, st->last_event_ms, first, 256), 256);
            for (int r = 0; r < READERS; r++) {
                jobs[r] = (top_reader_t){st, cache, &stop, 256, 0, 0};
                ASSERT(pthread_create(&th[r], NULL, top_reader, &jobs[r]) == 0);
            }
        }
        size_t len;
        const char *id = intern_str(st->items, k < nitems ? k : (k * 7919u) % nitems, &len);
        e.type = EVT_PURCHASE;
        e.ts_ms = st->last_event_ms + 1000;
        e.price = -1;
        e.user_id = (strv_t){"buyer", 5};
        e.item_id = (strv_t){id, len};
        b.len = 0;
        evt_encode(&e, &b);
        pthread_rwlock_wrlock(&st->lock);
        ASSERT(st_apply(st, REC_EVENT, b.data, b.len) == 0);
        pthread_rwlock_unlock(&st->lock);
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    long answers = 0, short_answers = 0;
    for (int r = 0; r < READERS; r++) {
        pthread_join(th[r], NULL);
        answers += jobs[r].answers;
        short_answers += jobs[r].short_answers;
    }
    fprintf(stderr, "%ld answers during rebuilds, %ld short\n", answers, short_answers);
    ASSERT(answers > 100);
    ASSERT_EQ(short_answers, 0);
    buf_free(&b);
    rec_cache_free(cache);
    st_free(st);
    rmrf(dir);
}

TEST_MAIN(TEST_ENTRY(top_lists_hold_the_best_live_items), TEST_ENTRY(refreshed_top_lists_hold_the_best_live_items), TEST_ENTRY(top_lists_read_while_they_are_rebuilt_are_whole), TEST_ENTRY(answers_are_ordered_as_a_full_sort_orders_them), TEST_ENTRY(view_brings_coviewed_items), TEST_ENTRY(purchase_removes_item_and_lifts_bought_together),
          TEST_ENTRY(out_of_stock_and_deleted_vanish), TEST_ENTRY(anonymous_session_personalised_from_second_event),
          TEST_ENTRY(a_newcomer_gets_what_sells_before_what_rises),
          TEST_ENTRY(filters_pagination_and_cart), TEST_ENTRY(answers_carry_the_catalog_fields_asked_for),
          TEST_ENTRY(recently_viewed_is_the_customers_own_history),
          TEST_ENTRY(every_endpoint_leaves_out_the_customers_purchases_and_cart),
          TEST_ENTRY(bad_parameters), TEST_ENTRY(unknown_misplaced_and_repeated_parameters_are_refused),
          TEST_ENTRY(business_rules), TEST_ENTRY(repeated_items_without_click_are_demoted),
          TEST_ENTRY(customer_profile_and_item_statistics), TEST_ENTRY(cached_top_lists_are_refreshed_in_the_background))
