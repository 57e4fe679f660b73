/* CPU cost of one recommendation answer, without HTTP: replays a data directory's log
 * into a store as the server does, then asks for_you (default blend, no trained models,
 * the server's filters; no business rules and no anti-repetition store) for each customer
 * id of a file, one at a time on one thread, and times each answer. Reference in the same
 * run: the popular scenario for the same customers (a cached top list and the filters:
 * the cheapest answer the server gives). HTTP figures on a 2-core machine swing 10-20%
 * from run to run; this one does not share the cores with a load generator, and each
 * answer counts at its fastest of the rounds after the first.
 *
 * CHURN=K in the environment adds a new item (another item's document under a new id)
 * before every K-th answer: a catalog that changes while answers are served (each
 * answer then counts as it took in the last round).
 *
 *   bench-answers DATA_DIR IDS_FILE [N=20000] [ROUNDS=2]
 */
#include "rank/recs.h"
#include "store/log.h"
#include "store/state.h"
#include "util/buf.h"
#include "util/timeutil.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add(void *ud, uint8_t type, const void *payload, size_t len, uint64_t lsn)
{
    (void)lsn;
    return st_replay_add(ud, type, payload, len);
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Prints the distribution of lat[0..n) (µs) under name; returns the mean. */
static double report(const char *name, double *lat, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += lat[i];
    qsort(lat, n, sizeof *lat, by_value);
    printf("%-8s answers=%zu mean=%.1fus p50=%.1fus p90=%.1fus p99=%.1fus max=%.1fus\n", name, n, sum / (double)n,
           lat[n / 2], lat[n * 9 / 10], lat[n * 99 / 100], lat[n - 1]);
    return sum / (double)n;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s DATA_DIR IDS_FILE [N=20000] [ROUNDS=2]\n", argv[0]);
        return 2;
    }
    size_t want = argc > 3 ? strtoul(argv[3], NULL, 10) : 20000;
    int rounds = argc > 4 ? atoi(argv[4]) : 2;
    char logdir[4096];
    snprintf(logdir, sizeof logdir, "%s/log", argv[1]);
    FILE *f = fopen(argv[2], "r");
    if (!f) {
        fprintf(stderr, "bench-answers: cannot open %s\n", argv[2]);
        return 1;
    }
    char **ids = malloc(want * sizeof *ids);
    size_t nids = 0;
    char line[512];
    while (nids < want && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0])
            ids[nids++] = strdup(line);
    }
    fclose(f);
    if (!nids) {
        fprintf(stderr, "bench-answers: no ids in %s\n", argv[2]);
        return 1;
    }

    state_t *st = st_new();
    st_reserve_for_log(st, log_disk_bytes(logdir)); /* as aisle serve does */
    st_replay_t *r = st_replay_new(st);
    log_replay_stats_t rs;
    uint64_t t0 = time_mono_ns();
    int rc = log_scan(logdir, add, r, &rs);
    st_replay_finish(r);
    if (rc != 0) {
        fprintf(stderr, "bench-answers: cannot read the log in %s\n", logdir);
        return 1;
    }
    printf("replay: %.2f s, %u live items, %u profiles\n", (double)(time_mono_ns() - t0) / 1e9, st->live_items,
           st->nprof);

    /* Top lists never expire here: the server rebuilds them on a thread of their own, not
     * inside an answer. */
    rec_cache_t *cache = rec_cache_new(1000000000);
    rec_blend_t blend;
    rec_blend_default(&blend);
    rec_filter_t flt;
    rec_filter_default(&flt);
    rec_hit_t out[10];
    const char *churn_env = getenv("CHURN");
    size_t churn = churn_env ? strtoul(churn_env, NULL, 10) : 0, added = 0;
    buf_t payload;
    buf_init(&payload);
    double *lat = malloc(nids * sizeof *lat), *ref = malloc(nids * sizeof *ref);
    size_t known = 0, empty = 0, slowest = 0;
    for (int round = 0; round < rounds; round++) { /* the first warms caches and top lists */
        known = empty = slowest = 0;
        for (size_t i = 0; i < nids; i++) {
            const prof_t *p = st_user_profile(st, ids[i], strlen(ids[i]));
            known += p != NULL;
            if (churn && st->live_items && i % churn == 0) {
                json_t *doc = st_item_doc(st, (uint32_t)(added * 7919 % st->live_items));
                char id[32];
                int idn = snprintf(id, sizeof id, "churn-%zu", added++);
                if (doc) {
                    payload.len = 0;
                    st_encode_doc(&payload, id, (size_t)idn, doc);
                    st_apply(st, REC_ITEM_PUT, payload.data, payload.len);
                    json_decref(doc);
                }
                p = st_user_profile(st, ids[i], strlen(ids[i]));
            }
            uint64_t a = time_mono_ns();
            size_t n = rec_for_you(st, cache, NULL, &blend, p, &flt, st->last_event_ms, out, 10);
            uint64_t b = time_mono_ns();
            rec_popular(st, cache, p, &flt, st->last_event_ms, out, 10);
            uint64_t c = time_mono_ns();
            empty += n == 0;
            /* Each answer's fastest after the first round: noise (another process on the
             * core, the hypervisor) only ever adds time. Not with CHURN: what an addition
             * costs the answers after it would be hidden by the round it did not fall in;
             * there each answer counts as it took in the last round. */
            double x = (double)(b - a) / 1e3, y = (double)(c - b) / 1e3;
            lat[i] = round < 2 || churn || x < lat[i] ? x : lat[i];
            ref[i] = round < 2 || y < ref[i] ? y : ref[i];
            if (lat[i] > lat[slowest])
                slowest = i;
        }
    }
    if (churn)
        printf("churn: %zu items added, one before every %zu answers\n", added, churn);
    buf_free(&payload);
    printf("customers: %zu, %zu with a profile, %zu empty answers; slowest answer: %s\n", nids, known, empty,
           ids[slowest]);
    double m = report("for_you", lat, nids);
    double mr = report("popular", ref, nids);
    printf("ratio for_you / popular (mean) = %.1f\n", m / mr);
    rec_cache_free(cache);
    st_free(st);
    for (size_t i = 0; i < nids; i++)
        free(ids[i]);
    free(ids);
    free(lat);
    free(ref);
    return 0;
}
