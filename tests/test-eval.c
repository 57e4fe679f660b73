/* Offline evaluation: exact metrics on a hand-made log, and on generated data the live
 * engine must beat popularity (it finds the structure aisle gen planted). */
#include "eval/eval.h"
#include "harness.h"
#include "ingest/event.h"
#include "store/log.h"
#include "store/state.h"
#include "test.h"

#include <math.h>
#include <sys/stat.h>

static void put_item(log_t *l, const char *id)
{
    buf_t b;
    buf_init(&b);
    json_t *doc = json_pack("{s:s,s:s,s:b}", "item_id", id, "title", id, "in_stock", 1);
    st_encode_doc(&b, id, strlen(id), doc);
    log_append(l, REC_ITEM_PUT, b.data, b.len);
    json_decref(doc);
    buf_free(&b);
}

/* A fresh data directory (its path into dir) with an empty log, open for appends.
 * Caller closes the log. */
static log_t *new_log(char dir[256])
{
    char logdir[300];
    tmpdir_make(dir);
    snprintf(logdir, sizeof logdir, "%s/log", dir);
    log_opts_t o;
    log_opts_default(&o);
    log_t *l;
    log_replay_stats_t rs;
    ASSERT(log_open(logdir, &o, &l) == 0);
    ASSERT(log_replay(l, NULL, NULL, &rs) == 0);
    ASSERT(log_start(l, NULL, NULL) == 0);
    return l;
}

/* A purchase; order NULL: none. */
static void put_order_line(log_t *l, const char *user, const char *item, const char *order, int64_t ts)
{
    evt_t e = {0};
    e.type = EVT_PURCHASE;
    e.ts_ms = ts;
    e.price = -1;
    e.user_id = (strv_t){user, strlen(user)};
    e.item_id = (strv_t){item, strlen(item)};
    if (order)
        e.order_id = (strv_t){order, strlen(order)};
    buf_t b;
    buf_init(&b);
    evt_encode(&e, &b);
    log_append(l, REC_EVENT, b.data, b.len);
    buf_free(&b);
}

TEST(exact_metrics_on_a_small_log)
{
    char dir[256];
    log_t *l = new_log(dir);
    const char *items[] = {"A", "B", "C", "D"};
    for (int i = 0; i < 4; i++)
        put_item(l, items[i]);
    /* u1..u3 buy A, B, C; u4 buys A, B, C, D. Leave-one-out holds out C for u1..u3 (only
     * u4 bought C with B before: C is B's bought-together item) and D for u4 (never
     * seen in training: a miss). */
    int64_t t = 1700000000000LL;
    const char *users[] = {"u1", "u2", "u3", "u4"};
    for (int u = 0; u < 4; u++) {
        for (int i = 0; i < (u == 3 ? 4 : 3); i++)
            put_order_line(l, users[u], items[i], NULL, t + u * 86400000LL + i * 60000);
    }
    log_close(l);

    ev_opts_t eo;
    ev_opts_default(&eo);
    eo.threads = 2;
    ev_row_t rows[EV_MAX_ROWS];
    size_t n;
    ev_info_t info;
    char err[256];
    ASSERT(ev_run(dir, &eo, rows, &n, &info, err, sizeof err) == 0);
    ASSERT_EQ(n, 2);
    ASSERT_STR_EQ(rows[0].name, "live");
    ASSERT_EQ(rows[0].users, 4);
    ASSERT(fabs(rows[0].hr[0] - 0.75) < 1e-9);
    ASSERT(fabs(rows[0].ndcg[0] - 0.75) < 1e-9); /* C comes first: 1/log2(2) */
    ASSERT(fabs(rows[0].mrr - 0.75) < 1e-9);
    ASSERT_EQ(info.test_users, 4);
    ASSERT_EQ(info.catalog_items, 4);
    /* Popularity, leaving out what each bought, proposes C to u1..u3 too (u4 bought it). */
    ASSERT_STR_EQ(rows[1].name, "popular");
    ASSERT(fabs(rows[1].hr[0] - 0.75) < 1e-9);
    rmrf(dir);
}

/* Temporal split with the first order after the cut as the target: popularity ranks X,
 * Y, Z for the test customer; the order holds Z (its first line) and Y. */
TEST(basket_target_counts_any_item_of_the_order)
{
    char dir[256];
    log_t *l = new_log(dir);
    const char *items[] = {"W", "X", "Y", "Z"};
    for (int i = 0; i < 4; i++)
        put_item(l, items[i]);
    int64_t t = 1700000000000LL;
    int k = 0;
    put_order_line(l, "t", "W", "o0", t + k++);
    const struct {
        const char *item;
        int buyers;
    } pop[] = {{"X", 5}, {"Y", 4}, {"Z", 3}};
    for (int i = 0; i < 3; i++)
        for (int u = 0; u < pop[i].buyers; u++) {
            char user[16];
            snprintf(user, sizeof user, "p%d", u);
            put_order_line(l, user, pop[i].item, "", t + k++);
        }
    put_order_line(l, "t", "Z", "o1", t + 1000);
    put_order_line(l, "t", "Y", "o1", t + 1000);
    log_close(l);

    for (int basket = 0; basket < 2; basket++) {
        ev_opts_t eo;
        ev_opts_default(&eo);
        eo.protocol = EV_TEMPORAL;
        eo.temporal_cut = 0.95; /* at the order: every earlier event trains */
        eo.basket = basket;
        eo.models = "popular";
        eo.threads = 1;
        ev_row_t rows[EV_MAX_ROWS];
        size_t n;
        ev_info_t info;
        char err[256];
        ASSERT(ev_run(dir, &eo, rows, &n, &info, err, sizeof err) == 0);
        ASSERT_EQ(n, 1);
        ASSERT_EQ(rows[0].users, 1);
        ASSERT(fabs(rows[0].hr[0] - 1) < 1e-9);
        if (basket) /* Y, second: the best-placed item of the order */
            ASSERT(fabs(rows[0].ndcg[0] - 1 / log2(3.0)) < 1e-9 && fabs(rows[0].mrr - 0.5) < 1e-9);
        else /* Z, the order's first line, third */
            ASSERT(fabs(rows[0].ndcg[0] - 0.5) < 1e-9 && fabs(rows[0].mrr - 1 / 3.0) < 1e-9);
    }
    rmrf(dir);
}

TEST(live_engine_finds_planted_structure)
{
    char dir[256], cmd[4096];
    tmpdir_make(dir);
    shop_make(dir, 2000, 3000, 200000);
    char err[512];
    ev_opts_t eo;
    ev_opts_default(&eo);
    ev_row_t rows[EV_MAX_ROWS], again[EV_MAX_ROWS];
    size_t n;
    ev_info_t info;
    ASSERT(ev_run(dir, &eo, rows, &n, &info, err, sizeof err) == 0);
    fprintf(stderr, "live HR@10 %.4f NDCG@10 %.4f, popular HR@10 %.4f, %u users\n", rows[0].hr[0], rows[0].ndcg[0],
            rows[1].hr[0], rows[0].users);
    ASSERT(rows[0].users > 500);
    ASSERT(rows[0].hr[0] > 0.05);
    ASSERT(rows[0].hr[0] > 1.5 * rows[1].hr[0]);
    ASSERT(rows[0].ndcg[0] <= rows[0].hr[0] && rows[0].hr[0] <= rows[0].hr[1]);
    ASSERT(rows[0].coverage > rows[1].coverage);
    /* Same seed, same numbers. */
    ASSERT(ev_run(dir, &eo, again, &n, &info, err, sizeof err) == 0);
    ASSERT(again[0].hr[0] == rows[0].hr[0] && again[0].ndcg[1] == rows[0].ndcg[1]);
    /* Every source through the serving code; the learned ranker (learned on a split of the
     * training part only) orders them better than any of them, and than the hand blend. */
    eo.models = "hybrid,live,realtime,knn,ease,ials,content,popular";
    ev_row_t all[EV_MAX_ROWS];
    ASSERT(ev_run(dir, &eo, all, &n, &info, err, sizeof err) == 0);
    ASSERT_EQ(n, 8);
    ASSERT_STR_EQ(all[0].name, "hybrid");
    ASSERT_STR_EQ(all[6].name, "content");
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "  %-8s HR@10 %.4f NDCG@10 %.4f train %.2f s\n", all[i].name, all[i].hr[0], all[i].ndcg[0],
                all[i].train_seconds);
    for (size_t i = 1; i < n; i++)
        ASSERT(all[0].ndcg[0] > all[i].ndcg[0]);
    ASSERT(all[0].ndcg[0] > 1.1 * all[1].ndcg[0]);
    for (size_t i = 0; i + 1 < n; i++) /* every source beats popularity */
        ASSERT(all[i].hr[0] > all[7].hr[0]);
    ASSERT(all[0].train_seconds > all[4].train_seconds); /* it trains the others, and itself */
    eo.models = "live,popular";
    /* The other protocols run and give numbers in range. */
    eo.protocol = EV_LOO_SAMPLED;
    ASSERT(ev_run(dir, &eo, rows, &n, &info, err, sizeof err) == 0);
    ASSERT(rows[0].hr[0] > 0.2 && rows[0].hr[0] <= 1);
    eo.protocol = EV_TEMPORAL;
    ASSERT(ev_run(dir, &eo, rows, &n, &info, err, sizeof err) == 0);
    ASSERT(rows[0].users > 100 && rows[0].hr[1] >= rows[0].hr[0]);
    /* The command line: a table and JSON. */
    snprintf(cmd, sizeof cmd, "%s eval --data %s --json | grep -q '\"model\":\"live\"'", AISLE_BIN, dir);
    ASSERT(system(cmd) == 0);
    snprintf(cmd, sizeof cmd, "%s eval --data %s --protocol=nope 2>/dev/null", AISLE_BIN, dir);
    ASSERT_EQ(WEXITSTATUS(system(cmd)), 2);
    rmrf(dir);
}

TEST_MAIN(TEST_ENTRY(exact_metrics_on_a_small_log), TEST_ENTRY(basket_target_counts_any_item_of_the_order),
          TEST_ENTRY(live_engine_finds_planted_structure))
