/* libFuzzer driver: log segment files, as found on disk at start-up.
 *
 * The input is written as DIR/00000000000000000000.seg in a fresh temporary directory
 * (under /dev/shm when it exists, so the fsyncs replay does stay cheap), then the log
 * is opened and replayed with a counting callback. Replay must succeed on any bytes:
 * a torn or corrupt tail is cut off, a garbage header is set aside as .corrupt. The
 * one refusal is a well-formed header of another version (a segment from a newer
 * aisle), which must fail. LSNs handed to the callback must advance by each record's
 * framed size. After replay the segment holds exactly the valid prefix, and a second
 * open + replay must see the same records and truncate nothing. */
#include "store/log.h"
#include "util/slog.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEG_HEADER 16
#define REC_HEADER 8
#define SEG_NAME "00000000000000000000.seg"

/* The temporary directory of the input being run, removed before a failed check
 * aborts so that crashes do not pile up directories in /dev/shm. */
static char cur_dir[256];
static void discard_dir(void);

#define CHECK(cond)                                                                              \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            fprintf(stderr, "fuzz-log: check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            discard_dir();                                                                       \
            abort();                                                                             \
        }                                                                                        \
    } while (0)

static const char *tmp_base = "/tmp";

/* Best effort, no checks: called on the way to abort(). */
static void discard_dir(void)
{
    if (!cur_dir[0])
        return;
    DIR *d = opendir(cur_dir);
    if (d) {
        struct dirent *e;
        char path[4096];
        while ((e = readdir(d)) != NULL) {
            snprintf(path, sizeof path, "%s/%s", cur_dir, e->d_name);
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                unlink(path);
        }
        closedir(d);
    }
    rmdir(cur_dir);
    cur_dir[0] = '\0';
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    slog_set_level(SLOG_ERROR + 1);
    struct stat sb;
    if (stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) && access("/dev/shm", W_OK) == 0)
        tmp_base = "/dev/shm";
    return 0;
}

typedef struct {
    uint64_t records;
    uint64_t lsn; /* LSN the next record must end at, minus its size */
} counter_t;

static int count_cb(void *ud, uint8_t type, const void *payload, size_t len, uint64_t lsn)
{
    counter_t *c = ud;
    (void)type;
    CHECK(payload != NULL || len == 0);
    CHECK(len < LOG_MAX_RECORD);
    c->lsn += REC_HEADER + 1 + len;
    CHECK(lsn == c->lsn);
    c->records++;
    return 0;
}

static void write_file(const char *path, const uint8_t *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        CHECK(w > 0);
        off += (size_t)w;
    }
    close(fd);
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        CHECK(unlink(path) == 0);
    }
    closedir(d);
    CHECK(rmdir(dir) == 0);
    cur_dir[0] = '\0';
}

static off_t file_size(const char *path)
{
    struct stat sb;
    CHECK(stat(path, &sb) == 0);
    return sb.st_size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char dir[256], seg[512];
    snprintf(dir, sizeof dir, "%s/aisle-fuzz-log.XXXXXX", tmp_base);
    CHECK(mkdtemp(dir) != NULL);
    snprintf(cur_dir, sizeof cur_dir, "%s", dir);
    snprintf(seg, sizeof seg, "%s/" SEG_NAME, dir);
    write_file(seg, data, size);

    /* The one input replay refuses: a valid magic with a version other than 1. */
    int foreign = 0;
    if (size >= SEG_HEADER && memcmp(data, "AISLELOG", 8) == 0) {
        uint32_t ver = (uint32_t)data[8] | (uint32_t)data[9] << 8 | (uint32_t)data[10] << 16 |
                       (uint32_t)data[11] << 24;
        foreign = ver != 1;
    }

    log_opts_t o;
    log_opts_default(&o);
    o.fsync = LOG_FSYNC_NEVER;
    log_t *l;
    CHECK(log_open(dir, &o, &l) == 0);
    counter_t c1 = {0, 0};
    log_replay_stats_t s1;
    int rc = log_replay(l, count_cb, &c1, &s1);
    log_close(l);
    if (foreign) {
        CHECK(rc == -1);
        CHECK(file_size(seg) == (off_t)size); /* left alone */
        remove_dir(dir);
        return 0;
    }
    CHECK(rc == 0);
    CHECK(s1.records == c1.records);
    CHECK(s1.segments == 1 && s1.corrupt_segments == 0);
    CHECK(s1.bytes + s1.truncated_bytes == size);
    if (s1.bytes >= SEG_HEADER) {
        CHECK(s1.bytes == SEG_HEADER + c1.lsn);
        CHECK(file_size(seg) == (off_t)s1.bytes);
    } else {
        /* Garbage header: set aside, a fresh segment started in its place. */
        CHECK(s1.bytes == 0 && c1.records == 0);
        CHECK(file_size(seg) == SEG_HEADER);
        char aside[600];
        snprintf(aside, sizeof aside, "%s.corrupt", seg);
        CHECK(file_size(aside) == (off_t)size);
    }

    CHECK(log_open(dir, &o, &l) == 0);
    counter_t c2 = {0, 0};
    log_replay_stats_t s2;
    CHECK(log_replay(l, count_cb, &c2, &s2) == 0);
    log_close(l);
    CHECK(c2.records == c1.records && s2.records == s1.records);
    CHECK(s2.truncated_bytes == 0 && s2.corrupt_segments == 0 && s2.segments == 1);
    CHECK(s2.bytes == (s1.bytes >= SEG_HEADER ? s1.bytes : SEG_HEADER));

    remove_dir(dir);
    return 0;
}
