/* The growable buffer's number formatting against printf. */
#include "test.h"
#include "util/buf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whether buf_put_g6(v) writes what printf("%.6g", v) does; prints the pair when not. */
static int same_as_printf(double v)
{
    char want[64];
    snprintf(want, sizeof want, "%.6g", v);
    buf_t b;
    buf_init(&b);
    buf_put_g6(&b, v);
    int ok = b.len == strlen(want) && memcmp(b.data, want, b.len) == 0;
    if (!ok)
        fprintf(stderr, "%.17g: printf %s, buf_put_g6 %.*s\n", v, want, (int)b.len, b.data);
    buf_free(&b);
    return ok;
}

TEST(g6_matches_printf_on_chosen_values)
{
    const double v[] = {0,      -0.0,     1,        0.5,      0.1,       1e-5,     1e-4,    9.999995e-5, 0.000123456,
                        123456, 999999.5, 999999.4, 1234567,  1e6,       0.9999995, 0.99999949, 9.5,   2.5e-7,
                        -3.25,  1e-30,    3e30,     0.0123456789, 42.000001, 1.0000005, 100000, 7e22, NAN, INFINITY};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        ASSERT(same_as_printf(v[i]));
}

TEST(g6_matches_printf_on_scores)
{
    /* Answers' scores: probabilities, blends of normalised sources, decayed counts; as
     * floats widened to double, the way the server writes them. */
    srand(7);
    int bad = 0;
    for (int i = 0; i < 300000 && bad < 5; i++) {
        double u = (double)rand() / RAND_MAX;
        float f = (float)(pow(10.0, -8 + 12 * u) * (1 + (double)rand() / RAND_MAX));
        bad += !same_as_printf((double)f);
    }
    ASSERT_EQ(bad, 0);
}

TEST_MAIN(TEST_ENTRY(g6_matches_printf_on_chosen_values), TEST_ENTRY(g6_matches_printf_on_scores))
