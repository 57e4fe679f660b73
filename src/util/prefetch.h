/* Asking the cache for memory ahead of its use. Header-only: each call is a handful of
 * prefetch instructions on a hot path (replay's applier, an answer's seeds). */
#ifndef AISLE_PREFETCH_H
#define AISLE_PREFETCH_H

#include <stddef.h>

/* Every cache line of p[0..n), n > 0 (the last byte's line included, whatever p's
 * alignment). */
static inline void prefetch_span(const void *p, size_t n)
{
    const char *c = p;
    for (size_t off = 0; off < n; off += 64)
        __builtin_prefetch(c + off);
    __builtin_prefetch(c + n - 1);
}

#endif
