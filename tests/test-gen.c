/* aisle gen: same seed gives the same bytes; every record passes the API's validators;
 * events are in time order before --end; and the planted structure shows in the events
 * (a popularity head, carts before purchases, repeat purchases of consumables,
 * bought-together pairs, trending items). */
#include "gen/gen.h"
#include "harness.h"
#include "ingest/entity.h"
#include "ingest/event.h"
#include "test.h"
#include "util/intern.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define END_MS 1793491200000LL /* 2026-11-01T00:00:00Z, gen's default --end */
#define DAY_MS 86400000LL
#define N_ITEMS 500
#define N_USERS 2000
#define N_EVENTS 50000

static char *slurp(const char *dir, const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *buf = file_read(path, len);
    if (!buf)
        FAIL("cannot open %s", path);
    return buf;
}

static void generate(const char *dir, uint64_t seed, uint32_t items, uint32_t users, uint64_t events,
                     gen_stats_t *st)
{
    gen_opts_t o;
    gen_opts_default(&o);
    o.out_dir = dir;
    o.seed = seed;
    o.items = items;
    o.users = users;
    o.events = events;
    o.truth = 1;
    char err[256];
    if (gen_run(&o, st, err, sizeof err))
        FAIL("gen_run: %s", err);
}

/* Calls fn on each line of an NDJSON file, parsed with jansson. */
static size_t each_line(const char *dir, const char *name, void (*fn)(json_t *, void *), void *ud)
{
    size_t len, n = 0;
    char *body = slurp(dir, name, &len);
    for (char *p = body, *nl; p < body + len; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(body + len - p));
        ASSERT(nl); /* every line ends with a newline */
        json_error_t je;
        json_t *v = json_loadb(p, (size_t)(nl - p), 0, &je);
        if (!v)
            FAIL("%s line %zu: %s", name, n + 1, je.text);
        fn(v, ud);
        json_decref(v);
        n++;
    }
    free(body);
    return n;
}

/* u64 -> u32 map with open addressing, for (session, item) and (user, item) pairs. */
typedef struct {
    uint64_t *k; /* key + 1; 0 is empty */
    uint32_t *v;
    size_t cap;
} map_t;

static void map_init(map_t *m, size_t cap)
{
    m->cap = cap;
    m->k = calloc(cap, sizeof *m->k);
    m->v = calloc(cap, sizeof *m->v);
    ASSERT(m->k && m->v);
}

static void map_free(map_t *m)
{
    free(m->k);
    free(m->v);
}

static uint32_t *map_at(map_t *m, uint64_t key)
{
    size_t i = (size_t)((key + 1) * 0x9e3779b97f4a7c15ull >> 20) & (m->cap - 1);
    while (m->k[i] && m->k[i] != key + 1)
        i = (i + 1) & (m->cap - 1);
    m->k[i] = key + 1;
    return &m->v[i];
}

static uint64_t pair(uint32_t a, uint32_t b)
{
    return (uint64_t)a << 32 | b;
}

/* The small shop every structure test reads: its events parsed by the API's reader, the
 * item ids interned in catalog order, and the planted truth by item. */
typedef struct {
    char dir[256];
    gen_stats_t st;
    char *body;
    size_t len;
    evt_batch_t b;
    intern_t *items, *sessions, *users, *orders;
    uint32_t *item, *sess, *user, *order; /* per event; INTERN_NONE when absent */
    uint8_t consumable[N_ITEMS], trending[N_ITEMS], npartner[N_ITEMS];
    uint32_t partner[N_ITEMS][3];
} shop_t;

static void item_line(json_t *v, void *ud)
{
    shop_t *s = ud;
    const char *id = json_string_value(json_object_get(v, "item_id"));
    ASSERT(id);
    int added = 0;
    uint32_t i = intern_put(s->items, id, strlen(id), &added);
    ASSERT(added && i < N_ITEMS);
    json_t *tag;
    size_t k;
    json_array_foreach(json_object_get(v, "tags"), k, tag)
    {
        if (strcmp(json_string_value(tag), "consumable") == 0)
            s->consumable[i] = 1;
    }
}

static void truth_line(json_t *v, void *ud)
{
    shop_t *s = ud;
    const char *id = json_string_value(json_object_get(v, "item_id"));
    if (!id)
        return; /* a customer's line */
    uint32_t i = intern_get(s->items, id, strlen(id));
    ASSERT(i != INTERN_NONE);
    s->trending[i] = json_is_true(json_object_get(v, "trending"));
    ASSERT(s->consumable[i] == json_is_true(json_object_get(v, "consumable")));
    json_t *p;
    size_t k;
    json_array_foreach(json_object_get(v, "bought_with"), k, p)
    {
        ASSERT(k < 3);
        const char *pid = json_string_value(p);
        s->partner[i][k] = intern_get(s->items, pid, strlen(pid));
        ASSERT(s->partner[i][k] != INTERN_NONE && s->partner[i][k] != i);
        s->npartner[i]++;
    }
}

static uint32_t intern_opt(intern_t *t, strv_t v)
{
    return v.p ? intern_put(t, v.p, v.n, NULL) : INTERN_NONE;
}

static void shop_load(shop_t *s)
{
    memset(s, 0, sizeof *s);
    tmpdir_make(s->dir);
    generate(s->dir, 1, N_ITEMS, N_USERS, N_EVENTS, &s->st);
    s->items = intern_new();
    s->sessions = intern_new();
    s->users = intern_new();
    s->orders = intern_new();
    ASSERT_EQ(each_line(s->dir, "items.ndjson", item_line, s), N_ITEMS);
    each_line(s->dir, "truth.ndjson", truth_line, s);

    s->body = slurp(s->dir, "events.ndjson", &s->len);
    val_error_t err;
    int status = evt_parse_batch(s->body, s->len, 1, N_EVENTS + 1, END_MS, &s->b, &err);
    if (status)
        FAIL("events.ndjson refused (%d): %s", status, err.message);
    ASSERT_EQ(s->b.n, N_EVENTS);
    for (size_t i = 0; i < s->b.n; i++)
        if (s->b.err[i].code)
            FAIL("event %zu rejected: %s %s (%s)", i, s->b.err[i].code, s->b.err[i].field,
                 s->b.err[i].message);
    s->item = malloc(N_EVENTS * sizeof *s->item);
    s->sess = malloc(N_EVENTS * sizeof *s->sess);
    s->user = malloc(N_EVENTS * sizeof *s->user);
    s->order = malloc(N_EVENTS * sizeof *s->order);
    ASSERT(s->item && s->sess && s->user && s->order);
    for (size_t i = 0; i < N_EVENTS; i++) {
        const evt_t *e = &s->b.ev[i];
        s->item[i] = e->item_id.p ? intern_get(s->items, e->item_id.p, e->item_id.n) : INTERN_NONE;
        if (e->item_id.p && s->item[i] == INTERN_NONE)
            FAIL("event %zu names an item not in the catalog: %.*s", i, (int)e->item_id.n, e->item_id.p);
        s->sess[i] = intern_opt(s->sessions, e->session_id);
        s->user[i] = intern_opt(s->users, e->user_id);
        s->order[i] = intern_opt(s->orders, e->order_id);
    }
}

static void shop_free(shop_t *s)
{
    evt_batch_free(&s->b);
    free(s->body);
    free(s->item);
    free(s->sess);
    free(s->user);
    free(s->order);
    intern_free(s->items);
    intern_free(s->sessions);
    intern_free(s->users);
    intern_free(s->orders);
    rmrf(s->dir);
}

static int same_file(const char *a, const char *b, const char *name)
{
    size_t na, nb;
    char *x = slurp(a, name, &na), *y = slurp(b, name, &nb);
    int same = na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

TEST(same_seed_same_bytes)
{
    char a[256], b[256], c[256];
    tmpdir_make(a);
    tmpdir_make(b);
    tmpdir_make(c);
    gen_stats_t sa, sb, sc;
    generate(a, 7, 300, 1000, 20000, &sa);
    generate(b, 7, 300, 1000, 20000, &sb);
    generate(c, 8, 300, 1000, 20000, &sc);
    static const char *const files[] = {"items.ndjson", "users.ndjson", "events.ndjson", "truth.ndjson"};
    for (int i = 0; i < 4; i++)
        if (!same_file(a, b, files[i]))
            FAIL("%s differs between two runs with seed 7", files[i]);
    ASSERT_EQ(sa.bytes, sb.bytes);
    ASSERT_EQ(sa.orders, sb.orders);
    ASSERT(!same_file(a, c, "items.ndjson"));
    ASSERT(!same_file(a, c, "users.ndjson"));
    ASSERT(!same_file(a, c, "events.ndjson"));
    ASSERT_EQ(sc.events, 20000);
    rmrf(a);
    rmrf(b);
    rmrf(c);
}

TEST(events_accepted_in_time_order)
{
    shop_t *s = malloc(sizeof *s);
    ASSERT(s);
    shop_load(s); /* every line accepted by evt_parse_batch, items known */
    ASSERT_EQ(s->st.events, N_EVENTS);
    uint64_t by_type[EVT__COUNT] = {0};
    uint32_t nsess = intern_count(s->sessions);
    int64_t *first = malloc(nsess * sizeof *first);
    ASSERT(first);
    for (uint32_t i = 0; i < nsess; i++)
        first[i] = -1;
    int64_t prev = 0;
    for (size_t i = 0; i < N_EVENTS; i++) {
        const evt_t *e = &s->b.ev[i];
        by_type[e->type]++;
        if (e->ts_ms < prev)
            FAIL("event %zu goes back in time", i);
        prev = e->ts_ms;
        ASSERT(e->ts_ms < END_MS);
        ASSERT(e->ts_ms >= END_MS - 90 * DAY_MS);
        ASSERT(e->session_id.p && e->event_id.p);
        if (first[s->sess[i]] < 0)
            first[s->sess[i]] = e->ts_ms;
        if (e->ts_ms - first[s->sess[i]] >= 30 * 60000)
            FAIL("session %.*s lasts over 30 minutes", (int)e->session_id.n, e->session_id.p);
        if (e->type == EVT_SEARCH)
            ASSERT(e->query.p && !e->item_id.p);
        else
            ASSERT(e->item_id.p && !e->query.p);
        int cart = e->type == EVT_ADD_TO_CART || e->type == EVT_REMOVE_FROM_CART || e->type == EVT_PURCHASE;
        ASSERT(cart == (e->quantity > 0));
        ASSERT(cart == (e->price >= 0));
        ASSERT((e->type == EVT_PURCHASE) == (e->order_id.p != NULL));
    }
    for (int t = 0; t < EVT__COUNT; t++) {
        ASSERT_EQ(by_type[t], s->st.by_type[t]);
        ASSERT(by_type[t] > 0);
    }
    /* A funnel: views dominate, purchases are a few percent. */
    ASSERT(by_type[EVT_VIEW] > N_EVENTS / 2);
    ASSERT(by_type[EVT_PURCHASE] < by_type[EVT_ADD_TO_CART]);
    ASSERT_EQ(nsess, s->st.sessions);
    ASSERT_EQ(intern_count(s->orders), s->st.orders);
    /* Anonymous sessions exist, and some of them log in later. */
    uint8_t *state = calloc(nsess, 1); /* bit 1: an event without user, bit 2: with */
    ASSERT(state);
    for (size_t i = 0; i < N_EVENTS; i++)
        state[s->sess[i]] |= s->user[i] == INTERN_NONE ? 1 : 2;
    uint32_t anon = 0, login = 0;
    for (uint32_t i = 0; i < nsess; i++) {
        anon += state[i] == 1;
        login += state[i] == 3;
    }
    ASSERT(anon > nsess / 20 && anon < nsess / 3);
    ASSERT(login > 0);
    free(state);
    free(first);
    shop_free(s);
    free(s);
}

static void check_item(json_t *v, void *ud)
{
    (void)ud;
    json_t *doc;
    val_error_t err;
    if (ent_item_from_json(v, NULL, END_MS, &doc, &err))
        FAIL("item rejected: %s %s (%s)", err.code, err.field, err.message);
    ASSERT_EQ(json_array_size(json_object_get(doc, "categories")), 3);
    ASSERT_STR_EQ(json_string_value(json_object_get(doc, "currency")), "EUR");
    ASSERT(json_real_value(json_object_get(doc, "price")) > 0);
    ASSERT(json_string_length(json_object_get(doc, "title")) > 5);
    json_decref(doc);
}

static void check_user(json_t *v, void *ud)
{
    json_t *doc;
    val_error_t err;
    if (ent_user_from_json(v, NULL, &doc, &err))
        FAIL("customer rejected: %s %s (%s)", err.code, err.field, err.message);
    json_t *pers = json_object_get(json_object_get(doc, "consent"), "personalization");
    ASSERT(json_is_boolean(pers));
    *(size_t *)ud += json_is_false(pers);
    json_decref(doc);
}

TEST(items_and_users_pass_validation)
{
    char dir[256];
    tmpdir_make(dir);
    gen_stats_t st;
    generate(dir, 3, N_ITEMS, N_USERS, 1000, &st);
    ASSERT_EQ(each_line(dir, "items.ndjson", check_item, NULL), N_ITEMS);
    size_t no_consent = 0;
    ASSERT_EQ(each_line(dir, "users.ndjson", check_user, &no_consent), N_USERS);
    ASSERT(no_consent > N_USERS / 50 && no_consent < N_USERS / 10); /* about 5% */
    rmrf(dir);
}

TEST(purchases_follow_carts)
{
    shop_t *s = malloc(sizeof *s);
    ASSERT(s);
    shop_load(s);
    map_t cart;
    map_init(&cart, 1 << 16);
    size_t purchases = 0;
    for (size_t i = 0; i < N_EVENTS; i++) {
        const evt_t *e = &s->b.ev[i];
        if (e->type == EVT_ADD_TO_CART)
            *map_at(&cart, pair(s->sess[i], s->item[i])) = 1;
        else if (e->type == EVT_REMOVE_FROM_CART)
            *map_at(&cart, pair(s->sess[i], s->item[i])) = 0;
        else if (e->type == EVT_PURCHASE) {
            if (*map_at(&cart, pair(s->sess[i], s->item[i])) != 1)
                FAIL("purchase %.*s of %.*s without add_to_cart in its session", (int)e->event_id.n,
                     e->event_id.p, (int)e->item_id.n, e->item_id.p);
            purchases++;
        }
    }
    ASSERT(purchases > 100);
    map_free(&cart);
    shop_free(s);
    free(s);
}

static int desc_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

TEST(popularity_has_a_head)
{
    shop_t *s = malloc(sizeof *s);
    ASSERT(s);
    shop_load(s);
    uint32_t views[N_ITEMS] = {0}, total = 0;
    for (size_t i = 0; i < N_EVENTS; i++)
        if (s->b.ev[i].type == EVT_VIEW) {
            views[s->item[i]]++;
            total++;
        }
    qsort(views, N_ITEMS, sizeof views[0], desc_u32);
    uint32_t head = 0;
    for (int i = 0; i < N_ITEMS / 10; i++)
        head += views[i];
    fprintf(stderr, "   top 10%% of items: %.1f%% of %u views\n", 100.0 * head / total, total);
    ASSERT(head > total * 0.40);
    ASSERT(views[N_ITEMS / 2] > 0); /* and a long tail that is still seen */
    shop_free(s);
    free(s);
}

TEST(consumables_are_rebought)
{
    shop_t *s = malloc(sizeof *s);
    ASSERT(s);
    shop_load(s);
    map_t last, count;
    map_init(&last, 1 << 14);
    map_init(&count, 1 << 14);
    uint32_t repeats = 0;
    for (size_t i = 0; i < N_EVENTS; i++) {
        if (s->b.ev[i].type != EVT_PURCHASE || s->user[i] == INTERN_NONE || !s->consumable[s->item[i]])
            continue;
        uint64_t k = pair(s->user[i], s->item[i]);
        uint32_t *o = map_at(&last, k);
        if (*o == s->order[i] + 1)
            continue;
        *o = s->order[i] + 1;
        if (++*map_at(&count, k) == 2)
            repeats++;
    }
    fprintf(stderr, "   %u (customer, consumable) pairs bought in two orders or more\n", repeats);
    ASSERT(repeats >= 1);
    map_free(&last);
    map_free(&count);
    shop_free(s);
    free(s);
}

/* For each item in at least 5 orders and each of its planted partners: the share of the
 * item's orders that hold the partner, over the share of all orders that do. */
TEST(partners_are_bought_together)
{
    shop_t *s = malloc(sizeof *s);
    ASSERT(s);
    shop_load(s);
    uint32_t norders = intern_count(s->orders);
    ASSERT(norders > 100);
    /* Orders' lines are consecutive purchase events of one session. */
    uint32_t *start = calloc(norders + 1, sizeof *start), *line_item = malloc(N_EVENTS * sizeof *line_item);
    uint32_t in_orders[N_ITEMS] = {0};
    ASSERT(start && line_item);
    uint32_t nlines = 0, prev = INTERN_NONE;
    for (size_t i = 0; i < N_EVENTS; i++)
        if (s->b.ev[i].type == EVT_PURCHASE) {
            ASSERT(s->order[i] == prev || s->order[i] == (prev == INTERN_NONE ? 0 : prev + 1));
            if (s->order[i] != prev)
                start[s->order[i]] = nlines;
            prev = s->order[i];
            line_item[nlines++] = s->item[i];
            in_orders[s->item[i]]++;
        }
    start[norders] = nlines;
    map_t co;
    map_init(&co, 1 << 14);
    for (uint32_t o = 0; o < norders; o++)
        for (uint32_t a = start[o]; a < start[o + 1]; a++)
            for (uint32_t b = start[o]; b < start[o + 1]; b++)
                if (a != b)
                    ++*map_at(&co, pair(line_item[a], line_item[b]));
    double lifts[N_ITEMS * 3];
    int n = 0;
    double num = 0, den = 0, base = 0;
    for (uint32_t i = 0; i < N_ITEMS; i++) {
        if (in_orders[i] < 5)
            continue;
        for (int k = 0; k < s->npartner[i]; k++) {
            uint32_t p = s->partner[i][k];
            double together = *map_at(&co, pair(i, p));
            double rate = (double)(in_orders[p] ? in_orders[p] : 1) / norders;
            lifts[n++] = together / in_orders[i] / rate;
            num += together;
            den += in_orders[i];
            base += in_orders[i] * rate;
        }
    }
    ASSERT(n > 50);
    for (int i = 1; i < n; i++) /* insertion sort; n is small */
        for (int j = i; j > 0 && lifts[j - 1] > lifts[j]; j--) {
            double t = lifts[j];
            lifts[j] = lifts[j - 1];
            lifts[j - 1] = t;
        }
    fprintf(stderr, "   %d pairs: P(partner | item) %.3f vs base %.4f; median lift %.1f\n", n, num / den,
            base / den, lifts[n / 2]);
    ASSERT(lifts[n / 2] > 10);
    ASSERT(num / den > 5 * (base / den));
    map_free(&co);
    free(start);
    free(line_item);
    shop_free(s);
    free(s);
}

TEST(trending_items_burst_at_the_end)
{
    shop_t *s = malloc(sizeof *s);
    ASSERT(s);
    shop_load(s);
    int64_t t0 = END_MS - 5 * DAY_MS; /* the trend window of a 90-day run */
    uint32_t before = 0, during = 0, ntrend = 0;
    for (int i = 0; i < N_ITEMS; i++)
        ntrend += s->trending[i];
    ASSERT(ntrend >= 3);
    for (size_t i = 0; i < N_EVENTS; i++)
        if (s->b.ev[i].type == EVT_VIEW && s->trending[s->item[i]])
            *(s->b.ev[i].ts_ms >= t0 ? &during : &before) += 1;
    fprintf(stderr, "   trending items: %u views in the last 5 days, %u in the 85 before\n", during, before);
    /* Per day, several times the views they had before. */
    ASSERT(during / 5.0 > 4 * (before / 85.0 + 0.1));
    shop_free(s);
    free(s);
}

TEST(command_line)
{
    char dir[256], out[300];
    tmpdir_make(dir);
    snprintf(out, sizeof out, "%s/shop", dir);
    char *ok[] = {"--out", out, "--seed=9", "--items", "50", "--users=20", "--events", "300", "--days", "7",
                  "--end", "2025-01-01T00:00:00+01:00"};
    ASSERT_EQ(gen_main(12, ok), 0);
    size_t len;
    char *ev = slurp(out, "events.ndjson", &len);
    ASSERT_CONTAINS(ev, "\"ts\":\"2024-12-");
    ASSERT(!strstr(ev, "\"ts\":\"2025-"));
    free(ev);
    char *help[] = {"--help"};
    ASSERT_EQ(gen_main(1, help), 0);
    char *no_out[] = {"--events", "10"};
    ASSERT_EQ(gen_main(2, no_out), 2);
    char *bad[][3] = {{"--out", out, "--items=0"},    {"--out", out, "--events=-1"},
                      {"--out", out, "--end=soon"},   {"--out", out, "--colour=red"},
                      {"--out", out, "--days=0"},     {"--out", out, "--seed"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (gen_main(3, bad[i]) != 2)
            FAIL("gen %s was not refused", bad[i][2]);
    rmrf(dir);
}

TEST_MAIN(TEST_ENTRY(same_seed_same_bytes), TEST_ENTRY(events_accepted_in_time_order),
          TEST_ENTRY(items_and_users_pass_validation), TEST_ENTRY(purchases_follow_carts),
          TEST_ENTRY(popularity_has_a_head), TEST_ENTRY(consumables_are_rebought),
          TEST_ENTRY(partners_are_bought_together), TEST_ENTRY(trending_items_burst_at_the_end),
          TEST_ENTRY(command_line))
