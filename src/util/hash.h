/* Fast non-cryptographic 64-bit hashing for in-memory tables (interning, dedup).
 * Not for anything an attacker could exploit beyond slowing a table down: the seed
 * is chosen per process by the caller where that matters. */
#ifndef AISLE_HASH_H
#define AISLE_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t hash_mix(uint64_t x)
{
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ull;
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ull;
    x ^= x >> 32;
    return x;
}

/* splitmix64: advances *state and returns the next of a well-mixed sequence (a seeding
 * and small-stream generator: aisle gen, the sequence model's sampling). */
static inline uint64_t hash_splitmix(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Hashes len bytes: 8 bytes per step, each folded with a multiply; the tail is read
 * without going past the buffer. */
static inline uint64_t hash_bytes(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = seed ^ (len * 0x9e3779b97f4a7c15ull);
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = (h ^ hash_mix(v)) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
        p += 8;
        len -= 8;
    }
    uint64_t t = 0;
    for (size_t i = 0; i < len; i++)
        t |= (uint64_t)p[i] << (8 * i);
    h = (h ^ hash_mix(t + len)) * 0x9e3779b97f4a7c15ull;
    return hash_mix(h);
}

#endif
