/* Shared by the libFuzzer drivers: CHECK aborts with the driver's name (FUZZ_NAME, defined
 * before this is included) and the failed condition, which libFuzzer reports as a crash. */
#ifndef AISLE_FUZZ_H
#define AISLE_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                                            \
    do {                                                                                                       \
        if (!(cond)) {                                                                                         \
            fprintf(stderr, "%s: check failed at %s:%d: %s\n", FUZZ_NAME, __FILE__, __LINE__, #cond);          \
            abort();                                                                                           \
        }                                                                                                      \
    } while (0)

#endif
