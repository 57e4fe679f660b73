/* Request metrics (src/api/metrics.c): quantiles within a bucket's width, Prometheus
 * buckets that count a duration at its bound exactly, status classes, loops added up. */
#include "../src/api/metrics.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>

static met_loop_t *loop_new(void)
{
    met_loop_t *m = calloc(1, sizeof *m);
    ASSERT(m);
    return m;
}

TEST(quantiles_fall_within_a_bucket_of_the_truth)
{
    met_loop_t *m = loop_new();
    /* 990 answers spread evenly over 10-20 µs, 10 of 5 ms: the tail is 1%. */
    for (int i = 0; i < 990; i++)
        met_record(m, MET_RECOMMENDATIONS, 200, 10000 + (uint64_t)i * 10000 / 990);
    for (int i = 0; i < 10; i++)
        met_record(m, MET_RECOMMENDATIONS, 200, 5000000);
    double p50 = met_quantile(m, MET_RECOMMENDATIONS, 0.5), p90 = met_quantile(m, MET_RECOMMENDATIONS, 0.9);
    double p99 = met_quantile(m, MET_RECOMMENDATIONS, 0.99),
           p999 = met_quantile(m, MET_RECOMMENDATIONS, 0.999);
    ASSERT(fabs(p50 - 15050) < 15050 * 0.1);
    ASSERT(fabs(p90 - 19090) < 19090 * 0.1);
    ASSERT(p99 < 20000 * 1.1);                    /* the 990th is still a fast one */
    ASSERT(fabs(p999 - 5000000) < 5000000 * 0.1); /* the 999th is in the tail */
    ASSERT(p50 <= p90 && p90 <= p99 && p99 <= p999);
    ASSERT(met_quantile(m, MET_EVENTS, 0.99) == 0); /* no requests */
    /* Exact below 8 ns. */
    met_record(m, MET_HEALTH, 200, 5);
    ASSERT(met_quantile(m, MET_HEALTH, 1.0) >= 5 && met_quantile(m, MET_HEALTH, 1.0) <= 6);
    free(m);
}

TEST(a_duration_at_a_bound_is_in_that_bound_s_bucket)
{
    met_loop_t *m = loop_new();
    met_record(m, MET_EVENTS, 200, 25000); /* exactly 25 µs */
    met_record(m, MET_EVENTS, 200, 25001);
    met_record(m, MET_EVENTS, 200, 20000000000ull); /* 20 s: past every bound */
    buf_t b;
    buf_init(&b);
    met_render(&b, m);
    buf_put_u8(&b, 0);
    ASSERT_CONTAINS(b.data,
                    "aisle_http_request_duration_seconds_bucket{route=\"events\",le=\"0.000025\"} 1\n");
    ASSERT_CONTAINS(b.data,
                    "aisle_http_request_duration_seconds_bucket{route=\"events\",le=\"0.00005\"} 2\n");
    ASSERT_CONTAINS(b.data, "aisle_http_request_duration_seconds_bucket{route=\"events\",le=\"10\"} 2\n");
    ASSERT_CONTAINS(b.data, "aisle_http_request_duration_seconds_bucket{route=\"events\",le=\"+Inf\"} 3\n");
    ASSERT_CONTAINS(b.data, "aisle_http_request_duration_seconds_count{route=\"events\"} 3\n");
    ASSERT_CONTAINS(b.data, "aisle_http_request_duration_seconds_sum{route=\"events\"} 20.000050001\n");
    ASSERT(!strstr(b.data, "route=\"items\"")); /* routes without requests are left out */
    buf_free(&b);
    free(m);
}

TEST(statuses_are_counted_by_class_and_loops_add_up)
{
    met_loop_t *a = calloc(2, sizeof *a);
    ASSERT(a);
    met_record(&a[0], MET_USERS, 204, 1000);
    met_record(&a[0], MET_USERS, 302, 1000);
    met_record(&a[1], MET_USERS, 404, 1000);
    met_record(&a[1], MET_USERS, 503, 1000);
    met_record(&a[1], MET_USERS, 422, 1000);
    met_record(&a[1], MET_NONE, 200, 1000); /* outside a handler: not counted */
    met_loop_t *sum = loop_new();
    met_sum(a, 2, sum);
    ASSERT_EQ(sum->count[MET_USERS][0], 1);
    ASSERT_EQ(sum->count[MET_USERS][1], 1);
    ASSERT_EQ(sum->count[MET_USERS][2], 2);
    ASSERT_EQ(sum->count[MET_USERS][3], 1);
    buf_t b;
    buf_init(&b);
    met_render(&b, sum);
    buf_put_u8(&b, 0);
    ASSERT_CONTAINS(b.data, "aisle_http_requests_total{route=\"users\",code=\"4xx\"} 2\n");
    ASSERT_CONTAINS(b.data, "aisle_http_requests_total{route=\"users\",code=\"5xx\"} 1\n");
    ASSERT_CONTAINS(b.data, "aisle_http_request_duration_seconds_count{route=\"users\"} 5\n");
    buf_free(&b);
    free(sum);
    free(a);
}

TEST_MAIN(TEST_ENTRY(quantiles_fall_within_a_bucket_of_the_truth),
          TEST_ENTRY(a_duration_at_a_bound_is_in_that_bound_s_bucket),
          TEST_ENTRY(statuses_are_counted_by_class_and_loops_add_up))
