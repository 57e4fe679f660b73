/* Huge-page allocation for large tables (see bigmem.h). */
#include "bigmem.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_PAGE (2u << 20)

void *bigmem_alloc(size_t n)
{
    void *p = NULL;
    if (n < BIGMEM_MIN) {
        p = malloc(n ? n : 1);
        if (!p)
            abort();
        return p;
    }
    if (posix_memalign(&p, HUGE_PAGE, n) != 0)
        abort();
    /* Advice only: where the kernel has THP off, the pages stay small. */
    madvise(p, n & ~(size_t)(HUGE_PAGE - 1), MADV_HUGEPAGE);
    return p;
}

void *bigmem_calloc(size_t n)
{
    void *p = bigmem_alloc(n);
    memset(p, 0, n);
    return p;
}
