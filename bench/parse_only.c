/* The reference for bench/ingest.sh: what POST /v1/events costs before HTTP, the store
 * lock, the log and fsync come in. Each thread takes the request bodies in turn and runs
 * the handler's CPU path on them: evt_parse_batch (read + validate) + evt_encode (binary
 * form), then frees the batch, for a fixed time. With -j it runs jansson's parser alone
 * instead, the measurement behind replacing jansson on this path (BENCHMARKS.md).
 *
 * Usage: bench-parse-only [-j] [-t THREADS] [-d SECONDS] BODY.json...
 * Prints one line per run: threads, events, seconds, events/s, MB/s of JSON. */
#include "ingest/batch.h"
#include "ingest/event.h"
#include "util/buf.h"
#include "util/timeutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char *p;
    size_t n;
} body_t;

static body_t *bodies;
static size_t nbodies;
static double run_seconds = 3.0;
static atomic_int stop_flag;

typedef struct {
    pthread_t tid;
    unsigned idx;
    uint64_t events, bytes, rejected;
} worker_t;

static int load(const char *path, body_t *b)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    buf_t buf;
    buf_init(&buf);
    char chunk[65536];
    size_t r;
    while ((r = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&buf, chunk, r);
    fclose(f);
    b->p = buf.data;
    b->n = buf.len;
    return 0;
}

/* mode 0: Aisle's event reader (evt_parse_batch + evt_encode), what POST /v1/events
 * runs; mode 1: jansson's parser alone on the same bodies (bat_parse builds the tree,
 * nothing is validated), a lower bound for the jansson-based reader Aisle used first. */
static int mode;

static void *worker(void *arg)
{
    worker_t *w = arg;
    buf_t enc;
    buf_init(&enc);
    for (size_t k = w->idx; !atomic_load_explicit(&stop_flag, memory_order_relaxed); k++) {
        body_t *b = &bodies[k % nbodies];
        val_error_t err;
        if (mode == 1) {
            bat_t bat;
            if (bat_parse(b->p, b->n, 0, BAT_MAX_DEFAULT, &bat, &err) != 0) {
                fprintf(stderr, "bench-parse-only: body %zu does not parse: %s\n", k % nbodies, err.message);
                exit(1);
            }
            w->events += bat.n;
            bat_free(&bat);
            w->bytes += b->n;
            continue;
        }
        evt_batch_t bat;
        if (evt_parse_batch(b->p, b->n, 0, BAT_MAX_DEFAULT, time_now_ms(), &bat, &err) != 0) {
            fprintf(stderr, "bench-parse-only: body %zu does not parse: %s\n", k % nbodies, err.message);
            exit(1);
        }
        enc.len = 0;
        for (size_t i = 0; i < bat.n; i++) {
            if (!bat.err[i].code) {
                evt_encode(&bat.ev[i], &enc);
                w->events++;
            } else {
                w->rejected++;
            }
        }
        evt_batch_free(&bat);
        w->bytes += b->n;
    }
    buf_free(&enc);
    return NULL;
}

static void run(int threads)
{
    worker_t *ws = calloc((size_t)threads, sizeof *ws);
    atomic_store(&stop_flag, 0);
    uint64_t t0 = time_mono_ns();
    for (int i = 0; i < threads; i++) {
        ws[i].idx = (unsigned)i * 7;
        if (pthread_create(&ws[i].tid, NULL, worker, &ws[i]) != 0) {
            fprintf(stderr, "bench-parse-only: cannot start a thread\n");
            exit(1);
        }
    }
    usleep((useconds_t)(run_seconds * 1e6));
    atomic_store(&stop_flag, 1);
    uint64_t events = 0, bytes = 0, rejected = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(ws[i].tid, NULL);
        events += ws[i].events;
        bytes += ws[i].bytes;
        rejected += ws[i].rejected;
    }
    double secs = (double)(time_mono_ns() - t0) / 1e9;
    printf("%s: threads=%d events=%llu rejected=%llu seconds=%.2f events_per_s=%.0f json_MB_per_s=%.1f\n",
           mode ? "jansson-only" : "parse-only", threads, (unsigned long long)events, (unsigned long long)rejected, secs, (double)events / secs,
           (double)bytes / secs / 1e6);
    fflush(stdout);
    free(ws);
}

int main(int argc, char **argv)
{
    int threads = 1;
    int opt;
    while ((opt = getopt(argc, argv, "t:d:j")) != -1) {
        switch (opt) {
        case 'j': mode = 1; break;
        case 't': threads = atoi(optarg); break;
        case 'd': run_seconds = atof(optarg); break;
        default:
            fprintf(stderr, "usage: %s [-j] [-t THREADS] [-d SECONDS] BODY.json...\n", argv[0]);
            return 2;
        }
    }
    if (optind >= argc || threads < 1 || threads > 256 || run_seconds <= 0) {
        fprintf(stderr, "usage: %s [-j] [-t THREADS] [-d SECONDS] BODY.json...\n", argv[0]);
        return 2;
    }
    nbodies = (size_t)(argc - optind);
    bodies = calloc(nbodies, sizeof *bodies);
    for (size_t i = 0; i < nbodies; i++)
        if (load(argv[optind + (int)i], &bodies[i]) != 0) {
            fprintf(stderr, "bench-parse-only: cannot read %s: %s\n", argv[optind + (int)i], strerror(errno));
            return 1;
        }
    /* jansson seeds its hash function on first use; do it before the threads race to. */
    json_object_seed(0);
    run(threads);
    return 0;
}
