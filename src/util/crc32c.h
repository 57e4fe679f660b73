/* CRC32C (Castagnoli) checksums for log records and model files.
 * Debian ships no C library for CRC32C, so this is a small own implementation:
 * SSE4.2 crc32 instructions when the CPU has them, a table otherwise. */
#ifndef AISLE_CRC32C_H
#define AISLE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (0 to start) over buf[0..len). */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

#endif
