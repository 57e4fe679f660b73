/* Small dense kernels the models run per request and in training: dot products,
 * axpy, matrix-vector products, and picking the best scores. Built for the machine's
 * vector unit where it has AVX2/FMA (chosen at load time), plain SSE2 otherwise. */
#ifndef AISLE_VEC_H
#define AISLE_VEC_H

#include <stddef.h>
#include <stdint.h>

/* Builds a function twice, for AVX2/FMA machines and for the baseline, chosen at load
 * time: for loops the compiler vectorises (the kernels here, the models' own). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VEC_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define VEC_CLONES /* clang 14 emits target_clones without the plain symbol: baseline only */
#endif

typedef struct {
    uint32_t item;
    float score;
} vec_hit_t;

float vec_dot(const float *a, const float *b, size_t n);
/* y += a * x */
void vec_axpy(float *y, float a, const float *x, size_t n);
/* y[i] = dot(M[i*n ..], x) for i < m: M is m x n, row-major. */
void vec_gemv(float *y, const float *M, const float *x, size_t m, size_t n);
/* y[i] = dot(M[i*n ..], x) over int8 rows and an int8 vector (int32 sums). */
void vec_gemv_i8(int32_t *y, const int8_t *M, const int8_t *x, size_t m, size_t n);
/* Quantises x[0..n) to int8 (symmetric, round to nearest) into q; returns the scale
 * (x ~ scale * q), 0 when x is all zero. */
float vec_quantize(int8_t *q, const float *x, size_t n);
/* The best `k` of scores[0..n) (skipping those with skip[i] set, when skip is given, and
 * those not above floor), best first; ties in index order. Returns how many. */
size_t vec_top(const float *scores, size_t n, const uint8_t *skip, float floor, vec_hit_t *out, size_t k);
/* Offers x to h, a min-heap of the best k offered so far (*n of them; the worst at h[0]
 * once full; of equal scores the earlier offer stays). */
void vec_heap_offer(vec_hit_t *h, size_t *n, size_t k, vec_hit_t x);
/* Sorts hits best first (ties by item). */
void vec_sort_hits(vec_hit_t *h, size_t n);
/* Reorders h so that its first k are its best k (ties by item), in no order; O(n)
 * (quickselect). Returns min(n, k). */
size_t vec_select_hits(vec_hit_t *h, size_t n, size_t k);

#endif
