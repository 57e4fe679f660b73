/* Dense kernels. Each hot loop keeps 8 partial sums so the compiler can put them in
 * vector lanes without reordering a single sum (no -ffast-math); target_clones builds an
 * AVX2+FMA version next to the baseline one and the loader picks per machine. */
#include "vec.h"

#include <stdlib.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define CLONES /* clang 14 emits target_clones without the plain symbol: baseline only */
#endif

CLONES float vec_dot(const float *restrict a, const float *restrict b, size_t n)
{
    float acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += a[i + j] * b[i + j];
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

CLONES void vec_axpy(float *restrict y, float a, const float *restrict x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

CLONES void vec_gemv(float *restrict y, const float *restrict M, const float *restrict x, size_t m, size_t n)
{
    for (size_t r = 0; r < m; r++) {
        const float *row = M + r * n;
        float acc[8] = {0};
        size_t i = 0;
        for (; i + 8 <= n; i += 8)
            for (int j = 0; j < 8; j++)
                acc[j] += row[i + j] * x[i + j];
        float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
        for (; i < n; i++)
            s += row[i] * x[i];
        y[r] = s;
    }
}

/* Min-heap on (score, then higher index is worse) of the best seen so far. */
static int worse(const vec_hit_t *a, const vec_hit_t *b)
{
    return a->score < b->score || (a->score == b->score && a->item > b->item);
}

static void sift_down(vec_hit_t *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && worse(&h[l], &h[m]))
            m = l;
        if (r < n && worse(&h[r], &h[m]))
            m = r;
        if (m == i)
            return;
        vec_hit_t t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static int hit_cmp(const void *a, const void *b)
{
    const vec_hit_t *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->item < y->item ? -1 : x->item > y->item;
}

void vec_sort_hits(vec_hit_t *h, size_t n)
{
    qsort(h, n, sizeof *h, hit_cmp);
}

size_t vec_top(const float *scores, size_t n, const uint8_t *skip, float floor, vec_hit_t *out, size_t k)
{
    if (!k)
        return 0;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        float s = scores[i];
        if (!(s > floor) || (skip && skip[i]))
            continue;
        if (m < k) {
            out[m++] = (vec_hit_t){(uint32_t)i, s};
            if (m == k) /* heapify once full */
                for (size_t j = k / 2; j-- > 0;)
                    sift_down(out, k, j);
            continue;
        }
        if (s <= out[0].score)
            continue; /* equal scores: the earlier index stays */
        out[0] = (vec_hit_t){(uint32_t)i, s};
        sift_down(out, k, 0);
    }
    vec_sort_hits(out, m);
    return m;
}
