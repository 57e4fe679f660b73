/* Item-kNN training (a sparse product X^T X one item row at a time, on every core, each
 * thread with its own dense accumulator) and scoring. */
#include "knn.h"

#include "../util/par.h"
#include "../util/timeutil.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void knn_opts_default(knn_opts_t *o)
{
    o->neighbours = 100;
    o->shrink = 10;
    o->binary = 0;
    o->threads = 0;
}

typedef struct {
    const ix_matrix_t *x;
    const knn_opts_t *o;
    const float *norm;
    uint32_t *nbr;
    float *sim;
    atomic_uint next;
} knn_job_t;

static void *knn_worker(void *arg)
{
    knn_job_t *j = arg;
    const ix_matrix_t *x = j->x;
    uint32_t n = x->nitems, K = j->o->neighbours;
    float *acc = calloc(n, sizeof *acc);
    uint32_t *touched = malloc((size_t)n * sizeof *touched);
    uint8_t *mark = calloc(n, 1);
    vec_hit_t *top = malloc((size_t)K * sizeof *top);
    if (!acc || !touched || !mark || !top)
        abort();
    for (;;) {
        uint32_t a = atomic_fetch_add(&j->next, 1);
        if (a >= n)
            break;
        size_t nt = 0;
        for (uint64_t k = x->ccol[a]; k < x->ccol[a + 1]; k++) {
            uint32_t u = x->crow[k];
            float xa = model_value(j->o->binary, x->cval[k]);
            for (uint64_t q = x->row[u]; q < x->row[u + 1]; q++) {
                uint32_t b = x->col[q];
                if (b == a)
                    continue;
                if (!mark[b]) {
                    mark[b] = 1;
                    touched[nt++] = b;
                }
                acc[b] += xa * model_value(j->o->binary, x->val[q]);
            }
        }
        /* Similarities of the touched items into acc, then the K best. */
        size_t m = 0;
        for (size_t t = 0; t < nt; t++) {
            uint32_t b = touched[t];
            float s = acc[b] / (j->norm[a] * j->norm[b] + j->o->shrink);
            acc[b] = 0;
            mark[b] = 0;
            vec_hit_t h = {b, s};
            if (m < K) {
                top[m++] = h;
                continue;
            }
            /* Replace the worst when better (K is small next to the touched items only
             * for popular items; a linear scan of the worst is cheap enough). */
            size_t w = 0;
            for (size_t i = 1; i < K; i++)
                if (top[i].score < top[w].score || (top[i].score == top[w].score && top[i].item > top[w].item))
                    w = i;
            if (s > top[w].score || (s == top[w].score && b < top[w].item))
                top[w] = h;
        }
        vec_sort_hits(top, m);
        uint32_t *nb = j->nbr + (size_t)a * K;
        float *sm = j->sim + (size_t)a * K;
        for (size_t i = 0; i < K; i++) {
            nb[i] = i < m ? top[i].item : MODEL_NONE;
            sm[i] = i < m ? top[i].score : 0;
        }
    }
    free(acc);
    free(touched);
    free(mark);
    free(top);
    return NULL;
}

model_t *knn_train(const ix_matrix_t *x, const knn_opts_t *o, char *err, size_t errlen)
{
    uint32_t n = x->nitems, K = o->neighbours;
    if (n == 0) {
        snprintf(err, errlen, "there are no interactions to train on");
        return NULL;
    }
    if (K == 0 || K > 1000) {
        snprintf(err, errlen, "--neighbours must be 1 to 1000");
        return NULL;
    }
    uint64_t t0 = time_mono_ns();
    model_t *m = model_new(MODEL_KNN, n, K);
    float *norm = malloc((size_t)n * sizeof *norm);
    if (!norm)
        abort();
    for (uint32_t i = 0; i < n; i++) {
        double s = 0;
        for (uint64_t k = x->ccol[i]; k < x->ccol[i + 1]; k++) {
            double v = model_value(o->binary, x->cval[k]);
            s += v * v;
        }
        norm[i] = (float)sqrt(s);
    }
    uint32_t *nbr = model_own(m, (size_t)n * K * sizeof *nbr);
    float *sim = model_own(m, (size_t)n * K * sizeof *sim);
    knn_job_t job = {x, o, norm, nbr, sim, 0};
    int nt = o->threads > 0 ? (o->threads > 64 ? 64 : o->threads) : par_cpus();
    par_run(nt, knn_worker, &job);
    free(norm);
    model_set_ids(m, x->items);
    m->nbr = nbr;
    m->sim = sim;
    m->binary = o->binary;
    m->events = x->events;
    m->users = x->nusers;
    m->train_seconds = (double)(time_mono_ns() - t0) / 1e9;
    char params[256];
    snprintf(params, sizeof params, "{\"neighbours\":%u,\"shrink\":%g,\"binary\":%s,\"threads\":%d}", K,
             (double)o->shrink, o->binary ? "true" : "false", nt);
    m->params = strdup(params);
    return m;
}

/* Sums the neighbour lists of the history in a small open-addressing table. */
size_t knn_score(const model_t *m, const model_in_t *in, size_t nin, vec_hit_t *out, size_t k)
{
    size_t cap = 1024;
    while (cap < nin * m->dim * 2)
        cap *= 2;
    vec_hit_t *tab = malloc(cap * sizeof *tab);
    if (!tab)
        abort();
    for (size_t i = 0; i < cap; i++)
        tab[i].item = MODEL_NONE;
    for (size_t h = 0; h < nin; h++) {
        if (in[h].item >= m->nitems)
            continue;
        const uint32_t *nb = m->nbr + (size_t)in[h].item * m->dim;
        const float *sm = m->sim + (size_t)in[h].item * m->dim;
        for (uint32_t i = 0; i < m->dim && nb[i] != MODEL_NONE; i++) {
            size_t at = (nb[i] * 2654435761u) & (cap - 1);
            while (tab[at].item != MODEL_NONE && tab[at].item != nb[i])
                at = (at + 1) & (cap - 1);
            if (tab[at].item == MODEL_NONE)
                tab[at] = (vec_hit_t){nb[i], 0};
            tab[at].score += model_cell(m, in[h].w) * in[h].r * sm[i];
        }
    }
    /* History items are not candidates. */
    for (size_t h = 0; h < nin; h++) {
        if (in[h].item >= m->nitems)
            continue;
        size_t at = (in[h].item * 2654435761u) & (cap - 1);
        while (tab[at].item != MODEL_NONE && tab[at].item != in[h].item)
            at = (at + 1) & (cap - 1);
        if (tab[at].item == in[h].item)
            tab[at].score = -INFINITY;
    }
    /* Pack the table into scores by slot, then take the best. */
    float *s = malloc(cap * sizeof *s);
    if (!s)
        abort();
    for (size_t i = 0; i < cap; i++)
        s[i] = tab[i].item == MODEL_NONE ? -INFINITY : tab[i].score;
    size_t got = vec_top(s, cap, NULL, 0, out, k);
    for (size_t i = 0; i < got; i++)
        out[i].item = tab[out[i].item].item;
    vec_sort_hits(out, got);
    free(s);
    free(tab);
    return got;
}
