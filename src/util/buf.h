/* Growable byte buffer, used to build log records and JSON responses.
 * The buffer owns its memory; buf_free releases it. Allocation failure aborts:
 * a server that cannot allocate a few KB cannot answer anyway. */
#ifndef AISLE_BUF_H
#define AISLE_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    char *data;
    size_t len;
    size_t cap;
} buf_t;

void buf_init(buf_t *b);
void buf_free(buf_t *b);
void buf_reserve(buf_t *b, size_t extra);
/* Inline: answers are written a few bytes at a time, and with the length of a literal
 * known where it is written the copy is a move or two, not a call. */
static inline void buf_append(buf_t *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap)
        buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}
static inline void buf_puts(buf_t *b, const char *s)
{
    buf_append(b, s, strlen(s));
}
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_put_u8(buf_t *b, uint8_t v);
void buf_put_u32(buf_t *b, uint32_t v);
void buf_put_u64(buf_t *b, uint64_t v);
void buf_put_varint(buf_t *b, uint64_t v);
/* A varint length followed by the bytes. */
void buf_put_str(buf_t *b, const char *s, size_t n);
/* Appends s as a JSON string literal, quotes included. */
void buf_put_json_str(buf_t *b, const char *s, size_t n);
/* The same without the quotes: a piece of a string literal the caller opens and closes. */
void buf_put_json_body(buf_t *b, const char *s, size_t n);
/* Appends v as printf's "%.6g" writes it (scores in answers: printf was a tenth of an
 * answer's CPU). */
void buf_put_g6(buf_t *b, double v);
/* Writes s as a JSON string literal (quotes included, escaping as jansson does) to out,
 * which has room for 6 * n + 2 bytes; returns the bytes written. */
size_t json_escape_to(char *out, const char *s, size_t n);

/* Reading side: a cursor over bytes; every getter returns -1 past the end. */
typedef struct {
    const unsigned char *p, *end;
} rd_t;

int rd_u8(rd_t *r, uint8_t *v);
int rd_u32(rd_t *r, uint32_t *v);
int rd_u64(rd_t *r, uint64_t *v);
int rd_varint(rd_t *r, uint64_t *v);
/* Points *s into the buffer (not NUL-terminated). */
int rd_str(rd_t *r, const char **s, size_t *n);

#endif
