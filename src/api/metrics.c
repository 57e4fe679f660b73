/* Request counts and duration histograms per route (metrics.h). A loop is the only writer
 * of its figures, so an increment is a relaxed load and store, and a reader on another
 * thread sees each figure whole. */
#include "metrics.h"

#include <string.h>

static const char *const route_names[MET_NROUTES] = {
    [MET_EVENTS] = "events",       [MET_ITEMS] = "items",
    [MET_USERS] = "users",         [MET_RECOMMENDATIONS] = "recommendations",
    [MET_SIMILAR] = "similar",     [MET_BOUGHT_TOGETHER] = "bought_together",
    [MET_CART] = "cart",           [MET_TRENDING] = "trending",
    [MET_POPULAR] = "popular",     [MET_RULES] = "rules",
    [MET_ADMIN] = "admin",         [MET_HEALTH] = "health",
    [MET_NOT_FOUND] = "not_found",
};

/* Upper bounds of the Prometheus buckets, in ns, and as the `le` label writes them. */
static const uint64_t le_ns[MET_NLE] = {
    25000,    50000,    100000,    250000,    500000,    1000000,    2500000,    5000000,    10000000,
    25000000, 50000000, 100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000, 10000000000};
static const char *const le_text[MET_NLE] = {"0.000025", "0.00005", "0.0001", "0.00025", "0.0005", "0.001",
                                             "0.0025",   "0.005",   "0.01",   "0.025",   "0.05",   "0.1",
                                             "0.25",     "0.5",     "1",      "2.5",     "5",      "10"};
static const char *const class_names[MET_NCLASSES] = {"2xx", "3xx", "4xx", "5xx"};

const char *met_route_name(met_route_t r)
{
    return r >= 0 && r < MET_NROUTES ? route_names[r] : "none";
}

static void bump(uint64_t *x, uint64_t by)
{
    __atomic_store_n(x, *x + by, __ATOMIC_RELAXED);
}

static uint64_t get(const uint64_t *x)
{
    return __atomic_load_n(x, __ATOMIC_RELAXED);
}

static size_t bucket_of(uint64_t ns)
{
    if (ns < 8)
        return (size_t)ns;
    int e = 63 - __builtin_clzll(ns); /* 2^e <= ns < 2^(e+1), e >= 3 */
    size_t b = (size_t)(e - 2) * 8 + (size_t)((ns >> (e - 3)) & 7);
    return b < MET_BUCKETS ? b : MET_BUCKETS - 1;
}

/* [lo, hi) of bucket b, in ns. */
static void bucket_range(size_t b, double *lo, double *hi)
{
    if (b < 8) {
        *lo = (double)b;
        *hi = (double)b + 1;
        return;
    }
    int e = (int)(b / 8) + 2;
    double unit = (double)(1ull << (e - 3));
    *lo = (double)(8 + b % 8) * unit;
    *hi = *lo + unit;
}

void met_record(met_loop_t *m, met_route_t r, int status, uint64_t ns)
{
    if (r < 0 || r >= MET_NROUTES)
        return;
    int cls = status / 100 - 2;
    cls = cls < 0 ? 0 : cls >= MET_NCLASSES ? MET_NCLASSES - 1 : cls;
    bump(&m->count[r][cls], 1);
    bump(&m->sum_ns[r], ns);
    bump(&m->hist[r][bucket_of(ns)], 1);
    int i = 0;
    while (i < MET_NLE && ns > le_ns[i])
        i++;
    bump(&m->le[r][i], 1);
}

void met_sum(const met_loop_t *loops, size_t n, met_loop_t *out)
{
    memset(out, 0, sizeof *out);
    for (size_t l = 0; l < n; l++) {
        const met_loop_t *m = &loops[l];
        for (int r = 0; r < MET_NROUTES; r++) {
            for (int c = 0; c < MET_NCLASSES; c++)
                out->count[r][c] += get(&m->count[r][c]);
            out->sum_ns[r] += get(&m->sum_ns[r]);
            for (int i = 0; i <= MET_NLE; i++)
                out->le[r][i] += get(&m->le[r][i]);
            for (int b = 0; b < MET_BUCKETS; b++)
                out->hist[r][b] += get(&m->hist[r][b]);
        }
    }
}

double met_quantile(const met_loop_t *m, met_route_t r, double q)
{
    if (r < 0 || r >= MET_NROUTES)
        return 0;
    uint64_t total = 0;
    for (int b = 0; b < MET_BUCKETS; b++)
        total += m->hist[r][b];
    if (!total)
        return 0;
    double rank = q * (double)total, seen = 0;
    for (size_t b = 0; b < MET_BUCKETS; b++) {
        double c = (double)m->hist[r][b];
        if (c > 0 && seen + c >= rank) {
            double lo, hi;
            bucket_range(b, &lo, &hi);
            return lo + (hi - lo) * ((rank - seen) / c);
        }
        seen += c;
    }
    double lo, hi;
    bucket_range(MET_BUCKETS - 1, &lo, &hi);
    return hi;
}

void met_render(buf_t *b, const met_loop_t *m)
{
    buf_puts(b, "# HELP aisle_http_requests_total Requests answered, by route and status class.\n"
                "# TYPE aisle_http_requests_total counter\n");
    for (int r = 0; r < MET_NROUTES; r++)
        for (int c = 0; c < MET_NCLASSES; c++)
            if (m->count[r][c])
                buf_printf(b, "aisle_http_requests_total{route=\"%s\",code=\"%s\"} %llu\n", route_names[r],
                           class_names[c], (unsigned long long)m->count[r][c]);
    buf_puts(b,
             "# HELP aisle_http_request_duration_seconds From the handler's start to the response handed to "
             "the connection (durable writes: until durable).\n"
             "# TYPE aisle_http_request_duration_seconds histogram\n");
    for (int r = 0; r < MET_NROUTES; r++) {
        uint64_t n = 0;
        for (int c = 0; c < MET_NCLASSES; c++)
            n += m->count[r][c];
        if (!n)
            continue;
        /* From the bucket counts alone, so that the +Inf bucket and the count are the
         * last cumulative figure even while loops go on counting. */
        uint64_t cum = 0;
        for (int i = 0; i < MET_NLE; i++) {
            cum += m->le[r][i];
            buf_printf(b, "aisle_http_request_duration_seconds_bucket{route=\"%s\",le=\"%s\"} %llu\n",
                       route_names[r], le_text[i], (unsigned long long)cum);
        }
        n = cum + m->le[r][MET_NLE];
        buf_printf(b,
                   "aisle_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n"
                   "aisle_http_request_duration_seconds_sum{route=\"%s\"} %.9f\n"
                   "aisle_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                   route_names[r], (unsigned long long)n, route_names[r], (double)m->sum_ns[r] / 1e9,
                   route_names[r], (unsigned long long)n);
    }
}
