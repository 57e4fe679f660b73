/* Trained models end to end: `aisle train` on a server's data directory, the server
 * loading them at start, answering with them from a customer's live clicks (a new
 * customer's first click already goes through the model), refusing a damaged file while
 * it keeps what it had, swapping models under load without a failed answer, and
 * retraining in the background. The shop has two planted tastes: kitchen and garden. */
#include "harness.h"
#include "test.h"
#include "rank/ranker.h"
#include "util/buf.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static server_t S;
static char DIR_[256];

#define NITEMS 10 /* k0..k4 kitchen, g0..g4 garden */
#define NUSERS 60

static const char *item_name(int i, char *buf)
{
    sprintf(buf, "%c%d", i < 5 ? 'k' : 'g', i % 5);
    return buf;
}

/* Catalog and history: each customer sticks to one taste and buys three of its items. */
static void load_shop(void)
{
    buf_t b;
    buf_init(&b);
    buf_puts(&b, "[");
    for (int i = 0; i < NITEMS; i++) {
        char id[8];
        buf_printf(&b, "%s{\"item_id\":\"%s\",\"title\":\"%s %d\",\"categories\":[\"%s\"],\"price\":10}", i ? "," : "",
                   item_name(i, id), i < 5 ? "Kitchen thing" : "Garden thing", i % 5, i < 5 ? "Kitchen" : "Garden");
    }
    buf_puts(&b, "]");
    json_t *j = http_json(&S, "POST", "/v1/items", b.data, 200);
    ASSERT_EQ(jint(j, "accepted"), NITEMS);
    json_decref(j);
    b.len = 0;
    buf_puts(&b, "[");
    int n = 0;
    for (int u = 0; u < NUSERS; u++) {
        int base = u % 2 ? 5 : 0;
        for (int k = 0; k < 3; k++) {
            char id[8];
            int it = base + (u / 2 + k * 2) % 5;
            buf_printf(&b, "%s{\"type\":\"purchase\",\"user_id\":\"c%d\",\"item_id\":\"%s\"}", n++ ? "," : "", u,
                       item_name(it, id));
        }
    }
    buf_puts(&b, "]");
    j = http_json(&S, "POST", "/v1/events", b.data, 200);
    ASSERT_EQ(jint(j, "accepted"), n);
    json_decref(j);
    buf_free(&b);
}

static void train(const char *models)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s train --data %s --model %s --factors 4 --iterations 8 --neighbours 5 >>%s/train.out 2>&1",
             AISLE_BIN, DIR_, models, DIR_);
    ASSERT_EQ(system(cmd), 0);
}

/* Only the sources of blend answer (ONLY_MODELS: the trained models). */
static void start(const char *blend)
{
    server_start(&S, DIR_, "--rank-cache-ms", "0", "--diversity", "0", "--blend", blend, NULL);
    server_wait_ready(&S, 30000);
}

static const char *ONLY_MODELS = "co_view=0,co_purchase=0,category=0,trending=0,popular=0,content=0,knn=1,ease=1,ials=1";

static json_t *get(const char *path)
{
    return http_json(&S, "GET", path, NULL, 200);
}

static void post_event(const char *ev)
{
    json_t *j = http_json(&S, "POST", "/v1/events", ev, 200);
    ASSERT_EQ(jint(j, "accepted"), 1);
    json_decref(j);
}

/* Every item of an answer is of the taste starting with c ('k' or 'g'); returns how many. */
static size_t all_of_taste(json_t *a, char c)
{
    json_t *items = jget(a, "items");
    ASSERT(json_is_array(items));
    for (size_t i = 0; i < json_array_size(items); i++) {
        const char *id = json_string_value(json_object_get(json_array_get(items, i), "item_id"));
        if (id[0] != c)
            FAIL("item %zu is %s, not of taste %c", i, id, c);
    }
    return json_array_size(items);
}

static int has_source(json_t *item, const char *src)
{
    json_t *s = json_object_get(item, "sources");
    for (size_t i = 0; i < json_array_size(s); i++)
        if (strcmp(json_string_value(json_array_get(s, i)), src) == 0)
            return 1;
    return 0;
}

TEST(models_answer_from_the_first_click)
{
    tmpdir_make(DIR_);
    start(ONLY_MODELS);
    load_shop();
    ASSERT_EQ(server_stop(&S), 0);
    train("knn,ease,ials");
    start(ONLY_MODELS);

    json_t *m = get("/v1/admin/models");
    ASSERT_EQ(jint(m, "generation"), 1);
    ASSERT_EQ(json_array_size(jget(m, "models")), 3);
    ASSERT_STR_EQ(jstr(m, "models.0.model"), "knn");
    ASSERT_STR_EQ(jstr(m, "models.1.model"), "ease");
    ASSERT_STR_EQ(jstr(m, "models.2.model"), "ials");
    ASSERT_EQ(jint(m, "models.2.items"), NITEMS);
    ASSERT_EQ(jint(m, "models.2.mapped_items"), NITEMS);
    ASSERT_EQ(jint(m, "models.2.dim"), 4);
    ASSERT_EQ(jint(m, "models.2.customers"), NUSERS);
    ASSERT_EQ(jint(m, "models.2.params.factors"), 4);
    ASSERT_EQ(jint(m, "models.1.params.lambda"), 100);
    json_decref(m);

    /* A customer the models never saw: nothing personal before the first click ... */
    json_t *a = get("/v1/users/newbie/recommendations?n=4");
    for (size_t i = 0; i < json_array_size(jget(a, "items")); i++)
        ASSERT(!has_source(json_array_get(jget(a, "items"), i), "ials"));
    json_decref(a);
    /* ... and after one click on a garden item, garden items from the models, for the
     * reason of that click. */
    post_event("{\"type\":\"click\",\"user_id\":\"newbie\",\"item_id\":\"g1\"}");
    a = get("/v1/users/newbie/recommendations?n=4");
    ASSERT_EQ(all_of_taste(a, 'g'), 4);
    json_t *first = json_array_get(jget(a, "items"), 0);
    ASSERT(has_source(first, "ials") || has_source(first, "ease") || has_source(first, "knn"));
    const char *why = jstr(a, "items.0.reasons.0");
    ASSERT(strstr(why, "Garden thing 1"));
    json_decref(a);
    /* Each model alone does the same, as its own source. */
    const char *alone[3][2] = {{"knn=1,ease=0,ials=0", "knn"}, {"knn=0,ease=1,ials=0", "ease"},
                               {"knn=0,ease=0,ials=1", "ials"}};
    ASSERT_EQ(server_stop(&S), 0);
    for (int k = 0; k < 3; k++) {
        char blend[200];
        snprintf(blend, sizeof blend, "co_view=0,co_purchase=0,category=0,trending=0,popular=0,content=0,%s", alone[k][0]);
        start(blend);
        a = get("/v1/users/newbie/recommendations?n=3");
        ASSERT_EQ(all_of_taste(a, 'g'), 3);
        for (int i = 0; i < 3; i++) {
            json_t *it = json_array_get(jget(a, "items"), (size_t)i);
            ASSERT(has_source(it, alone[k][1]));
            ASSERT_EQ(json_array_size(json_object_get(it, "sources")), 1);
        }
        json_decref(a);
        ASSERT_EQ(server_stop(&S), 0);
    }
    /* The learned ranker on top of the three: listed, and it keeps the answers right. */
    train("knn,ease,ials,ranker");
    start(ONLY_MODELS);
    m = get("/v1/admin/models");
    ASSERT_EQ(json_array_size(jget(m, "models")), 4);
    ASSERT_STR_EQ(jstr(m, "models.3.model"), "ranker");
    ASSERT_EQ(jint(m, "models.3.dim"), RK_NFEAT);
    ASSERT(jget(m, "models.3.params.weights.last_ease"));
    json_decref(m);
    a = get("/v1/users/newbie/recommendations?n=4");
    ASSERT_EQ(all_of_taste(a, 'g'), 4);
    json_decref(a);
    ASSERT_EQ(server_stop(&S), 0);
    char rk[400];
    snprintf(rk, sizeof rk, "%s/models/ranker.model", DIR_);
    ASSERT(unlink(rk) == 0);
    /* Another newcomer's live clicks go to the other taste, through the same model. */
    start("co_view=0,co_purchase=0,category=0,trending=0,popular=0,content=0,knn=0,ease=0,ials=1");
    post_event("{\"type\":\"add_to_cart\",\"user_id\":\"cook\",\"item_id\":\"k0\"}");
    post_event("{\"type\":\"add_to_cart\",\"user_id\":\"cook\",\"item_id\":\"k2\"}");
    /* (k0 and k2 were bought together with k3 or k4, never with k1: those two.) */
    a = get("/v1/users/cook/recommendations?n=2");
    ASSERT_EQ(all_of_taste(a, 'k'), 2);
    json_decref(a);
    ASSERT_EQ(server_stop(&S), 0);
    rmrf(DIR_);
}

/* Flips one byte in the middle of a file. */
static void damage(const char *path)
{
    FILE *f = fopen(path, "r+b");
    ASSERT(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, n / 2, SEEK_SET);
    int c = fgetc(f);
    fseek(f, n / 2, SEEK_SET);
    fputc(c ^ 1, f);
    fclose(f);
}

typedef struct {
    atomic_int stop;
    atomic_long requests;
    long failures, empty, max_us; /* read once the thread is joined */
} load_t;

static void *load_main(void *arg)
{
    load_t *l = arg;
    int u = 0;
    while (!atomic_load(&l->stop)) {
        char path[128];
        /* c0..c29 only: the others' answers stay free of anti-repetition */
        snprintf(path, sizeof path, "/v1/users/c%d/recommendations?n=3", u++ % 30);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        http_resp_t r;
        http(&S, "GET", path, NULL, NULL, 0, &r);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long us = (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;
        if (us > l->max_us)
            l->max_us = us;
        atomic_fetch_add(&l->requests, 1);
        if (r.status != 200)
            l->failures++;
        else if (!r.body || !strstr(r.body, "\"ials\""))
            l->empty++; /* every customer here has an ials answer */
        http_free(&r);
    }
    return NULL;
}

TEST(reload_swaps_under_load_and_refuses_damage)
{
    tmpdir_make(DIR_);
    start(ONLY_MODELS);
    load_shop();
    ASSERT_EQ(server_stop(&S), 0);
    train("knn,ials");
    start(ONLY_MODELS);

    load_t l = {0};
    pthread_t th;
    ASSERT(pthread_create(&th, NULL, load_main, &l) == 0);
    /* Reload again and again while the customers keep asking; each reload is a new
     * generation, answered once it is in place. */
    int reloads = 0;
    while (reloads < 20 || atomic_load(&l.requests) < 500) {
        json_t *m = http_json(&S, "POST", "/v1/admin/models/reload", NULL, 200);
        ASSERT_EQ(jint(m, "generation"), 2 + reloads);
        ASSERT_EQ(json_array_size(jget(m, "models")), 2);
        json_decref(m);
        reloads++;
    }
    /* Retrain to new files (another seed), then swap them in, still under load. */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s train --data %s --model ials --factors 4 --seed 7 >>%s/train.out 2>&1", AISLE_BIN,
             DIR_, DIR_);
    ASSERT_EQ(system(cmd), 0);
    json_t *m = http_json(&S, "POST", "/v1/admin/models/reload", NULL, 200);
    int gen = 2 + reloads;
    ASSERT_EQ(jint(m, "generation"), gen);
    ASSERT_EQ(jint(m, "models.1.params.seed"), 7);
    json_decref(m);
    atomic_store(&l.stop, 1);
    pthread_join(th, NULL);
    fprintf(stderr, "under %d swaps: %ld requests, %ld failed, %ld without a model answer, slowest %ld us\n",
            reloads + 1, atomic_load(&l.requests), l.failures, l.empty, l.max_us);
    ASSERT(atomic_load(&l.requests) >= 500);
    ASSERT_EQ(l.failures, 0);
    ASSERT_EQ(l.empty, 0);

    /* A damaged file: refused with the reason, and the models loaded before stay. */
    char path[400];
    snprintf(path, sizeof path, "%s/models/ials.model", DIR_);
    damage(path);
    m = http_json(&S, "POST", "/v1/admin/models/reload", NULL, 422);
    ASSERT_STR_EQ(jstr(m, "error.code"), "model_rejected");
    ASSERT_CONTAINS(jstr(m, "error.message"), "ials.model");
    ASSERT_CONTAINS(jstr(m, "error.message"), "damaged");
    char still[64];
    snprintf(still, sizeof still, "still serving generation %d", gen);
    ASSERT_CONTAINS(jstr(m, "error.message"), still);
    json_decref(m);
    m = get("/v1/admin/models");
    ASSERT_EQ(jint(m, "generation"), gen);
    ASSERT_EQ(json_array_size(jget(m, "models")), 2);
    ASSERT_EQ(jint(m, "models.1.params.seed"), 7);
    ASSERT_CONTAINS(jstr(m, "last_reload_error"), "damaged");
    json_decref(m);
    json_t *a = get("/v1/users/c31/recommendations?n=2"); /* the 2 garden items c31 has not bought */
    ASSERT_EQ(all_of_taste(a, 'g'), 2);
    json_decref(a);
    /* Wrong methods are named. */
    m = http_json(&S, "GET", "/v1/admin/models/reload", NULL, 405);
    ASSERT_STR_EQ(jstr(m, "error.code"), "method_not_allowed");
    json_decref(m);
    ASSERT_EQ(server_stop(&S), 0);

    /* At start, a damaged file is left out (and logged); the others are served. */
    start(ONLY_MODELS);
    m = get("/v1/admin/models");
    ASSERT_EQ(json_array_size(jget(m, "models")), 1);
    ASSERT_STR_EQ(jstr(m, "models.0.model"), "knn");
    json_decref(m);
    ASSERT_EQ(server_stop(&S), 0);
    char *log = file_read(S.logpath, NULL);
    ASSERT_CONTAINS(log, "model file refused");
    free(log);
    rmrf(DIR_);
}

/* Polls GET /v1/admin/models until the ials model (models.<at>) has been trained on
 * `customers` customers and no run is going on, for at most timeout_ms. Returns the last
 * answer. */
static json_t *wait_trained(int at, long customers, int timeout_ms)
{
    char path[64];
    snprintf(path, sizeof path, "models.%d.customers", at);
    for (int waited = 0;; waited += 50) {
        json_t *m = get("/v1/admin/models");
        if (json_is_false(jget(m, "retrain.running")) && jint(m, "retrain.runs") >= 1 && jget(m, path) &&
            jint(m, path) == customers)
            return m;
        json_decref(m);
        if (waited > timeout_ms)
            FAIL("no model trained on %ld customers within %d ms", customers, timeout_ms);
        usleep(50000);
    }
}

TEST(retrains_in_the_background)
{
    tmpdir_make(DIR_);
    start(ONLY_MODELS);
    load_shop();
    /* No models yet: an explicit retrain trains knn and ials (the defaults). */
    json_t *m = get("/v1/admin/models");
    ASSERT_EQ(json_array_size(jget(m, "models")), 0);
    json_decref(m);
    m = http_json(&S, "POST", "/v1/admin/models/retrain", NULL, 202);
    ASSERT_STR_EQ(jstr(m, "status"), "training");
    json_decref(m);
    m = wait_trained(1, NUSERS, 120000);
    ASSERT_EQ(jint(m, "retrain.last_exit_status"), 0);
    ASSERT_EQ(jint(m, "generation"), 2);
    ASSERT_EQ(json_array_size(jget(m, "models")), 2);
    ASSERT_STR_EQ(jstr(m, "models.0.model"), "knn");
    ASSERT_STR_EQ(jstr(m, "models.1.model"), "ials");
    ASSERT_EQ(jint(m, "models.1.customers"), NUSERS);
    json_decref(m);
    ASSERT_EQ(server_stop(&S), 0);

    /* On a timer, with the events that arrived since: a new customer becomes a row. */
    server_start(&S, DIR_, "--blend", ONLY_MODELS, "--retrain-every", "1s", "--retrain-models", "ials",
                 "--retrain-args", "--factors 4 --iterations 4", NULL);
    server_wait_ready(&S, 30000);
    post_event("{\"type\":\"purchase\",\"user_id\":\"late\",\"item_id\":\"k1\"}");
    m = wait_trained(1, NUSERS + 1, 120000);
    ASSERT_EQ(jint(m, "retrain.last_exit_status"), 0);
    ASSERT_STR_EQ(jstr(m, "retrain.models"), "ials");
    ASSERT(jint(m, "generation") >= 2);
    ASSERT_EQ(jint(m, "models.1.params.factors"), 4);
    ASSERT_EQ(jint(m, "models.1.params.iterations"), 4);
    json_decref(m);
    ASSERT_EQ(server_stop(&S), 0);
    char path[400];
    snprintf(path, sizeof path, "%s/models/train.log", DIR_);
    char *log = file_read(path, NULL);
    ASSERT_CONTAINS(log, "ials: iteration 4/4");
    free(log);
    rmrf(DIR_);
}

/* A shop whose customers go through steps in order: s0, s1, ... s11, s0 again; each
 * customer walks 2 to 6 steps from somewhere. */
#define NSTEPS 12
static void load_steps(void)
{
    buf_t b;
    buf_init(&b);
    buf_puts(&b, "[");
    for (int i = 0; i < NSTEPS; i++)
        buf_printf(&b, "%s{\"item_id\":\"s%d\",\"title\":\"Step %d\",\"categories\":[\"Steps\"],\"price\":5}",
                   i ? "," : "", i, i);
    buf_puts(&b, "]");
    json_t *j = http_json(&S, "POST", "/v1/items", b.data, 200);
    ASSERT_EQ(jint(j, "accepted"), NSTEPS);
    json_decref(j);
    b.len = 0;
    buf_puts(&b, "[");
    int n = 0;
    for (int u = 0; u < 120; u++)
        for (int k = 0; k < 2 + u % 5; k++)
            buf_printf(&b, "%s{\"type\":\"view\",\"user_id\":\"w%d\",\"item_id\":\"s%d\"}", n++ ? "," : "", u,
                       (u * 5 + k) % NSTEPS);
    buf_puts(&b, "]");
    j = http_json(&S, "POST", "/v1/events", b.data, 200);
    ASSERT_EQ(jint(j, "accepted"), n);
    json_decref(j);
    buf_free(&b);
}

/* The first item of for_you for user, which must come from the sequence model. */
static void expect_next(const char *user, const char *item, const char *reason)
{
    char path[200];
    snprintf(path, sizeof path, "/v1/users/%s/recommendations?n=3", user);
    json_t *a = get(path);
    json_t *first = json_array_get(jget(a, "items"), 0);
    ASSERT(first);
    ASSERT_STR_EQ(json_string_value(json_object_get(first, "item_id")), item);
    ASSERT(has_source(first, "sequence"));
    ASSERT_STR_EQ(json_string_value(json_array_get(json_object_get(first, "reasons"), 0)), reason);
    json_decref(a);
}

TEST(sequence_model_follows_the_last_click)
{
    tmpdir_make(DIR_);
    const char *blend = "co_view=0,co_purchase=0,category=0,trending=0,popular=0,content=0,knn=0,ease=0,ials=0,"
                        "sequence=1";
    start(blend);
    load_steps();
    ASSERT_EQ(server_stop(&S), 0);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s train --data %s --model sequence --seq-dim 16 --seq-blocks 1 --seq-epochs 80 --seq-lr 0.01 "
             "--seq-negatives 0 --seq-valid 0 --seq-dropout 0.1 >>%s/train.out 2>&1",
             AISLE_BIN, DIR_, DIR_);
    ASSERT_EQ(system(cmd), 0);
    start(blend);
    json_t *m = get("/v1/admin/models");
    ASSERT_STR_EQ(jstr(m, "models.0.model"), "sequence");
    ASSERT_EQ(jint(m, "models.0.params.dim"), 16);
    json_decref(m);
    /* A customer the model never saw: what follows their click, and it moves with the
     * next click at once (the live sequence, not a trained row). */
    post_event("{\"type\":\"view\",\"user_id\":\"fresh\",\"item_id\":\"s3\"}");
    expect_next("fresh", "s4", "often comes next after Step 3");
    post_event("{\"type\":\"view\",\"user_id\":\"fresh\",\"item_id\":\"s8\"}");
    expect_next("fresh", "s9", "often comes next after Step 8");
    ASSERT_EQ(server_stop(&S), 0);
    rmrf(DIR_);
}

TEST_MAIN(TEST_ENTRY(models_answer_from_the_first_click), TEST_ENTRY(reload_swaps_under_load_and_refuses_damage),
          TEST_ENTRY(retrains_in_the_background), TEST_ENTRY(sequence_model_follows_the_last_click))
