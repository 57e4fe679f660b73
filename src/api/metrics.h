/* Request metrics: per event loop, per route, how many requests were answered by status
 * class and how long each took, from the handler's start to the response handed to the
 * connection (for a durable write, until its records are durable). Each loop writes only
 * its own met_loop_t, with no lock; readers add the loops up. GET /metrics renders them
 * for Prometheus, GET /v1/stats as quantiles. */
#ifndef AISLE_METRICS_H
#define AISLE_METRICS_H

#include "../util/buf.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    MET_EVENTS,
    MET_ITEMS,
    MET_USERS,
    MET_RECOMMENDATIONS,
    MET_SIMILAR,
    MET_BOUGHT_TOGETHER,
    MET_CART,
    MET_TRENDING,
    MET_POPULAR,
    MET_RULES,
    MET_ADMIN,
    MET_HEALTH,
    MET_NOT_FOUND,
    MET_NROUTES,
    MET_NONE = -1 /* a response sent outside a handler: not counted */
} met_route_t;

/* Log-linear buckets of nanoseconds: exact below 8, then 8 per doubling (each about 9%
 * wide) up to about 2^37 ns (137 s); longer lands in the last. */
#define MET_BUCKETS 280
#define MET_NCLASSES 4 /* 2xx, 3xx, 4xx, 5xx */
#define MET_NLE 18     /* the Prometheus bounds, +Inf aside */

typedef struct {
    uint64_t count[MET_NROUTES][MET_NCLASSES];
    uint64_t sum_ns[MET_NROUTES];
    uint64_t le[MET_NROUTES][MET_NLE + 1]; /* at most each bound, not cumulative; then above all */
    uint64_t hist[MET_NROUTES][MET_BUCKETS];
} met_loop_t;

/* The route's name as /metrics labels it ("recommendations"). */
const char *met_route_name(met_route_t r);
/* Counts one answer of route r with HTTP status, taking ns (loop thread only). */
void met_record(met_loop_t *m, met_route_t r, int status, uint64_t ns);
/* The sum of n loops' metrics, read while they go on (each figure is one loop's at some
 * instant); out is caller-owned. */
void met_sum(const met_loop_t *loops, size_t n, met_loop_t *out);
/* The q-quantile (0 < q <= 1) of route r's durations in ns, interpolated within its
 * bucket; 0 without requests. */
double met_quantile(const met_loop_t *m, met_route_t r, double q);
/* Appends the Prometheus text format of m (requests, durations). */
void met_render(buf_t *b, const met_loop_t *m);

#endif
