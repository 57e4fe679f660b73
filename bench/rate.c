/* A small open-loop HTTP/1.1 load generator for loopback benchmarks (Debian 12 has no
 * wrk2). Requests are scheduled at a fixed total rate (one every 1/RATE s, from one
 * global schedule) and go out on the next free keep-alive connection of a pool of C;
 * latency is measured from the *scheduled* send time to the end of the response, so a
 * stall delays the schedule's later requests and is counted in their latency too (no
 * coordinated omission). With -r 0 it runs closed-loop instead: every connection sends
 * its next request as soon as the previous answer arrived (maximum throughput; latency
 * from the actual send).
 *
 * Each request is a GET of PATH_TEMPLATE with "{id}" replaced by an id picked uniformly
 * at random (fixed seed) from IDS_FILE (one id per line); with -W P, P percent of the
 * requests are instead POST /v1/events with one new event (unique event_id) of a random
 * id from IDS_FILE and a random item from ITEMS_FILE: 70% view, 15% click, 10%
 * add_to_cart, 5% purchase, each customer in its own session. Reads and writes are
 * reported apart. With -p WRITE_CONNS as well (open loop only), writes are a stream of
 * their own, on WRITE_CONNS connections of their own at P percent of the rate, and reads
 * keep the C connections at the rest: events then come as from other clients than the
 * pages, and a write waiting for an fsync holds no read back. With -N K, every K-th write
 * is instead PUT /v1/items/{a new id} with a new product (a title, category, brand and
 * price drawn from short word lists): a catalog growing while it is served.
 *
 * Requests scheduled in the first WARMUP seconds are not recorded; then DURATION
 * seconds are; after that nothing new is sent and answers still in flight get 5 s.
 * Percentiles are exact (every latency is kept and sorted).
 *
 * Output:
 *   rate: mode=open target_rps=R conns=C write_conns=WC warmup=Ws duration=Ds write_pct=P
 *   read:  count=N rps=X p50=Ams p90= p99= p99.9= max= mean= non2xx=N
 *   write: ...                        (with -W)
 *   all:   ...                        (with -W)
 *   sendlag: p50= p99= max=           (actual send - scheduled send; large when the
 *                                      pool or the generator could not keep up)
 *   unfinished=N                      (no answer within 5 s after the end)
 *
 * Usage: bench-rate -a HOST:PORT -f IDS_FILE [-P PATH_TEMPLATE] [-r RATE] [-c CONNS]
 *                   [-d SECONDS] [-w WARMUP] [-W WRITE_PCT -i ITEMS_FILE [-p WRITE_CONNS] [-N K]] [-s SEED] */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXCONN 1024
#define DRAIN_NS 5000000000ull

enum { K_READ, K_WRITE, K__N };

typedef struct {
    int fd, busy, kind;
    char out[2048];
    size_t outlen, outoff;
    char *in;
    size_t inlen, incap;
    uint64_t sched, sent;
} conn_t;

typedef struct {
    uint64_t *v;
    size_t n, cap;
    uint64_t non2xx;
} series_t;

/* A schedule of requests and its pool of connections (a FIFO ring of the idle ones). */
typedef struct {
    int kind; /* K_READ, K_WRITE, or -1: each request drawn by the write share */
    double interval;
    uint64_t k, next;
    int idle[MAXCONN], ihead, icount;
} stream_t;

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void push(series_t *s, uint64_t x)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 65536;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v) {
            fprintf(stderr, "bench-rate: out of memory\n");
            exit(1);
        }
    }
    s->v[s->n++] = x;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted series. */
static double pct_ms(const series_t *s, double p)
{
    if (!s->n)
        return 0;
    size_t r = (size_t)(p / 100.0 * (double)s->n + 0.999999);
    if (r < 1)
        r = 1;
    if (r > s->n)
        r = s->n;
    return (double)s->v[r - 1] / 1e6;
}

static void report(const char *name, series_t *s, double secs)
{
    qsort(s->v, s->n, sizeof *s->v, cmp_u64);
    double sum = 0;
    for (size_t i = 0; i < s->n; i++)
        sum += (double)s->v[i];
    printf("%-6s count=%zu rps=%.0f p50=%.3fms p90=%.3fms p99=%.3fms p99.9=%.3fms max=%.3fms mean=%.3fms "
           "non2xx=%llu\n",
           name, s->n, (double)s->n / secs, pct_ms(s, 50), pct_ms(s, 90), pct_ms(s, 99), pct_ms(s, 99.9),
           s->n ? (double)s->v[s->n - 1] / 1e6 : 0.0, s->n ? sum / (double)s->n / 1e6 : 0.0,
           (unsigned long long)s->non2xx);
}

static char **read_lines(const char *path, size_t *n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(1);
    }
    size_t cap = 1024;
    char **v = malloc(cap * sizeof *v), line[1024];
    *n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0])
            continue;
        if (*n == cap)
            v = realloc(v, (cap *= 2) * sizeof *v);
        v[(*n)++] = strdup(line);
    }
    fclose(f);
    if (!*n) {
        fprintf(stderr, "bench-rate: %s holds no id\n", path);
        exit(1);
    }
    return v;
}

/* Percent-encodes what is not unreserved (ids from aisle gen need none). */
static size_t pct_encode(char *dst, size_t cap, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (; *s && n + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-_.~", c)) {
            dst[n++] = (char)c;
        } else {
            dst[n++] = '%';
            dst[n++] = hex[c >> 4];
            dst[n++] = hex[c & 15];
        }
    }
    dst[n] = 0;
    return n;
}

static char g_hosthdr[300];
static const char *g_tmpl = "/v1/users/{id}/recommendations?n=10";
static char **g_ids, **g_items;
static size_t g_nids, g_nitems;
static unsigned g_write_permille;
static char g_nonce[16];
static uint64_t g_seq;
static unsigned g_new_every; /* -N: every g_new_every-th write adds an item */
static uint64_t g_writes;

/* PUT /v1/items of a new product into c->out. */
static void build_new_item(conn_t *c)
{
    static const char *const adj[] = {"Urban",  "Natural", "Everyday", "Classic", "Premium",
                                      "Organic", "Compact", "Deluxe",   "Soft",    "Bright"};
    static const char *const noun[] = {"Body Lotion", "Camera Lens", "Dog Bed",   "Tea Kettle", "Yoga Mat",
                                       "Desk Lamp",   "Water Bottle", "Phone Case", "Rain Jacket", "Cutting Board"};
    static const char *const cat[] = {"Beauty", "Electronics", "Pets", "Home", "Sports", "Office"};
    static const char *const brand[] = {"Vebo", "Quisen", "Toria", "Lumo", "Arden", "Kest"};
#define PICK(a) a[rnd() % (sizeof a / sizeof a[0])]
    const char *a1 = PICK(adj), *a2 = PICK(adj), *n = PICK(noun), *ct = PICK(cat), *b = PICK(brand);
    unsigned cents = 199 + (unsigned)(rnd() % 9800);
#undef PICK
    char body[600];
    int bn = snprintf(body, sizeof body,
                      "{\"title\":\"%s %s %s %s\",\"categories\":[\"%s\",\"%s %s\"],\"brand\":\"%s\","
                      "\"price\":%u.%02u,\"in_stock\":true}",
                      b, a1, a2, n, ct, ct, n, b, cents / 100, cents % 100);
    c->outlen = (size_t)snprintf(c->out, sizeof c->out,
                                 "PUT /v1/items/rate-%s-n%llu HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                                 "Content-Length: %d\r\n\r\n%s",
                                 g_nonce, (unsigned long long)++g_seq, g_hosthdr, bn, body);
}

/* kind: K_READ, K_WRITE, or -1 for one drawn by the write share. */
static void build_request(conn_t *c, int kind)
{
    const char *id = g_ids[rnd() % g_nids];
    c->kind = kind >= 0 ? kind : g_write_permille && rnd() % 1000 < g_write_permille ? K_WRITE : K_READ;
    if (c->kind == K_READ) {
        char path[1500], enc[800];
        size_t n = 0;
        const char *t = g_tmpl, *at;
        pct_encode(enc, sizeof enc, id);
        while ((at = strstr(t, "{id}")) && n + (size_t)(at - t) + strlen(enc) + 1 < sizeof path) {
            memcpy(path + n, t, (size_t)(at - t));
            n += (size_t)(at - t);
            memcpy(path + n, enc, strlen(enc));
            n += strlen(enc);
            t = at + 4;
        }
        snprintf(path + n, sizeof path - n, "%s", t);
        c->outlen = (size_t)snprintf(c->out, sizeof c->out, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, g_hosthdr);
    } else if (g_new_every && ++g_writes % g_new_every == 0) {
        build_new_item(c);
    } else {
        static const char *types[] = {"view", "click", "add_to_cart", "purchase"};
        unsigned r = (unsigned)(rnd() % 100);
        int t = r < 70 ? 0 : r < 85 ? 1 : r < 95 ? 2 : 3;
        const char *item = g_items[rnd() % g_nitems];
        unsigned long long seq = (unsigned long long)++g_seq;
        char body[1200];
        int bn = snprintf(body, sizeof body,
                          "{\"event_id\":\"rate-%s-%llu\",\"type\":\"%s\",\"user_id\":\"%s\",\"session_id\":\"rate-%s-%s\","
                          "\"item_id\":\"%s\"%s",
                          g_nonce, seq, types[t], id, g_nonce, id, item, t == 3 ? "" : "}");
        if (t == 3)
            bn += snprintf(body + bn, sizeof body - (size_t)bn,
                           ",\"quantity\":1,\"price\":9.99,\"order_id\":\"rate-%s-o%llu\"}", g_nonce, seq);
        c->outlen = (size_t)snprintf(c->out, sizeof c->out,
                                     "POST /v1/events HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                                     "Content-Length: %d\r\n\r\n%s",
                                     g_hosthdr, bn, body);
    }
    c->outoff = 0;
}

/* Returns 1 when the response is complete (status in *st), 0 when more is needed, -1
 * on a malformed response. */
static int parse_response(conn_t *c, int *st)
{
    if (c->inlen < 12)
        return 0;
    char *hend = memmem(c->in, c->inlen, "\r\n\r\n", 4);
    if (!hend)
        return 0;
    if (strncmp(c->in, "HTTP/1.", 7))
        return -1;
    *st = atoi(c->in + 9);
    size_t hlen = (size_t)(hend - c->in) + 4, clen = 0;
    int have_len = 0;
    for (char *l = memmem(c->in, hlen, "\r\n", 2); l && l < hend; l = memmem(l + 2, (size_t)(hend - l), "\r\n", 2)) {
        if (!strncasecmp(l + 2, "content-length:", 15)) {
            clen = strtoull(l + 17, NULL, 10);
            have_len = 1;
        } else if (!strncasecmp(l + 2, "transfer-encoding:", 18)) {
            fprintf(stderr, "bench-rate: chunked responses are not supported\n");
            exit(1);
        }
    }
    if (!have_len)
        return -1;
    if (c->inlen < hlen + clen)
        return 0;
    if (c->inlen > hlen + clen) {
        fprintf(stderr, "bench-rate: more bytes than one response on a connection\n");
        return -1;
    }
    c->inlen = 0;
    return 1;
}

static int connect_to(const char *host, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (fd < 0 || inet_pton(AF_INET, host, &sa.sin_addr) != 1 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        perror("bench-rate: connect");
        exit(1);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

int main(int argc, char **argv)
{
    const char *addr = NULL, *ids_file = NULL, *items_file = NULL;
    double rate = 0, secs = 10, warm = 1, write_pct = 0;
    int nconn = 32, wconn = 0, o;
    uint64_t seed = 1;
    while ((o = getopt(argc, argv, "a:f:P:r:c:d:w:W:i:s:p:N:")) != -1) {
        switch (o) {
        case 'a': addr = optarg; break;
        case 'f': ids_file = optarg; break;
        case 'P': g_tmpl = optarg; break;
        case 'r': rate = atof(optarg); break;
        case 'c': nconn = atoi(optarg); break;
        case 'd': secs = atof(optarg); break;
        case 'w': warm = atof(optarg); break;
        case 'W': write_pct = atof(optarg); break;
        case 'i': items_file = optarg; break;
        case 's': seed = strtoull(optarg, NULL, 10); break;
        case 'p': wconn = atoi(optarg); break;
        case 'N': g_new_every = (unsigned)atoi(optarg); break;
        default: goto usage;
        }
    }
    if (!addr || !ids_file || rate < 0 || nconn < 1 || nconn > MAXCONN || secs <= 0 || secs > 3600 || warm < 0 ||
        write_pct < 0 || write_pct > 100 || (write_pct > 0 && !items_file) || wconn < 0 ||
        nconn + wconn > MAXCONN || (wconn && (rate == 0 || write_pct <= 0 || write_pct >= 100)))
        goto usage;
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof host)
        goto usage;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = 0;
    int port = atoi(colon + 1);
    snprintf(g_hosthdr, sizeof g_hosthdr, "%s", addr);
    rng_state = seed;
    g_ids = read_lines(ids_file, &g_nids);
    if (items_file)
        g_items = read_lines(items_file, &g_nitems);
    g_write_permille = (unsigned)(write_pct * 10 + 0.5);
    snprintf(g_nonce, sizeof g_nonce, "%llx", (unsigned long long)(now_ns() & 0xffffffffffull));
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

    /* One stream of requests, or with -p two: reads on nconn connections at the reads'
     * share of the rate, writes on wconn of their own at theirs, each its own schedule,
     * as when events come from other clients than the pages asking for recommendations
     * (a write waiting for an fsync then holds no read back). */
    int nstream = wconn ? 2 : 1, ntotal = nconn + wconn;
    stream_t sm[2] = {{.kind = wconn ? K_READ : -1}, {.kind = K_WRITE}};
    int ep = epoll_create1(0);
    static conn_t conns[MAXCONN];
    static int owner[MAXCONN]; /* the stream a connection serves */
    for (int i = 0; i < ntotal; i++) {
        conn_t *c = &conns[i];
        c->fd = connect_to(host, port);
        c->incap = 65536;
        c->in = malloc(c->incap);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
        owner[i] = i < nconn ? 0 : 1;
        stream_t *q = &sm[owner[i]];
        q->idle[(q->ihead + q->icount++) % MAXCONN] = i;
    }

    series_t ser[K__N] = {0}, lag = {0};
    uint64_t t_start = now_ns() + 1000000, t_rec = t_start + (uint64_t)(warm * 1e9),
             t_end = t_rec + (uint64_t)(secs * 1e9);
    for (int q = 0; q < nstream; q++) {
        double share = !wconn ? 1 : q == 0 ? 1 - write_pct / 100 : write_pct / 100;
        sm[q].interval = rate > 0 ? 1e9 / (rate * share) : 0;
        sm[q].next = t_start;
    }
    uint64_t inflight = 0, bad = 0;
    int closed = rate == 0;
    struct epoll_event evs[256];

    for (;;) {
        uint64_t now = now_ns();
        /* Dispatch what is due, stream by stream. */
        for (int q = 0; q < nstream; q++) {
            stream_t *m = &sm[q];
            while (m->icount && (closed ? now >= t_start && now < t_end : m->next <= now && m->next < t_end)) {
                int i = m->idle[m->ihead];
                m->ihead = (m->ihead + 1) % MAXCONN;
                m->icount--;
                conn_t *c = &conns[i];
                build_request(c, m->kind);
                c->sched = closed ? now : m->next;
                c->sent = now_ns();
                c->busy = 1;
                inflight++;
                if (!closed) {
                    m->k++;
                    m->next = t_start + (uint64_t)((double)m->k * m->interval);
                }
                ssize_t w = write(c->fd, c->out, c->outlen);
                if (w < 0 && errno != EAGAIN) {
                    perror("bench-rate: write");
                    exit(1);
                }
                c->outoff = w > 0 ? (size_t)w : 0;
                if (c->outoff < c->outlen) {
                    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)i};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
                now = now_ns();
            }
        }
        /* Open loop: every request scheduled before the end is sent, however late. */
        int sending = 0;
        for (int q = 0; q < nstream; q++)
            sending |= closed ? now < t_end : sm[q].next < t_end;
        if ((!sending && !inflight) || now >= t_end + DRAIN_NS)
            break;
        /* Sleep until the next scheduled send (when a connection is free to take it), the
         * end, or I/O. */
        uint64_t wake = now >= t_end ? t_end + DRAIN_NS : t_end;
        for (int q = 0; q < nstream; q++)
            if (!closed && sm[q].icount && sm[q].next < wake)
                wake = sm[q].next;
        if (closed && now < t_start)
            wake = t_start;
        uint64_t d = wake > now ? wake - now : 0;
        struct timespec to = {.tv_sec = (time_t)(d / 1000000000ull), .tv_nsec = (long)(d % 1000000000ull)};
        int n = epoll_pwait2(ep, evs, 256, &to, NULL);
        if (n < 0 && errno != EINTR) {
            perror("bench-rate: epoll_pwait2");
            exit(1);
        }
        for (int e = 0; e < n; e++) {
            int i = (int)evs[e].data.u32;
            conn_t *c = &conns[i];
            if ((evs[e].events & EPOLLOUT) && c->outoff < c->outlen) {
                ssize_t w = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
                if (w > 0)
                    c->outoff += (size_t)w;
                if (c->outoff == c->outlen) {
                    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
            }
            if (!(evs[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                continue;
            for (;;) {
                if (c->incap - c->inlen < 4096)
                    c->in = realloc(c->in, c->incap *= 2);
                ssize_t r = read(c->fd, c->in + c->inlen, c->incap - c->inlen);
                if (r < 0 && errno == EAGAIN)
                    break;
                if (r <= 0) {
                    fprintf(stderr, "bench-rate: connection %d closed by the server (%s)\n", i,
                            r < 0 ? strerror(errno) : "EOF");
                    exit(1);
                }
                c->inlen += (size_t)r;
            }
            int st = 0, pr = c->busy ? parse_response(c, &st) : -1;
            if (pr < 0) {
                fprintf(stderr, "bench-rate: malformed or unexpected response on connection %d\n", i);
                exit(1);
            }
            if (pr == 0)
                continue;
            uint64_t done = now_ns();
            if (c->sched >= t_rec && c->sched < t_end) {
                push(&ser[c->kind], done - c->sched);
                push(&lag, c->sent - c->sched);
                if (st < 200 || st > 299) {
                    ser[c->kind].non2xx++;
                    bad++;
                }
            }
            c->busy = 0;
            inflight--;
            stream_t *m = &sm[owner[i]];
            m->idle[(m->ihead + m->icount++) % MAXCONN] = i;
        }
    }

    printf("rate: mode=%s target_rps=%.0f conns=%d write_conns=%d warmup=%gs duration=%gs write_pct=%g ids=%zu "
           "new_item_every=%u\n",
           closed ? "closed" : "open", rate, nconn, wconn, warm, secs, write_pct, g_nids, g_new_every);
    report("read:", &ser[K_READ], secs);
    if (g_write_permille) {
        report("write:", &ser[K_WRITE], secs);
        series_t all = {0};
        for (int kk = 0; kk < K__N; kk++)
            for (size_t j = 0; j < ser[kk].n; j++)
                push(&all, ser[kk].v[j]);
        all.non2xx = bad;
        report("all:", &all, secs);
        free(all.v);
    }
    qsort(lag.v, lag.n, sizeof *lag.v, cmp_u64);
    printf("sendlag: p50=%.3fms p99=%.3fms max=%.3fms\n", pct_ms(&lag, 50), pct_ms(&lag, 99),
           lag.n ? (double)lag.v[lag.n - 1] / 1e6 : 0.0);
    uint64_t unsent = 0;
    for (int q = 0; q < nstream && !closed; q++)
        while (sm[q].next < t_end) {
            unsent++;
            sm[q].next = t_start + (uint64_t)((double)++sm[q].k * sm[q].interval);
        }
    printf("unfinished=%llu\n", (unsigned long long)(inflight + unsent));
    for (int i = 0; i < ntotal; i++) {
        close(conns[i].fd);
        free(conns[i].in);
    }
    close(ep);
    for (int kk = 0; kk < K__N; kk++)
        free(ser[kk].v);
    free(lag.v);
    for (size_t i = 0; i < g_nids; i++)
        free(g_ids[i]);
    free(g_ids);
    for (size_t i = 0; i < g_nitems; i++)
        free(g_items[i]);
    free(g_items);
    return 0;
usage:
    fprintf(stderr, "usage: bench-rate -a HOST:PORT -f IDS_FILE [-P PATH_TEMPLATE] [-r RATE] [-c CONNS] [-d SECONDS]\n"
                    "                  [-w WARMUP] [-W WRITE_PCT -i ITEMS_FILE [-p WRITE_CONNS] [-N K]] [-s SEED]\n");
    return 2;
}
