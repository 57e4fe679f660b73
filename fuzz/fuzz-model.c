/* libFuzzer driver: model files (src/models/model.c), as `aisle serve` reads them from
 * DIR/models. Any bytes must be either refused with a message or accepted as a model
 * whose every array lies inside the input; an accepted model must answer a few
 * histories (item ids looked up, scores ranked) without reading outside it.
 *
 * Random bytes rarely get past the checksums, so for inputs whose last byte is odd the
 * driver first recomputes them (each section's CRC where the table's bounds allow, the
 * table's, the header's), letting the fuzzer reach the checks behind them: sizes against
 * dimensions, section order and padding, item id tables, neighbour ranges. */
#define FUZZ_NAME "fuzz-model"
#include "fuzz.h"
#include "models/model.h"
#include "util/crc32c.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

/* Recomputes the checksums of a file laid out as model.c writes it (header 128 bytes,
 * table of 24-byte entries {id, crc, offset, bytes} after it). */
static void fix_checksums(uint8_t *p, size_t size)
{
    if (size < 128)
        return;
    uint32_t ns = get32(p + 56);
    if (ns <= 16 && 128 + (size_t)ns * 24 <= size) {
        for (uint32_t i = 0; i < ns; i++) {
            uint8_t *e = p + 128 + (size_t)i * 24;
            uint64_t off = get64(e + 8), n = get64(e + 16);
            if (off <= size && n <= size - off)
                put32(e + 4, crc32c(0, p + off, n));
        }
        put32(p + 60, crc32c(0, p + 128, (size_t)ns * 24));
    }
    put32(p + 124, crc32c(0, p, 124));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The file is used in place once mapped: give it a page-aligned copy, as mmap would. */
    void *copy = NULL;
    CHECK(posix_memalign(&copy, 4096, size ? size : 1) == 0);
    memcpy(copy, data, size);
    if (size && (data[size - 1] & 1))
        fix_checksums(copy, size);
    char err[512] = "";
    model_t *m = model_parse(copy, size, err, sizeof err);
    if (!m) {
        CHECK(err[0] != '\0'); /* a refusal says why */
        free(copy);
        return 0;
    }
    CHECK(m->kind >= MODEL_KNN && m->kind <= MODEL__MAX);
    CHECK(m->params != NULL);
    size_t total = 0;
    for (uint32_t i = 0; i < m->nitems; i++) {
        size_t n;
        const char *id = model_item_id(m, i, &n);
        CHECK(n > 0 && (const uint8_t *)id >= (const uint8_t *)copy && (const uint8_t *)id + n <= (uint8_t *)copy + size);
        total += n;
    }
    (void)total;
    if (m->nitems) {
        model_in_t in[3] = {{0, 1, 1}, {m->nitems - 1, 8, 0.5f}, {m->nitems / 2, 0.5f, 1}};
        vec_hit_t out[16];
        size_t k = model_score(m, in, 3, out, 16);
        CHECK(k <= 16 && k <= m->nitems);
        for (size_t i = 0; i < k; i++) {
            CHECK(out[i].item < m->nitems);
            CHECK(i == 0 || !(out[i].score > out[i - 1].score));
        }
    }
    model_free(m);
    free(copy);
    return 0;
}
