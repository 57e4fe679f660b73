/* Loads an NDJSON file into aisle: POSTs it in batches of B lines (default 10,000) over C
 * keep-alive connections (default 2), each taking the next batch as soon as its previous
 * answer arrived, so at most C requests are in flight. The file is mapped, not copied;
 * batches are cut at line ends. Used by bench/serve.sh to load items, customers and
 * events (batches go out in file order; with C > 1 neighbouring batches may be applied
 * in either order).
 *
 * Prints one line:
 *   post: path=P lines=N requests=R accepted=A duplicates=D rejected=X non200=Y
 *         seconds=S records_per_s=Z
 * (accepted/duplicates from the answers' counters; rejected counts the entries of their
 * "rejected" lists; the first few rejections are printed to stderr). Exits 1 when a
 * request failed at the transport level or got a status other than 200.
 *
 * Usage: bench-post-ndjson -a HOST:PORT -p PATH -f FILE [-b LINES] [-c CONNS]
 *                          [-t CONTENT_TYPE] */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static const char *g_host = "127.0.0.1";
static int g_port;
static const char *g_path;
static const char *g_ctype = "application/x-ndjson";
static const char *g_data;
static size_t *g_cuts; /* batch i is [g_cuts[i], g_cuts[i+1]) */
static size_t g_nbatches;
static atomic_size_t g_next;
static atomic_ullong g_accepted, g_dups, g_rejected, g_non200, g_requests;
static atomic_int g_failed, g_printed;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_to(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    if (inet_pton(AF_INET, g_host, &sa.sin_addr) != 1 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {.tv_sec = 300};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static unsigned long long count_after(const char *body, const char *key)
{
    const char *p = strstr(body, key);
    return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

static unsigned long long count_occurrences(const char *body, const char *needle)
{
    unsigned long long n = 0;
    for (const char *p = body; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* Reads one response; returns the status, fills *body (NUL-terminated, malloc'd). */
static int read_response(int fd, char **body)
{
    size_t cap = 65536, len = 0;
    char *b = malloc(cap);
    char *hend = NULL;
    for (;;) {
        if (len + 1 >= cap)
            b = realloc(b, cap *= 2);
        ssize_t r = read(fd, b + len, cap - len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            free(b);
            return -1;
        }
        len += (size_t)r;
        b[len] = 0;
        if ((hend = strstr(b, "\r\n\r\n")))
            break;
    }
    int status = 0;
    if (sscanf(b, "HTTP/1.%*d %d", &status) != 1) {
        free(b);
        return -1;
    }
    size_t hlen = (size_t)(hend - b) + 4, clen = 0;
    for (char *line = strstr(b, "\r\n"); line && line < hend; line = strstr(line + 2, "\r\n"))
        if (!strncasecmp(line + 2, "content-length:", 15))
            clen = strtoull(line + 17, NULL, 10);
    while (len < hlen + clen) {
        if (hlen + clen + 1 > cap)
            b = realloc(b, cap = hlen + clen + 1);
        ssize_t r = read(fd, b + len, hlen + clen - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            free(b);
            return -1;
        }
        len += (size_t)r;
    }
    b[hlen + clen] = 0;
    memmove(b, b + hlen, clen + 1);
    *body = b;
    return status;
}

static void *worker(void *arg)
{
    (void)arg;
    int fd = connect_to();
    if (fd < 0) {
        perror("bench-post-ndjson: connect");
        atomic_store(&g_failed, 1);
        return NULL;
    }
    for (;;) {
        size_t i = atomic_fetch_add(&g_next, 1);
        if (i >= g_nbatches || atomic_load(&g_failed))
            break;
        size_t off = g_cuts[i], n = g_cuts[i + 1] - off;
        char head[1024];
        int hn = snprintf(head, sizeof head,
                          "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n", g_path,
                          g_host, g_port, g_ctype, n);
        char *body = NULL;
        int status = -1;
        if (write_all(fd, head, (size_t)hn) == 0 && write_all(fd, g_data + off, n) == 0)
            status = read_response(fd, &body);
        if (status < 0) {
            fprintf(stderr, "bench-post-ndjson: batch %zu: transport error (%s)\n", i, strerror(errno));
            atomic_store(&g_failed, 1);
            break;
        }
        atomic_fetch_add(&g_requests, 1);
        if (status != 200) {
            atomic_fetch_add(&g_non200, 1);
            if (atomic_fetch_add(&g_printed, 1) < 3)
                fprintf(stderr, "bench-post-ndjson: batch %zu: status %d: %.300s\n", i, status, body);
        }
        atomic_fetch_add(&g_accepted, count_after(body, "\"accepted\":"));
        atomic_fetch_add(&g_dups, count_after(body, "\"duplicates\":"));
        unsigned long long rej = count_occurrences(body, "\"index\":");
        if (rej) {
            atomic_fetch_add(&g_rejected, rej);
            if (status == 200 && atomic_fetch_add(&g_printed, 1) < 3)
                fprintf(stderr, "bench-post-ndjson: batch %zu: rejections: %.300s\n", i, body);
        }
        free(body);
    }
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *addr = NULL, *file = NULL;
    long lines = 10000, conns = 2;
    int o;
    while ((o = getopt(argc, argv, "a:p:f:b:c:t:")) != -1) {
        switch (o) {
        case 'a': addr = optarg; break;
        case 'p': g_path = optarg; break;
        case 'f': file = optarg; break;
        case 'b': lines = atol(optarg); break;
        case 'c': conns = atol(optarg); break;
        case 't': g_ctype = optarg; break;
        default: goto usage;
        }
    }
    if (!addr || !g_path || !file || lines < 1 || conns < 1 || conns > 64)
        goto usage;
    static char host[256];
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof host)
        goto usage;
    memcpy(host, addr, (size_t)(colon - addr));
    g_host = host;
    g_port = atoi(colon + 1);

    int fd = open(file, O_RDONLY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) < 0) {
        perror(file);
        return 1;
    }
    size_t size = (size_t)sb.st_size;
    if (size == 0) {
        fprintf(stderr, "bench-post-ndjson: %s is empty\n", file);
        return 1;
    }
    g_data = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (g_data == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    madvise((void *)g_data, size, MADV_SEQUENTIAL);
    close(fd);

    /* Cut after every LINES-th newline. */
    size_t cap = 1024, nlines = 0;
    g_cuts = malloc(cap * sizeof *g_cuts);
    g_cuts[0] = 0;
    g_nbatches = 0;
    long in_batch = 0;
    for (const char *p = g_data, *end = g_data + size; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl + 1 : end;
        nlines++;
        if (++in_batch == lines || p == end) {
            if (g_nbatches + 2 > cap)
                g_cuts = realloc(g_cuts, (cap *= 2) * sizeof *g_cuts);
            g_cuts[++g_nbatches] = (size_t)(p - g_data);
            in_batch = 0;
        }
    }

    double t0 = now_s();
    pthread_t th[64];
    for (long i = 0; i < conns; i++)
        pthread_create(&th[i], NULL, worker, NULL);
    for (long i = 0; i < conns; i++)
        pthread_join(th[i], NULL);
    double secs = now_s() - t0;
    unsigned long long acc = atomic_load(&g_accepted);
    printf("post: path=%s lines=%zu requests=%llu accepted=%llu duplicates=%llu rejected=%llu non200=%llu "
           "seconds=%.3f records_per_s=%.0f\n",
           g_path, nlines, (unsigned long long)atomic_load(&g_requests), acc, (unsigned long long)atomic_load(&g_dups),
           (unsigned long long)atomic_load(&g_rejected), (unsigned long long)atomic_load(&g_non200), secs,
           secs > 0 ? (double)acc / secs : 0.0);
    free(g_cuts);
    munmap((void *)g_data, size);
    return atomic_load(&g_failed) || atomic_load(&g_non200) ? 1 : 0;
usage:
    fprintf(stderr, "usage: bench-post-ndjson -a HOST:PORT -p PATH -f FILE [-b LINES] [-c CONNS] [-t CONTENT_TYPE]\n");
    return 2;
}
