/* The reference for bench/replay.sh: the part of replay that does not build state. Reads
 * every segment of a log directory the way the server does (whole file into memory),
 * checks each record's CRC32C and decodes event payloads with evt_decode, but applies
 * nothing. Replay records/s divided by this is the share of replay that st_apply and
 * the interning leave.
 *
 * Segment format (src/store/log.h): 16-byte header "AISLELOG" + u32 version + 4 bytes,
 * then records [u32 len][u32 crc32c][u8 type][payload], len counting type + payload.
 *
 * Usage: bench-log-scan LOGDIR */
#include "ingest/event.h"
#include "util/crc32c.h"
#include "util/timeutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s LOGDIR\n", argv[0]);
        return 2;
    }
    DIR *d = opendir(argv[1]);
    if (!d) {
        fprintf(stderr, "bench-log-scan: cannot open %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len != 24 || strcmp(e->d_name + 20, ".seg") != 0)
            continue;
        if (n == cap)
            names = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof *names);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);

    uint64_t t0 = time_mono_ns();
    uint64_t records = 0, events = 0, bytes = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[1], names[i]);
        int fd = open(path, O_RDONLY);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) {
            fprintf(stderr, "bench-log-scan: cannot read %s: %s\n", path, strerror(errno));
            return 1;
        }
        size_t size = (size_t)st.st_size, off = 0;
        unsigned char *p = malloc(size ? size : 1);
        while (off < size) {
            ssize_t r = read(fd, p + off, size - off);
            if (r <= 0)
                break;
            off += (size_t)r;
        }
        close(fd);
        size_t len = off;
        bytes += len;
        off = 16;
        while (off + 8 <= len) {
            uint32_t rlen, crc;
            memcpy(&rlen, p + off, 4);
            memcpy(&crc, p + off + 4, 4);
            if (rlen == 0 || len - off - 8 < rlen)
                break;
            const unsigned char *body = p + off + 8;
            if (crc32c(0, body, rlen) != crc) {
                bad++;
                break;
            }
            records++;
            if (body[0] == 1) { /* REC_EVENT */
                evt_t ev;
                if (evt_decode(body + 1, rlen - 1, &ev) == 0)
                    events++;
                else
                    bad++;
            }
            off += 8 + rlen;
        }
        free(p);
        free(names[i]);
    }
    free(names);
    double secs = (double)(time_mono_ns() - t0) / 1e9;
    printf("log-scan: segments=%zu records=%llu events=%llu bad=%llu bytes=%llu seconds=%.3f records_per_s=%.0f "
           "MB_per_s=%.0f\n",
           n, (unsigned long long)records, (unsigned long long)events, (unsigned long long)bad,
           (unsigned long long)bytes, secs, secs > 0 ? (double)records / secs : 0, secs > 0 ? bytes / secs / 1e6 : 0);
    return bad ? 1 : 0;
}
