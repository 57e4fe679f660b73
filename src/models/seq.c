/* The sequence model's network, its training and its inference. Tokens of a batch are
 * packed (no padding): the linear layers are GEMMs over all of them, attention runs per
 * sequence over its own tokens. Everything the backward pass needs is kept from the
 * forward pass in one workspace; gradients are written by hand, and checked against
 * finite differences in tests/test-seq.c. */
#include "seq.h"

#include "ials.h"

#include "../util/hash.h"
#include "../util/par.h"
#include "../util/timeutil.h"
#include "../util/vec.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BLOCKS 8
#define LN_EPS 1e-5f
#define BETA1 0.9f
#define BETA2 0.98f
#define ADAM_EPS 1e-8f
#define FULL_CHUNK 512 /* tokens per logits block of the full softmax */

#define CLONES VEC_CLONES

void seq_opts_default(seq_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->dim = 64;
    o->blocks = 2;
    o->maxlen = 50;
    o->dropout = 0.3f;
    o->epochs = 40;
    o->batch = 128;
    o->lr = 1e-3f;
    o->negatives = 2048;
    o->valid_users = 2000;
    o->patience = 5;
    o->lazy_adam = -1;
    o->seed = 42;
}

/* ---- parameters ----------------------------------------------------------------------- */

typedef struct {
    float *ln1g, *ln1b, *Wqkv, *bqkv, *Wo, *bo, *ln2g, *ln2b, *W1, *c1, *W2, *c2;
} blk_t;

typedef struct {
    uint32_t d, nb, L;
    float *P; /* L x d, by reverse position: 0 is the newest item */
    blk_t b[MAX_BLOCKS];
    float *lnfg, *lnfb;
} net_t;

/* Lays the network out over base (or only counts, base NULL): the file's section and the
 * optimiser's flat arrays share this order. Returns the floats used. */
static size_t net_map(float *base, uint32_t d, uint32_t nb, uint32_t L, net_t *n)
{
    size_t at = 0;
    net_t tmp;
    if (!n)
        n = &tmp;
#define TAKE(field, count)                                                                                             \
    do {                                                                                                               \
        field = base ? base + at : NULL;                                                                               \
        at += (size_t)(count);                                                                                         \
    } while (0)
    n->d = d;
    n->nb = nb;
    n->L = L;
    TAKE(n->P, (size_t)L * d);
    for (uint32_t i = 0; i < nb && i < MAX_BLOCKS; i++) {
        blk_t *b = &n->b[i];
        TAKE(b->ln1g, d);
        TAKE(b->ln1b, d);
        TAKE(b->Wqkv, (size_t)d * 3 * d);
        TAKE(b->bqkv, 3 * d);
        TAKE(b->Wo, (size_t)d * d);
        TAKE(b->bo, d);
        TAKE(b->ln2g, d);
        TAKE(b->ln2b, d);
        TAKE(b->W1, (size_t)d * d);
        TAKE(b->c1, d);
        TAKE(b->W2, (size_t)d * d);
        TAKE(b->c2, d);
    }
    TAKE(n->lnfg, d);
    TAKE(n->lnfb, d);
#undef TAKE
    return at;
}

size_t seq_net_floats(uint32_t dim, uint32_t blocks, uint32_t maxlen)
{
    return net_map(NULL, dim, blocks, maxlen, NULL);
}

/* ---- random numbers: splitmix64 (hash_splitmix), one stream per purpose ---------------- */


static float rng_unit(uint64_t *s) /* [0, 1) */
{
    return (float)(hash_splitmix(s) >> 40) * (1.0f / 16777216.0f);
}

static float rng_gauss(uint64_t *s)
{
    float u = rng_unit(s), v = rng_unit(s);
    return sqrtf(-2.0f * logf(u + 1e-12f)) * cosf(6.2831853f * v);
}

/* ---- the batch and the workspace ----------------------------------------------------- */

typedef struct {
    uint32_t T, ns;         /* tokens, sequences */
    uint32_t *sofs;         /* sequence s: tokens sofs[s] .. sofs[s+1] */
    uint64_t *pofs;         /* its attention weights: l x l floats from pofs[s] */
    uint32_t *in, *tgt, *rpos; /* per token */
} batch_t;

typedef struct {
    float *h1, *rs1, *n1, *qkv, *att, *a, *mo, *x1, *h2, *rs2, *n2, *u, *r, *mf, *x2;
} blk_ws_t;

typedef struct {
    uint32_t Tmax, nsmax;
    uint64_t Smax;
    batch_t bt;
    float *x0, *m0;
    blk_ws_t b[MAX_BLOCKS];
    float *hf, *rsf, *z;
    /* backward */
    float *dz, *dx, *dx1, *dn, *dqkv, *da, *du, *dr, *tmp;
    float *row; /* attention: one row of dP */
} ws_t;

static void *xalloc(size_t n)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? n : 1) != 0)
        abort();
    return p;
}

static void ws_free(ws_t *w)
{
    if (!w)
        return;
    free(w->bt.sofs);
    free(w->bt.pofs);
    free(w->bt.in);
    free(w->bt.tgt);
    free(w->bt.rpos);
    free(w->x0);
    free(w->m0);
    for (int i = 0; i < MAX_BLOCKS; i++) {
        blk_ws_t *b = &w->b[i];
        float **f[] = {&b->h1, &b->rs1, &b->n1, &b->qkv, &b->att, &b->a, &b->mo, &b->x1,
                       &b->h2, &b->rs2, &b->n2, &b->u,   &b->r,   &b->mf, &b->x2};
        for (size_t k = 0; k < sizeof f / sizeof f[0]; k++)
            free(*f[k]);
    }
    free(w->hf);
    free(w->rsf);
    free(w->z);
    free(w->dz);
    free(w->dx);
    free(w->dx1);
    free(w->dn);
    free(w->dqkv);
    free(w->da);
    free(w->du);
    free(w->dr);
    free(w->tmp);
    free(w->row);
    free(w);
}

/* A workspace for up to Tmax tokens in nsmax sequences of at most L tokens; train: also
 * what the backward pass needs. Caller owns; ws_free frees. */
static ws_t *ws_new(uint32_t d, uint32_t nb, uint32_t Tmax, uint32_t nsmax, uint32_t L, int train)
{
    ws_t *w = calloc(1, sizeof *w);
    if (!w)
        abort();
    w->Tmax = Tmax;
    w->nsmax = nsmax;
    uint64_t S = (uint64_t)Tmax * (Tmax < L ? Tmax : L); /* sum of l^2 <= T * max l */
    w->Smax = S;
    size_t td = (size_t)Tmax * d * sizeof(float), t1 = (size_t)Tmax * sizeof(float);
    w->bt.sofs = xalloc(((size_t)nsmax + 1) * sizeof(uint32_t));
    w->bt.pofs = xalloc(((size_t)nsmax + 1) * sizeof(uint64_t));
    w->bt.in = xalloc((size_t)Tmax * sizeof(uint32_t));
    w->bt.tgt = xalloc((size_t)Tmax * sizeof(uint32_t));
    w->bt.rpos = xalloc((size_t)Tmax * sizeof(uint32_t));
    w->x0 = xalloc(td);
    w->m0 = train ? xalloc(td) : NULL;
    for (uint32_t i = 0; i < nb; i++) {
        blk_ws_t *b = &w->b[i];
        b->h1 = xalloc(td);
        b->rs1 = xalloc(t1);
        b->n1 = xalloc(td);
        b->qkv = xalloc(3 * td);
        b->att = xalloc(S * sizeof(float));
        b->a = xalloc(td);
        b->x1 = xalloc(td);
        b->h2 = xalloc(td);
        b->rs2 = xalloc(t1);
        b->n2 = xalloc(td);
        b->u = xalloc(td);
        b->r = xalloc(td);
        b->x2 = xalloc(td);
        if (train) {
            b->mo = xalloc(td);
            b->mf = xalloc(td);
        }
    }
    w->hf = xalloc(td);
    w->rsf = xalloc(t1);
    w->z = xalloc(td);
    w->tmp = xalloc(3 * td);
    if (train) {
        w->dz = xalloc(td);
        w->dx = xalloc(td);
        w->dx1 = xalloc(td);
        w->dn = xalloc(td);
        w->dqkv = xalloc(3 * td);
        w->da = xalloc(td);
        w->du = xalloc(td);
        w->dr = xalloc(td);
        w->row = xalloc((size_t)(L + 1) * sizeof(float));
    }
    return w;
}

/* ---- layers ----------------------------------------------------------------------------- */

/* Y += X W for a few rows: blocks of 4 rows x 16 columns kept in registers over the
 * whole of din (the rest row by row). */
CLONES static void mm_small(const float *X, uint32_t T, uint32_t din, const float *W, uint32_t dout, float *Y)
{
    uint32_t t = 0;
    for (; t + 4 <= T && dout % 16 == 0; t += 4)
        for (uint32_t j = 0; j < dout; j += 16) {
            float a0[16], a1[16], a2[16], a3[16];
            for (int c = 0; c < 16; c++) {
                a0[c] = Y[(size_t)t * dout + j + c];
                a1[c] = Y[(size_t)(t + 1) * dout + j + c];
                a2[c] = Y[(size_t)(t + 2) * dout + j + c];
                a3[c] = Y[(size_t)(t + 3) * dout + j + c];
            }
            for (uint32_t k = 0; k < din; k++) {
                const float *wr = W + (size_t)k * dout + j;
                float x0 = X[(size_t)t * din + k], x1 = X[(size_t)(t + 1) * din + k];
                float x2 = X[(size_t)(t + 2) * din + k], x3 = X[(size_t)(t + 3) * din + k];
                for (int c = 0; c < 16; c++) {
                    a0[c] += x0 * wr[c];
                    a1[c] += x1 * wr[c];
                    a2[c] += x2 * wr[c];
                    a3[c] += x3 * wr[c];
                }
            }
            for (int c = 0; c < 16; c++) {
                Y[(size_t)t * dout + j + c] = a0[c];
                Y[(size_t)(t + 1) * dout + j + c] = a1[c];
                Y[(size_t)(t + 2) * dout + j + c] = a2[c];
                Y[(size_t)(t + 3) * dout + j + c] = a3[c];
            }
        }
    for (; t < T; t++)
        for (uint32_t k = 0; k < din; k++)
            vec_axpy(Y + (size_t)t * dout, X[(size_t)t * din + k], W + (size_t)k * dout, dout);
}

/* Y (T x dout) = X (T x din) W (din x dout) + b. Small products (one customer's sequence
 * at request time) run here without BLAS, so a request never wakes BLAS threads. */
static void linear(const float *X, uint32_t T, uint32_t din, const float *W, const float *b, uint32_t dout, float *Y)
{
    for (uint32_t t = 0; t < T; t++)
        memcpy(Y + (size_t)t * dout, b, dout * sizeof *Y);
    if (T >= 64)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, (int)dout, (int)din, 1.0f, X, (int)din, W,
                    (int)dout, 1.0f, Y, (int)dout);
    else
        mm_small(X, T, din, W, dout, Y);
}

/* Backward of linear: dX = dY W^T (accumulated when acc), dW += X^T dY, db += sums of dY. */
static void linear_back(const float *X, const float *dY, uint32_t T, uint32_t din, const float *W, uint32_t dout,
                        float *dX, int acc, float *dW, float *db)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)din, (int)dout, 1.0f, dY, (int)dout, W,
                (int)dout, acc ? 1.0f : 0.0f, dX, (int)din);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)din, (int)dout, (int)T, 1.0f, X, (int)din, dY,
                (int)dout, 1.0f, dW, (int)dout);
    for (uint32_t t = 0; t < T; t++)
        for (uint32_t j = 0; j < dout; j++)
            db[j] += dY[(size_t)t * dout + j];
}

/* Layer norm of each row: xhat, 1/std and the output g * xhat + b. */
static void ln_fwd(const float *x, uint32_t T, uint32_t d, const float *g, const float *b, float *xhat, float *rs,
                   float *y)
{
    for (uint32_t t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * d;
        float mu = 0, var = 0;
        for (uint32_t j = 0; j < d; j++)
            mu += xr[j];
        mu /= (float)d;
        for (uint32_t j = 0; j < d; j++)
            var += (xr[j] - mu) * (xr[j] - mu);
        float r = 1.0f / sqrtf(var / (float)d + LN_EPS);
        rs[t] = r;
        float *h = xhat + (size_t)t * d, *yr = y + (size_t)t * d;
        for (uint32_t j = 0; j < d; j++) {
            h[j] = (xr[j] - mu) * r;
            yr[j] = h[j] * g[j] + b[j];
        }
    }
}

/* dx (+)= the input gradient of a layer norm from dy; dg, db accumulate. */
static void ln_back(const float *dy, const float *xhat, const float *rs, uint32_t T, uint32_t d, const float *g,
                    float *dg, float *db, float *dx, int acc)
{
    for (uint32_t t = 0; t < T; t++) {
        const float *dyr = dy + (size_t)t * d, *h = xhat + (size_t)t * d;
        float m1 = 0, m2 = 0;
        for (uint32_t j = 0; j < d; j++) {
            float dh = dyr[j] * g[j];
            m1 += dh;
            m2 += dh * h[j];
            dg[j] += dyr[j] * h[j];
            db[j] += dyr[j];
        }
        m1 /= (float)d;
        m2 /= (float)d;
        float *o = dx + (size_t)t * d;
        for (uint32_t j = 0; j < d; j++) {
            float v = rs[t] * (dyr[j] * g[j] - m1 - h[j] * m2);
            o[j] = acc ? o[j] + v : v;
        }
    }
}

/* exp(x) for the softmaxes, x <= 0 (scores less their maximum): 2^round(t) times a
 * degree-6 polynomial of 2^f, |f| <= 1/2, relative error about 1e-7. Branch-free so that
 * the loops over it vectorise; libm's expf does not. */
static inline float fast_exp(float x)
{
    float t = x * 1.44269504088896f;
    t = t < -126.0f ? -126.0f : t;
    int i = (int)(t - 0.5f); /* t <= 0: truncation rounds up, so this is round(t) */
    float f = t - (float)i;  /* in [-0.5, 0.5] */
    float p = 1.5403530e-4f;
    p = p * f + 1.3333558e-3f;
    p = p * f + 9.6181291e-3f;
    p = p * f + 5.5504109e-2f;
    p = p * f + 2.4022651e-1f;
    p = p * f + 6.9314718e-1f;
    p = p * f + 1.0f;
    union {
        uint32_t u;
        float f;
    } s = {.u = (uint32_t)(i + 127) << 23};
    return p * s.f;
}

/* x := softmax(x) over n values; returns log(sum exp x). */
CLONES static float softmax(float *x, size_t n)
{
    float mx = -INFINITY;
    for (size_t i = 0; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    float sum = 0;
    for (size_t i = 0; i < n; i++) {
        x[i] = fast_exp(x[i] - mx);
        sum += x[i];
    }
    float inv = 1.0f / sum;
    for (size_t i = 0; i < n; i++)
        x[i] *= inv;
    return mx + logf(sum);
}

/* Causal attention of each sequence over its own tokens: a_i = sum_j<=i p_ij v_j,
 * p_i = softmax_j(q_i . k_j / sqrt(d)). */
static void attn_fwd(const batch_t *bt, uint32_t d, const float *qkv, float *att, float *a, int last_only)
{
    float sc = 1.0f / sqrtf((float)d);
    size_t d3 = 3 * (size_t)d;
    for (uint32_t s = 0; s < bt->ns; s++) {
        uint32_t o = bt->sofs[s], l = bt->sofs[s + 1] - o;
        float *P = att + bt->pofs[s];
        for (uint32_t i = last_only ? l - 1 : 0; i < l; i++) {
            const float *q = qkv + (o + i) * d3;
            float *pr = P + (size_t)i * l;
            for (uint32_t j = 0; j <= i; j++)
                pr[j] = vec_dot(q, qkv + (o + j) * d3 + d, d) * sc;
            softmax(pr, i + 1);
            for (uint32_t j = i + 1; j < l; j++)
                pr[j] = 0;
            float *ar = a + (size_t)(o + i) * d;
            memset(ar, 0, d * sizeof *ar);
            for (uint32_t j = 0; j <= i; j++)
                vec_axpy(ar, pr[j], qkv + (o + j) * d3 + 2 * d, d);
        }
    }
}

static void attn_back(const batch_t *bt, uint32_t d, const float *qkv, const float *att, const float *da, float *dqkv,
                      float *row)
{
    float sc = 1.0f / sqrtf((float)d);
    size_t d3 = 3 * (size_t)d;
    memset(dqkv, 0, (size_t)bt->T * d3 * sizeof *dqkv);
    for (uint32_t s = 0; s < bt->ns; s++) {
        uint32_t o = bt->sofs[s], l = bt->sofs[s + 1] - o;
        const float *P = att + bt->pofs[s];
        for (uint32_t i = 0; i < l; i++) {
            const float *pr = P + (size_t)i * l, *dai = da + (size_t)(o + i) * d;
            float dot = 0;
            for (uint32_t j = 0; j <= i; j++) {
                row[j] = vec_dot(dai, qkv + (o + j) * d3 + 2 * d, d); /* dp_ij */
                dot += row[j] * pr[j];
                vec_axpy(dqkv + (o + j) * d3 + 2 * d, pr[j], dai, d); /* dv_j */
            }
            const float *qi = qkv + (o + i) * d3;
            float *dqi = dqkv + (o + i) * d3;
            for (uint32_t j = 0; j <= i; j++) {
                float ds = pr[j] * (row[j] - dot) * sc;
                vec_axpy(dqi, ds, qkv + (o + j) * d3 + d, d);   /* dq_i */
                vec_axpy(dqkv + (o + j) * d3 + d, ds, qi, d);  /* dk_j */
            }
        }
    }
}

static void dropout_mask(float *m, size_t n, float p, uint64_t *rng)
{
    float keep = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++)
        m[i] = rng_unit(rng) < p ? 0.0f : keep;
}

/* The forward pass over the batch in w->bt; z gets the last layer norm's output. With
 * train set, dropout masks are drawn from rng (p > 0). last_only (one sequence, not
 * training): the last block works out only the last token past its keys and values (the
 * only output a request reads), which saves most of that block. */
static void forward(const net_t *n, const float *E, ws_t *w, int train, float p, uint64_t *rng, int last_only)
{
    const batch_t *bt = &w->bt;
    uint32_t d = n->d, T = bt->T;
    size_t td = (size_t)T * d;
    float es = sqrtf((float)d);
    int drop = train && p > 0;
    for (uint32_t t = 0; t < T; t++) {
        float *x = w->x0 + (size_t)t * d;
        const float *e = E + (size_t)bt->in[t] * d, *pe = n->P + (size_t)bt->rpos[t] * d;
        for (uint32_t j = 0; j < d; j++)
            x[j] = e[j] * es + pe[j];
    }
    if (drop) {
        dropout_mask(w->m0, td, p, rng);
        for (size_t i = 0; i < td; i++)
            w->x0[i] *= w->m0[i];
    }
    const float *x = w->x0;
    for (uint32_t i = 0; i < n->nb; i++) {
        const blk_t *b = &n->b[i];
        blk_ws_t *s = &w->b[i];
        ln_fwd(x, T, d, b->ln1g, b->ln1b, s->h1, s->rs1, s->n1);
        linear(s->n1, T, d, b->Wqkv, b->bqkv, 3 * d, s->qkv);
        if (last_only && i == n->nb - 1 && !train && bt->ns == 1 && T > 1) {
            /* Only row T-1 from here on: shift the pointers to it and run on one row. */
            uint32_t r = T - 1;
            attn_fwd(bt, d, s->qkv, s->att, s->a, 1);
            const float *xr = x + (size_t)r * d;
            float *x1 = s->x1 + (size_t)r * d, *x2 = s->x2 + (size_t)r * d;
            linear(s->a + (size_t)r * d, 1, d, b->Wo, b->bo, d, w->tmp);
            for (uint32_t k = 0; k < d; k++)
                x1[k] = xr[k] + w->tmp[k];
            ln_fwd(x1, 1, d, b->ln2g, b->ln2b, s->h2, s->rs2, s->n2);
            linear(s->n2, 1, d, b->W1, b->c1, d, s->u);
            for (uint32_t k = 0; k < d; k++)
                s->r[k] = s->u[k] > 0 ? s->u[k] : 0;
            linear(s->r, 1, d, b->W2, b->c2, d, w->tmp);
            for (uint32_t k = 0; k < d; k++)
                x2[k] = x1[k] + w->tmp[k];
            ln_fwd(x2, 1, d, n->lnfg, n->lnfb, w->hf, w->rsf, w->z + (size_t)r * d);
            return;
        }
        attn_fwd(bt, d, s->qkv, s->att, s->a, 0);
        linear(s->a, T, d, b->Wo, b->bo, d, w->tmp);
        if (drop)
            dropout_mask(s->mo, td, p, rng);
        for (size_t k = 0; k < td; k++)
            s->x1[k] = x[k] + (drop ? w->tmp[k] * s->mo[k] : w->tmp[k]);
        ln_fwd(s->x1, T, d, b->ln2g, b->ln2b, s->h2, s->rs2, s->n2);
        linear(s->n2, T, d, b->W1, b->c1, d, s->u);
        for (size_t k = 0; k < td; k++)
            s->r[k] = s->u[k] > 0 ? s->u[k] : 0;
        linear(s->r, T, d, b->W2, b->c2, d, w->tmp);
        if (drop)
            dropout_mask(s->mf, td, p, rng);
        for (size_t k = 0; k < td; k++)
            s->x2[k] = s->x1[k] + (drop ? w->tmp[k] * s->mf[k] : w->tmp[k]);
        x = s->x2;
    }
    ln_fwd(x, T, d, n->lnfg, n->lnfb, w->hf, w->rsf, w->z);
}

/* The backward pass from w->dz: gradients accumulate into g (laid out as n) and dE. */
static void backward(const net_t *n, const net_t *g, float *dE, ws_t *w, int drop)
{
    const batch_t *bt = &w->bt;
    uint32_t d = n->d, T = bt->T;
    size_t td = (size_t)T * d;
    ln_back(w->dz, w->hf, w->rsf, T, d, n->lnfg, g->lnfg, g->lnfb, w->dx, 0);
    for (int i = (int)n->nb - 1; i >= 0; i--) {
        const blk_t *b = &n->b[i], *gb = &g->b[i];
        blk_ws_t *s = &w->b[i];
        const float *xin = i ? w->b[i - 1].x2 : w->x0;
        /* x2 = x1 + mf * (r W2 + c2), r = relu(n2 W1 + c1) */
        float *df = w->tmp;
        for (size_t k = 0; k < td; k++)
            df[k] = drop ? w->dx[k] * s->mf[k] : w->dx[k];
        linear_back(s->r, df, T, d, b->W2, d, w->dr, 0, gb->W2, gb->c2);
        for (size_t k = 0; k < td; k++)
            w->du[k] = s->u[k] > 0 ? w->dr[k] : 0;
        linear_back(s->n2, w->du, T, d, b->W1, d, w->dn, 0, gb->W1, gb->c1);
        memcpy(w->dx1, w->dx, td * sizeof *w->dx1);
        ln_back(w->dn, s->h2, s->rs2, T, d, b->ln2g, gb->ln2g, gb->ln2b, w->dx1, 1);
        /* x1 = x + mo * (a Wo + bo) */
        float *dout = w->tmp;
        for (size_t k = 0; k < td; k++)
            dout[k] = drop ? w->dx1[k] * s->mo[k] : w->dx1[k];
        linear_back(s->a, dout, T, d, b->Wo, d, w->da, 0, gb->Wo, gb->bo);
        attn_back(bt, d, s->qkv, s->att, w->da, w->dqkv, w->row);
        linear_back(s->n1, w->dqkv, T, d, b->Wqkv, 3 * d, w->dn, 0, gb->Wqkv, gb->bqkv);
        memcpy(w->dx, w->dx1, td * sizeof *w->dx);
        ln_back(w->dn, s->h1, s->rs1, T, d, b->ln1g, gb->ln1g, gb->ln1b, w->dx, 1);
        (void)xin;
    }
    float es = sqrtf((float)d);
    for (uint32_t t = 0; t < T; t++) {
        float *dx = w->dx + (size_t)t * d;
        if (drop)
            for (uint32_t j = 0; j < d; j++)
                dx[j] *= w->m0[(size_t)t * d + j];
        vec_axpy(dE + (size_t)bt->in[t] * d, es, dx, d);
        vec_axpy(g->P + (size_t)bt->rpos[t] * d, 1.0f, dx, d);
    }
}

/* The softmax loss of every token's target against the negatives (nneg 0: every item),
 * summed over the batch's tokens; dz gets the gradient of inv times it (inv: 1 / the
 * step's tokens, when a step is shared by several batches), dE the embeddings' part. logits:
 * room for FULL_CHUNK x nitems, or T x nneg; cand: nneg x d. */
static double loss_back(const ws_t *w, const float *E, uint32_t nitems, uint32_t d, const uint32_t *neg, uint32_t nneg,
                        float inv, float *logits, float *cand, float *dz, float *dE)
{
    const batch_t *bt = &w->bt;
    uint32_t T = bt->T;
    double loss = 0;
    if (nneg == 0) {
        for (uint32_t c0 = 0; c0 < T; c0 += FULL_CHUNK) {
            uint32_t c = T - c0 < FULL_CHUNK ? T - c0 : FULL_CHUNK;
            const float *z = w->z + (size_t)c0 * d;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)c, (int)nitems, (int)d, 1.0f, z, (int)d, E,
                        (int)d, 0.0f, logits, (int)nitems);
            for (uint32_t t = 0; t < c; t++) {
                float *lr = logits + (size_t)t * nitems;
                uint32_t y = bt->tgt[c0 + t];
                float ly = lr[y];
                loss += softmax(lr, nitems) - ly;
                lr[y] -= 1.0f;
                for (uint32_t i = 0; i < nitems; i++)
                    lr[i] *= inv;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)c, (int)d, (int)nitems, 1.0f, logits,
                        (int)nitems, E, (int)d, 0.0f, dz + (size_t)c0 * d, (int)d);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)nitems, (int)d, (int)c, 1.0f, logits,
                        (int)nitems, z, (int)d, 1.0f, dE, (int)d);
        }
        return loss;
    }
    /* Sampled: column 0 of each row is the target, 1..nneg the shared negatives (one
     * that happens to be the target is left out of that row). */
    uint32_t nc = nneg + 1;
    for (uint32_t k = 0; k < nneg; k++)
        memcpy(cand + (size_t)k * d, E + (size_t)neg[k] * d, d * sizeof *cand);
    for (uint32_t t = 0; t < T; t++)
        logits[(size_t)t * nc] = vec_dot(w->z + (size_t)t * d, E + (size_t)bt->tgt[t] * d, d);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)nneg, (int)d, 1.0f, w->z, (int)d, cand, (int)d,
                0.0f, logits + 1, (int)nc);
    for (uint32_t t = 0; t < T; t++) {
        float *lr = logits + (size_t)t * nc;
        uint32_t y = bt->tgt[t];
        for (uint32_t k = 0; k < nneg; k++)
            if (neg[k] == y)
                lr[1 + k] = -INFINITY;
        float ly = lr[0];
        loss += softmax(lr, nc) - ly;
        lr[0] -= 1.0f;
        for (uint32_t i = 0; i < nc; i++)
            lr[i] *= inv;
        float *dzr = dz + (size_t)t * d;
        memset(dzr, 0, d * sizeof *dzr);
        vec_axpy(dzr, lr[0], E + (size_t)y * d, d);
        vec_axpy(dE + (size_t)y * d, lr[0], w->z + (size_t)t * d, d);
    }
    /* dz += dL C; dC = dL^T z, scattered into the negatives' rows. */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, (int)d, (int)nneg, 1.0f, logits + 1, (int)nc, cand,
                (int)d, 1.0f, dz, (int)d);
    float *dC = cand; /* the candidates' copies are no longer needed */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)nneg, (int)d, (int)T, 1.0f, logits + 1, (int)nc, w->z,
                (int)d, 0.0f, dC, (int)d);
    for (uint32_t k = 0; k < nneg; k++)
        vec_axpy(dE + (size_t)neg[k] * d, 1.0f, dC + (size_t)k * d, d);
    return loss;
}

/* Adds sequence items[0..n) (oldest first) to the batch: inputs all but the last, targets
 * all but the first, the last L positions only. */
static void batch_add(batch_t *bt, const uint32_t *items, uint32_t n, uint32_t L)
{
    if (n < 2)
        return;
    uint32_t l = n - 1 < L ? n - 1 : L, from = n - 1 - l;
    uint32_t t = bt->T;
    for (uint32_t i = 0; i < l; i++) {
        bt->in[t + i] = items[from + i];
        bt->tgt[t + i] = items[from + i + 1];
        bt->rpos[t + i] = l - 1 - i;
    }
    bt->T += l;
    bt->ns++;
    bt->sofs[bt->ns] = bt->T;
    bt->pofs[bt->ns] = bt->pofs[bt->ns - 1] + (uint64_t)l * l;
}

static void batch_reset(batch_t *bt)
{
    bt->T = bt->ns = 0;
    bt->sofs[0] = 0;
    bt->pofs[0] = 0;
}

static void net_of(const model_t *m, net_t *n)
{
    net_map((float *)m->net, m->dim, m->blocks, m->maxlen, n);
}

/* ---- inference ------------------------------------------------------------------------ */

/* The network over the last maxlen items; out gets the last position's output (all of
 * them, when every is set: n x dim, the full forward pass as in training). */
static int encode(const model_t *m, const uint32_t *items, size_t n, float *out, int every)
{
    if (n == 0)
        return -1;
    uint32_t L = m->maxlen, d = m->dim;
    uint32_t l = n < L ? (uint32_t)n : L;
    const uint32_t *it = items + (n - l);
    net_t net;
    net_of(m, &net);
    ws_t *w = ws_new(d, m->blocks, l, 1, L, 0);
    /* One sequence of l inputs; the targets are not used. */
    batch_t *bt = &w->bt;
    batch_reset(bt);
    for (uint32_t i = 0; i < l; i++) {
        bt->in[i] = it[i];
        bt->tgt[i] = 0;
        bt->rpos[i] = l - 1 - i;
    }
    bt->T = l;
    bt->ns = 1;
    bt->sofs[1] = l;
    bt->pofs[1] = (uint64_t)l * l;
    forward(&net, m->Y, w, 0, 0, NULL, !every);
    if (every)
        memcpy(out, w->z, (size_t)l * d * sizeof *out);
    else
        memcpy(out, w->z + (size_t)(l - 1) * d, d * sizeof *out);
    ws_free(w);
    return 0;
}

int seq_encode(const model_t *m, const uint32_t *items, size_t n, float *out)
{
    return encode(m, items, n, out, 0);
}

int seq_encode_every(const model_t *m, const uint32_t *items, size_t n, float *out)
{
    return encode(m, items, n, out, 1);
}

size_t seq_score(const model_t *m, const uint32_t *items, size_t n, vec_hit_t *out, size_t k)
{
    float z[1024];
    if (m->dim > 1024 || seq_encode(m, items, n, z) != 0)
        return 0;
    size_t ns = n < 256 ? n : 256;
    model_in_t skip[256];
    for (size_t i = 0; i < ns; i++)
        skip[i] = (model_in_t){items[n - ns + i], 1, 1};
    return ials_top(m, z, skip, ns, out, k);
}

/* ---- training ------------------------------------------------------------------------- */

double seq_loss_grad(const model_t *m, const uint32_t *seq, const uint64_t *off, uint32_t nseq, const uint32_t *neg,
                     uint32_t nneg, float *grad_net, float *grad_emb)
{
    uint32_t d = m->dim, L = m->maxlen;
    uint32_t T = 0;
    for (uint32_t s = 0; s < nseq; s++) {
        uint64_t len = off[s + 1] - off[s];
        T += len >= 2 ? (uint32_t)(len - 1 < L ? len - 1 : L) : 0;
    }
    ws_t *w = ws_new(d, m->blocks, T ? T : 1, nseq ? nseq : 1, L, 1);
    batch_reset(&w->bt);
    for (uint32_t s = 0; s < nseq; s++)
        batch_add(&w->bt, seq + off[s], (uint32_t)(off[s + 1] - off[s]), L);
    net_t net, g;
    net_of(m, &net);
    size_t nf = seq_net_floats(d, m->blocks, L);
    memset(grad_net, 0, nf * sizeof *grad_net);
    memset(grad_emb, 0, (size_t)m->nitems * d * sizeof *grad_emb);
    net_map(grad_net, d, m->blocks, L, &g);
    forward(&net, m->Y, w, 0, 0, NULL, 0);
    float *logits = xalloc((size_t)(nneg ? T * (nneg + 1) : FULL_CHUNK * m->nitems) * sizeof *logits);
    float *cand = xalloc(((size_t)nneg + 1) * d * sizeof *cand);
    double loss = loss_back(w, m->Y, m->nitems, d, neg, nneg, 1.0f / (float)T, logits, cand, w->dz, grad_emb) / T;
    backward(&net, &g, grad_emb, w, 0);
    free(logits);
    free(cand);
    ws_free(w);
    return loss;
}

typedef struct {
    const model_t *m;
    const ix_matrix_t *x;
    const uint32_t *users, *len; /* validation customers; their training lengths */
    uint32_t n;
    atomic_uint next;
    double ndcg, hr;
    pthread_mutex_t lock;
} valid_t;

/* NDCG@10 and HR@10 of the held-out last items, full ranking over the items the customer
 * has not had (ties counted against the target). */
static void *valid_worker(void *arg)
{
    valid_t *v = arg;
    const model_t *m = v->m;
    uint32_t d = m->dim, ni = m->nitems;
    float *s = malloc((size_t)ni * sizeof *s), z[1024];
    double ndcg = 0, hr = 0;
    if (!s)
        abort();
    for (;;) {
        uint32_t i = atomic_fetch_add(&v->next, 1);
        if (i >= v->n)
            break;
        uint32_t u = v->users[i];
        const uint32_t *q = v->x->seq + v->x->seq_off[u];
        uint32_t l = v->len[i], target = q[l];
        if (seq_encode(m, q, l, z) != 0)
            continue;
        vec_gemv(s, m->Y, z, ni, d);
        float ts = s[target];
        for (uint32_t k = 0; k < l; k++)
            s[q[k]] = -INFINITY;
        uint32_t above = 0;
        for (uint32_t k = 0; k < ni && above < 10; k++)
            above += k != target && s[k] >= ts;
        if (above < 10) {
            hr += 1;
            ndcg += 1.0 / log2(above + 2.0);
        }
    }
    pthread_mutex_lock(&v->lock);
    v->ndcg += ndcg;
    v->hr += hr;
    pthread_mutex_unlock(&v->lock);
    free(s);
    return NULL;
}

/* One thread's share of a training step: a slice of the step's sequences, with its own
 * workspace, gradients and random stream (so that the step is the same for a seed
 * whatever the timing). */
typedef struct {
    ws_t *w;
    float *gW, *gE, *logits, *cand;
    net_t g;
    double loss;
} shard_t;

typedef struct {
    const ix_matrix_t *x;
    const net_t *net;
    float *W, *E, *mW, *vW, *mE, *vE;
    const seq_opts_t *o;
    uint32_t d, ni, L, nneg;
    size_t nf, ne;
    shard_t *sh;
    int nsh;
    const uint32_t *users, *len; /* the step's sequences: users[from .. to) */
    uint32_t from, to;
    const uint32_t *neg;
    /* The embedding rows the step touches (its inputs, targets and negatives; every row
     * with the full softmax, rows NULL): only these are cleared and updated, as Adam does
     * for sparse gradients, so a step's cost does not grow with the catalog. */
    const uint32_t *rows;
    uint32_t nrows;
    float inv, c1, c2;
    uint64_t seed, step;
    atomic_int next;
} step_t;

static void *shard_worker(void *arg)
{
    step_t *st = arg;
    for (;;) {
        int k = atomic_fetch_add(&st->next, 1);
        if (k >= st->nsh)
            return NULL;
        shard_t *sh = &st->sh[k];
        uint32_t n = st->to - st->from;
        uint32_t a = st->from + (uint32_t)((uint64_t)n * k / st->nsh);
        uint32_t b = st->from + (uint32_t)((uint64_t)n * (k + 1) / st->nsh);
        batch_reset(&sh->w->bt);
        for (uint32_t i = a; i < b; i++) {
            uint32_t u = st->users[i];
            batch_add(&sh->w->bt, st->x->seq + st->x->seq_off[u], st->len[u], st->L);
        }
        memset(sh->gW, 0, st->nf * sizeof *sh->gW);
        if (st->rows)
            for (uint32_t r = 0; r < st->nrows; r++)
                memset(sh->gE + (size_t)st->rows[r] * st->d, 0, st->d * sizeof *sh->gE);
        else
            memset(sh->gE, 0, st->ne * sizeof *sh->gE);
        sh->loss = 0;
        if (sh->w->bt.T == 0)
            continue;
        uint64_t rng = st->seed ^ (st->step * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)(k + 1) << 56);
        forward(st->net, st->E, sh->w, 1, st->o->dropout, &rng, 0);
        sh->loss = loss_back(sh->w, st->E, st->ni, st->d, st->neg, st->nneg, st->inv, sh->logits, sh->cand,
                             sh->w->dz, sh->gE);
        backward(st->net, &sh->g, sh->gE, sh->w, st->o->dropout > 0);
    }
}

/* Adam over a slice of all the weights (network, then the touched embedding rows), on
 * the sum of the shards' gradients taken in shard order. */
static void *adam_worker(void *arg)
{
    step_t *st = arg;
    size_t erows = st->rows ? st->nrows : st->ni;
    for (;;) {
        int k = atomic_fetch_add(&st->next, 1);
        if (k >= st->nsh)
            return NULL;
        size_t total = st->nf + erows * st->d;
        size_t a = total * (size_t)k / st->nsh, b = total * (size_t)(k + 1) / st->nsh;
        float lr = st->o->lr;
        for (size_t i = a; i < b; i++) {
            int net = i < st->nf;
            size_t j = net ? i : i - st->nf;
            if (!net && st->rows)
                j = (size_t)st->rows[j / st->d] * st->d + j % st->d;
            float g = 0;
            for (int s = 0; s < st->nsh; s++)
                g += net ? st->sh[s].gW[j] : st->sh[s].gE[j];
            float *p = net ? st->W + j : st->E + j, *mo = net ? st->mW + j : st->mE + j;
            float *ve = net ? st->vW + j : st->vE + j;
            *mo = BETA1 * *mo + (1 - BETA1) * g;
            *ve = BETA2 * *ve + (1 - BETA2) * g * g;
            *p -= lr * (*mo * st->c1) / (sqrtf(*ve * st->c2) + ADAM_EPS);
        }
    }
}

static void xavier(float *w, uint32_t din, uint32_t dout, uint64_t *rng)
{
    float a = sqrtf(6.0f / (float)(din + dout));
    for (size_t i = 0; i < (size_t)din * dout; i++)
        w[i] = (2 * rng_unit(rng) - 1) * a;
}

model_t *seq_train(const ix_matrix_t *x, const seq_opts_t *o, char *err, size_t errlen)
{
    uint32_t d = o->dim, nb = o->blocks, L = o->maxlen, ni = x->nitems;
    if (d < 4 || d > 1024 || nb < 1 || nb > MAX_BLOCKS || L < 1 || L > 1024 || o->batch < 1 || !(o->dropout >= 0) ||
        o->dropout >= 1) {
        snprintf(err, errlen, "sequence: dim 4..1024, blocks 1..%d, maxlen 1..1024, batch >= 1, dropout in [0, 1)",
                 MAX_BLOCKS);
        return NULL;
    }
    if (ni < 2) {
        snprintf(err, errlen, "sequence: the log has %u items; at least 2 are needed", ni);
        return NULL;
    }
    uint64_t t0 = time_mono_ns();
    int nt = o->threads > 0 ? o->threads : par_cpus();
    uint64_t rng = o->seed * 0x9e3779b97f4a7c15ull + 1;

    /* Who trains, and whose last item validates (a seeded sample of those with 3+). */
    uint32_t *train_u = malloc((size_t)x->nusers * sizeof *train_u), *len = malloc((size_t)x->nusers * sizeof *len);
    uint32_t *val_u = malloc(((size_t)o->valid_users + 1) * sizeof *val_u);
    uint32_t *val_len = malloc(((size_t)o->valid_users + 1) * sizeof *val_len);
    if (!train_u || !len || !val_u || !val_len)
        abort();
    uint32_t ntrain = 0, nval = 0, eligible = 0;
    for (uint32_t u = 0; u < x->nusers; u++)
        eligible += x->seq_off[u + 1] - x->seq_off[u] >= 3;
    uint64_t vrng = rng ^ 0x5eed;
    for (uint32_t u = 0; u < x->nusers; u++) {
        uint32_t n = (uint32_t)(x->seq_off[u + 1] - x->seq_off[u]);
        len[u] = n;
        if (n >= 3 && nval < o->valid_users && eligible &&
            hash_splitmix(&vrng) % eligible < o->valid_users) { /* about valid_users of them */
            val_u[nval] = u;
            val_len[nval++] = n - 1;
            len[u] = n - 1;
        }
        if (len[u] >= 2)
            train_u[ntrain++] = u;
    }
    if (ntrain == 0) {
        free(train_u);
        free(len);
        free(val_u);
        free(val_len);
        snprintf(err, errlen, "sequence: no customer has two items in a row to learn from");
        return NULL;
    }

    model_t *m = model_new(MODEL_SEQ, ni, d);
    m->blocks = nb;
    m->maxlen = L;
    m->events = x->events;
    m->users = x->nusers;
    model_set_ids(m, x->items);
    size_t nf = seq_net_floats(d, nb, L), ne = (size_t)ni * d;
    float *E = model_own(m, ne * sizeof *E), *W = model_own(m, nf * sizeof *W);
    m->Y = E;
    m->net = W;
    net_t net;
    net_map(W, d, nb, L, &net);
    float ist = 1.0f / sqrtf((float)d);
    for (size_t i = 0; i < ne; i++)
        E[i] = rng_gauss(&rng) * ist;
    for (size_t i = 0; i < (size_t)L * d; i++)
        net.P[i] = rng_gauss(&rng) * ist;
    for (uint32_t i = 0; i < nb; i++) {
        blk_t *b = &net.b[i];
        for (uint32_t j = 0; j < d; j++)
            b->ln1g[j] = b->ln2g[j] = 1;
        xavier(b->Wqkv, d, 3 * d, &rng);
        xavier(b->Wo, d, d, &rng);
        xavier(b->W1, d, d, &rng);
        xavier(b->W2, d, d, &rng);
    }
    for (uint32_t j = 0; j < d; j++)
        net.lnfg[j] = 1;

    float *mW = calloc(nf, sizeof *mW), *vW = calloc(nf, sizeof *vW);
    float *mE = calloc(ne, sizeof *mE), *vE = calloc(ne, sizeof *vE);
    float *bestW = xalloc(nf * sizeof *bestW), *bestE = xalloc(ne * sizeof *bestE);
    if (!mW || !vW || !mE || !vE)
        abort();
    /* Data parallel: each step's sequences split over the threads, BLAS on one thread
     * inside each (the products are small; its own threads would mostly spin). */
    openblas_set_num_threads(1);
    uint32_t nneg = o->negatives >= ni ? 0 : o->negatives;
    int nsh = nt > (int)o->batch ? (int)o->batch : nt;
    shard_t *sh = calloc((size_t)nsh, sizeof *sh);
    if (!sh)
        abort();
    uint32_t per = (o->batch + (uint32_t)nsh - 1) / (uint32_t)nsh, Tmax = per * L;
    for (int k = 0; k < nsh; k++) {
        sh[k].w = ws_new(d, nb, Tmax, per, L, 1);
        sh[k].gW = xalloc(nf * sizeof(float));
        sh[k].gE = xalloc(ne * sizeof(float));
        memset(sh[k].gE, 0, ne * sizeof(float)); /* rows are cleared as steps touch them */
        sh[k].logits = xalloc((nneg ? (size_t)Tmax * (nneg + 1) : (size_t)FULL_CHUNK * ni) * sizeof(float));
        sh[k].cand = xalloc(((size_t)nneg + 1) * d * sizeof(float));
        net_map(sh[k].gW, d, nb, L, &sh[k].g);
    }
    uint32_t *neg = malloc(((size_t)nneg + 1) * sizeof *neg);
    if (!neg)
        abort();
    /* Lazy Adam (only the rows a step touches) on large catalogs, where a dense update of
     * every row per step would cost more than the step; dense otherwise: momentum keeps
     * moving the rows a step did not touch, which learns faster per epoch (Beauty:
     * validation NDCG@10 0.052 against 0.038 after 10 epochs). */
    int lazy = o->lazy_adam < 0 ? ni > SEQ_LAZY_ITEMS : o->lazy_adam;
    uint32_t *rows = nneg && lazy ? malloc(((size_t)o->batch * (L + 1) + nneg) * sizeof *rows) : NULL;
    uint64_t *stamp = rows ? calloc(ni, sizeof *stamp) : NULL; /* the last step that listed a row */
    if (rows && !stamp)
        abort();
    step_t st = {.x = x, .net = &net, .W = W, .E = E, .mW = mW, .vW = vW, .mE = mE, .vE = vE, .o = o, .d = d,
                 .ni = ni, .L = L, .nneg = nneg, .nf = nf, .ne = ne, .sh = sh, .nsh = nsh, .users = train_u,
                 .len = len, .neg = neg, .seed = o->seed};

    memcpy(bestW, W, nf * sizeof *W); /* what is kept should no epoch run */
    memcpy(bestE, E, ne * sizeof *E);
    double best = -1;
    uint32_t since_best = 0, step = 0;
    char *params = NULL;
    for (uint32_t ep = 1; ep <= o->epochs; ep++) {
        uint64_t te = time_mono_ns();
        for (uint32_t i = ntrain - 1; i > 0; i--) { /* shuffle */
            uint32_t j = (uint32_t)(hash_splitmix(&rng) % (i + 1)), t = train_u[i];
            train_u[i] = train_u[j];
            train_u[j] = t;
        }
        double loss_sum = 0;
        uint64_t tokens = 0;
        for (uint32_t b0 = 0; b0 < ntrain; b0 += o->batch) {
            st.from = b0;
            st.to = b0 + o->batch < ntrain ? b0 + o->batch : ntrain;
            uint64_t T = 0;
            for (uint32_t i = st.from; i < st.to; i++)
                T += len[train_u[i]] - 1 < L ? len[train_u[i]] - 1 : L;
            for (uint32_t k = 0; k < nneg; k++)
                neg[k] = (uint32_t)(hash_splitmix(&rng) % ni);
            step++;
            if (rows) {
                uint32_t nr = 0;
#define TOUCH(it)                                                                                                      \
    do {                                                                                                               \
        uint32_t it_ = (it);                                                                                           \
        if (stamp[it_] != step) {                                                                                      \
            stamp[it_] = step;                                                                                         \
            rows[nr++] = it_;                                                                                          \
        }                                                                                                              \
    } while (0)
                for (uint32_t k = 0; k < nneg; k++)
                    TOUCH(neg[k]);
                for (uint32_t i = st.from; i < st.to; i++) {
                    uint32_t u = train_u[i], n = len[u], l = n - 1 < L ? n - 1 : L;
                    const uint32_t *q = x->seq + x->seq_off[u] + (n - 1 - l);
                    for (uint32_t k = 0; k <= l; k++) /* inputs and targets */
                        TOUCH(q[k]);
                }
#undef TOUCH
                st.rows = rows;
                st.nrows = nr;
            }
            st.step = step;
            st.inv = 1.0f / (float)T;
            st.c1 = 1.0f / (1.0f - powf(BETA1, (float)step));
            st.c2 = 1.0f / (1.0f - powf(BETA2, (float)step));
            atomic_store(&st.next, 0);
            par_run(nsh, shard_worker, &st);
            atomic_store(&st.next, 0);
            par_run(nsh, adam_worker, &st);
            for (int k = 0; k < nsh; k++)
                loss_sum += sh[k].loss;
            tokens += T;
        }
        double secs = (double)(time_mono_ns() - te) / 1e9;
        double ndcg = -1, hr = -1;
        if (nval) {
            valid_t v = {.m = m, .x = x, .users = val_u, .len = val_len, .n = nval};
            atomic_init(&v.next, 0);
            pthread_mutex_init(&v.lock, NULL);
            par_run(nt, valid_worker, &v);
            pthread_mutex_destroy(&v.lock);
            ndcg = v.ndcg / nval;
            hr = v.hr / nval;
        }
        if (o->progress)
            o->progress(o->progress_ud, ep, tokens ? loss_sum / (double)tokens : 0, ndcg, hr, secs);
        if (nval == 0 || ndcg > best) {
            best = ndcg;
            since_best = 0;
            memcpy(bestW, W, nf * sizeof *W);
            memcpy(bestE, E, ne * sizeof *E);
            free(params);
            if (asprintf(&params,
                         "{\"dim\":%u,\"blocks\":%u,\"maxlen\":%u,\"dropout\":%g,\"batch\":%u,\"lr\":%g,"
                         "\"negatives\":%u,\"adam\":\"%s\",\"epochs\":%u,\"best_epoch\":%u,\"valid_users\":%u,\"valid_ndcg10\":%.5f,"
                         "\"seed\":%llu}",
                         d, nb, L, o->dropout, o->batch, o->lr, nneg, lazy ? "lazy" : "dense", o->epochs, ep, nval, ndcg,
                         (unsigned long long)o->seed) < 0)
                abort();
        } else if (o->patience && ++since_best >= o->patience) {
            break;
        }
    }
    memcpy(W, bestW, nf * sizeof *W);
    memcpy(E, bestE, ne * sizeof *E);
    m->params = params;
    m->train_seconds = (double)(time_mono_ns() - t0) / 1e9;
    if (ne * sizeof(float) > IALS_INDEX_BYTES)
        ials_index(m);
    for (int k = 0; k < nsh; k++) {
        ws_free(sh[k].w);
        free(sh[k].gW);
        free(sh[k].gE);
        free(sh[k].logits);
        free(sh[k].cand);
    }
    free(sh);
    free(rows);
    free(stamp);
    free(mW);
    free(vW);
    free(mE);
    free(vE);
    free(bestW);
    free(bestE);
    free(neg);
    free(train_u);
    free(len);
    free(val_u);
    free(val_len);
    return m;
}
