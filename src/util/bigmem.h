/* Large buffers on huge pages. The id tables and the event-id set are tens to hundreds
 * of MiB read at random: with 4 KiB pages nearly every look-up also waits on a page walk.
 * A log segment replay reads (64 MiB by default) is filled once: a fault per 4 KiB otherwise.
 * Kernels in THP "madvise" mode give huge pages only to memory that asks. */
#ifndef AISLE_BIGMEM_H
#define AISLE_BIGMEM_H

#include <stddef.h>

/* n bytes, uninitialised, aligned to 2 MiB and advised for huge pages when n is at least
 * BIGMEM_MIN; aborts when out of memory. Caller owns; release with free(). */
void *bigmem_alloc(size_t n);
/* As bigmem_alloc, zeroed. */
void *bigmem_calloc(size_t n);

#define BIGMEM_MIN (4u << 20)

#endif
