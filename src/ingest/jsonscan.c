/* The scanner: RFC 8259 grammar, jansson's rules for what is refused (control bytes in
 * strings, \u0000, lone surrogates, integers outside int64, reals that overflow). */
#include "jsonscan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void js_init(js_t *j, const char *p, size_t n, char *arena, val_error_t *err)
{
    j->p = j->start = p;
    j->end = p + n;
    j->arena = arena;
    j->alen = 0;
    j->err = err;
    j->depth = 0;
}

int js_depth_ok(js_t *j)
{
    return j->depth + 1 > JS_MAX_DEPTH ? js_fail(j, "nesting too deep") : 0;
}

int js_fail(js_t *j, const char *what)
{
    int line = 1, col = 1;
    for (const char *c = j->start; c < j->p && c < j->end; c++) {
        if (*c == '\n')
            line++, col = 1;
        else
            col++;
    }
    return val_fail(j->err, "invalid_json", "", "malformed JSON at line %d, column %d: %s", line, col, what);
}

void js_skip_ws(js_t *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
        j->p++;
}

int js_peek(js_t *j)
{
    js_skip_ws(j);
    if (j->p >= j->end)
        return js_fail(j, "unexpected end of input");
    switch (*j->p) {
    case '"': return JS_STRING;
    case '{': return JS_OBJECT;
    case '[': return JS_ARRAY;
    case 't': return JS_TRUE;
    case 'f': return JS_FALSE;
    case 'n': return JS_NULL;
    default:
        if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9'))
            return JS_INT; /* or JS_REAL: js_number tells */
        return js_fail(j, "unexpected character");
    }
}

int js_expect(js_t *j, char c)
{
    js_skip_ws(j);
    if (j->p >= j->end || *j->p != c) {
        char what[32] = "expected ' '";
        what[10] = c;
        return js_fail(j, what);
    }
    j->p++;
    return 0;
}

int js_next(js_t *j, char close)
{
    js_skip_ws(j);
    if (j->p < j->end && *j->p == ',') {
        j->p++;
        return 1;
    }
    if (j->p < j->end && *j->p == close) {
        j->p++;
        return 0;
    }
    return js_fail(j, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
}

static int hex4(const char *p, unsigned *v)
{
    unsigned x = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        x <<= 4;
        if (c >= '0' && c <= '9')
            x |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            x |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            x |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *v = x;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

int js_string(js_t *j, const char **s, size_t *n)
{
    const char *p = j->p + 1, *end = j->end;
    const char *run = p;
    /* Fast path: no escapes, the string is a view into the input. */
    while (p < end && *p != '"' && *p != '\\') {
        if ((unsigned char)*p < 0x20) {
            j->p = p;
            return js_fail(j, "control character in string");
        }
        p++;
    }
    if (p >= end) {
        j->p = p;
        return js_fail(j, "unterminated string");
    }
    if (*p == '"') {
        *s = run;
        *n = (size_t)(p - run);
        j->p = p + 1;
        return 0;
    }
    /* Escapes: decode into the arena. */
    char *out = j->arena + j->alen, *o = out;
    memcpy(o, run, (size_t)(p - run));
    o += p - run;
    while (p < end && *p != '"') {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20) {
            j->p = p;
            return js_fail(j, "control character in string");
        }
        if (c != '\\') {
            *o++ = (char)c;
            p++;
            continue;
        }
        if (end - p < 2) {
            j->p = p;
            return js_fail(j, "unterminated string");
        }
        char e = p[1];
        p += 2;
        switch (e) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (end - p < 4 || hex4(p, &cp) != 0) {
                j->p = p;
                return js_fail(j, "invalid \\u escape");
            }
            p += 4;
            if (cp >= 0xdc00 && cp <= 0xdfff) {
                j->p = p;
                return js_fail(j, "lone low surrogate");
            }
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) != 0 || lo < 0xdc00 ||
                    lo > 0xdfff) {
                    j->p = p;
                    return js_fail(j, "high surrogate without its low half");
                }
                p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            if (cp == 0) {
                j->p = p;
                return js_fail(j, "\\u0000 is not allowed");
            }
            o += put_utf8(o, cp);
            break;
        }
        default:
            j->p = p - 1;
            return js_fail(j, "invalid escape");
        }
    }
    if (p >= end) {
        j->p = p;
        return js_fail(j, "unterminated string");
    }
    *s = out;
    *n = (size_t)(o - out);
    j->alen += *n;
    j->p = p + 1;
    return 0;
}

int js_number(js_t *j, js_kind_t *kind, int64_t *iv, double *dv)
{
    const char *p = j->p, *end = j->end, *start = p;
    int neg = 0;
    if (p < end && *p == '-')
        neg = 1, p++;
    if (p >= end || *p < '0' || *p > '9')
        return js_fail(j, "invalid number");
    if (*p == '0') {
        p++;
        if (p < end && *p >= '0' && *p <= '9')
            return js_fail(j, "leading zero in number");
    } else {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    int real = 0;
    if (p < end && *p == '.') {
        real = 1;
        p++;
        if (p >= end || *p < '0' || *p > '9')
            return js_fail(j, "invalid fraction");
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        real = 1;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || *p < '0' || *p > '9')
            return js_fail(j, "invalid exponent");
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (!real) {
        uint64_t v = 0;
        for (const char *d = start + neg; d < p; d++) {
            unsigned dig = (unsigned)(*d - '0');
            if (v > (UINT64_MAX - dig) / 10)
                return js_fail(j, "integer out of range");
            v = v * 10 + dig;
        }
        if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX)
            return js_fail(j, "integer out of range");
        *iv = neg ? (int64_t)(0 - v) : (int64_t)v;
        *kind = JS_INT;
    } else {
        char tmp[64], *heap = NULL, *buf = tmp;
        size_t len = (size_t)(p - start);
        if (len >= sizeof tmp) {
            heap = malloc(len + 1);
            if (!heap)
                abort();
            buf = heap;
        }
        memcpy(buf, start, len);
        buf[len] = '\0';
        double d = strtod(buf, NULL);
        free(heap);
        if (isinf(d))
            return js_fail(j, "real number overflow");
        *dv = d;
        *kind = JS_REAL;
    }
    j->p = p;
    return 0;
}

static int literal(js_t *j, const char *lit, size_t n)
{
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
        return js_fail(j, "invalid literal");
    j->p += n;
    return 0;
}

static int skip_value(js_t *j);

/* Reads an object key (a string) at the cursor. */
static int key(js_t *j)
{
    int k = js_peek(j);
    if (k < 0)
        return -1;
    if (k != JS_STRING)
        return js_fail(j, "expected a string key");
    const char *s;
    size_t n;
    return js_string(j, &s, &n);
}

int js_skip(js_t *j)
{
    size_t mark = j->alen; /* decoded strings of a skipped value are not kept */
    int rc = skip_value(j);
    j->alen = mark;
    return rc;
}

static int skip_value(js_t *j)
{
    /* Iterative, with the open brackets on a small stack: no recursion on hostile input. */
    char stack[JS_MAX_DEPTH];
    int depth = 0;
    for (;;) {
        if (j->depth + 1 + depth > JS_MAX_DEPTH)
            return js_fail(j, "nesting too deep");
        int k = js_peek(j);
        const char *s;
        size_t n;
        js_kind_t kind;
        int64_t iv;
        double dv;
        switch (k) {
        case JS_STRING:
            if (js_string(j, &s, &n))
                return -1;
            break;
        case JS_INT:
            if (js_number(j, &kind, &iv, &dv))
                return -1;
            break;
        case JS_TRUE:
            if (literal(j, "true", 4))
                return -1;
            break;
        case JS_FALSE:
            if (literal(j, "false", 5))
                return -1;
            break;
        case JS_NULL:
            if (literal(j, "null", 4))
                return -1;
            break;
        case JS_OBJECT:
        case JS_ARRAY: {
            char close = k == JS_OBJECT ? '}' : ']';
            j->p++;
            js_skip_ws(j);
            if (j->p < j->end && *j->p == close) {
                j->p++;
                break; /* empty container: a complete value */
            }
            stack[depth++] = close;
            if (close == '}' && (key(j) || js_expect(j, ':')))
                return -1;
            continue; /* read the first member's value */
        }
        default:
            return -1;
        }
        /* A value is complete: close containers or move to the next member. */
        while (depth > 0) {
            char close = stack[depth - 1];
            int more = js_next(j, close);
            if (more < 0)
                return -1;
            if (more) {
                if (close == '}' && (key(j) || js_expect(j, ':')))
                    return -1;
                break;
            }
            depth--;
        }
        if (depth == 0)
            return 0;
    }
}

int js_utf8_ok(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* Skip ASCII eight bytes at a time. */
        while (i + 8 <= n) {
            uint64_t v;
            memcpy(&v, p + i, 8);
            if (v & 0x8080808080808080ull)
                break;
            i += 8;
        }
        while (i < n && (unsigned char)p[i] < 0x80)
            i++;
        if (i >= n)
            return 1;
        /* A multi-byte sequence: check it and the bytes up to the next ASCII run. */
        size_t j = i;
        while (j < n && (unsigned char)p[j] >= 0x80)
            j++;
        if (!val_utf8(p + i, j - i))
            return 0;
        i = j;
    }
    return 1;
}
