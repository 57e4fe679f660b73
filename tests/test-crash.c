/* Crash safety: concurrent clients ingest while the server is killed with SIGKILL at
 * random moments (also during start-up), then restarted. Every event whose request was
 * acknowledged must be in the log exactly once (by event_id), including events a client
 * re-sent after a failed request, and the server must start every time.
 * AISLE_CRASH_ROUNDS overrides the number of kills (bench/ runs a longer soak). */
#include "harness.h"
#include "ingest/event.h"
#include "store/log.h"
#include "store/state.h"
#include "test.h"
#include "util/intern.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

#define CLIENTS 4
#define MAX_BATCH 40

typedef struct {
    char **v;
    size_t n, cap;
} idlist_t;

static void idl_push(idlist_t *l, const char *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        ASSERT(l->v);
    }
    l->v[l->n++] = strdup(s);
}

typedef struct {
    server_t *srv;
    int round, id;
    unsigned seed;
    idlist_t acked;
    idlist_t unacked; /* sent in a request that failed: retried later */
    long requests_ok;
} client_t;

static void *client_main(void *p)
{
    client_t *c = p;
    for (int b = 0;; b++) {
        char *ids[MAX_BATCH];
        int k = 1 + (int)(rand_r(&c->seed) % MAX_BATCH), n = 0;
        /* Retry earlier failed events first, as a real client would. */
        while (n < k / 2 && c->unacked.n)
            ids[n++] = c->unacked.v[--c->unacked.n];
        for (; n < k; n++) {
            char id[64];
            snprintf(id, sizeof id, "r%d-c%d-b%d-%d", c->round, c->id, b, n);
            ids[n] = strdup(id);
        }
        char *body = malloc((size_t)k * 160 + 2);
        size_t len = 0;
        body[len++] = '[';
        for (int i = 0; i < k; i++)
            len += (size_t)sprintf(body + len,
                                   "%s{\"event_id\":\"%s\",\"type\":\"%s\",\"user_id\":\"u%d\",\"item_id\":\"i%d\"}",
                                   i ? "," : "", ids[i], i % 3 ? "view" : "add_to_cart", (int)(rand_r(&c->seed) % 50),
                                   (int)(rand_r(&c->seed) % 200));
        body[len++] = ']';
        http_resp_t r;
        http(c->srv, "POST", "/v1/events", "application/json", body, len, &r);
        free(body);
        int ok = 0;
        if (r.status == 200) {
            json_t *j = resp_json(&r);
            if (!json_is_integer(jget(j, "accepted")))
                FAIL("200 without a batch answer: %.300s", r.body);
            ok = jint(j, "accepted") + jint(j, "duplicates") == k;
            json_decref(j);
            ASSERT(ok); /* every event here is valid */
        }
        http_free(&r);
        for (int i = 0; i < k; i++) {
            idl_push(ok ? &c->acked : &c->unacked, ids[i]);
            free(ids[i]);
        }
        if (!ok)
            return NULL; /* the server is gone */
        c->requests_ok++;
    }
}

typedef struct {
    intern_t *ids;
    int *count;
    size_t cap;
    long records;
} census_t;

static int census_rec(void *ud, uint8_t type, const void *p, size_t n, uint64_t lsn)
{
    census_t *c = ud;
    (void)lsn;
    if (type != REC_EVENT)
        return 0;
    evt_t e;
    ASSERT(evt_decode(p, n, &e) == 0);
    ASSERT(e.event_id.p);
    uint32_t id = intern_put(c->ids, e.event_id.p, e.event_id.n, NULL);
    if (id >= c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 4096;
        c->count = realloc(c->count, ncap * sizeof *c->count);
        memset(c->count + c->cap, 0, (ncap - c->cap) * sizeof *c->count);
        c->cap = ncap;
    }
    c->count[id]++;
    c->records++;
    return 0;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

TEST(kill9_never_loses_acknowledged_events)
{
    int rounds = getenv("AISLE_CRASH_ROUNDS") ? atoi(getenv("AISLE_CRASH_ROUNDS")) : 24;
    char dir[256];
    tmpdir_make(dir);
    server_t s;
    client_t clients[CLIENTS];
    memset(clients, 0, sizeof clients);
    unsigned seed = (unsigned)time(NULL);
    fprintf(stderr, "seed %u, %d rounds\n", seed, rounds);
    int kills_during_start = 0;
    for (int round = 0; round < rounds; round++) {
        /* Small segments so that kills also land around rotations. */
        server_start(&s, dir, "--segment-size", "262144", NULL);
        if (round % 6 == 5) {
            /* Kill while it replays: the next start must still succeed. */
            sleep_ms((int)(rand_r(&seed) % 40));
            server_kill9(&s);
            kills_during_start++;
            continue;
        }
        server_wait_ready(&s, 60000);
        pthread_t th[CLIENTS];
        for (int i = 0; i < CLIENTS; i++) {
            clients[i].srv = &s;
            clients[i].round = round;
            clients[i].id = i;
            clients[i].seed = seed + (unsigned)(round * CLIENTS + i);
            pthread_create(&th[i], NULL, client_main, &clients[i]);
        }
        sleep_ms(40 + (int)(rand_r(&seed) % 260));
        server_kill9(&s);
        for (int i = 0; i < CLIENTS; i++)
            pthread_join(th[i], NULL);
    }

    /* The server starts after the last kill and agrees with its log. */
    server_start(&s, dir, NULL);
    server_wait_ready(&s, 60000);
    json_t *st = http_json(&s, "GET", "/v1/stats", NULL, 200);
    long long served_events = jint(st, "events.total");
    json_decref(st);
    /* Re-sending acknowledged events changes nothing: all duplicates. */
    long resent = 0;
    for (int i = 0; i < CLIENTS; i++) {
        for (size_t k = 0; k < clients[i].acked.n && k < 50; k++, resent++) {
            char body[200];
            snprintf(body, sizeof body, "{\"event_id\":\"%s\",\"type\":\"view\",\"user_id\":\"u\",\"item_id\":\"i\"}",
                     clients[i].acked.v[k]);
            json_t *j = http_json(&s, "POST", "/v1/events", body, 200);
            ASSERT_EQ(jint(j, "duplicates"), 1);
            json_decref(j);
        }
    }
    ASSERT(resent > 0);
    ASSERT_EQ(server_stop(&s), 0);

    /* Census of the log itself. */
    char logdir[300];
    snprintf(logdir, sizeof logdir, "%s/log", dir);
    log_opts_t o;
    log_opts_default(&o);
    log_t *l;
    log_replay_stats_t rs;
    census_t c = {intern_new(), NULL, 0, 0};
    ASSERT(log_open(logdir, &o, &l) == 0);
    ASSERT(log_replay(l, census_rec, &c, &rs) == 0);
    log_close(l);
    ASSERT_EQ(c.records, served_events);
    for (uint32_t i = 0; i < intern_count(c.ids); i++)
        if (c.count[i] != 1)
            FAIL("event %s is in the log %d times", intern_str(c.ids, i, NULL), c.count[i]);
    long acked = 0, requests = 0, retried_pending = 0;
    for (int i = 0; i < CLIENTS; i++) {
        for (size_t k = 0; k < clients[i].acked.n; k++) {
            const char *id = clients[i].acked.v[k];
            if (intern_get(c.ids, id, strlen(id)) == INTERN_NONE)
                FAIL("acknowledged event %s is missing after the crashes", id);
            acked++;
        }
        requests += clients[i].requests_ok;
        retried_pending += (long)clients[i].unacked.n;
    }
    fprintf(stderr, "%d kills (%d during start-up), %ld acknowledged requests, %ld acknowledged events, "
                    "%ld events in the log, %ld never acknowledged\n",
            rounds, kills_during_start, requests, acked, c.records, retried_pending);
    ASSERT(acked > 500); /* the test really exercised ingest */
    intern_free(c.ids);
    free(c.count);
    for (int i = 0; i < CLIENTS; i++) {
        for (size_t k = 0; k < clients[i].acked.n; k++)
            free(clients[i].acked.v[k]);
        for (size_t k = 0; k < clients[i].unacked.n; k++)
            free(clients[i].unacked.v[k]);
        free(clients[i].acked.v);
        free(clients[i].unacked.v);
    }
    rmrf(dir);
}

/* SIGTERM while clients are sending: the server answers what it took in, exits 0, and
 * every acknowledged event is there after a restart. */
TEST(sigterm_finishes_in_flight_requests)
{
    char dir[256];
    tmpdir_make(dir);
    server_t s;
    client_t clients[CLIENTS];
    memset(clients, 0, sizeof clients);
    server_start(&s, dir, NULL);
    server_wait_ready(&s, 60000);
    pthread_t th[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        clients[i].srv = &s;
        clients[i].id = i;
        clients[i].seed = (unsigned)i;
        pthread_create(&th[i], NULL, client_main, &clients[i]);
    }
    sleep_ms(300);
    ASSERT_EQ(server_stop(&s), 0);
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(th[i], NULL);
    server_start(&s, dir, NULL);
    server_wait_ready(&s, 60000);
    long acked = 0;
    for (int i = 0; i < CLIENTS; i++) {
        /* Re-sending acknowledged events: every one is a duplicate, so all were kept. */
        for (size_t k = 0; k < clients[i].acked.n; k += 40) {
            char body[8192];
            size_t len = 0, cnt = 0;
            body[len++] = '[';
            for (size_t m = k; m < clients[i].acked.n && m < k + 40; m++, cnt++)
                len += (size_t)snprintf(body + len, sizeof body - len,
                                        "%s{\"event_id\":\"%s\",\"type\":\"view\",\"user_id\":\"u\",\"item_id\":\"i\"}",
                                        cnt ? "," : "", clients[i].acked.v[m]);
            body[len++] = ']';
            body[len] = '\0';
            json_t *j = http_json(&s, "POST", "/v1/events", body, 200);
            ASSERT_EQ(jint(j, "duplicates"), (long long)cnt);
            json_decref(j);
            acked += (long)cnt;
        }
        for (size_t k = 0; k < clients[i].acked.n; k++)
            free(clients[i].acked.v[k]);
        for (size_t k = 0; k < clients[i].unacked.n; k++)
            free(clients[i].unacked.v[k]);
        free(clients[i].acked.v);
        free(clients[i].unacked.v);
    }
    fprintf(stderr, "%ld events acknowledged before SIGTERM, all kept\n", acked);
    ASSERT(acked > 100);
    ASSERT_EQ(server_stop(&s), 0);
    rmrf(dir);
}

TEST_MAIN(TEST_ENTRY(kill9_never_loses_acknowledged_events), TEST_ENTRY(sigterm_finishes_in_flight_requests))
