/* iALS training (alternating sweeps; rows of a side solved on every core by conjugate
 * gradient, the Gram matrix of the other side by OpenBLAS ssyrk) and serving (fold-in
 * by LAPACK sposv, then a scan over all item factors). */
#include "ials.h"

#include "../util/hash.h"
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

void ials_opts_default(ials_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->factors = 64;
    o->lambda = 1.0f;
    o->alpha = 10.0f;
    o->iterations = 15;
    o->cg_steps = 3;
    o->binary = 0;
    o->seed = 42;
}

/* One side of a sweep: every row's factor solved against the other side's. */
typedef struct {
    const uint64_t *ptr;
    const uint32_t *idx;
    const float *val;
    uint32_t nrows;
    const float *other; /* the other side's factors */
    const float *G;     /* their Gram matrix, k x k */
    float *F;           /* this side, solved in place */
    uint32_t k, cg_steps;
    float lambda, alpha;
    int binary;
    double *rowloss; /* NULL, or per row: its share of the training loss */
    atomic_uint next;
} side_t;

/* out = (G + lambda I + sum_i (c_i - 1) y_i y_i^T) v over the row's cells. */
static void apply_A(const side_t *s, uint64_t from, uint64_t to, const float *v, float *out)
{
    uint32_t k = s->k;
    vec_gemv(out, s->G, v, k, k);
    for (uint32_t d = 0; d < k; d++)
        out[d] += s->lambda * v[d];
    for (uint64_t q = from; q < to; q++) {
        const float *y = s->other + (size_t)s->idx[q] * k;
        float c1 = s->alpha * model_value(s->binary, s->val[q]);
        vec_axpy(out, c1 * vec_dot(y, v, k), y, k);
    }
}

static void *side_worker(void *arg)
{
    side_t *s = arg;
    uint32_t k = s->k;
    float *buf = malloc((size_t)k * 5 * sizeof *buf);
    if (!buf)
        abort();
    float *b = buf, *r = buf + k, *p = buf + 2 * k, *Ap = buf + 3 * k, *tmp = buf + 4 * k;
    float *A = s->cg_steps ? NULL : malloc((size_t)k * k * sizeof *A);
    if (!s->cg_steps && !A)
        abort();
    for (;;) {
        uint32_t row = atomic_fetch_add(&s->next, 64);
        if (row >= s->nrows)
            break;
        uint32_t end = row + 64 < s->nrows ? row + 64 : s->nrows;
        for (; row < end; row++) {
            uint64_t from = s->ptr[row], to = s->ptr[row + 1];
            float *x = s->F + (size_t)row * k;
            /* b = sum c_i y_i (preference 1 on every cell of the row) */
            memset(b, 0, k * sizeof *b);
            for (uint64_t q = from; q < to; q++)
                vec_axpy(b, 1.0f + s->alpha * model_value(s->binary, s->val[q]), s->other + (size_t)s->idx[q] * k, k);
            if (!s->cg_steps) {
                /* The exact solve of Hu et al.: the row's k x k system, Cholesky. */
                memcpy(A, s->G, (size_t)k * k * sizeof *A);
                for (uint32_t d = 0; d < k; d++)
                    A[(size_t)d * k + d] += s->lambda;
                for (uint64_t q = from; q < to; q++) {
                    const float *y = s->other + (size_t)s->idx[q] * k;
                    float c1 = s->alpha * model_value(s->binary, s->val[q]);
                    for (uint32_t d = 0; d < k; d++)
                        vec_axpy(A + (size_t)d * k + d, c1 * y[d], y + d, k - d);
                }
                if (LAPACKE_sposv(LAPACK_ROW_MAJOR, 'U', (lapack_int)k, 1, A, (lapack_int)k, b, 1) == 0)
                    memcpy(x, b, k * sizeof *x);
                goto loss;
            }
            apply_A(s, from, to, x, Ap);
            for (uint32_t d = 0; d < k; d++)
                p[d] = r[d] = b[d] - Ap[d];
            float rr = vec_dot(r, r, k);
            for (uint32_t step = 0; step < s->cg_steps && rr > 1e-12f; step++) {
                apply_A(s, from, to, p, Ap);
                float pAp = vec_dot(p, Ap, k);
                if (!(pAp > 0))
                    break;
                float a = rr / pAp;
                vec_axpy(x, a, p, k);
                vec_axpy(r, -a, Ap, k);
                float rr2 = vec_dot(r, r, k);
                float beta = rr2 / rr;
                for (uint32_t d = 0; d < k; d++)
                    p[d] = r[d] + beta * p[d];
                rr = rr2;
            }
        loss:
            if (s->rowloss) {
                /* sum over all other-side items of (x.y)^2 is x^T G x; observed cells add
                 * c (1 - s)^2 - s^2. */
                vec_gemv(tmp, s->G, x, k, k);
                double l = vec_dot(x, tmp, k) + s->lambda * vec_dot(x, x, k);
                for (uint64_t q = from; q < to; q++) {
                    float sc = vec_dot(x, s->other + (size_t)s->idx[q] * k, k);
                    float c = 1.0f + s->alpha * model_value(s->binary, s->val[q]);
                    l += c * (1 - sc) * (1 - sc) - sc * sc;
                }
                s->rowloss[row] = l;
            }
        }
    }
    free(buf);
    free(A);
    return NULL;
}

static void run_side(side_t *s, int nt)
{
    atomic_store(&s->next, 0);
    par_run(nt, side_worker, s);
}

/* G = F^T F (k x k, full), F being n x k. */
static void gram(const float *F, uint32_t n, uint32_t k, float *G)
{
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)k, (int)n, 1.0f, F, (int)k, 0.0f, G, (int)k);
    for (uint32_t i = 0; i < k; i++)
        for (uint32_t j = 0; j < i; j++)
            G[(size_t)i * k + j] = G[(size_t)j * k + i];
}

/* A normal variate from a counter-based generator, so the start is the same for a seed
 * whatever the thread count. */
static float gauss(uint64_t seed, uint64_t i)
{
    uint64_t a = hash_mix(seed ^ (i * 2 + 1)), b = hash_mix(seed ^ (i * 2 + 2) ^ 0x5bd1e995);
    double u1 = ((double)(a >> 11) + 0.5) / 9007199254740992.0, u2 = (double)(b >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2 * log(u1)) * cos(2 * M_PI * u2));
}

model_t *ials_train(const ix_matrix_t *x, const ials_opts_t *o, char *err, size_t errlen)
{
    uint32_t k = o->factors, nu = x->nusers, ni = x->nitems;
    if (ni == 0 || nu == 0) {
        snprintf(err, errlen, "there are no interactions to train on");
        return NULL;
    }
    if (k == 0 || k > 1024) {
        snprintf(err, errlen, "--factors must be 1 to 1024");
        return NULL;
    }
    uint64_t t0 = time_mono_ns();
    int nt = o->threads > 0 ? (o->threads > 64 ? 64 : o->threads) : par_cpus();
    openblas_set_num_threads(nt);
    model_t *m = model_new(MODEL_IALS, ni, k);
    float *Y = model_own(m, (size_t)ni * k * sizeof *Y);
    float *G = model_own(m, (size_t)k * k * sizeof *G);
    float *X = calloc((size_t)nu * k, sizeof *X);
    double *rowloss = malloc((size_t)ni * sizeof *rowloss);
    if (!X || !rowloss)
        abort();
    float scale = 0.1f / sqrtf((float)k);
    for (uint64_t i = 0; i < (uint64_t)ni * k; i++)
        Y[i] = scale * gauss(o->seed, i);
    side_t users = {x->row, x->col, x->val, nu, Y, G, X, k, o->cg_steps, o->lambda, o->alpha, o->binary, NULL, 0};
    side_t items = {x->ccol, x->crow, x->cval, ni, X, G, Y, k, o->cg_steps, o->lambda, o->alpha, o->binary,
                    rowloss, 0};
    double loss = 0;
    for (uint32_t it = 0; it < o->iterations; it++) {
        uint64_t ts = time_mono_ns();
        gram(Y, ni, k, G);
        run_side(&users, nt);
        gram(X, nu, k, G);
        run_side(&items, nt);
        loss = 0;
        for (uint32_t i = 0; i < ni; i++)
            loss += rowloss[i];
        for (uint64_t i = 0; i < (uint64_t)nu * k; i++)
            loss += (double)o->lambda * X[i] * X[i];
        if (o->progress)
            o->progress(o->progress_ud, it + 1, loss, (double)(time_mono_ns() - ts) / 1e9);
    }
    gram(Y, ni, k, G); /* what serving folds customers in against */
    m->Y = Y;
    if ((uint64_t)ni * k * sizeof(float) > IALS_INDEX_BYTES)
        ials_index(m);
    free(X);
    free(rowloss);
    model_set_ids(m, x->items);
    m->gram = G;
    m->lambda = o->lambda;
    m->alpha = o->alpha;
    m->binary = o->binary;
    m->events = x->events;
    m->users = nu;
    m->train_seconds = (double)(time_mono_ns() - t0) / 1e9;
    char params[512];
    snprintf(params, sizeof params,
             "{\"factors\":%u,\"lambda\":%g,\"alpha\":%g,\"iterations\":%u,\"cg_steps\":%u,\"binary\":%s,"
             "\"seed\":%llu,\"threads\":%d,\"loss\":%.6g}",
             k, (double)o->lambda, (double)o->alpha, o->iterations, o->cg_steps, o->binary ? "true" : "false",
             (unsigned long long)o->seed, nt, loss);
    m->params = strdup(params);
    return m;
}

int ials_fold_in(const model_t *m, const model_in_t *in, size_t nin, float *out)
{
    uint32_t k = m->dim;
    float *A = malloc((size_t)k * k * sizeof *A);
    float *b = calloc(k, sizeof *b);
    if (!A || !b)
        abort();
    memcpy(A, m->gram, (size_t)k * k * sizeof *A);
    for (uint32_t d = 0; d < k; d++)
        A[(size_t)d * k + d] += m->lambda;
    size_t used = 0;
    for (size_t h = 0; h < nin; h++) {
        if (in[h].item >= m->nitems || !(in[h].w > 0) || !(in[h].r > 0))
            continue;
        const float *y = m->Y + (size_t)in[h].item * k;
        float c1 = m->alpha * model_cell(m, in[h].w) * in[h].r;
        for (uint32_t r = 0; r < k; r++) /* upper triangle, row-major */
            vec_axpy(A + (size_t)r * k + r, c1 * y[r], y + r, k - r);
        vec_axpy(b, 1.0f + c1, y, k);
        used++;
    }
    int rc = -1;
    if (used && LAPACKE_sposv(LAPACK_ROW_MAJOR, 'U', (lapack_int)k, 1, A, (lapack_int)k, b, 1) == 0) {
        if (out)
            memcpy(out, b, k * sizeof *b);
        rc = 0;
    }
    free(A);
    free(b);
    return rc;
}

/* ---- the index for large catalogs ----------------------------------------------------- */

typedef struct {
    const model_t *m;
    const float *cent;
    uint32_t nc;
    uint32_t *assign;
    uint32_t from, to;
} assign_job_t;

/* Nearest centroid (L2) of each item in [from, to): argmax y.c - |c|^2 / 2. */
static void *assign_worker(void *arg)
{
    assign_job_t *j = arg;
    uint32_t d = j->m->dim;
    float *dots = malloc((size_t)j->nc * sizeof *dots), *half = malloc((size_t)j->nc * sizeof *half);
    if (!dots || !half)
        abort();
    for (uint32_t c = 0; c < j->nc; c++)
        half[c] = 0.5f * vec_dot(j->cent + (size_t)c * d, j->cent + (size_t)c * d, d);
    for (uint32_t i = j->from; i < j->to; i++) {
        vec_gemv(dots, j->cent, j->m->Y + (size_t)i * d, j->nc, d);
        uint32_t best = 0;
        for (uint32_t c = 1; c < j->nc; c++)
            if (dots[c] - half[c] > dots[best] - half[best])
                best = c;
        j->assign[i] = best;
    }
    free(dots);
    free(half);
    return NULL;
}

void ials_index(model_t *m)
{
    if (m->Yq)
        return;
    uint32_t n = m->nitems, d = m->dim;
    uint32_t nc = (uint32_t)sqrt((double)n);
    if (nc < 1)
        nc = 1;
    float *cent = model_own(m, (size_t)nc * d * sizeof *cent);
    uint32_t *assign = malloc((size_t)n * sizeof *assign), *count = malloc((size_t)nc * sizeof *count);
    double *sum = malloc((size_t)nc * d * sizeof *sum);
    if (!assign || !count || !sum)
        abort();
    /* k-means (Lloyd), started from evenly spaced items: deterministic. */
    for (uint32_t c = 0; c < nc; c++)
        memcpy(cent + (size_t)c * d, m->Y + (size_t)((uint64_t)c * n / nc) * d, d * sizeof *cent);
    int nt = par_cpus() > 8 ? 8 : par_cpus();
    for (int iter = 0; iter < IALS_KMEANS_ITERATIONS; iter++) {
        assign_job_t jobs[8];
        pthread_t th[8];
        int started = 0;
        for (int t = nt - 1; t >= 0; t--) { /* the calling thread takes the first share, last */
            jobs[t] = (assign_job_t){m, cent, nc, assign, (uint32_t)((uint64_t)n * t / nt),
                                     (uint32_t)((uint64_t)n * (t + 1) / nt)};
            if (t == 0 || pthread_create(&th[t], NULL, assign_worker, &jobs[t]) != 0)
                assign_worker(&jobs[t]);
            else
                started |= 1 << t;
        }
        for (int t = 1; t < nt; t++)
            if (started & (1 << t))
                pthread_join(th[t], NULL);
        memset(sum, 0, (size_t)nc * d * sizeof *sum);
        memset(count, 0, (size_t)nc * sizeof *count);
        for (uint32_t i = 0; i < n; i++) {
            count[assign[i]]++;
            for (uint32_t k = 0; k < d; k++)
                sum[(size_t)assign[i] * d + k] += m->Y[(size_t)i * d + k];
        }
        for (uint32_t c = 0; c < nc; c++)
            if (count[c]) /* an emptied cluster keeps its centroid */
                for (uint32_t k = 0; k < d; k++)
                    cent[(size_t)c * d + k] = (float)(sum[(size_t)c * d + k] / count[c]);
    }
    /* Rows in cluster order, so a probed cluster is one contiguous run of int8 rows. */
    uint32_t *start = model_own(m, ((size_t)nc + 1) * sizeof *start);
    uint32_t *items = model_own(m, (size_t)n * sizeof *items);
    int8_t *q = model_own(m, (size_t)n * d);
    float *scale = model_own(m, (size_t)n * sizeof *scale);
    memset(count, 0, (size_t)nc * sizeof *count);
    for (uint32_t i = 0; i < n; i++)
        count[assign[i]]++;
    start[0] = 0;
    for (uint32_t c = 0; c < nc; c++)
        start[c + 1] = start[c] + count[c];
    memcpy(count, start, (size_t)nc * sizeof *count);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t r = count[assign[i]]++;
        items[r] = i;
        scale[r] = vec_quantize(q + (size_t)r * d, m->Y + (size_t)i * d, d);
    }
    free(assign);
    free(count);
    free(sum);
    /* Each cluster's radius: no item of it lies further from the centroid, so
     * y . x <= c . x + |x| r bounds what a cluster can hold. */
    float *radius = model_own(m, (size_t)nc * sizeof *radius);
    for (uint32_t c = 0; c < nc; c++)
        for (uint32_t r = start[c]; r < start[c + 1]; r++) {
            const float *y = m->Y + (size_t)items[r] * d, *cc = cent + (size_t)c * d;
            double dd = 0;
            for (uint32_t k = 0; k < d; k++)
                dd += (double)(y[k] - cc[k]) * (y[k] - cc[k]);
            if ((float)sqrt(dd) > radius[c])
                radius[c] = (float)sqrt(dd);
        }
    m->ivf_radius = radius;
    m->ivf_cent = cent;
    m->ivf_start = start;
    m->ivf_items = items;
    m->ivf_n = nc;
    m->Yq = q;
    m->Yscale = scale;
}

/* The best `want` items by approximate score. Clusters are visited by the most they can
 * score (c . x + |x| r, an upper bound of y . x for their items), their int8 rows scanned
 * into a heap of the best `want`; the visit stops once no cluster left can beat the
 * heap's worst (with IALS_BOUND_SLACK for the int8 error) and at least
 * IALS_PROBE_SHARE of the items were seen, or at IALS_PROBE_MAX of them (SEQ_PROBE_MAX for
 * the sequence model). */
static size_t approx_top(const model_t *m, const float *xu, vec_hit_t *out, size_t want)
{
    uint32_t d = m->dim, nc = m->ivf_n;
    int8_t xq[1024];
    float xs = vec_quantize(xq, xu, d);
    vec_hit_t *order = malloc((size_t)nc * sizeof *order);
    float *cs = malloc((size_t)nc * sizeof *cs);
    int32_t *dots = NULL;
    size_t dots_cap = 0;
    if (!order || !cs)
        abort();
    vec_gemv(cs, m->ivf_cent, xu, nc, d);
    float xn = sqrtf(vec_dot(xu, xu, d));
    for (uint32_t c = 0; c < nc; c++)
        order[c] = (vec_hit_t){c, cs[c] + xn * m->ivf_radius[c]};
    vec_sort_hits(order, nc);
    size_t least = (size_t)((double)m->nitems * IALS_PROBE_SHARE), most = (size_t)((double)m->nitems * (m->kind == MODEL_SEQ ? SEQ_PROBE_MAX : IALS_PROBE_MAX));
    size_t seen = 0, got = 0;
    for (uint32_t o = 0; o < nc && seen < most; o++) {
        if (got == want && seen >= least && order[o].score * (1 + IALS_BOUND_SLACK) < out[0].score)
            break; /* nothing further can make the list */
        uint32_t c = order[o].item, b = m->ivf_start[c], len = m->ivf_start[c + 1] - b;
        if (len > dots_cap) {
            dots_cap = len * 2;
            dots = realloc(dots, dots_cap * sizeof *dots);
            if (!dots)
                abort();
        }
        vec_gemv_i8(dots, m->Yq + (size_t)b * d, xq, len, d);
        for (uint32_t i = 0; i < len; i++) {
            float a = (float)dots[i] * m->Yscale[b + i] * xs;
            if (got < want || a > out[0].score)
                vec_heap_offer(out, &got, want, (vec_hit_t){m->ivf_items[b + i], a});
        }
        seen += len;
    }
    free(order);
    free(cs);
    free(dots);
    return got;
}

static int in_history(const model_in_t *in, size_t nin, uint32_t item)
{
    for (size_t h = 0; h < nin; h++)
        if (in[h].item == item)
            return 1;
    return 0;
}

size_t ials_top(const model_t *m, const float *xu, const model_in_t *skip, size_t nskip, vec_hit_t *out, size_t k)
{
    uint32_t d = m->dim;
    /* Candidates: every item (exact), or the best of the approximate int8 scan, enough
     * of them that the skipped items can be dropped and k still remain. */
    size_t want = m->Yq ? IALS_RESCORE * k + nskip : k + nskip;
    vec_hit_t *cand = malloc(want * sizeof *cand);
    float *s = m->Yq ? NULL : malloc((size_t)m->nitems * sizeof *s);
    if (!cand || (!m->Yq && !s))
        abort();
    size_t nc = 0;
    if (m->Yq) {
        nc = approx_top(m, xu, cand, want);
        for (size_t c = 0; c < nc; c++) /* exact scores for the short list */
            cand[c].score = vec_dot(m->Y + (size_t)cand[c].item * d, xu, d);
        vec_sort_hits(cand, nc);
    } else {
        vec_gemv(s, m->Y, xu, m->nitems, d);
        nc = vec_top(s, m->nitems, NULL, -INFINITY, cand, want);
    }
    size_t got = 0;
    for (size_t c = 0; c < nc && got < k; c++)
        if (!in_history(skip, nskip, cand[c].item))
            out[got++] = cand[c];
    free(cand);
    free(s);
    return got;
}

size_t ials_score(const model_t *m, const model_in_t *in, size_t nin, vec_hit_t *out, size_t k)
{
    float *xu = malloc((size_t)m->dim * sizeof *xu);
    if (!xu)
        abort();
    size_t got = ials_fold_in(m, in, nin, xu) == 0 ? ials_top(m, xu, in, nin, out, k) : 0;
    free(xu);
    return got;
}
