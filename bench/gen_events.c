/* Writes the POST /v1/events bodies the ingest and replay benchmarks send: B files
 * body-NNN.json, each a JSON array of E events (default 64 x 1000), deterministic for
 * a seed. Events look like a shop's traffic: mostly views, some clicks, searches, cart
 * changes and purchases, over 50,000 customers (10% of events anonymous), 20,000 items
 * and 200,000 sessions, about 150-200 bytes each.
 *
 * Every event_id is PLACEHOLDER-NNNN (NNNN its index in the body): the wrk script
 * replaces the 12-byte placeholder with a 12-byte prefix unique to each request, so
 * that every request carries new event ids and dedup keeps none of them back.
 *
 * Usage: bench-gen-events -o DIR [-b BODIES] [-e EVENTS_PER_BODY] [-s SEED] */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PLACEHOLDER "~~~~~~~~~~~~"

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* splitmix64: good enough, and the same on every machine. */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static unsigned below(unsigned n)
{
    return (unsigned)(rnd() % n);
}

/* Skewed pick in [0, n): a few popular ids get much of the traffic. */
static unsigned skewed(unsigned n)
{
    double u = (double)(rnd() >> 11) / 9007199254740992.0;
    return (unsigned)((double)n * u * u * u);
}

static const char *words[] = {"running shoes", "rain jacket", "coffee grinder", "usb-c cable", "desk lamp",
                              "yoga mat",      "wool socks",  "espresso cups",  "phone case",  "backpack",
                              "water bottle",  "headphones",  "linen shirt",    "cast iron pan"};
static const char *sources[] = {"home", "search", "category", "recommendation", "email", "ads"};
static const char *devices[] = {"mobile", "desktop", "tablet"};

#define NUSERS 50000u
#define NITEMS 20000u
#define NSESSIONS 200000u

int main(int argc, char **argv)
{
    const char *dir = NULL;
    unsigned bodies = 64, per = 1000;
    uint64_t seed = 42;
    int opt;
    while ((opt = getopt(argc, argv, "o:b:e:s:")) != -1) {
        switch (opt) {
        case 'o': dir = optarg; break;
        case 'b': bodies = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'e': per = (unsigned)strtoul(optarg, NULL, 10); break;
        case 's': seed = strtoull(optarg, NULL, 10); break;
        default:
            fprintf(stderr, "usage: %s -o DIR [-b BODIES] [-e EVENTS_PER_BODY] [-s SEED]\n", argv[0]);
            return 2;
        }
    }
    if (!dir || bodies == 0 || bodies > 1000 || per == 0 || per > 9999) {
        fprintf(stderr, "usage: %s -o DIR [-b BODIES<=1000] [-e EVENTS_PER_BODY<=9999] [-s SEED]\n", argv[0]);
        return 2;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    rng_state = seed;
    /* Timestamps: the last two days up to now, so that none is refused as future. */
    int64_t now = (int64_t)time(NULL) * 1000;
    int64_t ts = now - 2 * 86400000LL;
    int64_t step = 2 * 86400000LL / ((int64_t)bodies * per);
    uint64_t total_bytes = 0, order = 0;
    unsigned counts[6] = {0};
    for (unsigned b = 0; b < bodies; b++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/body-%03u.json", dir, b);
        FILE *f = fopen(path, "w");
        if (!f) {
            fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
            return 1;
        }
        long body_bytes = 0;
        fputc('[', f);
        for (unsigned i = 0; i < per; i++) {
            char ev[1024];
            int n = 0;
            unsigned user = skewed(NUSERS), item = skewed(NITEMS);
            unsigned sess = user * 4 + below(4); /* a few sessions per customer */
            int anon = below(10) == 0;
            ts += step / 2 + (int64_t)below((unsigned)step + 1);
            unsigned r = below(100);
            int type = r < 55 ? 0 : r < 70 ? 1 : r < 78 ? 2 : r < 90 ? 3 : r < 93 ? 4 : 5;
            static const char *tn[] = {"view", "click", "search", "add_to_cart", "remove_from_cart", "purchase"};
            counts[type]++;
            n += snprintf(ev + n, sizeof ev - (size_t)n, "{\"event_id\":\"" PLACEHOLDER "-%04u\",\"type\":\"%s\",", i,
                          tn[type]);
            if (!anon)
                n += snprintf(ev + n, sizeof ev - (size_t)n, "\"user_id\":\"u%07u\",", user);
            n += snprintf(ev + n, sizeof ev - (size_t)n, "\"session_id\":\"s%08u\",", anon ? NSESSIONS * 4 + sess : sess);
            if (type == 2)
                n += snprintf(ev + n, sizeof ev - (size_t)n, "\"query\":\"%s\",",
                              words[below(sizeof words / sizeof *words)]);
            else
                n += snprintf(ev + n, sizeof ev - (size_t)n, "\"item_id\":\"sku-%06u\",", item);
            if (type == 1 && below(2))
                n += snprintf(ev + n, sizeof ev - (size_t)n, "\"rec_id\":\"r%010" PRIu64 "\",", (uint64_t)(rnd() % 10000000000ull));
            if (type == 3 || type == 4 || type == 5)
                n += snprintf(ev + n, sizeof ev - (size_t)n, "\"quantity\":%u,", 1 + below(3));
            if (type == 5)
                n += snprintf(ev + n, sizeof ev - (size_t)n, "\"price\":%u.%02u,\"order_id\":\"o%09" PRIu64 "\",",
                              5 + below(200), below(100), ++order);
            n += snprintf(ev + n, sizeof ev - (size_t)n, "\"ts\":%" PRId64, ts);
            if (type != 5)
                n += snprintf(ev + n, sizeof ev - (size_t)n, ",\"properties\":{\"source\":\"%s\",\"device\":\"%s\"}",
                              sources[below(6)], devices[below(3)]);
            n += snprintf(ev + n, sizeof ev - (size_t)n, "}");
            if (i)
                fputc(',', f), body_bytes++;
            fwrite(ev, 1, (size_t)n, f);
            body_bytes += n;
            total_bytes += (uint64_t)n;
        }
        fputc(']', f);
        body_bytes += 2;
        if (fclose(f) != 0) {
            fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
            return 1;
        }
    }
    uint64_t events = (uint64_t)bodies * per;
    printf("generated %u bodies x %u events in %s: %.0f bytes/event on average, ~%.0f KB/body; "
           "mix view %.0f%% click %.0f%% search %.0f%% add_to_cart %.0f%% remove_from_cart %.0f%% purchase %.0f%%\n",
           bodies, per, dir, (double)total_bytes / (double)events, (double)total_bytes / bodies / 1024.0,
           100.0 * counts[0] / events, 100.0 * counts[1] / events, 100.0 * counts[2] / events,
           100.0 * counts[3] / events, 100.0 * counts[4] / events, 100.0 * counts[5] / events);
    return 0;
}
