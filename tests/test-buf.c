/* The growable buffer's number formatting against printf, and its JSON string escaping
 * against the byte-at-a-time definition. */
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
                        -3.25,  1e-30,    3e30, 1.5e-20, 9.9e19, 2.2e20, 1.23456e-16,     0.0123456789, 42.000001, 1.0000005, 100000, 7e22, NAN, INFINITY};
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
        float f = (float)(pow(10.0, -19 + 38 * u) * (1 + (double)rand() / RAND_MAX));
        bad += !same_as_printf((double)f);
    }
    ASSERT_EQ(bad, 0);
}

TEST(g6_matches_printf_on_doubles_and_near_ties)
{
    /* Doubles, either sign, a third of them a hair from a decimal tie in the sixth digit
     * (where long double alone rounds the wrong way now and then). */
    srand(3);
    int bad = 0;
    for (int i = 0; i < 300000 && bad < 5; i++) {
        double u = (double)rand() / RAND_MAX;
        double v = pow(10.0, -19 + 38 * u) * (1 + (double)rand() / RAND_MAX);
        if (i % 3 == 0) {
            double scale = pow(10.0, 5 - floor(log10(v)));
            v = (floor(v * scale) + 0.5) / scale;
        }
        bad += !same_as_printf(i % 2 ? -v : v);
    }
    ASSERT_EQ(bad, 0);
}

/* The definition, a byte at a time, as jansson escapes. */
static size_t escape_ref(char *out, const unsigned char *s, size_t n)
{
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\')
            out[o++] = '\\', out[o++] = (char)c;
        else if (c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
            out[o++] = '\\', out[o++] = c == '\b' ? 'b' : c == '\f' ? 'f' : c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        else if (c < 0x20)
            o += (size_t)sprintf(out + o, "\\u%04X", c);
        else
            out[o++] = (char)c;
    }
    out[o++] = '"';
    return o;
}

TEST(json_escape_matches_the_byte_at_a_time_definition)
{
    /* Random strings mostly plain (the fast path), with quotes, backslashes, control
     * characters and UTF-8 bytes sprinkled at every position and length. */
    srand(11);
    unsigned char s[64];
    char want[6 * 64 + 2], got[6 * 64 + 2];
    for (int t = 0; t < 200000; t++) {
        size_t n = (size_t)(rand() % 40);
        for (size_t i = 0; i < n; i++) {
            int r = rand() % 100;
            s[i] = r < 85 ? (unsigned char)(' ' + rand() % 95)
                   : r < 89 ? '"'
                   : r < 93 ? '\\'
                   : r < 97 ? (unsigned char)(rand() % 0x20)
                            : (unsigned char)(0x80 + rand() % 0x80);
        }
        size_t wn = escape_ref(want, s, n), gn = json_escape_to(got, (const char *)s, n);
        ASSERT_EQ(gn, wn);
        ASSERT(memcmp(got, want, wn) == 0);
        if (t % 100 == 0) { /* the unquoted form, appended to what a buffer holds */
            buf_t b;
            buf_init(&b);
            buf_puts(&b, "\"x");
            buf_put_json_body(&b, (const char *)s, n);
            ASSERT_EQ(b.len, wn - 2 + 2);
            ASSERT(memcmp(b.data + 2, want + 1, wn - 2) == 0);
            ASSERT(b.data[b.len] == '\0');
            buf_free(&b);
        }
    }
}

TEST_MAIN(TEST_ENTRY(g6_matches_printf_on_chosen_values), TEST_ENTRY(g6_matches_printf_on_scores),
          TEST_ENTRY(g6_matches_printf_on_doubles_and_near_ties),
          TEST_ENTRY(json_escape_matches_the_byte_at_a_time_definition))
