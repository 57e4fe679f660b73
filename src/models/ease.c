/* EASE training and scoring. The Gram matrix is filled column by column (each column by
 * one thread, so no locking), factorised and inverted in place by LAPACK (dpotrf,
 * dpotri: about n^3 flops, which OpenBLAS spreads over every core), then turned into
 * the float weight matrix B, tile by tile. */
#include "ease.h"

#include "../util/par.h"
#include "../util/timeutil.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TILE 64

void ease_opts_default(ease_opts_t *o)
{
    o->lambda = 100;
    o->max_items = 60000;
    o->binary = 1;
    o->verbose = 0;
}

uint64_t ease_memory(uint32_t n)
{
    return (uint64_t)n * n * (sizeof(double) + sizeof(float));
}

typedef struct {
    const ix_matrix_t *x;
    double *G;
    int binary;
    atomic_uint next;
} gram_job_t;

/* Column a of the lower triangle: G[b + a n] = sum over customers of x_ua x_ub, b >= a. */
static void *gram_worker(void *arg)
{
    gram_job_t *j = arg;
    const ix_matrix_t *x = j->x;
    size_t n = x->nitems;
    for (;;) {
        uint32_t a = atomic_fetch_add(&j->next, 1);
        if (a >= x->nitems)
            break;
        double *col = j->G + (size_t)a * n;
        for (uint64_t k = x->ccol[a]; k < x->ccol[a + 1]; k++) {
            uint32_t u = x->crow[k];
            double xa = model_value(j->binary, x->cval[k]);
            /* The row is sorted: start at item a. */
            uint64_t lo = x->row[u], hi = x->row[u + 1];
            while (lo < hi) {
                uint64_t mid = lo + (hi - lo) / 2;
                if (x->col[mid] < a)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            for (uint64_t q = lo; q < x->row[u + 1]; q++)
                col[x->col[q]] += xa * model_value(j->binary, x->val[q]);
        }
    }
    return NULL;
}

model_t *ease_train(const ix_matrix_t *x, const ease_opts_t *o, char *err, size_t errlen)
{
    uint32_t n = x->nitems;
    uint64_t need = ease_memory(n);
    uint64_t phys = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
    if (n == 0) {
        snprintf(err, errlen, "there are no interactions to train on");
        return NULL;
    }
    if (n > o->max_items || need > phys / 10 * 8) {
        snprintf(err, errlen,
                 "EASE inverts a dense %u x %u matrix, which takes %.1f GiB of memory (this machine has %.1f GiB) "
                 "and grows with the cube of the catalog; this log has %u items, over the limit of %u "
                 "(--max-items). Use --model=ials (matrix factorisation) or --model=knn (item neighbours) "
                 "for a catalog this size",
                 n, n, (double)need / (1u << 30), (double)phys / (1u << 30), n, o->max_items);
        return NULL;
    }
    uint64_t t0 = time_mono_ns();
    double *G = calloc((size_t)n * n, sizeof *G);
    if (!G) {
        snprintf(err, errlen, "out of memory for the %u x %u Gram matrix", n, n);
        return NULL;
    }
    int nt = par_cpus();
    gram_job_t job = {x, G, o->binary, 0};
    par_run(nt, gram_worker, &job);
    for (uint32_t i = 0; i < n; i++)
        G[(size_t)i * n + i] += o->lambda;
    uint64_t t1 = time_mono_ns();
    if (o->verbose)
        fprintf(stderr, "ease: Gram matrix of %u items in %.2f s; factorising (%.1f GiB)\n", n, (double)(t1 - t0) / 1e9,
                (double)need / (1u << 30));

    openblas_set_num_threads(nt);
    lapack_int info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', (lapack_int)n, G, (lapack_int)n);
    uint64_t t2 = time_mono_ns();
    if (o->verbose && info == 0)
        fprintf(stderr, "ease: Cholesky factor in %.2f s; inverting\n", (double)(t2 - t1) / 1e9);
    if (info == 0)
        info = LAPACKE_dpotri(LAPACK_COL_MAJOR, 'L', (lapack_int)n, G, (lapack_int)n);
    uint64_t t3 = time_mono_ns();
    if (o->verbose && info == 0)
        fprintf(stderr, "ease: inverse in %.2f s; weights\n", (double)(t3 - t2) / 1e9);
    if (info != 0) {
        free(G);
        snprintf(err, errlen, "the Gram matrix could not be inverted (LAPACK info %d); try a larger --lambda",
                 (int)info);
        return NULL;
    }

    /* P's lower triangle is in G: P(h, j) = G[h + j n] for h >= j. B[h][j] = -P(h, j) / P(j, j). */
    model_t *m = model_new(MODEL_EASE, n, n);
    float *B = model_own(m, (size_t)n * n * sizeof *B);
    for (uint32_t jb = 0; jb < n; jb += TILE)
        for (uint32_t hb = jb; hb < n; hb += TILE) {
            uint32_t je = jb + TILE < n ? jb + TILE : n, he = hb + TILE < n ? hb + TILE : n;
            for (uint32_t j = jb; j < je; j++) {
                const double *col = G + (size_t)j * n;
                double dj = col[j];
                for (uint32_t h = hb > j ? hb : j + 1; h < he; h++) {
                    double v = col[h];
                    B[(size_t)h * n + j] = (float)(-v / dj);
                    B[(size_t)j * n + h] = (float)(-v / G[(size_t)h * n + h]);
                }
            }
        }
    free(G);
    model_set_ids(m, x->items);
    m->B = B;
    m->lambda = (float)o->lambda;
    m->binary = o->binary;
    uint64_t t4 = time_mono_ns();
    m->events = x->events;
    m->users = x->nusers;
    m->train_seconds = (double)(t4 - t0) / 1e9;
    char params[512];
    snprintf(params, sizeof params,
             "{\"lambda\":%g,\"binary\":%s,\"max_items\":%u,\"gram_seconds\":%.3f,\"cholesky_seconds\":%.3f,"
             "\"inverse_seconds\":%.3f,\"weights_seconds\":%.3f,\"threads\":%d}",
             o->lambda, o->binary ? "true" : "false", o->max_items, (double)(t1 - t0) / 1e9,
             (double)(t2 - t1) / 1e9, (double)(t3 - t2) / 1e9, (double)(t4 - t3) / 1e9, nt);
    m->params = strdup(params);
    return m;
}

size_t ease_score(const model_t *m, const model_in_t *in, size_t nin, vec_hit_t *out, size_t k)
{
    size_t n = m->nitems;
    float *s = calloc(n, sizeof *s);
    uint8_t *skip = calloc(n, 1);
    if (!s || !skip)
        abort();
    for (size_t i = 0; i < nin; i++) {
        if (in[i].item >= n)
            continue;
        vec_axpy(s, model_cell(m, in[i].w) * in[i].r, m->B + (size_t)in[i].item * n, n);
        skip[in[i].item] = 1;
    }
    size_t got = vec_top(s, n, skip, -INFINITY, out, k);
    free(s);
    free(skip);
    return got;
}
