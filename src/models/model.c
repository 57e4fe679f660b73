/* Model objects and the model file: writing it atomically, reading it back, and the
 * checks that keep a damaged or foreign file from ever being used. */
#include "model.h"

#include "ease.h"
#include "ials.h"
#include "knn.h"
#include "seq.h"

#include "../util/crc32c.h"
#include "../util/intern.h"
#include "../util/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "AISLEMDL"
#define HEADER_BYTES 128
#define ENTRY_BYTES 24
#define MAX_SECTIONS 16
#define ALIGN 64

enum { SEC_PARAMS = 1, SEC_ITEM_OFF = 2, SEC_ITEM_IDS = 3, SEC_SCALARS = 4, SEC_KNN_NBR = 10, SEC_KNN_SIM = 11,
       SEC_EASE_B = 20, SEC_IALS_Y = 30, SEC_IALS_GRAM = 31, SEC_RANKER = 40, SEC_SEQ_SHAPE = 50,
       SEC_SEQ_EMB = 51, SEC_SEQ_NET = 52 };

static const char *const kind_names[] = {NULL, "knn", "ease", "ials", "ranker", "sequence"};

const char *model_kind_name(model_kind_t k)
{
    return k >= MODEL_KNN && k <= MODEL__MAX ? kind_names[k] : "unknown";
}

model_kind_t model_kind_from_name(const char *s)
{
    for (int k = MODEL_KNN; k <= MODEL__MAX; k++)
        if (strcmp(s, kind_names[k]) == 0)
            return (model_kind_t)k;
    return 0;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

model_t *model_new(model_kind_t kind, uint32_t nitems, uint32_t dim)
{
    model_t *m = calloc(1, sizeof *m);
    if (!m)
        abort();
    m->kind = kind;
    m->nitems = nitems;
    m->dim = dim;
    m->created_ms = time_now_ms();
    return m;
}

void *model_own(model_t *m, size_t bytes)
{
    if (m->nown == (int)(sizeof m->own / sizeof m->own[0]))
        abort();
    void *p = NULL;
    if (posix_memalign(&p, ALIGN, bytes ? bytes : 1) != 0)
        abort();
    memset(p, 0, bytes);
    m->own[m->nown++] = p;
    return p;
}

void model_set_ids(model_t *m, const intern_t *t)
{
    size_t total = 0, n;
    for (uint32_t i = 0; i < m->nitems; i++) {
        intern_str(t, i, &n);
        total += n;
    }
    uint32_t *off = model_own(m, ((size_t)m->nitems + 1) * sizeof *off);
    char *ids = model_own(m, total);
    size_t at = 0;
    for (uint32_t i = 0; i < m->nitems; i++) {
        const char *s = intern_str(t, i, &n);
        off[i] = (uint32_t)at;
        memcpy(ids + at, s, n);
        at += n;
    }
    off[m->nitems] = (uint32_t)at;
    m->id_off = off;
    m->ids = ids;
}

void model_free(model_t *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->nown; i++)
        free(m->own[i]);
    free(m->params);
    free(m);
}

const char *model_item_id(const model_t *m, uint32_t i, size_t *n)
{
    *n = m->id_off[i + 1] - m->id_off[i];
    return m->ids + m->id_off[i];
}

size_t model_score(const model_t *m, const model_in_t *in, size_t nin, vec_hit_t *out, size_t k)
{
    switch (m->kind) {
    case MODEL_KNN: return knn_score(m, in, nin, out, k);
    case MODEL_EASE: return ease_score(m, in, nin, out, k);
    case MODEL_IALS: return ials_score(m, in, nin, out, k);
    case MODEL_RANKER: return 0; /* it orders candidates, it does not propose them */
    case MODEL_SEQ: {
        uint32_t seq[256];
        size_t n = nin < 256 ? nin : 256;
        for (size_t i = 0; i < n; i++)
            seq[n - 1 - i] = in[i].item; /* oldest first */
        return seq_score(m, seq, n, out, k);
    }
    }
    return 0;
}

void model_path(char *out, size_t cap, const char *data_dir, model_kind_t kind)
{
    snprintf(out, cap, "%s/models/%s.model", data_dir, model_kind_name(kind));
}

/* ---- writing ------------------------------------------------------------------------ */

typedef struct {
    uint32_t id;
    const void *p;
    uint64_t bytes;
} sec_t;

#define NSCALARS 4

static size_t sections_of(const model_t *m, sec_t *s, float *scalars, uint32_t *shape)
{
    size_t n = 0;
    uint64_t ni = m->nitems, d = m->dim;
    const char *params = m->params ? m->params : "{}";
    s[n++] = (sec_t){SEC_PARAMS, params, strlen(params)};
    s[n++] = (sec_t){SEC_ITEM_OFF, m->id_off, (ni + 1) * 4};
    s[n++] = (sec_t){SEC_ITEM_IDS, m->ids, m->id_off[ni]};
    scalars[0] = m->lambda;
    scalars[1] = m->alpha;
    scalars[2] = (float)m->binary;
    scalars[3] = 0;
    s[n++] = (sec_t){SEC_SCALARS, scalars, NSCALARS * sizeof(float)};
    switch (m->kind) {
    case MODEL_KNN:
        s[n++] = (sec_t){SEC_KNN_NBR, m->nbr, ni * d * 4};
        s[n++] = (sec_t){SEC_KNN_SIM, m->sim, ni * d * 4};
        break;
    case MODEL_EASE: s[n++] = (sec_t){SEC_EASE_B, m->B, ni * ni * 4}; break;
    case MODEL_IALS:
        s[n++] = (sec_t){SEC_IALS_Y, m->Y, ni * d * 4};
        s[n++] = (sec_t){SEC_IALS_GRAM, m->gram, d * d * 4};
        break;
    case MODEL_RANKER: s[n++] = (sec_t){SEC_RANKER, m->ranker, (3 * d + 1) * 4}; break;
    case MODEL_SEQ:
        shape[0] = m->blocks;
        shape[1] = m->maxlen;
        shape[2] = 1; /* attention heads */
        shape[3] = 0;
        s[n++] = (sec_t){SEC_SEQ_SHAPE, shape, 16};
        s[n++] = (sec_t){SEC_SEQ_EMB, m->Y, ni * d * 4};
        s[n++] = (sec_t){SEC_SEQ_NET, m->net, seq_net_floats(m->dim, m->blocks, m->maxlen) * 4};
        break;
    }
    return n;
}

static void put32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static void put64(unsigned char *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n > (1u << 30) ? (1u << 30) : n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int model_write(const model_t *m, const char *path, char *err, size_t errlen)
{
    sec_t s[MAX_SECTIONS];
    float scalars[NSCALARS];
    uint32_t shape[4];
    size_t ns = sections_of(m, s, scalars, shape);
    unsigned char head[HEADER_BYTES] = {0}, table[MAX_SECTIONS * ENTRY_BYTES] = {0};
    uint64_t at = HEADER_BYTES + ns * ENTRY_BYTES;
    uint64_t offs[MAX_SECTIONS];
    for (size_t i = 0; i < ns; i++) {
        at = (at + ALIGN - 1) / ALIGN * ALIGN;
        offs[i] = at;
        unsigned char *e = table + i * ENTRY_BYTES;
        put32(e, s[i].id);
        put32(e + 4, crc32c(0, s[i].p, s[i].bytes));
        put64(e + 8, at);
        put64(e + 16, s[i].bytes);
        at += s[i].bytes;
    }
    uint64_t file_bytes = at;
    memcpy(head, MAGIC, 8);
    put32(head + 8, MODEL_VERSION);
    put32(head + 12, (uint32_t)m->kind);
    put32(head + 16, m->nitems);
    put32(head + 20, m->dim);
    put64(head + 24, (uint64_t)m->created_ms);
    put64(head + 32, m->events);
    put64(head + 40, m->users);
    memcpy(head + 48, &m->train_seconds, 8);
    put32(head + 56, (uint32_t)ns);
    put32(head + 60, crc32c(0, table, ns * ENTRY_BYTES));
    put64(head + 64, file_bytes);
    put32(head + 124, crc32c(0, head, 124));

    char tmp[1200], dir[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return fail(err, errlen, "cannot create %s: %s", dir, strerror(errno));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return fail(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
    static const unsigned char zeros[ALIGN] = {0};
    int rc = write_all(fd, head, sizeof head) || write_all(fd, table, ns * ENTRY_BYTES);
    uint64_t pos = HEADER_BYTES + ns * ENTRY_BYTES;
    for (size_t i = 0; i < ns && !rc; i++) {
        rc = write_all(fd, zeros, offs[i] - pos) || write_all(fd, s[i].p, s[i].bytes);
        pos = offs[i] + s[i].bytes;
    }
    if (rc || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return fail(err, errlen, "cannot write %s: %s", tmp, strerror(e));
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return fail(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(e));
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

/* ---- reading ------------------------------------------------------------------------ */

static uint32_t get32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static const char *section_name(uint32_t id)
{
    switch (id) {
    case SEC_PARAMS: return "params";
    case SEC_ITEM_OFF: return "item offsets";
    case SEC_ITEM_IDS: return "item ids";
    case SEC_SCALARS: return "scalars";
    case SEC_KNN_NBR: return "knn neighbours";
    case SEC_KNN_SIM: return "knn similarities";
    case SEC_EASE_B: return "ease weights";
    case SEC_IALS_Y: return "ials item factors";
    case SEC_IALS_GRAM: return "ials gram matrix";
    case SEC_RANKER: return "ranker weights";
    case SEC_SEQ_SHAPE: return "sequence shape";
    case SEC_SEQ_EMB: return "sequence item embeddings";
    case SEC_SEQ_NET: return "sequence network";
    }
    return "unknown";
}

model_t *model_parse(const void *data, size_t len, char *err, size_t errlen)
{
    const unsigned char *p = data;
    model_t *m = NULL;
    if (len < HEADER_BYTES || memcmp(p, MAGIC, 8) != 0) {
        fail(err, errlen, "not an Aisle model file (no AISLEMDL header)");
        return NULL;
    }
    if (get32(p + 124) != crc32c(0, p, 124)) {
        fail(err, errlen, "the header is damaged (checksum mismatch)");
        return NULL;
    }
    uint32_t version = get32(p + 8), kind = get32(p + 12), nitems = get32(p + 16), dim = get32(p + 20);
    uint32_t ns = get32(p + 56);
    if (version != MODEL_VERSION) {
        fail(err, errlen, "model file version %u; this Aisle reads version %u%s", version, MODEL_VERSION,
             version > MODEL_VERSION ? " (written by a newer Aisle)" : "");
        return NULL;
    }
    if (kind < MODEL_KNN || kind > MODEL__MAX) {
        fail(err, errlen, "unknown model kind %u", kind);
        return NULL;
    }
    if (get64(p + 64) != len) {
        fail(err, errlen, "the file has %zu bytes, its header says %llu (truncated or appended to)", len,
             (unsigned long long)get64(p + 64));
        return NULL;
    }
    if (ns == 0 || ns > MAX_SECTIONS || HEADER_BYTES + (uint64_t)ns * ENTRY_BYTES > len ||
        get32(p + 60) != crc32c(0, p + HEADER_BYTES, (size_t)ns * ENTRY_BYTES)) {
        fail(err, errlen, "the section table is damaged");
        return NULL;
    }
    const void *sec[64] = {0};
    uint64_t secn[64] = {0}, expect = HEADER_BYTES + (uint64_t)ns * ENTRY_BYTES;
    for (uint32_t i = 0; i < ns; i++) {
        const unsigned char *e = p + HEADER_BYTES + (size_t)i * ENTRY_BYTES;
        uint32_t id = get32(e);
        uint64_t off = get64(e + 8), n = get64(e + 16);
        /* Sections follow each other in order, separated only by zero padding to the
         * alignment, so that no byte of the file escapes a check. */
        if (id >= 64 || sec[id] || off % ALIGN || off < expect || off - expect >= ALIGN || off > len ||
            n > len - off) {
            fail(err, errlen, "section %u of the table is out of place", i);
            return NULL;
        }
        for (uint64_t z = expect; z < off; z++)
            if (p[z]) {
                fail(err, errlen, "the padding before the %s section is damaged", section_name(id));
                return NULL;
            }
        expect = off + n;
        if (get32(e + 4) != crc32c(0, p + off, n)) {
            fail(err, errlen, "the %s section is damaged (checksum mismatch)", section_name(id));
            return NULL;
        }
        sec[id] = p + off;
        secn[id] = n;
    }
    if (expect != len) {
        fail(err, errlen, "the file goes on past its last section");
        return NULL;
    }
    uint64_t ni = nitems, d = dim;
    /* What each kind needs, and how big it must be. */
    struct {
        uint32_t id;
        uint64_t bytes; /* UINT64_MAX: any */
    } need[8];
    int nneed = 0;
    need[nneed++] = (typeof(need[0])){SEC_PARAMS, UINT64_MAX};
    need[nneed++] = (typeof(need[0])){SEC_ITEM_OFF, (ni + 1) * 4};
    need[nneed++] = (typeof(need[0])){SEC_ITEM_IDS, UINT64_MAX};
    need[nneed++] = (typeof(need[0])){SEC_SCALARS, NSCALARS * sizeof(float)};
    if (kind == MODEL_KNN) {
        need[nneed++] = (typeof(need[0])){SEC_KNN_NBR, ni * d * 4};
        need[nneed++] = (typeof(need[0])){SEC_KNN_SIM, ni * d * 4};
    } else if (kind == MODEL_EASE) {
        if (d != ni) {
            fail(err, errlen, "an EASE model must have dim = items (%u, %u)", dim, nitems);
            return NULL;
        }
        need[nneed++] = (typeof(need[0])){SEC_EASE_B, ni * ni * 4};
    } else if (kind == MODEL_IALS) {
        if (d == 0 || d > 1024) {
            fail(err, errlen, "an iALS model must have 1 to 1024 factors, not %u", dim);
            return NULL;
        }
        need[nneed++] = (typeof(need[0])){SEC_IALS_Y, ni * d * 4};
        need[nneed++] = (typeof(need[0])){SEC_IALS_GRAM, d * d * 4};
    } else if (kind == MODEL_SEQ) {
        if (!sec[SEC_SEQ_SHAPE] || secn[SEC_SEQ_SHAPE] != 16) {
            fail(err, errlen, "the sequence shape section is missing or damaged");
            return NULL;
        }
        const uint32_t *sh = sec[SEC_SEQ_SHAPE];
        if (d < 4 || d > 1024 || sh[0] < 1 || sh[0] > 8 || sh[1] < 1 || sh[1] > 1024 || sh[2] != 1) {
            fail(err, errlen, "a sequence model must have 4 to 1024 dimensions, 1 to 8 blocks, 1 to 1024 positions "
                 "and one attention head, not %u, %u, %u and %u", dim, sh[0], sh[1], sh[2]);
            return NULL;
        }
        need[nneed++] = (typeof(need[0])){SEC_SEQ_EMB, ni * d * 4};
        need[nneed++] = (typeof(need[0])){SEC_SEQ_NET, (uint64_t)seq_net_floats(dim, sh[0], sh[1]) * 4};
    } else {
        if (d != MODEL_RANKER_FEATURES || ni != 0) {
            fail(err, errlen, "a ranker model must have %d features and no items, not %u and %u",
                 MODEL_RANKER_FEATURES, dim, nitems);
            return NULL;
        }
        need[nneed++] = (typeof(need[0])){SEC_RANKER, (3 * d + 1) * 4};
    }
    for (int i = 0; i < nneed; i++) {
        if (!sec[need[i].id]) {
            fail(err, errlen, "the %s section is missing", section_name(need[i].id));
            return NULL;
        }
        if (need[i].bytes != UINT64_MAX && secn[need[i].id] != need[i].bytes) {
            fail(err, errlen, "the %s section has %llu bytes, %llu expected for %u items", section_name(need[i].id),
                 (unsigned long long)secn[need[i].id], (unsigned long long)need[i].bytes, nitems);
            return NULL;
        }
    }
    const uint32_t *off = sec[SEC_ITEM_OFF];
    if (off[0] != 0 || off[ni] != secn[SEC_ITEM_IDS]) {
        fail(err, errlen, "the item id table is inconsistent");
        return NULL;
    }
    for (uint64_t i = 0; i < ni; i++)
        if (off[i + 1] <= off[i]) {
            fail(err, errlen, "item %llu has an empty or misplaced id", (unsigned long long)i);
            return NULL;
        }
    if (kind == MODEL_KNN) {
        const uint32_t *nbr = sec[SEC_KNN_NBR];
        for (uint64_t i = 0; i < ni * d; i++)
            if (nbr[i] != MODEL_NONE && nbr[i] >= nitems) {
                fail(err, errlen, "a neighbour refers to item %u of %u", nbr[i], nitems);
                return NULL;
            }
    }
    m = model_new((model_kind_t)kind, nitems, dim);
    m->created_ms = (int64_t)get64(p + 24);
    m->events = get64(p + 32);
    m->users = get64(p + 40);
    memcpy(&m->train_seconds, p + 48, 8);
    m->params = strndup(sec[SEC_PARAMS], secn[SEC_PARAMS]);
    if (!m->params)
        abort();
    m->id_off = off;
    m->ids = sec[SEC_ITEM_IDS];
    const float *sc = sec[SEC_SCALARS];
    m->lambda = sc[0];
    m->alpha = sc[1];
    m->binary = sc[2] != 0;
    m->nbr = sec[SEC_KNN_NBR];
    m->sim = sec[SEC_KNN_SIM];
    m->B = sec[SEC_EASE_B];
    m->Y = sec[SEC_IALS_Y];
    m->gram = sec[SEC_IALS_GRAM];
    m->ranker = sec[SEC_RANKER];
    if (kind == MODEL_SEQ) {
        const uint32_t *sh = sec[SEC_SEQ_SHAPE];
        m->blocks = sh[0];
        m->maxlen = sh[1];
        m->Y = sec[SEC_SEQ_EMB];
        m->net = sec[SEC_SEQ_NET];
    }
    if ((kind == MODEL_IALS || kind == MODEL_SEQ) && ni * d * sizeof(float) > IALS_INDEX_BYTES)
        ials_index(m);
    return m;
}

model_t *model_load(const char *path, char *err, size_t errlen)
{
    /* Read, not mapped: a file overwritten in place (cp over it, an editor) must not
     * change or truncate a model that is being served (a mapped page past a new end of
     * file is SIGBUS). The layout still allows mapping for tools that want it. */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || sb.st_size < HEADER_BYTES) {
        close(fd);
        fail(err, errlen, "%s: not an Aisle model file (too short)", path);
        return NULL;
    }
    size_t len = (size_t)sb.st_size;
    void *data = NULL;
    /* Large models on huge pages where the kernel offers them (madvise mode): a
     * hundredth of the page faults while reading, and of the TLB misses while scoring. */
    size_t align = len >= (8u << 20) ? (2u << 20) : 4096;
    if (posix_memalign(&data, align, len) != 0) {
        close(fd);
        fail(err, errlen, "%s: out of memory for %zu bytes", path, len);
        return NULL;
    }
    if (align > 4096)
        madvise(data, len, MADV_HUGEPAGE);
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, (char *)data + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got != len) {
        free(data);
        fail(err, errlen, "%s: the file changed size while it was read", path);
        return NULL;
    }
    char why[400];
    model_t *m = model_parse(data, len, why, sizeof why);
    if (!m) {
        free(data);
        fail(err, errlen, "%s: %s", path, why);
        return NULL;
    }
    m->own[m->nown++] = data;
    m->map_len = len;
    return m;
}
