/* Per-request cost of a trained model: for random customer histories, what for_you asks
 * of a model (model_score: for iALS the fold-in solve plus the best K over every item; for
 * the sequence model the network over the history plus the best K),
 * timed one request at a time on THREADS threads at once (the server's event loops).
 * Reference in the same run: the same fold-in followed by an exact scan of all item
 * factors with OpenBLAS sgemv and the same top-K selection; the ratio of the two, and
 * how many of the reference's best 10 and K items the model's answer holds (recall:
 * what an approximate index costs in accuracy; 1.0 for an exact scan).
 *
 *   bench-foldin MODEL_FILE [QUERIES=20000] [HISTORY=10] [K=200] [THREADS=1]
 */
#include "models/ials.h"
#include "models/model.h"
#include "models/seq.h"
#include "util/hash.h"
#include "util/timeutil.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const model_t *m;
    uint32_t from, to, hist, k;
    uint64_t seed;
    double *lat_model, *lat_ref;
    double recall10, recallk;
} job_t;

static void history(const job_t *j, uint32_t q, model_in_t *in)
{
    for (uint32_t h = 0; h < j->hist; h++)
        in[h] = (model_in_t){(uint32_t)(hash_mix(j->seed ^ ((uint64_t)q << 16) ^ h) % j->m->nitems), 8.0f, 1.0f};
}

/* The exact reference: fold-in, sgemv over all items, top-K. */
static size_t reference(const model_t *m, const model_in_t *in, size_t nin, float *xu, float *s, uint8_t *skip,
                        vec_hit_t *out, size_t k)
{
    if (m->kind == MODEL_SEQ) { /* the network over the sequence (oldest first) */
        uint32_t seq[256];
        size_t n = nin < 256 ? nin : 256;
        for (size_t h = 0; h < n; h++)
            seq[n - 1 - h] = in[h].item;
        if (seq_encode(m, seq, n, xu) != 0)
            return 0;
    } else if (m->kind != MODEL_IALS) {
        return model_score(m, in, nin, out, k);
    } else if (ials_fold_in(m, in, nin, xu) != 0) {
        return 0;
    }
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)m->nitems, (int)m->dim, 1.0f, m->Y, (int)m->dim, xu, 1, 0.0f, s,
                1);
    for (size_t h = 0; h < nin; h++)
        skip[in[h].item] = 1;
    size_t got = vec_top(s, m->nitems, skip, -INFINITY, out, k);
    for (size_t h = 0; h < nin; h++)
        skip[in[h].item] = 0;
    return got;
}

static double recall(const vec_hit_t *got, size_t ng, const vec_hit_t *want, size_t nw, size_t at)
{
    size_t n = nw < at ? nw : at, hit = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t g = 0; g < ng && g < at; g++)
            if (got[g].item == want[i].item) {
                hit++;
                break;
            }
    return n ? (double)hit / (double)n : 1.0;
}

static void *run(void *arg)
{
    job_t *j = arg;
    const model_t *m = j->m;
    model_in_t *in = malloc(j->hist * sizeof *in);
    vec_hit_t *b = malloc(j->k * sizeof *b);
    float *xu = malloc(m->dim * sizeof *xu), *s = malloc((size_t)m->nitems * sizeof *s);
    uint8_t *skip = calloc(m->nitems, 1);
    /* All the served answers first, then all the reference ones, so that neither
     * evicts the other's data from the caches between requests. */
    uint32_t nq = j->to - j->from;
    vec_hit_t *keep = malloc((size_t)nq * j->k * sizeof *keep);
    size_t *kept = malloc(nq * sizeof *kept);
    for (uint32_t q = j->from; q < j->to; q++) {
        history(j, q, in);
        uint64_t t0 = time_mono_ns();
        kept[q - j->from] = model_score(m, in, j->hist, keep + (size_t)(q - j->from) * j->k, j->k);
        j->lat_model[q] = (double)(time_mono_ns() - t0) / 1e3;
    }
    for (uint32_t q = j->from; q < j->to; q++) {
        history(j, q, in);
        uint64_t t0 = time_mono_ns();
        size_t nb = reference(m, in, j->hist, xu, s, skip, b, j->k);
        j->lat_ref[q] = (double)(time_mono_ns() - t0) / 1e3;
        const vec_hit_t *got = keep + (size_t)(q - j->from) * j->k;
        j->recall10 += recall(got, kept[q - j->from], b, nb, 10);
        j->recallk += recall(got, kept[q - j->from], b, nb, j->k);
    }
    free(keep);
    free(kept);
    free(in);
    free(b);
    free(xu);
    free(s);
    free(skip);
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *name, double *lat, uint32_t n)
{
    qsort(lat, n, sizeof *lat, cmp_d);
    double sum = 0;
    for (uint32_t i = 0; i < n; i++)
        sum += lat[i];
    printf("| %s | %.1f | %.1f | %.1f | %.1f | %.1f |\n", name, sum / n, lat[n / 2], lat[(uint64_t)n * 90 / 100],
           lat[(uint64_t)n * 99 / 100], lat[(uint64_t)n * 999 / 1000]);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench-foldin MODEL_FILE [QUERIES] [HISTORY] [K] [THREADS]\n");
        return 2;
    }
    uint32_t queries = argc > 2 ? (uint32_t)atoi(argv[2]) : 20000, hist = argc > 3 ? (uint32_t)atoi(argv[3]) : 10,
             k = argc > 4 ? (uint32_t)atoi(argv[4]) : 200;
    int threads = argc > 5 ? atoi(argv[5]) : 1;
    char err[512];
    model_t *m = model_load(argv[1], err, sizeof err);
    if (!m) {
        fprintf(stderr, "bench-foldin: %s\n", err);
        return 1;
    }
    openblas_set_num_threads(1); /* one request, one core, as in the server */
    double *lm = malloc(queries * sizeof *lm), *lr = malloc(queries * sizeof *lr);
    job_t jobs[16];
    pthread_t th[16];
    if (threads < 1 || threads > 16)
        threads = 1;
    for (int t = 0; t < threads; t++) {
        jobs[t] = (job_t){m, queries * (uint32_t)t / (uint32_t)threads, queries * (uint32_t)(t + 1) / (uint32_t)threads,
                          hist, k, 42, lm, lr, 0, 0};
        pthread_create(&th[t], NULL, run, &jobs[t]);
    }
    double r10 = 0, rk = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(th[t], NULL);
        r10 += jobs[t].recall10;
        rk += jobs[t].recallk;
    }
    printf("%s model: %u items, %u dims; %u queries of %u history items, top %u, %d thread(s)\n\n",
           model_kind_name(m->kind), m->nitems, m->dim, queries, hist, k, threads);
    printf("| per request (us) | mean | p50 | p90 | p99 | p99.9 |\n|---|---|---|---|---|---|\n");
    double mean_m = 0, mean_r = 0;
    for (uint32_t i = 0; i < queries; i++)
        mean_m += lm[i], mean_r += lr[i];
    report("model_score (as served)", lm, queries);
    report(m->kind == MODEL_SEQ ? "reference: network + OpenBLAS sgemv over all items + top-K"
                                : "reference: fold-in + OpenBLAS sgemv over all items + top-K",
           lr, queries);
    printf("\nratio served / reference (mean) = %.2f\n", mean_m / mean_r);
    printf("recall of the reference's top 10: %.4f; of its top %u: %.4f\n", r10 / queries, k, rk / queries);
    free(lm);
    free(lr);
    model_free(m);
    return 0;
}
