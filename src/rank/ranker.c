/* Logistic regression by Newton's method: per iteration one pass over the examples for
 * the gradient and the Hessian (RK_NFEAT + 1 square), then one Cholesky solve (LAPACK). */
#include "ranker.h"

#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const rk_feature_names[RK_NFEAT] = {
    "co_view",       "co_purchase",    "category",      "trending",     "popular",      "knn",
    "ease",          "ials",           "content",       "sequence",     "has_co_view",  "has_co_purchase",
    "has_category",  "has_trending",   "has_popular",   "has_knn",      "has_ease",     "has_ials",
    "has_content",   "has_sequence",
    "popularity",    "decayed_popularity",
    "trend",         "recency",        "category_affinity", "brand_affinity", "price_fit", "blend",
    "last_cooc",     "last_knn",       "last_ease",     "last_ials",    "last_content"};

float rk_score(const rk_model_t *m, const float *x)
{
    float s = m->bias;
    for (int i = 0; i < RK_NFEAT; i++)
        s += m->w[i] * (x[i] - m->mean[i]) / m->scale[i];
    return s;
}

void rk_data_init(rk_data_t *d)
{
    memset(d, 0, sizeof *d);
}

void rk_data_add(rk_data_t *d, const float *x, int label)
{
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 4096;
        d->x = realloc(d->x, d->cap * RK_NFEAT * sizeof *d->x);
        d->y = realloc(d->y, d->cap);
        if (!d->x || !d->y)
            abort();
    }
    memcpy(d->x + d->n * RK_NFEAT, x, RK_NFEAT * sizeof *x);
    d->y[d->n++] = (uint8_t)(label != 0);
    d->positives += label != 0;
}

void rk_data_free(rk_data_t *d)
{
    free(d->x);
    free(d->y);
    memset(d, 0, sizeof *d);
}

/* Row r's standardised features into z (z[RK_NFEAT] = 1, the bias); returns beta . z. */
static double standardise(const rk_data_t *d, const rk_model_t *m, size_t r, const double *beta, double *z)
{
    const float *x = d->x + r * RK_NFEAT;
    double eta = beta[RK_NFEAT];
    for (int i = 0; i < RK_NFEAT; i++) {
        z[i] = (x[i] - m->mean[i]) / m->scale[i];
        eta += beta[i] * z[i];
    }
    z[RK_NFEAT] = 1;
    return eta;
}

static double mean_loss(const rk_data_t *d, const rk_model_t *m, const double *beta, double lambda)
{
    double loss = 0, z[RK_NFEAT + 1];
    for (size_t r = 0; r < d->n; r++) {
        double eta = standardise(d, m, r, beta, z);
        /* log(1 + e^eta) - y eta, computed without overflow */
        loss += (eta > 0 ? eta + log1p(exp(-eta)) : log1p(exp(eta))) - (d->y[r] ? eta : 0);
    }
    loss /= (double)d->n;
    for (int i = 0; i < RK_NFEAT; i++)
        loss += 0.5 * lambda * beta[i] * beta[i];
    return loss;
}

int rk_fit(const rk_data_t *d, double lambda, int verbose, rk_model_t *m)
{
    enum { P = RK_NFEAT + 1 }; /* weights, then the bias */
    memset(m, 0, sizeof *m);
    if (!d->positives || d->positives == d->n)
        return -1;
    /* Standardise: mean 0, spread 1 (a constant feature keeps scale 1 and weight 0). */
    double sum[RK_NFEAT] = {0}, sq[RK_NFEAT] = {0};
    for (size_t r = 0; r < d->n; r++)
        for (int i = 0; i < RK_NFEAT; i++) {
            double v = d->x[r * RK_NFEAT + i];
            sum[i] += v;
            sq[i] += v * v;
        }
    for (int i = 0; i < RK_NFEAT; i++) {
        double mean = sum[i] / (double)d->n, var = sq[i] / (double)d->n - mean * mean;
        m->mean[i] = (float)mean;
        m->scale[i] = var > 1e-12 ? (float)sqrt(var) : 1.0f;
    }
    double beta[P] = {0};
    double p0 = (double)d->positives / (double)d->n;
    beta[RK_NFEAT] = log(p0 / (1 - p0));
    double loss = mean_loss(d, m, beta, lambda);
    int it;
    for (it = 0; it < 50; it++) {
        /* Gradient and Hessian of the mean log-loss + lambda/2 |w|^2. */
        double g[P] = {0}, H[P * P] = {0}, z[P];
        for (size_t r = 0; r < d->n; r++) {
            double eta = standardise(d, m, r, beta, z);
            double p = 1 / (1 + exp(-eta)), res = p - d->y[r], wgt = p * (1 - p);
            for (int i = 0; i < P; i++) {
                g[i] += res * z[i];
                double wz = wgt * z[i];
                for (int j = i; j < P; j++) /* upper triangle */
                    H[i * P + j] += wz * z[j];
            }
        }
        for (int i = 0; i < P; i++) {
            g[i] /= (double)d->n;
            for (int j = i; j < P; j++)
                H[i * P + j] /= (double)d->n;
        }
        for (int i = 0; i < RK_NFEAT; i++) { /* not on the bias */
            g[i] += lambda * beta[i];
            H[i * P + i] += lambda;
        }
        if (LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', P, 1, H, P, g, 1) != 0)
            break;
        /* Newton's step, halved until the loss goes down (plain Newton can overshoot
         * when few examples nearly separate). */
        double t = 1, next[P], nl = INFINITY;
        for (int half = 0; half < 30; half++, t /= 2) {
            for (int i = 0; i < P; i++)
                next[i] = beta[i] - t * g[i];
            nl = mean_loss(d, m, next, lambda);
            if (nl <= loss)
                break;
        }
        if (!(nl <= loss))
            break;
        memcpy(beta, next, sizeof beta);
        if (verbose)
            fprintf(stderr, "ranker: iteration %d  log-loss %.6f\n", it + 1, nl);
        int done = loss - nl < 1e-8 * (1 + loss);
        loss = nl;
        if (done)
            break;
    }
    for (int i = 0; i < RK_NFEAT; i++)
        m->w[i] = (float)beta[i];
    m->bias = (float)beta[RK_NFEAT];
    return it + 1;
}
