/* The durable log: round trip, rotation, torn and corrupt tails, group commit. */
#include "harness.h"
#include "store/log.h"
#include "test.h"
#include "util/crc32c.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    int count;
    char last[64];
    uint64_t last_lsn;
    int bad_order;
} seen_t;

static int on_rec(void *ud, uint8_t type, const void *p, size_t n, uint64_t lsn)
{
    seen_t *s = ud;
    char want[64];
    snprintf(want, sizeof want, "record-%d", s->count);
    if (type != 7 || n != strlen(want) || memcmp(p, want, n) != 0 || lsn <= s->last_lsn)
        s->bad_order = 1;
    s->last_lsn = lsn;
    snprintf(s->last, sizeof s->last, "%.*s", (int)n, (const char *)p);
    s->count++;
    return 0;
}

static void append_n(log_t *l, int from, int to)
{
    for (int i = from; i < to; i++) {
        char rec[64];
        int n = snprintf(rec, sizeof rec, "record-%d", i);
        log_append(l, 7, rec, (size_t)n);
    }
}

static log_t *open_replay(const char *dir, seen_t *s, log_replay_stats_t *st, uint64_t seg)
{
    log_opts_t o;
    log_opts_default(&o);
    if (seg)
        o.segment_bytes = seg;
    log_t *l;
    ASSERT(log_open(dir, &o, &l) == 0);
    memset(s, 0, sizeof *s);
    ASSERT(log_replay(l, on_rec, s, st) == 0);
    ASSERT(!s->bad_order);
    return l;
}

TEST(crc32c_known_values)
{
    /* RFC 3720 test vectors. */
    unsigned char zeros[32] = {0}, ones[32];
    memset(ones, 0xff, sizeof ones);
    ASSERT_EQ(crc32c(0, zeros, 32), 0x8a9136aa);
    ASSERT_EQ(crc32c(0, ones, 32), 0x62a8ab43);
    ASSERT_EQ(crc32c(0, "123456789", 9), 0xe3069283);
    /* Incremental equals one shot. */
    ASSERT_EQ(crc32c(crc32c(0, "12345", 5), "6789", 4), 0xe3069283);
}

TEST(round_trip_and_reopen)
{
    char dir[256];
    tmpdir_make(dir);
    seen_t s;
    log_replay_stats_t st;
    log_t *l = open_replay(dir, &s, &st, 0);
    ASSERT_EQ(s.count, 0);
    ASSERT(log_start(l, NULL, NULL) == 0);
    append_n(l, 0, 1000);
    log_wait(l, log_end(l));
    ASSERT_EQ(log_durable(l), log_end(l));
    log_close(l);

    l = open_replay(dir, &s, &st, 0);
    ASSERT_EQ(s.count, 1000);
    ASSERT_EQ(st.records, 1000);
    ASSERT_EQ(st.truncated_bytes, 0);
    ASSERT_STR_EQ(s.last, "record-999");
    ASSERT(log_start(l, NULL, NULL) == 0);
    append_n(l, 1000, 1500);
    log_close(l);
    l = open_replay(dir, &s, &st, 0);
    ASSERT_EQ(s.count, 1500);
    log_close(l);
    rmrf(dir);
}

TEST(rotation_keeps_order)
{
    char dir[256];
    tmpdir_make(dir);
    seen_t s;
    log_replay_stats_t st;
    log_t *l = open_replay(dir, &s, &st, 4096);
    ASSERT(log_start(l, NULL, NULL) == 0);
    for (int i = 0; i < 50; i++) {
        append_n(l, i * 100, (i + 1) * 100);
        log_wait(l, log_end(l)); /* many small writes so that rotation happens often */
    }
    uint64_t bytes;
    uint32_t segs;
    log_size(l, &bytes, &segs);
    ASSERT(segs > 10);
    log_close(l);
    l = open_replay(dir, &s, &st, 4096);
    ASSERT_EQ(s.count, 5000);
    ASSERT_EQ(st.segments, segs);
    ASSERT_EQ(st.bytes, bytes);
    log_close(l);
    rmrf(dir);
}

static char *last_segment(const char *dir)
{
    static char path[512];
    char cmd[400];
    snprintf(cmd, sizeof cmd, "ls %s/*.seg | sort | tail -n 1", dir);
    FILE *f = popen(cmd, "r");
    ASSERT(f && fgets(path, sizeof path, f));
    pclose(f);
    path[strcspn(path, "\n")] = '\0';
    return path;
}

static off_t file_size(const char *p)
{
    struct stat sb;
    ASSERT(stat(p, &sb) == 0);
    return sb.st_size;
}

TEST(torn_tail_is_truncated_and_reported)
{
    char dir[256];
    tmpdir_make(dir);
    seen_t s;
    log_replay_stats_t st;
    log_t *l = open_replay(dir, &s, &st, 0);
    ASSERT(log_start(l, NULL, NULL) == 0);
    append_n(l, 0, 100);
    log_close(l);
    char *seg = last_segment(dir);
    off_t full = file_size(seg);
    /* Cut the last record in half, as a crash mid-write would. */
    ASSERT(truncate(seg, full - 5) == 0);
    l = open_replay(dir, &s, &st, 0);
    ASSERT_EQ(s.count, 99);
    ASSERT(st.truncated_bytes > 0);
    ASSERT_EQ(file_size(seg), full - 5 - (off_t)st.truncated_bytes);
    /* Appends continue after the last whole record and survive. */
    ASSERT(log_start(l, NULL, NULL) == 0);
    append_n(l, 99, 120);
    log_close(l);
    l = open_replay(dir, &s, &st, 0);
    ASSERT_EQ(s.count, 120);
    ASSERT_EQ(st.truncated_bytes, 0);
    log_close(l);
    rmrf(dir);
}

TEST(corrupt_tail_record_is_cut)
{
    char dir[256];
    tmpdir_make(dir);
    seen_t s;
    log_replay_stats_t st;
    log_t *l = open_replay(dir, &s, &st, 0);
    ASSERT(log_start(l, NULL, NULL) == 0);
    append_n(l, 0, 10);
    log_close(l);
    char *seg = last_segment(dir);
    off_t size = file_size(seg);
    /* Flip a payload byte of the last record: the checksum catches it. */
    int fd = open(seg, O_RDWR);
    ASSERT(fd >= 0);
    char c;
    ASSERT(pread(fd, &c, 1, size - 2) == 1);
    c ^= 0x40;
    ASSERT(pwrite(fd, &c, 1, size - 2) == 1);
    /* And append garbage after it. */
    ASSERT(pwrite(fd, "garbage!", 8, size) == 8);
    close(fd);
    l = open_replay(dir, &s, &st, 0);
    ASSERT_EQ(s.count, 9);
    ASSERT(st.truncated_bytes >= 8);
    log_close(l);
    rmrf(dir);
}

TEST(garbage_segment_header_does_not_stop_start)
{
    char dir[256];
    tmpdir_make(dir);
    char path[400];
    snprintf(path, sizeof path, "%s/00000000000000000000.seg", dir);
    FILE *f = fopen(path, "w");
    ASSERT(f);
    fputs("not a log", f);
    fclose(f);
    seen_t s;
    log_replay_stats_t st;
    log_t *l = open_replay(dir, &s, &st, 0);
    ASSERT_EQ(s.count, 0);
    ASSERT_EQ(st.truncated_bytes, 9);
    ASSERT(log_start(l, NULL, NULL) == 0);
    append_n(l, 0, 3);
    log_close(l);
    l = open_replay(dir, &s, &st, 0);
    ASSERT_EQ(s.count, 3);
    log_close(l);
    /* The damaged file was kept aside for a person to inspect. */
    char aside[420];
    snprintf(aside, sizeof aside, "%s.corrupt", path);
    ASSERT(access(aside, F_OK) == 0);
    rmrf(dir);
}

typedef struct {
    log_t *l;
    int id;
    int ok;
} writer_arg_t;

static void *writer(void *p)
{
    writer_arg_t *a = p;
    a->ok = 1;
    for (int i = 0; i < 200; i++) {
        char rec[64];
        int n = snprintf(rec, sizeof rec, "w%d-%d", a->id, i);
        uint64_t lsn = log_append(a->l, 9, rec, (size_t)n);
        log_wait(a->l, lsn);
        if (log_durable(a->l) < lsn)
            a->ok = 0;
    }
    return NULL;
}

static int count_rec(void *ud, uint8_t type, const void *p, size_t n, uint64_t lsn)
{
    (void)p;
    (void)n;
    (void)lsn;
    if (type == 9)
        ++*(int *)ud;
    return 0;
}

TEST(group_commit_many_writers)
{
    char dir[256];
    tmpdir_make(dir);
    log_opts_t o;
    log_opts_default(&o);
    log_t *l;
    log_replay_stats_t st;
    ASSERT(log_open(dir, &o, &l) == 0);
    ASSERT(log_replay(l, NULL, NULL, &st) == 0);
    ASSERT(log_start(l, NULL, NULL) == 0);
    pthread_t th[8];
    writer_arg_t args[8];
    for (int i = 0; i < 8; i++) {
        args[i] = (writer_arg_t){l, i, 0};
        pthread_create(&th[i], NULL, writer, &args[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        ASSERT(args[i].ok);
    }
    log_close(l);
    int n = 0;
    ASSERT(log_open(dir, &o, &l) == 0);
    ASSERT(log_replay(l, count_rec, &n, &st) == 0);
    ASSERT_EQ(n, 1600);
    log_close(l);
    rmrf(dir);
}

TEST(fsync_mode_parsing)
{
    log_opts_t o;
    log_opts_default(&o);
    ASSERT_EQ(o.fsync, LOG_FSYNC_ALWAYS);
    ASSERT(log_parse_fsync("batch:5", &o) == 0);
    ASSERT_EQ(o.fsync, LOG_FSYNC_BATCH);
    ASSERT_EQ(o.batch_ms, 5);
    ASSERT(log_parse_fsync("never", &o) == 0);
    ASSERT_EQ(o.fsync, LOG_FSYNC_NEVER);
    ASSERT(log_parse_fsync("batch:", &o) != 0);
    ASSERT(log_parse_fsync("batch:-1", &o) != 0);
    ASSERT(log_parse_fsync("sometimes", &o) != 0);
}

TEST(batch_mode_acknowledges_and_persists)
{
    char dir[256];
    tmpdir_make(dir);
    log_opts_t o;
    log_opts_default(&o);
    log_parse_fsync("batch:20", &o);
    log_t *l;
    log_replay_stats_t st;
    ASSERT(log_open(dir, &o, &l) == 0);
    ASSERT(log_replay(l, NULL, NULL, &st) == 0);
    ASSERT(log_start(l, NULL, NULL) == 0);
    append_n(l, 0, 10);
    log_wait(l, log_end(l));
    log_close(l);
    seen_t s;
    l = open_replay(dir, &s, &st, 0);
    ASSERT_EQ(s.count, 10);
    log_close(l);
    rmrf(dir);
}

TEST_MAIN(TEST_ENTRY(crc32c_known_values), TEST_ENTRY(round_trip_and_reopen), TEST_ENTRY(rotation_keeps_order),
          TEST_ENTRY(torn_tail_is_truncated_and_reported), TEST_ENTRY(corrupt_tail_record_is_cut),
          TEST_ENTRY(garbage_segment_header_does_not_stop_start), TEST_ENTRY(group_commit_many_writers),
          TEST_ENTRY(fsync_mode_parsing), TEST_ENTRY(batch_mode_acknowledges_and_persists))
