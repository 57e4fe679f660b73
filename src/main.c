/* The aisle binary: subcommand dispatch and command-line/environment configuration.
 * Every flag has an AISLE_* environment equivalent; a flag wins over the environment. */
#include "api/server.h"
#include "eval/eval.h"
#include "gen/gen.h"
#include "ingest/import.h"
#include "models/train.h"
#include "util/flags.h"
#include "util/slog.h"
#include "util/timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VERSION "0.1.0"

static void usage_main(FILE *f)
{
    fprintf(f, "aisle %s - real-time product recommendations for retailers\n\n"
               "Usage: aisle <command> [flags]\n\n"
               "Commands:\n"
               "  serve     run the HTTP API over the data directory\n"
               "  gen       write a synthetic shop data set (catalog, customers, events)\n"
               "  import    load a file (Online Retail CSV, sequences, CSV, NDJSON) into the data directory\n"
               "  train     train models (item-kNN, EASE, iALS) on the data directory's log\n"
               "  eval      measure the recommenders offline on the data directory (HR, NDCG, MRR, coverage)\n"
               "  version   print the version\n\n"
               "Run 'aisle <command> --help' for the flags of a command.\n",
            VERSION);
}

static void usage_serve(FILE *f)
{
    fprintf(f,
            "Usage: aisle serve [flags]\n\n"
            "Flags (environment variable in brackets):\n"
            "  --listen HOST:PORT     address to listen on (AISLE_LISTEN) [127.0.0.1:8080]\n"
            "  --data DIR             data directory: log segments live in DIR/log (AISLE_DATA) [./data]\n"
            "  --threads N            HTTP event-loop threads (AISLE_THREADS) [2 per CPU]\n"
            "  --loop-slice-us US     CPU slice the loops ask of the scheduler, 0: the kernel's (AISLE_LOOP_SLICE_US) [0]\n"
            "  --fsync MODE           always | batch:MS | never (AISLE_FSYNC) [always]\n"
            "                           always: acknowledge after fsync, requests share fsyncs (group commit)\n"
            "                           batch:MS: acknowledge after write(2), fsync every MS ms\n"
            "                           never: acknowledge after write(2), leave fsync to the OS\n"
            "  --segment-size BYTES   rotate log segments past this size (AISLE_SEGMENT_SIZE) [67108864]\n"
            "  --max-body BYTES       largest request body (AISLE_MAX_BODY) [33554432]\n"
            "  --max-batch N          most records in one request (AISLE_MAX_BATCH) [10000]\n"
            "  --log-level LEVEL      debug | info | warn | error (AISLE_LOG_LEVEL) [info]\n"
            "  --diversity K          default most items per leaf category in one answer, 0 for no\n"
            "                         limit (AISLE_DIVERSITY) [3]\n"
            "  --event-weights LIST   what each event type says about a taste, e.g.\n"
            "                         view=1,click=2,search=0.5,add_to_cart=4,remove_from_cart=0,purchase=8\n"
            "                         (AISLE_EVENT_WEIGHTS) [those]\n"
            "  --affinity-half-life D half-life of category and brand affinities (AISLE_AFFINITY_HALF_LIFE) [14d]\n"
            "  --trending-half-lives S,L  short and long half-lives of item activity (AISLE_TRENDING_HALF_LIVES)\n"
            "                         [1d,14d]\n"
            "  --rank-cache-ms MS     how long trending/popular top lists are reused (AISLE_RANK_CACHE_MS) [1000]\n"
            "  --dedup-window D       how long (in event time) an event_id is remembered so that a resent\n"
            "                         event is counted as a duplicate: at least D, at most 2D; 0 keeps\n"
            "                         every id (memory grows with the log) (AISLE_DEDUP_WINDOW) [7d]\n"
            "  --recency-decay F      for_you: weight of each older recent interaction against the next\n"
            "                         newer one; lower follows the last click more (AISLE_RECENCY_DECAY) [0.85]\n"
            "  --blend LIST           for_you's source weights: co_view=1,co_purchase=1.5,category=0.3,\n"
            "                         trending=0.1,popular=0.05,knn=1,ease=1,ials=1,content=0.3,sequence=1;\n"
            "                         ranker=0"
             " orders by those weights even when a ranker model is loaded\n"
            "                         (AISLE_BLEND) [those, ranker=1]\n"
            "  --model-recency F      how the trained models read a customer's history, newest first:\n"
            "                         each item counts F times the next newer one; 1: all alike\n"
            "                         (AISLE_MODEL_RECENCY) [1]\n"
            "  --retrain-every D      retrain the models from the log in the background every D, e.g. 6h;\n"
            "                         0 for never (AISLE_RETRAIN_EVERY) [0]\n"
            "  --retrain-models LIST  which models to retrain: knn, ease, ials, sequence, ranker\n"
            "                         (AISLE_RETRAIN_MODELS)\n"
            "                         [those loaded, else knn,ials]\n"
            "  --retrain-args ARGS    extra `aisle train` flags for retraining, e.g. \"--factors 128\"\n"
            "                         (AISLE_RETRAIN_ARGS)\n"
            "Models: DIR/models/{knn,ease,ials,sequence,ranker}.model (from `aisle train`) are loaded at\n"
            "start and on POST /v1/admin/models/reload.\n"
            "  -h, --help             this help\n");
}

static int parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || errno || *s == '-')
        return -1;
    if (*end == 'k' || *end == 'K')
        v <<= 10, end++;
    else if (*end == 'm' || *end == 'M')
        v <<= 20, end++;
    else if (*end == 'g' || *end == 'G')
        v <<= 30, end++;
    if (*end)
        return -1;
    *out = (size_t)v;
    return 0;
}

/* "view=1,click=2,...": weights per event type; types not named keep theirs. */
static int parse_weights(srv_config_t *c, const char *val)
{
    if (evt_parse_weights(val, c->store.prof.weight) != 0) {
        fprintf(stderr, "aisle: --event-weights wants TYPE=WEIGHT pairs (weights 0 to 1000), got '%s'\n", val);
        return -1;
    }
    return 0;
}

/* Applies one setting by its flag name; returns 0 or prints why not. */
static int set_option(srv_config_t *c, const char *name, const char *val)
{
    size_t sz;
    if (strcmp(name, "listen") == 0) {
        const char *colon = strrchr(val, ':');
        char *end;
        long port = colon ? strtol(colon + 1, &end, 10) : -1;
        if (!colon || colon == val || *end || port < 0 || port > 65535 || (size_t)(colon - val) >= sizeof c->host) {
            fprintf(stderr, "aisle: --listen wants HOST:PORT, got '%s'\n", val);
            return -1;
        }
        const char *h = val;
        size_t hn = (size_t)(colon - val);
        if (h[0] == '[' && hn > 2 && h[hn - 1] == ']')
            h++, hn -= 2; /* [::1]:8080 */
        memcpy(c->host, h, hn);
        c->host[hn] = '\0';
        c->port = (int)port;
    } else if (strcmp(name, "data") == 0) {
        if (!*val || strlen(val) >= sizeof c->data_dir) {
            fprintf(stderr, "aisle: --data wants a directory path\n");
            return -1;
        }
        snprintf(c->data_dir, sizeof c->data_dir, "%s", val);
    } else if (strcmp(name, "threads") == 0) {
        if (parse_size(val, &sz) || sz < 1 || sz > 256) {
            fprintf(stderr, "aisle: --threads wants 1 to 256, got '%s'\n", val);
            return -1;
        }
        c->threads = (int)sz;
    } else if (strcmp(name, "loop-slice-us") == 0) {
        if (parse_size(val, &sz) || (sz != 0 && (sz < 100 || sz > 100000))) {
            fprintf(stderr, "aisle: --loop-slice-us wants 0 or 100 to 100000, got '%s'\n", val);
            return -1;
        }
        c->loop_slice_us = (int)sz;
    } else if (strcmp(name, "fsync") == 0) {
        if (log_parse_fsync(val, &c->log)) {
            fprintf(stderr, "aisle: --fsync wants always, batch:MS or never, got '%s'\n", val);
            return -1;
        }
    } else if (strcmp(name, "segment-size") == 0) {
        if (parse_size(val, &sz) || sz < 4096) {
            fprintf(stderr, "aisle: --segment-size wants bytes (at least 4096), got '%s'\n", val);
            return -1;
        }
        c->log.segment_bytes = sz;
    } else if (strcmp(name, "max-body") == 0) {
        if (parse_size(val, &sz) || sz < 1024) {
            fprintf(stderr, "aisle: --max-body wants bytes (at least 1024), got '%s'\n", val);
            return -1;
        }
        c->max_body = sz;
    } else if (strcmp(name, "max-batch") == 0) {
        if (parse_size(val, &sz) || sz < 1 || sz > 1000000) {
            fprintf(stderr, "aisle: --max-batch wants 1 to 1000000, got '%s'\n", val);
            return -1;
        }
        c->max_batch = sz;
    } else if (strcmp(name, "log-level") == 0) {
        int lv = slog_level_from_name(val);
        if (lv < 0) {
            fprintf(stderr, "aisle: --log-level wants debug, info, warn or error, got '%s'\n", val);
            return -1;
        }
        slog_set_level(lv);
    } else if (strcmp(name, "diversity") == 0) {
        if (parse_size(val, &sz) || sz > 100) {
            fprintf(stderr, "aisle: --diversity wants 0 to 100, got '%s'\n", val);
            return -1;
        }
        c->diversity = (int)sz;
    } else if (strcmp(name, "rank-cache-ms") == 0) {
        if (parse_size(val, &sz) || sz > 3600000) {
            fprintf(stderr, "aisle: --rank-cache-ms wants 0 to 3600000, got '%s'\n", val);
            return -1;
        }
        c->rank_cache_ms = (int64_t)sz;
    } else if (strcmp(name, "dedup-window") == 0) {
        int64_t ms;
        if (time_parse_duration(val, &ms)) {
            fprintf(stderr, "aisle: --dedup-window wants a duration such as 7d, or 0 for no limit, got '%s'\n", val);
            return -1;
        }
        c->store.dedup_window_ms = ms;
    } else if (strcmp(name, "affinity-half-life") == 0) {
        int64_t ms;
        if (time_parse_duration(val, &ms) || ms <= 0) {
            fprintf(stderr, "aisle: --affinity-half-life wants a duration such as 14d, got '%s'\n", val);
            return -1;
        }
        c->store.prof.half_life_ms = (double)ms;
    } else if (strcmp(name, "trending-half-lives") == 0) {
        char a[64], b[64];
        int64_t s_ms, l_ms;
        const char *comma = strchr(val, ',');
        if (!comma || (size_t)(comma - val) >= sizeof a || strlen(comma + 1) >= sizeof b) {
            fprintf(stderr, "aisle: --trending-half-lives wants SHORT,LONG such as 1d,14d, got '%s'\n", val);
            return -1;
        }
        snprintf(a, sizeof a, "%.*s", (int)(comma - val), val);
        snprintf(b, sizeof b, "%s", comma + 1);
        if (time_parse_duration(a, &s_ms) || time_parse_duration(b, &l_ms) || s_ms <= 0 || l_ms <= s_ms) {
            fprintf(stderr, "aisle: --trending-half-lives wants SHORT,LONG with SHORT < LONG, got '%s'\n", val);
            return -1;
        }
        c->store.trend_short_ms = (double)s_ms;
        c->store.trend_long_ms = (double)l_ms;
    } else if (strcmp(name, "recency-decay") == 0) {
        if (flags_fraction(val, &c->store.recency_decay) != 0) {
            fprintf(stderr, "aisle: --recency-decay wants a number in (0, 1], got '%s'\n", val);
            return -1;
        }
    } else if (strcmp(name, "event-weights") == 0) {
        return parse_weights(c, val);
    } else if (strcmp(name, "blend") == 0) {
        if (rec_blend_parse(&c->blend, val) != 0) {
            fprintf(stderr, "aisle: --blend wants SOURCE=WEIGHT pairs (co_view, co_purchase, category, trending, popular, knn, "
                            "ease, ials, content, sequence, ranker; weights 0 to 1000), got '%s'\n", val);
            return -1;
        }
    } else if (strcmp(name, "model-recency") == 0) {
        if (flags_fraction(val, &c->blend.history_decay) != 0) {
            fprintf(stderr, "aisle: --model-recency wants a number in (0, 1], got '%s'\n", val);
            return -1;
        }
    } else if (strcmp(name, "retrain-every") == 0) {
        int64_t ms = 0;
        if (strcmp(val, "0") != 0 && (time_parse_duration(val, &ms) || ms < 1000)) {
            fprintf(stderr, "aisle: --retrain-every wants a duration of at least 1s such as 6h, or 0, got '%s'\n", val);
            return -1;
        }
        c->retrain_every_ms = ms;
    } else if (strcmp(name, "retrain-models") == 0) {
        char buf[64] = "";
        int ok = strlen(val) < sizeof buf && *val;
        if (ok)
            memcpy(buf, val, strlen(val) + 1);
        char *save = NULL;
        for (char *t = strtok_r(buf, ",", &save); t && ok; t = strtok_r(NULL, ",", &save))
            ok = model_kind_from_name(t) != 0;
        if (!ok) {
            fprintf(stderr, "aisle: --retrain-models wants a list of knn, ease, ials, ranker, got '%s'\n", val);
            return -1;
        }
        snprintf(c->retrain_models, sizeof c->retrain_models, "%s", val);
    } else if (strcmp(name, "retrain-args") == 0) {
        if (strlen(val) >= sizeof c->retrain_args) {
            fprintf(stderr, "aisle: --retrain-args is too long\n");
            return -1;
        }
        snprintf(c->retrain_args, sizeof c->retrain_args, "%s", val);
    } else {
        fprintf(stderr, "aisle: unknown flag --%s (see aisle serve --help)\n", name);
        return -1;
    }
    return 0;
}

static const struct {
    const char *env, *flag;
} env_map[] = {{"AISLE_LISTEN", "listen"},     {"AISLE_DATA", "data"},         {"AISLE_THREADS", "threads"}, {"AISLE_LOOP_SLICE_US", "loop-slice-us"},
               {"AISLE_FSYNC", "fsync"},       {"AISLE_SEGMENT_SIZE", "segment-size"},
               {"AISLE_MAX_BODY", "max-body"}, {"AISLE_MAX_BATCH", "max-batch"}, {"AISLE_LOG_LEVEL", "log-level"},
               {"AISLE_DIVERSITY", "diversity"}, {"AISLE_RANK_CACHE_MS", "rank-cache-ms"},
               {"AISLE_DEDUP_WINDOW", "dedup-window"},
               {"AISLE_AFFINITY_HALF_LIFE", "affinity-half-life"}, {"AISLE_TRENDING_HALF_LIVES", "trending-half-lives"},
               {"AISLE_EVENT_WEIGHTS", "event-weights"}, {"AISLE_RECENCY_DECAY", "recency-decay"},
               {"AISLE_BLEND", "blend"}, {"AISLE_MODEL_RECENCY", "model-recency"}, {"AISLE_RETRAIN_EVERY", "retrain-every"},
               {"AISLE_RETRAIN_MODELS", "retrain-models"}, {"AISLE_RETRAIN_ARGS", "retrain-args"}};

static int set_flag(void *ud, const char *name, const char *val)
{
    return set_option(ud, name, val);
}

static int cmd_serve(int argc, char **argv)
{
    srv_config_t cfg;
    srv_config_default(&cfg);
    for (size_t i = 0; i < sizeof env_map / sizeof env_map[0]; i++) {
        const char *v = getenv(env_map[i].env);
        if (v && *v && set_option(&cfg, env_map[i].flag, v) != 0) {
            fprintf(stderr, "aisle: (from %s)\n", env_map[i].env);
            return 2;
        }
    }
    int rc = flags_parse(argc, argv, "serve", NULL, set_flag, &cfg, usage_serve);
    if (rc)
        return rc == 1 ? 0 : 2;
    return srv_run(&cfg);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage_main(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage_main(stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("aisle %s\n", VERSION);
        return 0;
    }
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc - 2, argv + 2);
    if (strcmp(cmd, "gen") == 0)
        return gen_main(argc - 2, argv + 2);
    if (strcmp(cmd, "import") == 0)
        return imp_main(argc - 2, argv + 2);
    if (strcmp(cmd, "train") == 0)
        return train_main(argc - 2, argv + 2);
    if (strcmp(cmd, "eval") == 0)
        return ev_main(argc - 2, argv + 2);
    fprintf(stderr, "aisle: unknown command '%s'\n\n", cmd);
    usage_main(stderr);
    return 2;
}
