/* Growable buffer and the byte-cursor used to decode records. */
#include "buf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(buf_t *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
}

void buf_free(buf_t *b)
{
    free(b->data);
    buf_init(b);
}

void buf_reserve(buf_t *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d)
        abort();
    b->data = d;
    b->cap = cap;
}

void buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        buf_append(b, tmp, (size_t)n);
        return;
    }
    buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void buf_put_u8(buf_t *b, uint8_t v)
{
    buf_append(b, &v, 1);
}

void buf_put_u32(buf_t *b, uint32_t v)
{
    unsigned char t[4] = {v, v >> 8, v >> 16, v >> 24};
    buf_append(b, t, 4);
}

void buf_put_u64(buf_t *b, uint64_t v)
{
    buf_put_u32(b, (uint32_t)v);
    buf_put_u32(b, (uint32_t)(v >> 32));
}

void buf_put_varint(buf_t *b, uint64_t v)
{
    unsigned char t[10];
    int n = 0;
    while (v >= 0x80) {
        t[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    t[n++] = (unsigned char)v;
    buf_append(b, t, (size_t)n);
}

void buf_put_str(buf_t *b, const char *s, size_t n)
{
    buf_put_varint(b, n);
    buf_append(b, s, n);
}

/* Whether none of the 8 bytes of x needs escaping (a control character, '"' or '\\'),
 * by the usual bit tricks: each test can only err towards "needs" (then the bytes go
 * one at a time). */
static int plain8(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t ctl = (x - 0x20 * ones) & ~x & highs;
    uint64_t q = x ^ (0x22 * ones), bs = x ^ (0x5c * ones);
    q = (q - ones) & ~q & highs;
    bs = (bs - ones) & ~bs & highs;
    return !(ctl | q | bs);
}

/* The escaped bytes of s, without the quotes. */
static size_t escape_body(char *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF"; /* as jansson writes */
    char *o = out;
    for (size_t i = 0; i < n; i++) {
        uint64_t x;
        while (i + 8 <= n && (memcpy(&x, s + i, 8), plain8(x))) { /* titles are mostly plain */
            memcpy(o, s + i, 8);
            o += 8;
            i += 8;
        }
        if (i == n)
            break;
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *o++ = (char)c;
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\b': *o++ = 'b'; break;
        case '\f': *o++ = 'f'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    return (size_t)(o - out);
}

size_t json_escape_to(char *out, const char *s, size_t n)
{
    out[0] = '"';
    size_t len = 1 + escape_body(out + 1, s, n);
    out[len++] = '"';
    return len;
}

void buf_put_json_str(buf_t *b, const char *s, size_t n)
{
    buf_reserve(b, 6 * n + 2);
    b->len += json_escape_to(b->data + b->len, s, n);
    b->data[b->len] = '\0';
}

void buf_put_json_body(buf_t *b, const char *s, size_t n)
{
    buf_reserve(b, 6 * n);
    b->len += escape_body(b->data + b->len, s, n);
    b->data[b->len] = '\0';
}

/* 10^k for 0 <= k <= 27, exact in long double (5^27 < 2^64); powl was most of the time
 * of buf_put_g6. */
static long double pow10l_exact(int k)
{
    static const long double p[] = {1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,  1e7L,  1e8L,  1e9L,
                                    1e10L, 1e11L, 1e12L, 1e13L, 1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L,
                                    1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L};
    return p[k];
}

void buf_put_g6(buf_t *b, double v)
{
    /* Six significant digits by integer arithmetic in long double (64-bit mantissa, so
     * that v * 10^k rounds as printf's exact decimal does); exponents past +-20 and
     * non-finite values, which scores never have, go to printf itself. */
    if (v == 0 || !isfinite(v) || fabs(v) < 1e-20 || fabs(v) > 1e20) {
        buf_printf(b, "%.6g", v);
        return;
    }
    char out[32];
    size_t n = 0;
    const double orig = v;
    if (v < 0) {
        out[n++] = '-';
        v = -v;
    }
    int e2;
    frexp(v, &e2); /* v in [2^(e2-1), 2^e2): the decimal exponent within one, fixed below */
    int e = (int)floor((e2 - 1) * 0.30102999566398120);
    long double scaled = 0;
    int64_t d = 0;
    for (int tries = 0; tries < 3; tries++) { /* the estimate may be one off */
        int k = 5 - e; /* within [-15, 26] here: 10^|k| is exact in long double */
        scaled = k >= 0 ? (long double)v * pow10l_exact(k) : (long double)v / pow10l_exact(-k);
        long double frac = scaled - floorl(scaled);
        if (fabsl(frac - 0.5L) < 1e-6L) { /* near a tie: only printf's exact decimal can tell */
            buf_printf(b, "%.6g", orig);
            return;
        }
        d = (int64_t)llrintl(scaled);
        if (d >= 1000000)
            e++;
        else if (d < 100000)
            e--;
        else
            break;
    }
    char dig[7];
    for (int i = 5; i >= 0; i--, d /= 10)
        dig[i] = (char)('0' + d % 10);
    int last = 5; /* the last significant digit left once trailing zeros go */
    while (last > 0 && dig[last] == '0')
        last--;
    if (e >= -4 && e < 6) {
        if (e < 0) {
            out[n++] = '0';
            out[n++] = '.';
            for (int i = 0; i < -e - 1; i++)
                out[n++] = '0';
            for (int i = 0; i <= last; i++)
                out[n++] = dig[i];
        } else {
            for (int i = 0; i <= e; i++)
                out[n++] = dig[i];
            if (last > e) {
                out[n++] = '.';
                for (int i = e + 1; i <= last; i++)
                    out[n++] = dig[i];
            }
        }
    } else {
        out[n++] = dig[0];
        if (last > 0) {
            out[n++] = '.';
            for (int i = 1; i <= last; i++)
                out[n++] = dig[i];
        }
        out[n++] = 'e';
        out[n++] = e < 0 ? '-' : '+';
        int a = e < 0 ? -e : e;
        out[n++] = (char)('0' + a / 10);
        out[n++] = (char)('0' + a % 10);
    }
    buf_append(b, out, n);
}

int rd_u8(rd_t *r, uint8_t *v)
{
    if (r->p >= r->end)
        return -1;
    *v = *r->p++;
    return 0;
}

int rd_u32(rd_t *r, uint32_t *v)
{
    if (r->end - r->p < 4)
        return -1;
    *v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 | (uint32_t)r->p[3] << 24;
    r->p += 4;
    return 0;
}

int rd_u64(rd_t *r, uint64_t *v)
{
    uint32_t lo, hi;
    if (rd_u32(r, &lo) || rd_u32(r, &hi))
        return -1;
    *v = (uint64_t)hi << 32 | lo;
    return 0;
}

int rd_varint(rd_t *r, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            return -1;
        unsigned char c = *r->p++;
        x |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

int rd_str(rd_t *r, const char **s, size_t *n)
{
    uint64_t len;
    if (rd_varint(r, &len) || len > (uint64_t)(r->end - r->p))
        return -1;
    *s = (const char *)r->p;
    *n = (size_t)len;
    r->p += len;
    return 0;
}
