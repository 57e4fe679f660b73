/* Large tables on huge pages: the id tables, the event-id set and the per-id arrays are
 * hundreds of MiB read at random, so with 4 KiB pages nearly every look-up also waits on
 * a page walk. Kernels in THP "madvise" mode give huge pages only to memory that asks. */
#ifndef AISLE_BIGMEM_H
#define AISLE_BIGMEM_H

#include <stddef.h>

/* n bytes, uninitialised, aligned to 2 MiB and advised for huge pages when n is at least
 * BIGMEM_MIN; aborts when out of memory. Caller owns; release with free(). */
void *bigmem_alloc(size_t n);
/* As bigmem_alloc, zeroed. */
void *bigmem_calloc(size_t n);
/* Grows p (of old bytes, from bigmem_alloc or NULL) to n bytes, keeping the contents. */
void *bigmem_realloc(void *p, size_t old, size_t n);

#define BIGMEM_MIN (4u << 20)

#endif
