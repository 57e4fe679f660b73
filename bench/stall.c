/* How often the machine itself stops a running thread: THREADS threads each spin on
 * CLOCK_MONOTONIC for SECONDS and record every gap between two readings. A gap of more
 * than a few microseconds is time the thread was not running although it wanted to (an
 * interrupt, another task, or, in a VM, the host not running the vCPU). serve.sh runs it
 * before its fixed-rate latency runs so that their tail can be read against the floor
 * the machine sets: nothing a server does shortens a stall of the whole VM.
 *
 * Output (one line, gaps summed over the threads):
 *   stall: threads=T seconds=S over_50us=N over_200us=N over_1ms=N over_3ms=N
 *          max=Xms stopped=Yms stopped_pct=Z
 *
 * Usage: bench-stall [-t THREADS] [-d SECONDS] */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    uint64_t seconds_ns;
    uint64_t over[4]; /* > 50 us, 200 us, 1 ms, 3 ms */
    uint64_t max_ns;
    uint64_t stopped_ns; /* the sum of the gaps over 50 us */
} spin_t;

static const uint64_t bounds[4] = {50000, 200000, 1000000, 3000000};

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *spin(void *arg) {
    spin_t *s = arg;
    uint64_t last = now_ns(), end = last + s->seconds_ns;
    for (;;) {
        uint64_t t = now_ns(), gap = t - last;
        last = t;
        if (gap > bounds[0]) {
            s->stopped_ns += gap;
            if (gap > s->max_ns)
                s->max_ns = gap;
            for (int i = 0; i < 4; i++)
                s->over[i] += gap > bounds[i];
        }
        if (t >= end)
            break;
    }
    return NULL;
}

int main(int argc, char **argv) {
    long threads = sysconf(_SC_NPROCESSORS_ONLN);
    double seconds = 5;
    int opt;
    while ((opt = getopt(argc, argv, "t:d:")) != -1) {
        if (opt == 't')
            threads = atol(optarg);
        else if (opt == 'd')
            seconds = atof(optarg);
        else {
            fprintf(stderr, "usage: bench-stall [-t THREADS] [-d SECONDS]\n");
            return 2;
        }
    }
    if (threads < 1 || threads > 256 || seconds <= 0) {
        fprintf(stderr, "bench-stall: -t must be 1..256 and -d positive\n");
        return 2;
    }
    spin_t *s = calloc((size_t)threads, sizeof *s);
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    if (!s || !tid) {
        fprintf(stderr, "bench-stall: out of memory\n");
        return 1;
    }
    for (long i = 0; i < threads; i++) {
        s[i].seconds_ns = (uint64_t)(seconds * 1e9);
        if (pthread_create(&tid[i], NULL, spin, &s[i]) != 0) {
            fprintf(stderr, "bench-stall: pthread_create failed\n");
            return 1;
        }
    }
    spin_t all = {0};
    for (long i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        for (int j = 0; j < 4; j++)
            all.over[j] += s[i].over[j];
        all.stopped_ns += s[i].stopped_ns;
        if (s[i].max_ns > all.max_ns)
            all.max_ns = s[i].max_ns;
    }
    printf("stall: threads=%ld seconds=%g over_50us=%llu over_200us=%llu over_1ms=%llu over_3ms=%llu "
           "max=%.3fms stopped=%.3fms stopped_pct=%.3f\n",
           threads, seconds, (unsigned long long)all.over[0], (unsigned long long)all.over[1],
           (unsigned long long)all.over[2], (unsigned long long)all.over[3], all.max_ns / 1e6,
           all.stopped_ns / 1e6, all.stopped_ns / 1e7 / seconds / (double)threads);
    free(s);
    free(tid);
    return 0;
}
