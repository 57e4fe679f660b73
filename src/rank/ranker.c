/* Logistic regression by Newton's method: per iteration one pass over the examples for
 * the gradient and the Hessian (RK_NFEAT + 1 square), then one Cholesky solve (LAPACK). */
#include "ranker.h"

#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const rk_feature_names[RK_NFEAT] = {
    "co_view",       "co_purchase",    "category",      "trending",     "knn",          "ease",
    "ials",          "content",        "has_co_view",   "has_co_purchase", "has_category", "has_trending",
    "has_knn",       "has_ease",       "has_ials",      "has_content",  "popularity",   "decayed_popularity",
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
    double beta[P] = {0}, prev = INFINITY;
    double p0 = (double)d->positives / (double)d->n;
    beta[RK_NFEAT] = log(p0 / (1 - p0));
    int it;
    for (it = 0; it < 30; it++) {
        double g[P] = {0}, H[P * P] = {0}, loss = 0;
        double z[P];
        for (size_t r = 0; r < d->n; r++) {
            const float *x = d->x + r * RK_NFEAT;
            double eta = beta[RK_NFEAT];
            for (int i = 0; i < RK_NFEAT; i++) {
                z[i] = (x[i] - m->mean[i]) / m->scale[i];
                eta += beta[i] * z[i];
            }
            z[RK_NFEAT] = 1;
            double p = 1 / (1 + exp(-eta)), y = d->y[r];
            loss += y ? -log(p > 1e-300 ? p : 1e-300) : -log(1 - p > 1e-300 ? 1 - p : 1e-300);
            double wgt = p * (1 - p), res = p - y;
            for (int i = 0; i < P; i++) {
                g[i] += res * z[i];
                double wz = wgt * z[i];
                for (int j = i; j < P; j++) /* upper triangle */
                    H[i * P + j] += wz * z[j];
            }
        }
        for (int i = 0; i < RK_NFEAT; i++) { /* L2 on the weights, not the bias */
            g[i] += lambda * beta[i];
            H[i * P + i] += lambda;
            loss += 0.5 * lambda * beta[i] * beta[i];
        }
        loss /= (double)d->n;
        if (verbose)
            fprintf(stderr, "ranker: iteration %d  log-loss %.6f\n", it + 1, loss);
        if (fabs(prev - loss) < 1e-7 * (1 + fabs(loss)))
            break;
        prev = loss;
        /* Newton step: H delta = g. */
        if (LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', P, 1, H, P, g, 1) != 0)
            break;
        for (int i = 0; i < P; i++)
            beta[i] -= g[i];
    }
    for (int i = 0; i < RK_NFEAT; i++)
        m->w[i] = (float)beta[i];
    m->bias = (float)beta[RK_NFEAT];
    return it + 1;
}
