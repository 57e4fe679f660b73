/* Dense kernels. Each hot loop keeps 8 partial sums so the compiler can put them in
 * vector lanes without reordering a single sum (no -ffast-math); target_clones builds an
 * AVX2+FMA version next to the baseline one and the loader picks per machine. */
#include "vec.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define CLONES VEC_CLONES

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

static void gemv_i8_plain(int32_t *restrict y, const int8_t *restrict M, const int8_t *restrict x, size_t m,
                          size_t n)
{
    for (size_t r = 0; r < m; r++) {
        const int8_t *row = M + r * n;
        int32_t s = 0;
        for (size_t i = 0; i < n; i++)
            s += (int16_t)row[i] * (int16_t)x[i];
        y[r] = s;
    }
}

#if defined(__x86_64__)
/* 16 lanes at a time: sign-extend the row's bytes to 16 bits, multiply-add pairs against
 * x (widened once), accumulate in 32 bits. The compiler does not find this on its own
 * (it widens to 32 bits first). */
__attribute__((target("avx2"))) static void gemv_i8_avx2(int32_t *restrict y, const int8_t *restrict M,
                                                         const int8_t *restrict x, size_t m, size_t n)
{
    size_t n16 = n / 16 * 16;
    __m256i xw[64];
    for (size_t i = 0; i < n16 && i / 16 < 64; i += 16)
        xw[i / 16] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(x + i)));
    if (n16 / 16 > 64) {
        gemv_i8_plain(y, M, x, m, n);
        return;
    }
    for (size_t r = 0; r < m; r++) {
        const int8_t *row = M + r * n;
        __m256i acc = _mm256_setzero_si256();
        for (size_t i = 0; i < n16; i += 16) {
            __m256i rw = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(row + i)));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(rw, xw[i / 16]));
        }
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
        int32_t s = _mm_cvtsi128_si32(s4);
        for (size_t i = n16; i < n; i++)
            s += (int16_t)row[i] * (int16_t)x[i];
        y[r] = s;
    }
}
#endif

void vec_gemv_i8(int32_t *y, const int8_t *M, const int8_t *x, size_t m, size_t n)
{
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2")) {
        gemv_i8_avx2(y, M, x, m, n);
        return;
    }
#endif
    gemv_i8_plain(y, M, x, m, n);
}

float vec_quantize(int8_t *q, const float *x, size_t n)
{
    float mx = 0;
    for (size_t i = 0; i < n; i++)
        if (fabsf(x[i]) > mx)
            mx = fabsf(x[i]);
    if (!(mx > 0) || !isfinite(mx)) {
        memset(q, 0, n);
        return 0;
    }
    float inv = 127.0f / mx;
    for (size_t i = 0; i < n; i++)
        q[i] = (int8_t)lrintf(x[i] * inv);
    return mx / 127.0f;
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
    if (n > 32) {
        qsort(h, n, sizeof *h, hit_cmp);
        return;
    }
    for (size_t i = 1; i < n; i++) { /* answers sort a few dozen: no calls through a pointer */
        vec_hit_t x = h[i];
        size_t j = i;
        for (; j > 0 && hit_cmp(&x, &h[j - 1]) < 0; j--)
            h[j] = h[j - 1];
        h[j] = x;
    }
}

size_t vec_select_hits(vec_hit_t *h, size_t n, size_t k)
{
    if (k >= n)
        return n;
    /* Quickselect (Hoare's partition, middle pivot) for position k: when it stops, every
     * hit before k is better than every one from k on. The order (score, then item) is
     * strict, so equal scores do not stall it. */
    ptrdiff_t lo = 0, hi = (ptrdiff_t)n - 1, at = (ptrdiff_t)k;
    while (lo < hi) {
        vec_hit_t pivot = h[lo + (hi - lo) / 2];
        ptrdiff_t i = lo, j = hi;
        while (i <= j) {
            while (worse(&pivot, &h[i]))
                i++;
            while (worse(&h[j], &pivot))
                j--;
            if (i <= j) {
                vec_hit_t t = h[i];
                h[i++] = h[j];
                h[j--] = t;
            }
        }
        if (at <= j)
            hi = j; /* [lo, j]: none worse than the pivot */
        else if (at >= i)
            lo = i; /* [i, hi]: none better */
        else
            break; /* between: the pivot itself, in place */
    }
    return k;
}

/* The value that would stand at position `at` (0-based) of v sorted descending
 * (quickselect; v is reordered). */
static float nth_largest(float *v, size_t n, size_t at)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        float pivot = v[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] > pivot)
                i++;
            while (v[j] < pivot)
                j--;
            if (i <= j) {
                float t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (at <= j)
            hi = j;
        else if (at >= i)
            lo = i;
        else
            break;
    }
    return v[at];
}

static size_t top_heap(const float *scores, size_t n, const uint8_t *skip, float floor, vec_hit_t *out, size_t k);

/* For a long list: a threshold from a sample, then only the scores at or above it go
 * through the heap. Exact: when fewer than k pass, it falls back to the whole list. */
size_t vec_top(const float *scores, size_t n, const uint8_t *skip, float floor, vec_hit_t *out, size_t k)
{
    if (!k)
        return 0;
    if (n < 8192 || k * 16 > n)
        return top_heap(scores, n, skip, floor, out, k);
    enum { SAMPLE = 2048 };
    float sample[SAMPLE];
    size_t step = n / SAMPLE, m = 0;
    for (size_t i = 0; i < SAMPLE; i++) {
        float s = scores[i * step];
        if (s > floor)
            sample[m++] = s;
    }
    /* Expect about 2k scores at or above the threshold. */
    size_t at = (2 * k * SAMPLE + n - 1) / n;
    if (at >= m)
        return top_heap(scores, n, skip, floor, out, k);
    float t = nth_largest(sample, m, at);
    size_t cap = 8 * k + 64, c = 0;
    uint32_t *idx = malloc(cap * sizeof *idx);
    float *val = malloc(cap * sizeof *val);
    if (!idx || !val)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (!(scores[i] >= t) || !(scores[i] > floor) || (skip && skip[i]))
            continue;
        if (c == cap) {
            c = SIZE_MAX;
            break;
        }
        idx[c] = (uint32_t)i;
        val[c++] = scores[i];
    }
    size_t got;
    if (c == SIZE_MAX || c < k) {
        got = top_heap(scores, n, skip, floor, out, k);
    } else {
        got = top_heap(val, c, NULL, -INFINITY, out, k);
        for (size_t i = 0; i < got; i++)
            out[i].item = idx[out[i].item]; /* positions keep index order, so ties do too */
    }
    free(idx);
    free(val);
    return got;
}

void vec_heap_offer(vec_hit_t *h, size_t *n, size_t k, vec_hit_t x)
{
    if (*n < k) {
        h[(*n)++] = x;
        if (*n == k) /* heapify once full */
            for (size_t j = k / 2; j-- > 0;)
                sift_down(h, k, j);
        return;
    }
    if (x.score <= h[0].score)
        return; /* equal scores: the earlier offer stays */
    h[0] = x;
    sift_down(h, k, 0);
}

static size_t top_heap(const float *scores, size_t n, const uint8_t *skip, float floor, vec_hit_t *out, size_t k)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        float s = scores[i];
        if (!(s > floor) || (skip && skip[i]))
            continue;
        vec_heap_offer(out, &m, k, (vec_hit_t){(uint32_t)i, s});
    }
    vec_sort_hits(out, m);
    return m;
}
