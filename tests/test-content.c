/* Content-based filtering: the catalog's terms and index kept right as items come, change
 * and go; cosine search; and end to end, an item nobody has touched yet recommended to
 * the customer whose clicks it resembles, and similar items from content when there is
 * no co-occurrence. Plus the learned ranker's fit on data with a known answer. */
#include "harness.h"
#include "rank/ranker.h"
#include "store/state.h"
#include "stream/content.h"
#include "test.h"

#include <math.h>

static json_t *item(const char *title, const char *cat, const char *brand, double price)
{
    json_t *d = json_pack("{s:s}", "title", title);
    if (cat)
        json_object_set_new(d, "categories", json_pack("[s,s]", "Food", cat));
    if (brand)
        json_object_set_new(d, "brand", json_string(brand));
    if (price > 0)
        json_object_set_new(d, "price", json_real(price));
    return d;
}

static void set(content_t *c, uint32_t id, json_t *doc)
{
    ct_item_set(c, id, doc, 1);
    json_decref(doc);
}

TEST(terms_index_and_search)
{
    content_t *c = ct_new();
    set(c, 0, item("Green Tea, loose leaf", "Tea", "Leaf", 4));
    set(c, 1, item("Jasmine green tea", "Tea", "Leaf", 5));
    set(c, 2, item("Red mug with a handle", "Mugs", "Acme", 6));
    set(c, 3, item("Blue mug", "Mugs", "Acme", 6));
    set(c, 4, item("Steel spoon", NULL, NULL, 0));
    char d[2048];
    ct_describe(c, 0, d, sizeof d);
    /* lower-cased words, "leaf" as a word, pairs of neighbouring words, category prefixes,
     * brand, price band (4 -> 2^2) */
    ASSERT_CONTAINS(d, "w:green");
    ASSERT_CONTAINS(d, "w:tea");
    ASSERT_CONTAINS(d, "p:green tea");
    ASSERT_CONTAINS(d, "p:loose leaf");
    ASSERT_CONTAINS(d, "c:Food/Tea");
    ASSERT_CONTAINS(d, "b:Leaf");
    ASSERT_CONTAINS(d, "$:2");
    ct_describe(c, 2, d, sizeof d);
    ASSERT(!strstr(d, "w:with") && !strstr(d, "w:a ")); /* stop words and one-letter words out */
    ASSERT(!strstr(d, "p:mug handle"));                 /* a stop word breaks a pair */
    /* Cosine: the teas are alike, a tea and a mug are not, an item is itself. */
    ASSERT(fabsf(ct_similarity(c, 0, 0) - 1) < 1e-5f);
    ASSERT(ct_similarity(c, 0, 1) > 0.3f);
    ASSERT(ct_similarity(c, 0, 1) > 2 * ct_similarity(c, 0, 2)); /* they share only "Food" and a price band */
    ASSERT(ct_similarity(c, 2, 3) > ct_similarity(c, 2, 1));
    /* Search: the query of item 0 finds 0 then 1. */
    ct_query_t q;
    ct_query_init(&q);
    ct_query_add(c, &q, 0, 1.0f);
    vec_hit_t out[8];
    size_t n = ct_search(c, &q, out, 8);
    ASSERT(n >= 2);
    ASSERT_EQ(out[0].item, 0);
    ASSERT_EQ(out[1].item, 1);
    ASSERT(fabsf(out[1].score - ct_similarity(c, 0, 1)) < 1e-4f);
    /* Changing and deleting items keeps the index right (the spoon moves into holes). */
    set(c, 1, item("Jasmine rice", NULL, NULL, 0));
    ct_item_set(c, 0, NULL, 0);
    ASSERT(!ct_has(c, 0));
    set(c, 5, item("Green tea bags", "Tea", "Leaf", 4));
    ct_query_init(&q);
    ct_query_add(c, &q, 5, 1.0f);
    n = ct_search(c, &q, out, 8);
    ASSERT(n >= 1);
    ASSERT_EQ(out[0].item, 5);
    for (size_t i = 0; i < n; i++)
        ASSERT(out[i].item != 0);
    ct_item_set(c, 4, NULL, 0);
    ct_item_set(c, 2, NULL, 0);
    ct_query_init(&q);
    ct_query_add(c, &q, 3, 1.0f);
    n = ct_search(c, &q, out, 8);
    ASSERT_EQ(out[0].item, 3);
    for (size_t i = 0; i < n; i++)
        ASSERT(out[i].item != 2 && out[i].item != 4);
    ct_free(c);
}

static int found(const vec_hit_t *out, size_t n, uint32_t item)
{
    for (size_t i = 0; i < n; i++)
        if (out[i].item == item)
            return 1;
    return 0;
}

TEST(fresh_index_keeps_new_items_until_they_mature)
{
    content_t *c = ct_new();
    set(c, 0, item("Green tea", "Tea", "Leaf", 4));
    set(c, 1, item("Jasmine green tea", "Tea", "Leaf", 5));
    set(c, 2, item("Mint green tea", "Tea", "Leaf", 5));
    json_t *d = item("Sencha green tea", "Tea", "Leaf", 4);
    ct_item_set(c, 3, d, 0); /* set when it had its events already */
    json_decref(d);
    ASSERT_EQ(ct_fresh_count(c), 3);
    ct_query_t q;
    ct_query_init(&q);
    ct_query_add(c, &q, 0, 1.0f);
    vec_hit_t out[8];
    size_t n = ct_search_fresh(c, &q, out, 8);
    ASSERT(found(out, n, 0) && found(out, n, 1) && found(out, n, 2) && !found(out, n, 3));
    n = ct_search(c, &q, out, 8);
    ASSERT(found(out, n, 3)); /* the whole catalog's search still has it */
    /* Item 0 matures: out of the fresh index (its postings' holes filled by the others),
     * still in the main one; twice is once. */
    ct_item_mature(c, 0);
    ct_item_mature(c, 0);
    ASSERT_EQ(ct_fresh_count(c), 2);
    n = ct_search_fresh(c, &q, out, 8);
    ASSERT(!found(out, n, 0) && found(out, n, 1) && found(out, n, 2));
    n = ct_search(c, &q, out, 8);
    ASSERT(found(out, n, 0));
    /* Deleting a fresh item takes it out of both; the one left is still found. */
    ct_item_set(c, 1, NULL, 0);
    ASSERT_EQ(ct_fresh_count(c), 1);
    n = ct_search_fresh(c, &q, out, 8);
    ASSERT(n == 1 && out[0].item == 2);
    /* Set again while fresh: counted once. */
    set(c, 2, item("Mint tea", "Tea", "Leaf", 5));
    ASSERT_EQ(ct_fresh_count(c), 1);
    ct_free(c);
}

TEST(fresh_neighbours_are_cached_until_the_fresh_index_changes)
{
    content_t *c = ct_new();
    json_t *d = item("Green tea", "Tea", "Leaf", 4);
    ct_item_set(c, 0, d, 0); /* mature */
    json_decref(d);
    set(c, 1, item("Jasmine green tea", "Tea", "Leaf", 5));
    set(c, 2, item("Mint green tea", "Tea", "Leaf", 5));
    set(c, 3, item("Dark roast coffee beans", "Coffee", "Bean Co", 9));
    vec_hit_t out[CT_NEAR];
    size_t n = ct_fresh_near(c, 0, out, CT_NEAR, NULL);
    ASSERT(n >= 2 && found(out, n, 1) && found(out, n, 2) && !found(out, n, 0));
    for (size_t i = 0; i < n; i++) { /* the exact cosines, best first */
        ASSERT(fabsf(out[i].score - ct_similarity(c, 0, out[i].item)) < 1e-5f);
        ASSERT(i == 0 || out[i - 1].score >= out[i].score);
    }
    ASSERT_EQ(ct_fresh_near(c, 0, out, 1, NULL), 1); /* k bounds the answer */
    /* A new fresh item enters: the cached list knows it at once. */
    set(c, 4, item("Green tea", "Tea", "Leaf", 4));
    n = ct_fresh_near(c, 0, out, CT_NEAR, NULL);
    ASSERT(n >= 1 && out[0].item == 4 && out[0].score > 0.99f);
    /* One matures: it leaves the list; the rest stay. */
    ct_item_mature(c, 1);
    n = ct_fresh_near(c, 0, out, CT_NEAR, NULL);
    ASSERT(!found(out, n, 1) && found(out, n, 4) && found(out, n, 2));
    /* A stock or price update that leaves the terms alone changes nothing. */
    set(c, 2, item("Mint green tea", "Tea", "Leaf", 5));
    ASSERT_EQ(ct_fresh_count(c), 3);
    n = ct_fresh_near(c, 0, out, CT_NEAR, NULL);
    ASSERT(found(out, n, 2) && found(out, n, 4));
    /* The item's own text changes: its neighbours are searched again. */
    d = item("Dark roast coffee beans", "Coffee", "Bean Co", 9);
    ct_item_set(c, 0, d, 0);
    json_decref(d);
    n = ct_fresh_near(c, 0, out, CT_NEAR, NULL);
    ASSERT(n >= 1 && out[0].item == 3);
    /* Without terms, or with no fresh item left: nothing. */
    ASSERT_EQ(ct_fresh_near(c, 99, out, CT_NEAR, NULL), 0);
    ct_item_mature(c, 2);
    ct_item_mature(c, 3);
    ct_item_mature(c, 4);
    ASSERT_EQ(ct_fresh_near(c, 0, out, CT_NEAR, NULL), 0);
    ct_free(c);
}

/* ---- the fresh-neighbour cache against a search of the whole fresh set ------------ */

#define WORDS 12
static const char *const pool[WORDS] = {"green", "tea",   "jasmine", "dark",  "roast", "coffee",
                                        "red",   "mug",   "ceramic", "steel", "spoon", "mint"};

/* A title of 2-4 pool words, a category and a brand, all from the seed. */
static json_t *pool_item(uint32_t *seed)
{
    char title[128] = "";
    *seed = *seed * 1103515245u + 12345u;
    int words = 2 + (int)((*seed >> 16) % 3);
    for (int w = 0; w < words; w++) {
        *seed = *seed * 1103515245u + 12345u;
        strcat(title, pool[(*seed >> 16) % WORDS]);
        strcat(title, " ");
    }
    *seed = *seed * 1103515245u + 12345u;
    static const char *const cats[3] = {"Tea", "Coffee", "Mugs"};
    return item(title, cats[(*seed >> 16) % 3], cats[(*seed >> 20) % 3], 0);
}

#define QUERIES 4
#define FRESH_BASE 3000 /* fresh items' ids from here */
#define FRESH_MAX 200

typedef struct {
    content_t *c;
    uint8_t fresh[FRESH_MAX]; /* which of FRESH_BASE.. are fresh now */
    uint32_t nfresh;          /* ids used */
} world_t;

/* ct_fresh_near(q) against the exact cosines of every fresh item: what it lists is fresh,
 * scored as it is now (within eps: a cached score keeps the idf of its time) and best first;
 * and when `complete`, nothing it leaves out scores above its last by more than eps (it
 * has CT_NEAR) or above 0 (fewer). */
static void check_near(const world_t *w, uint32_t q, int complete)
{
    const float eps = 0.05f;
    vec_hit_t out[CT_NEAR];
    size_t n = ct_fresh_near(w->c, q, out, CT_NEAR, NULL);
    for (size_t i = 0; i < n; i++) {
        uint32_t x = out[i].item;
        ASSERT(x >= FRESH_BASE && x < FRESH_BASE + w->nfresh && w->fresh[x - FRESH_BASE]);
        ASSERT(fabsf(out[i].score - ct_similarity(w->c, q, x)) < eps);
        ASSERT(i == 0 || out[i - 1].score >= out[i].score);
    }
    if (!complete)
        return;
    float floor = n == CT_NEAR ? ct_similarity(w->c, q, out[n - 1].item) + eps : 1e-6f;
    for (uint32_t i = 0; i < w->nfresh; i++)
        if (w->fresh[i] && ct_similarity(w->c, q, FRESH_BASE + i) > floor && !found(out, n, FRESH_BASE + i))
            FAIL("query %u: fresh item %u (cosine %.3f) missing from a list ending at %.3f", q, FRESH_BASE + i,
                 ct_similarity(w->c, q, FRESH_BASE + i), n ? out[n - 1].score : 0.0f);
}

static void add_fresh(world_t *w, uint32_t *seed)
{
    set(w->c, FRESH_BASE + w->nfresh, pool_item(seed));
    w->fresh[w->nfresh++] = 1;
}

TEST(fresh_neighbours_follow_the_fresh_index_as_a_search_would)
{
    world_t w = {ct_new(), {0}, 0};
    uint32_t seed = 7;
    /* A catalog of mature items on the same words, big enough that the additions below
     * move its size by less than the 5% that refreshes the idf table (and voids every
     * cached list): the lists must catch up on their own. */
    for (uint32_t i = 0; i < 2000; i++) {
        json_t *d = pool_item(&seed);
        ct_item_set(w.c, i, d, 0);
        json_decref(d);
    }
    for (int i = 0; i < 12; i++)
        add_fresh(&w, &seed);
    for (uint32_t q = 0; q < QUERIES; q++) /* the lists are searched and cached */
        check_near(&w, q, 1);
    /* New fresh items, one at a time, the lists read after each. */
    for (int i = 0; i < 40; i++) {
        add_fresh(&w, &seed);
        for (uint32_t q = 0; q < QUERIES; q++)
            check_near(&w, q, 1);
    }
    /* Fresh items' texts change: an old score must not stay, nor a new one be missed. */
    for (uint32_t i = 0; i < 20; i++) {
        set(w.c, FRESH_BASE + i * 2, pool_item(&seed));
        for (uint32_t q = 0; q < QUERIES; q++)
            check_near(&w, q, 1);
    }
    /* Some mature, some are deleted: they leave the lists (which may run short). */
    for (uint32_t i = 0; i < 12; i++) {
        uint32_t x = FRESH_BASE + 1 + i * 3;
        if (i % 2)
            ct_item_mature(w.c, x);
        else
            ct_item_set(w.c, x, NULL, 0);
        w.fresh[x - FRESH_BASE] = 0;
        for (uint32_t q = 0; q < QUERIES; q++)
            check_near(&w, q, 0);
    }
    /* More additions than a list catches up on: searched again, whole. */
    for (int i = 0; i < 70; i++)
        add_fresh(&w, &seed);
    for (uint32_t q = 0; q < QUERIES; q++)
        check_near(&w, q, 1);
    ASSERT(w.nfresh <= FRESH_MAX);
    ct_free(w.c);
}

TEST(fresh_neighbours_far_behind_wait_for_the_callers_budget)
{
    world_t w = {ct_new(), {0}, 0};
    uint32_t seed = 11;
    for (uint32_t i = 1; i < 2000; i++) { /* mature, on the pool's words (as above) */
        json_t *d = pool_item(&seed);
        ct_item_set(w.c, i, d, 0);
        json_decref(d);
    }
    json_t *d = item("green jasmine tea", "Tea", "Tea", 0);
    ct_item_set(w.c, 0, d, 0);
    json_decref(d);
    for (int i = 0; i < 12; i++)
        add_fresh(&w, &seed);
    vec_hit_t out[CT_NEAR], before[CT_NEAR];
    int budget = 0;
    /* Never searched: searched whatever the budget, which it does not spend. */
    size_t nb = ct_fresh_near(w.c, 0, before, CT_NEAR, &budget);
    ASSERT(nb > 0 && budget == 0);
    /* More additions than a catch-up takes, the last one item 0's twin. */
    for (int i = 0; i < 70; i++)
        add_fresh(&w, &seed);
    uint32_t twin = FRESH_BASE + w.nfresh;
    set(w.c, twin, item("green jasmine tea", "Tea", "Tea", 0));
    w.fresh[w.nfresh++] = 1;
    /* Spent budget: the list as it stood. */
    size_t n = ct_fresh_near(w.c, 0, out, CT_NEAR, &budget);
    ASSERT_EQ(n, nb);
    for (size_t i = 0; i < n; i++)
        ASSERT(out[i].item == before[i].item && out[i].score == before[i].score);
    ASSERT_EQ(budget, 0);
    /* One search left: spent on it, and the twin is first. */
    budget = 1;
    n = ct_fresh_near(w.c, 0, out, CT_NEAR, &budget);
    ASSERT(n >= 1 && out[0].item == twin && out[0].score > 0.99f);
    ASSERT_EQ(budget, 0);
    check_near(&w, 0, 1);
    /* Up to date now: read with no budget at all, and with a few new items caught up on. */
    add_fresh(&w, &seed);
    n = ct_fresh_near(w.c, 0, out, CT_NEAR, &budget);
    ASSERT(n >= 1 && out[0].item == twin);
    ASSERT_EQ(budget, 0);
    check_near(&w, 0, 1);
    ct_free(w.c);
}

static server_t S;
static char DIR_[256];

static json_t *get(const char *path)
{
    return http_json(&S, "GET", path, NULL, 200);
}

static int pos(json_t *ans, const char *id)
{
    json_t *items = jget(ans, "items");
    for (size_t i = 0; i < json_array_size(items); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(items, i), "item_id")), id) == 0)
            return (int)i;
    return -1;
}

TEST(a_new_item_reaches_the_customer_it_resembles)
{
    tmpdir_make(DIR_);
    server_start(&S, DIR_, "--rank-cache-ms", "0", "--diversity", "0", NULL);
    server_wait_ready(&S, 30000);
    json_t *j = http_json(&S, "POST", "/v1/items",
                          "[{\"item_id\":\"g1\",\"title\":\"Green tea\",\"categories\":[\"Food\",\"Tea\"]},"
                          "{\"item_id\":\"g2\",\"title\":\"Jasmine green tea\",\"categories\":[\"Food\",\"Tea\"]},"
                          "{\"item_id\":\"m1\",\"title\":\"Red mug\",\"categories\":[\"Home\",\"Mugs\"]},"
                          "{\"item_id\":\"s1\",\"title\":\"Steel spoon\",\"categories\":[\"Home\",\"Cutlery\"]}]",
                          200);
    json_decref(j);
    j = http_json(&S, "POST", "/v1/events",
                  "[{\"type\":\"view\",\"user_id\":\"ann\",\"item_id\":\"g1\"},"
                  "{\"type\":\"view\",\"user_id\":\"ann\",\"item_id\":\"g2\"},"
                  "{\"type\":\"view\",\"user_id\":\"bob\",\"item_id\":\"m1\"}]",
                  200);
    ASSERT_EQ(jint(j, "accepted"), 3);
    json_decref(j);
    /* A tea arrives; no one has seen it. */
    j = http_json(&S, "PUT", "/v1/items/g3", "{\"title\":\"Organic green tea bags\",\"categories\":[\"Food\",\"Tea\"]}",
                  201);
    json_decref(j);
    json_t *a = get("/v1/users/ann/recommendations?n=5");
    ASSERT_EQ(pos(a, "g3"), 0);
    ASSERT_STR_EQ(jstr(a, "items.0.sources.0"), "content");
    ASSERT_CONTAINS(jstr(a, "items.0.reasons.0"), "resembles ");
    ASSERT_CONTAINS(jstr(a, "items.0.reasons.0"), "reen tea"); /* Green tea, or Jasmine green tea */
    json_decref(a);
    /* Not for the mug customer, who resembles nothing about tea. */
    a = get("/v1/users/bob/recommendations?n=5");
    ASSERT(pos(a, "g3") != 0);
    json_decref(a);
    /* Similar items with no co-occurrence: by content, the closest first. */
    a = get("/v1/items/g3/similar?n=3");
    ASSERT_EQ(pos(a, "g1"), 0);
    ASSERT_EQ(pos(a, "g2"), 1);
    ASSERT_EQ(pos(a, "g3"), -1);
    ASSERT_STR_EQ(jstr(a, "items.0.reasons.0"), "resembles Organic green tea bags");
    json_decref(a);
    /* Deleted, it is gone from the index too. */
    json_decref(http_json(&S, "DELETE", "/v1/items/g3", NULL, 200));
    a = get("/v1/users/ann/recommendations?n=5");
    ASSERT_EQ(pos(a, "g3"), -1);
    json_decref(a);
    /* And it all comes back the same after a restart (replay). */
    ASSERT_EQ(server_stop(&S), 0);
    server_start(&S, DIR_, "--rank-cache-ms", "0", "--diversity", "0", NULL);
    server_wait_ready(&S, 30000);
    a = get("/v1/items/g1/similar?n=3");
    ASSERT_EQ(pos(a, "g2"), 0);
    ASSERT_EQ(pos(a, "g3"), -1);
    json_decref(a);
    ASSERT_EQ(server_stop(&S), 0);
    rmrf(DIR_);
}

TEST(ranker_fit_finds_the_known_weights)
{
    /* Labels from a known logistic model on two features (the rest noise or constant):
     * the fit recovers its signs and order of size, and ranks the examples as it does. */
    rk_data_t d;
    rk_data_init(&d);
    uint64_t h = 1;
    for (int r = 0; r < 20000; r++) {
        float x[RK_NFEAT] = {0};
        for (int i = 0; i < RK_NFEAT; i++) {
            h = h * 6364136223846793005ull + 1442695040888963407ull;
            x[i] = (float)((h >> 33) % 1000) / 1000.0f;
        }
        x[RK_CATEGORY] = 0.5f; /* constant: weight 0 */
        double eta = 6 * x[RK_EASE] - 3 * x[RK_POPULARITY] - 2;
        h = h * 6364136223846793005ull + 1442695040888963407ull;
        double u = (double)(h >> 11) / 9007199254740992.0;
        rk_data_add(&d, x, u < 1 / (1 + exp(-eta)));
    }
    rk_model_t m;
    int it = rk_fit(&d, RK_LAMBDA, 0, &m);
    ASSERT(it > 0 && it < 50);
    /* Weights are on standardised features: divide by the scale to compare. */
    float we = m.w[RK_EASE] / m.scale[RK_EASE], wp = m.w[RK_POPULARITY] / m.scale[RK_POPULARITY];
    fprintf(stderr, "fitted ease %.2f (6), popularity %.2f (-3), %d iterations\n", we, wp, it);
    ASSERT(we > 4.5f && we < 7.5f);
    ASSERT(wp < -2 && wp > -4);
    ASSERT(fabsf(m.w[RK_CATEGORY]) < 1e-6f);
    for (int i = 0; i < RK_NFEAT; i++)
        if (i != RK_EASE && i != RK_POPULARITY && i != RK_CATEGORY)
            ASSERT(fabsf(m.w[i] / m.scale[i]) < 0.6f);
    float a[RK_NFEAT] = {0}, b[RK_NFEAT] = {0};
    a[RK_EASE] = 0.9f;
    b[RK_EASE] = 0.1f;
    ASSERT(rk_score(&m, a) > rk_score(&m, b));
    /* Nothing to learn without both labels. */
    rk_data_t one;
    rk_data_init(&one);
    rk_data_add(&one, a, 1);
    ASSERT_EQ(rk_fit(&one, RK_LAMBDA, 0, &m), -1);
    rk_data_free(&one);
    rk_data_free(&d);
}

/* Whether the answer's item carries source src. */
static int has_source(json_t *ans, const char *id, const char *src)
{
    int at = pos(ans, id);
    if (at < 0)
        return 0;
    json_t *srcs = json_object_get(json_array_get(jget(ans, "items"), (size_t)at), "sources");
    for (size_t i = 0; i < json_array_size(srcs); i++)
        if (strcmp(json_string_value(json_array_get(srcs, i)), src) == 0)
            return 1;
    return 0;
}

TEST(content_adds_new_items_to_rich_cooccurrence_and_everything_to_thin)
{
    /* Teas t1..t7, twelve mugs each co-viewed with t1 (so t1 has plenty of co-occurrence),
     * an old tea others viewed ten times (mature: no longer fresh), a new tea nobody saw.
     * cat viewed t1; dan viewed t7, which nobody viewed with anything. */
    tmpdir_make(DIR_);
    server_start(&S, DIR_, "--rank-cache-ms", "0", "--diversity", "0", NULL);
    server_wait_ready(&S, 30000);
    char body[8192];
    size_t n = (size_t)snprintf(body, sizeof body, "[");
    for (int i = 1; i <= 7; i++)
        n += (size_t)snprintf(body + n, sizeof body - n,
                              "{\"item_id\":\"t%d\",\"title\":\"Green tea blend %d\",\"categories\":[\"Food\",\"Tea\"]},", i,
                              i);
    for (int i = 1; i <= 12; i++)
        n += (size_t)snprintf(body + n, sizeof body - n,
                              "{\"item_id\":\"m%d\",\"title\":\"Red mug %d\",\"categories\":[\"Home\",\"Mugs\"]},", i, i);
    snprintf(body + n, sizeof body - n,
             "{\"item_id\":\"old\",\"title\":\"Green tea classic\",\"categories\":[\"Food\",\"Tea\"]}]");
    json_decref(http_json(&S, "POST", "/v1/items", body, 200));
    n = (size_t)snprintf(body, sizeof body, "[");
    for (int i = 1; i <= 12; i++)
        n += (size_t)snprintf(body + n, sizeof body - n,
                              "{\"type\":\"view\",\"session_id\":\"s%d\",\"item_id\":\"t1\"},"
                              "{\"type\":\"view\",\"session_id\":\"s%d\",\"item_id\":\"m%d\"},",
                              i, i, i);
    for (int i = 0; i < ST_FRESH_EVENTS; i++) /* one-item sessions: no co-occurrence */
        n += (size_t)snprintf(body + n, sizeof body - n, "{\"type\":\"view\",\"session_id\":\"v%d\",\"item_id\":\"old\"},", i);
    snprintf(body + n, sizeof body - n,
             "{\"type\":\"view\",\"user_id\":\"cat\",\"item_id\":\"t1\"},{\"type\":\"view\",\"user_id\":\"dan\",\"item_id\":\"t7\"}]");
    json_t *j = http_json(&S, "POST", "/v1/events", body, 200);
    ASSERT_EQ(jint(j, "accepted"), 24 + ST_FRESH_EVENTS + 2);
    json_decref(j);
    json_decref(http_json(&S, "PUT", "/v1/items/new", "{\"title\":\"Green tea blend deluxe\",\"categories\":[\"Food\",\"Tea\"]}", 201));
    j = http_json(&S, "GET", "/v1/stats", NULL, 200);
    ASSERT_EQ(jint(j, "fresh_items"), 19); /* all but t1 and the old tea */
    json_decref(j);
    json_t *a = get("/v1/users/cat/recommendations?n=30");
    ASSERT(has_source(a, "m1", "co_view"));
    ASSERT(has_source(a, "new", "content"));  /* a fresh tea, by content */
    ASSERT(has_source(a, "t2", "content"));   /* fresh too */
    ASSERT(!has_source(a, "old", "content")); /* the mature one is left to the other sources */
    json_decref(a);
    a = get("/v1/users/dan/recommendations?n=30");
    ASSERT(has_source(a, "new", "content"));
    ASSERT(has_source(a, "old", "content")); /* thin co-occurrence: the whole catalog's search */
    json_decref(a);
    ASSERT_EQ(server_stop(&S), 0);
    rmrf(DIR_);
}

TEST_MAIN(TEST_ENTRY(terms_index_and_search), TEST_ENTRY(a_new_item_reaches_the_customer_it_resembles),
          TEST_ENTRY(ranker_fit_finds_the_known_weights),
          TEST_ENTRY(fresh_index_keeps_new_items_until_they_mature),
          TEST_ENTRY(fresh_neighbours_are_cached_until_the_fresh_index_changes),
          TEST_ENTRY(fresh_neighbours_follow_the_fresh_index_as_a_search_would),
          TEST_ENTRY(fresh_neighbours_far_behind_wait_for_the_callers_budget),
          TEST_ENTRY(content_adds_new_items_to_rich_cooccurrence_and_everything_to_thin))
