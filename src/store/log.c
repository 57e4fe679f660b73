/* Segment files, record framing, replay with tail repair, and the group-commit writer. */
#include "log.h"

#include "../util/bigmem.h"
#include "../util/buf.h"
#include "../util/crc32c.h"
#include "../util/slog.h"
#include "../util/timeutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEG_MAGIC "AISLELOG"
#define SEG_VERSION 1u
#define SEG_HEADER 16
#define REC_HEADER 8

struct log {
    char *dir;
    log_opts_t opts;
    int dirfd;
    int lockfd;        /* DIR/LOCK, flock'd while the log is open */
    int fd;            /* current segment, opened for append */
    uint64_t seg_base; /* LSN at which the current segment starts */
    uint64_t seg_size; /* bytes in the current segment */
    uint64_t bytes_closed;
    uint32_t segments;

    pthread_mutex_t mu;
    pthread_cond_t cond;      /* writer waits for data */
    pthread_cond_t done_cond; /* log_wait waits for durability */
    buf_t pending;            /* appended, not yet handed to the writer */
    uint64_t appended;        /* LSN after the last append */
    uint64_t durable;         /* LSN acknowledgeable */
    int stop;
    int started;
    pthread_t thread;
    log_durable_fn cb;
    void *cb_ud;
};

void log_opts_default(log_opts_t *o)
{
    o->fsync = LOG_FSYNC_ALWAYS;
    o->batch_ms = 0;
    o->segment_bytes = 64ull << 20;
}

int log_parse_fsync(const char *s, log_opts_t *o)
{
    if (strcmp(s, "always") == 0) {
        o->fsync = LOG_FSYNC_ALWAYS;
        return 0;
    }
    if (strcmp(s, "never") == 0) {
        o->fsync = LOG_FSYNC_NEVER;
        return 0;
    }
    if (strncmp(s, "batch:", 6) == 0) {
        char *end;
        long ms = strtol(s + 6, &end, 10);
        if (end == s + 6 || *end || ms <= 0 || ms > 60000)
            return -1;
        o->fsync = LOG_FSYNC_BATCH;
        o->batch_ms = (int)ms;
        return 0;
    }
    return -1;
}

static void seg_path(const char *dir, uint64_t base, char *out, size_t n)
{
    snprintf(out, n, "%s/%020" PRIu64 ".seg", dir, base);
}

int log_open(const char *dir, const log_opts_t *o, log_t **out)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        slog_error("cannot create log directory", "dir=\"%s\" err=\"%s\"", dir, strerror(errno));
        return -1;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd < 0) {
        slog_error("cannot open log directory", "dir=\"%s\" err=\"%s\"", dir, strerror(errno));
        return -1;
    }
    /* One writer per log: a second process would interleave records. flock goes away
     * with the process, so a killed server leaves nothing to clean up. */
    int lfd = openat(dfd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lfd < 0) {
        slog_error("cannot open log lock file", "dir=\"%s\" err=\"%s\"", dir, strerror(errno));
        close(dfd);
        return -1;
    }
    if (flock(lfd, LOCK_EX | LOCK_NB) != 0) {
        int busy = errno == EWOULDBLOCK;
        if (!busy)
            slog_error("cannot lock log directory", "dir=\"%s\" err=\"%s\"", dir, strerror(errno));
        close(lfd);
        close(dfd);
        return busy ? LOG_EBUSY : -1;
    }
    log_t *l = calloc(1, sizeof *l);
    if (!l) {
        close(lfd);
        close(dfd);
        return -1;
    }
    l->dir = strdup(dir);
    l->lockfd = lfd;
    l->opts = *o;
    if (l->opts.segment_bytes < 4096)
        l->opts.segment_bytes = 4096;
    l->dirfd = dfd;
    l->fd = -1;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cond, NULL);
    pthread_cond_init(&l->done_cond, NULL);
    buf_init(&l->pending);
    *out = l;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Lists segment bases, sorted. Caller frees *bases. */
static int list_segments(const char *dir, uint64_t **bases, size_t *n)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    size_t cap = 16, cnt = 0;
    uint64_t *v = malloc(cap * sizeof *v);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        size_t len = strlen(name);
        if (len != 24 || strcmp(name + 20, ".seg") != 0)
            continue;
        char *end;
        uint64_t base = strtoull(name, &end, 10);
        if (end != name + 20)
            continue;
        if (cnt == cap)
            v = realloc(v, (cap *= 2) * sizeof *v);
        v[cnt++] = base;
    }
    closedir(d);
    qsort(v, cnt, sizeof *v, cmp_u64);
    *bases = v;
    *n = cnt;
    return 0;
}

/* Reads a whole file into *data, growing it as needed (*cap bytes; the caller owns it and
 * reuses it from one segment to the next: fresh pages for every segment would cost a
 * page fault per 4 KiB, a tenth of replay's reading thread). */
static int read_file(const char *path, unsigned char **data, size_t *cap, size_t *len)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    if (size > *cap || !*data) {
        free(*data);
        *cap = size ? size : 1;
        *data = bigmem_alloc(*cap);
    }
    unsigned char *p = *data;
    size_t off = 0;
    while (off < size) {
        ssize_t r = read(fd, p + off, size - off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        off += (size_t)r;
    }
    close(fd);
    *len = off;
    return 0;
}

static void write_header(unsigned char h[SEG_HEADER])
{
    memcpy(h, SEG_MAGIC, 8);
    uint32_t v = SEG_VERSION;
    memcpy(h + 8, &v, 4);
    memset(h + 12, 0, 4);
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int open_new_segment(log_t *l, uint64_t base)
{
    char path[4096];
    seg_path(l->dir, base, path, sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        slog_error("cannot create log segment", "path=\"%s\" err=\"%s\"", path, strerror(errno));
        return -1;
    }
    unsigned char h[SEG_HEADER];
    write_header(h);
    if (write_all(fd, h, SEG_HEADER) != 0 || fdatasync(fd) != 0 || fsync(l->dirfd) != 0) {
        slog_error("cannot initialise log segment", "path=\"%s\" err=\"%s\"", path, strerror(errno));
        close(fd);
        return -1;
    }
    l->fd = fd;
    l->seg_base = base;
    l->seg_size = SEG_HEADER;
    l->segments++;
    return 0;
}

/* Walks the records of one segment; returns the length of its valid prefix. *stop is
 * set to 1 when the callback refused a record, 2 for a segment of a newer format. */
static size_t scan_segment(const unsigned char *p, size_t len, uint64_t base, log_record_fn fn, void *ud,
                           log_replay_stats_t *st, int *stop, const char **why)
{
    *why = NULL;
    if (len < SEG_HEADER || memcmp(p, SEG_MAGIC, 8) != 0) {
        *why = len < SEG_HEADER ? "short segment header" : "bad segment magic";
        return 0;
    }
    uint32_t ver;
    memcpy(&ver, p + 8, 4);
    if (ver != SEG_VERSION) {
        *why = "unsupported segment version";
        *stop = 2;
        return 0;
    }
    size_t off = SEG_HEADER;
    while (off < len) {
        if (len - off < REC_HEADER) {
            *why = "torn record header";
            break;
        }
        uint32_t rlen, crc;
        memcpy(&rlen, p + off, 4);
        memcpy(&crc, p + off + 4, 4);
        if (rlen == 0 || rlen > LOG_MAX_RECORD) {
            *why = "bad record length";
            break;
        }
        if (len - off - REC_HEADER < rlen) {
            *why = "torn record";
            break;
        }
        const unsigned char *body = p + off + REC_HEADER;
        if (crc32c(0, body, rlen) != crc) {
            *why = "record checksum mismatch";
            break;
        }
        off += REC_HEADER + rlen;
        st->records++;
        if (fn && fn(ud, body[0], body + 1, rlen - 1, base + off - SEG_HEADER) != 0) {
            *stop = 1;
            break;
        }
    }
    return off;
}

int log_replay(log_t *l, log_record_fn fn, void *ud, log_replay_stats_t *st)
{
    memset(st, 0, sizeof *st);
    uint64_t t0 = time_mono_ns();
    uint64_t *bases;
    size_t n;
    if (list_segments(l->dir, &bases, &n) != 0) {
        slog_error("cannot list log directory", "dir=\"%s\" err=\"%s\"", l->dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    uint64_t end_lsn = 0;
    unsigned char *data = NULL; /* the segment read, reused */
    size_t cap = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        seg_path(l->dir, bases[i], path, sizeof path);
        size_t len;
        if (read_file(path, &data, &cap, &len) != 0) {
            slog_error("cannot read log segment", "path=\"%s\" err=\"%s\"", path, strerror(errno));
            rc = -1;
            break;
        }
        int cb_err = 0;
        const char *why;
        size_t good = scan_segment(data, len, bases[i], fn, ud, st, &cb_err, &why);
        if (cb_err == 2) {
            slog_error("log segment written by a newer version of aisle", "path=\"%s\"", path);
            rc = -1;
            break;
        }
        if (cb_err) {
            slog_error("replay stopped: a record could not be applied", "path=\"%s\" offset=%zu", path, good);
            rc = -1;
            break;
        }
        int last = i + 1 == n;
        if (good < len) {
            st->truncated_bytes += len - good;
            if (last && good < SEG_HEADER) {
                /* Nothing usable, not even the header: the whole file is kept aside
                 * below, untouched, for a person to look at. */
                slog_warn("log segment header unreadable, segment set aside", "path=\"%s\" bytes=%zu reason=\"%s\"",
                          path, len, why);
            } else if (last) {
                /* A torn tail is what a crash mid-write leaves: cut it off so appends
                 * continue from the last whole record. */
                slog_warn("log tail truncated", "path=\"%s\" offset=%zu dropped_bytes=%zu reason=\"%s\"", path, good,
                          len - good, why);
                if (truncate(path, (off_t)good) != 0) {
                    slog_error("cannot truncate log tail", "path=\"%s\" err=\"%s\"", path, strerror(errno));
                    rc = -1;
                    break;
                }
            } else {
                /* Corruption inside an older segment: later segments are still whole,
                 * so report loudly and keep going rather than refuse to start. */
                st->corrupt_segments++;
                slog_error("corrupt log segment: records after the damage are skipped",
                           "path=\"%s\" offset=%zu skipped_bytes=%zu reason=\"%s\"", path, good, len - good, why);
            }
        }
        if (last) {
            if (good < SEG_HEADER) {
                /* Header never made it to disk (or is garbage): keep the file aside for
                 * a person to look at and start the segment afresh. */
                char aside[4200];
                snprintf(aside, sizeof aside, "%s.corrupt", path);
                if (rename(path, aside) != 0 || open_new_segment(l, bases[i]) != 0) {
                    rc = -1;
                    break;
                }
                l->segments--; /* counted below */
            } else {
                int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
                if (fd < 0 || fdatasync(fd) != 0) {
                    slog_error("cannot open log segment for append", "path=\"%s\" err=\"%s\"", path, strerror(errno));
                    if (fd >= 0)
                        close(fd);
                    rc = -1;
                    break;
                }
                l->fd = fd;
                l->seg_base = bases[i];
                l->seg_size = good;
            }
            end_lsn = bases[i] + (good < SEG_HEADER ? 0 : good - SEG_HEADER);
        } else {
            l->bytes_closed += good;
        }
        st->bytes += good;
        st->segments++;
    }
    free(bases);
    free(data);
    if (rc != 0)
        return rc;
    l->segments = st->segments;
    if (l->fd < 0) {
        if (open_new_segment(l, 0) != 0)
            return -1;
        end_lsn = 0;
    }
    l->appended = l->durable = end_lsn;
    st->seconds = (double)(time_mono_ns() - t0) / 1e9;
    return 0;
}

static int rotate(log_t *l)
{
    if (fdatasync(l->fd) != 0)
        return -1;
    close(l->fd);
    l->bytes_closed += l->seg_size;
    return open_new_segment(l, l->seg_base + l->seg_size - SEG_HEADER);
}

static void fatal_io(const log_t *l, const char *what)
{
    /* After a failed write or fsync the kernel may have dropped dirty pages: the only
     * safe course is to stop and let replay rebuild from what is really on disk. */
    slog_error("log I/O failed, stopping", "dir=\"%s\" op=\"%s\" err=\"%s\"", l->dir, what, strerror(errno));
    abort();
}

static void *writer_main(void *arg)
{
    log_t *l = arg;
    buf_t out;
    buf_init(&out);
    uint64_t last_sync = time_mono_ns();
    int unsynced = 0;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (l->pending.len == 0 && !l->stop) {
            if (unsynced && l->opts.fsync == LOG_FSYNC_BATCH) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += (long)l->opts.batch_ms * 1000000L;
                ts.tv_sec += ts.tv_nsec / 1000000000L;
                ts.tv_nsec %= 1000000000L;
                if (pthread_cond_timedwait(&l->cond, &l->mu, &ts) != 0)
                    break;
            } else {
                pthread_cond_wait(&l->cond, &l->mu);
            }
        }
        if (l->pending.len == 0 && l->stop)
            break;
        /* Swap buffers: appends go on into the (empty) other one while we write. */
        buf_t tmp = l->pending;
        l->pending = out;
        out = tmp;
        l->pending.len = 0;
        uint64_t upto = l->appended;
        pthread_mutex_unlock(&l->mu);

        if (out.len) {
            if (l->seg_size > SEG_HEADER && l->seg_size + out.len > l->opts.segment_bytes && rotate(l) != 0)
                fatal_io(l, "rotate");
            if (write_all(l->fd, out.data, out.len) != 0)
                fatal_io(l, "write");
            l->seg_size += out.len;
            unsynced = 1;
        }
        int do_sync = 0;
        if (unsynced) {
            if (l->opts.fsync == LOG_FSYNC_ALWAYS)
                do_sync = 1;
            else if (l->opts.fsync == LOG_FSYNC_BATCH &&
                     time_mono_ns() - last_sync >= (uint64_t)l->opts.batch_ms * 1000000ull)
                do_sync = 1;
        }
        if (do_sync) {
            if (fdatasync(l->fd) != 0)
                fatal_io(l, "fdatasync");
            last_sync = time_mono_ns();
            unsynced = 0;
        }
        out.len = 0;

        pthread_mutex_lock(&l->mu);
        if (upto > l->durable) {
            l->durable = upto;
            pthread_cond_broadcast(&l->done_cond);
            if (l->cb) {
                pthread_mutex_unlock(&l->mu);
                l->cb(l->cb_ud, upto);
                pthread_mutex_lock(&l->mu);
            }
        }
    }
    pthread_mutex_unlock(&l->mu);
    if (l->fd >= 0 && fdatasync(l->fd) != 0)
        fatal_io(l, "fdatasync");
    buf_free(&out);
    return NULL;
}

int log_start(log_t *l, log_durable_fn cb, void *ud)
{
    l->cb = cb;
    l->cb_ud = ud;
    if (pthread_create(&l->thread, NULL, writer_main, l) != 0)
        return -1;
    l->started = 1;
    return 0;
}

void log_frame(buf_t *out, uint8_t type, const void *payload, size_t len)
{
    uint32_t rlen = (uint32_t)len + 1;
    buf_put_u32(out, rlen);
    buf_put_u32(out, crc32c(crc32c(0, &type, 1), payload, len));
    buf_put_u8(out, type);
    buf_append(out, payload, len);
}

uint64_t log_append_framed(log_t *l, const void *framed, size_t len)
{
    pthread_mutex_lock(&l->mu);
    int wake = l->pending.len == 0;
    buf_append(&l->pending, framed, len);
    l->appended += len;
    uint64_t lsn = l->appended;
    if (wake)
        pthread_cond_signal(&l->cond);
    pthread_mutex_unlock(&l->mu);
    return lsn;
}

uint64_t log_append(log_t *l, uint8_t type, const void *payload, size_t len)
{
    buf_t b;
    buf_init(&b);
    log_frame(&b, type, payload, len);
    uint64_t lsn = log_append_framed(l, b.data, b.len);
    buf_free(&b);
    return lsn;
}

uint64_t log_durable(log_t *l)
{
    pthread_mutex_lock(&l->mu);
    uint64_t d = l->durable;
    pthread_mutex_unlock(&l->mu);
    return d;
}

uint64_t log_end(log_t *l)
{
    pthread_mutex_lock(&l->mu);
    uint64_t d = l->appended;
    pthread_mutex_unlock(&l->mu);
    return d;
}

void log_wait(log_t *l, uint64_t lsn)
{
    pthread_mutex_lock(&l->mu);
    while (l->durable < lsn && l->started)
        pthread_cond_wait(&l->done_cond, &l->mu);
    pthread_mutex_unlock(&l->mu);
}

void log_size(log_t *l, uint64_t *bytes, uint32_t *segments)
{
    pthread_mutex_lock(&l->mu);
    *bytes = l->bytes_closed + SEG_HEADER + (l->appended - l->seg_base);
    *segments = l->segments;
    pthread_mutex_unlock(&l->mu);
}

void log_close(log_t *l)
{
    if (!l)
        return;
    if (l->started) {
        pthread_mutex_lock(&l->mu);
        l->stop = 1;
        pthread_cond_signal(&l->cond);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->thread, NULL);
    } else if (l->fd >= 0 && l->pending.len) {
        if (write_all(l->fd, l->pending.data, l->pending.len) != 0 || fdatasync(l->fd) != 0)
            fatal_io(l, "write");
    }
    if (l->fd >= 0)
        close(l->fd);
    close(l->dirfd);
    close(l->lockfd); /* releases the flock */
    buf_free(&l->pending);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cond);
    pthread_cond_destroy(&l->done_cond);
    free(l->dir);
    free(l);
}

int log_scan(const char *dir, log_record_fn fn, void *ud, log_replay_stats_t *st)
{
    memset(st, 0, sizeof *st);
    uint64_t t0 = time_mono_ns();
    uint64_t *bases;
    size_t n;
    if (list_segments(dir, &bases, &n) != 0)
        return -1;
    int rc = 0;
    unsigned char *data = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char path[4096];
        seg_path(dir, bases[i], path, sizeof path);
        size_t len;
        if (read_file(path, &data, &cap, &len) != 0) {
            rc = -1;
            break;
        }
        int stop = 0;
        const char *why;
        size_t good = scan_segment(data, len, bases[i], fn, ud, st, &stop, &why);
        /* A damaged tail is the writer's to repair; a reader only notes it. */
        st->truncated_bytes += len - good;
        st->bytes += good;
        st->segments++;
        if (stop)
            rc = -1;
    }
    free(bases);
    free(data);
    st->seconds = (double)(time_mono_ns() - t0) / 1e9;
    return rc;
}

uint64_t log_disk_bytes(const char *dir)
{
    uint64_t *bases, total = 0;
    size_t n;
    if (list_segments(dir, &bases, &n) != 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        struct stat sb;
        seg_path(dir, bases[i], path, sizeof path);
        if (stat(path, &sb) == 0)
            total += (uint64_t)sb.st_size;
    }
    free(bases);
    return total;
}
