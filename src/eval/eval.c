/* Evaluation: two read-only passes over the log (find the held-out interactions, then
 * replay everything else into a fresh store), then the recommenders answer for every
 * test customer on a few threads, and the metrics are summed. */
#include "eval.h"
#include "plot.h"

#include "../ingest/event.h"
#include "../rank/ranker.h"
#include "../rank/recs.h"
#include "../store/log.h"
#include "../store/state.h"
#include "../util/flags.h"
#include "../util/hash.h"
#include "../util/intern.h"
#include "../util/slog.h"
#include "../util/timeutil.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const int ev_k[EV_KS] = {10, 20};

#define MAX_RANK 100

void ev_opts_default(ev_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->protocol = EV_LOO;
    o->target_types = 1u << EVT_PURCHASE;
    o->temporal_cut = 0.8;
    o->negatives = 100;
    o->seed = 42;
    o->threads = 2;
    o->models = "live,popular";
    o->recency_decay = 0.85f;
    rec_blend_default(&o->blend);
    train_opts_default(&o->train);
}

/* One test case: a customer and the item they went on to choose. */
typedef struct {
    uint64_t cut;  /* first held-out event (index among all events): the test event, or
                      the first event of its session, so that the views and cart that
                      led to the purchase do not give it away */
    uint32_t item; /* in the split's own item table */
    int64_t ts;
    uint32_t session;       /* the customer's current session (split-local id) */
    uint64_t session_first; /* index of its first event */
    /* --basket: the other items of the test event's order (split-local ids; owned) and
     * the order's id hash (its time when it has no id). */
    uint32_t *basket;
    uint32_t nbasket, basket_cap;
    uint64_t order;
} test_t;

typedef struct split split_t;
struct split {
    const ev_opts_t *o;
    const split_t *parent; /* a split of the parent's training part only (the ranker's) */
    intern_t *users, *items, *sessions; /* ids as the log spells them, split-local */
    test_t *test;            /* per split-local user */
    uint32_t test_cap;
    uint64_t events;         /* REC_EVENT records seen */
    int64_t *ts;             /* every event's time (temporal protocol) */
    uint64_t ts_cap, nts;
    int64_t cut_ms;
    state_t *st;
    ix_builder_t *ix; /* the training part as a matrix, when models are trained */
    uint64_t train_records;
    uint8_t *warm; /* cold_items, temporal: by split-local item, touched before the cut */
    uint32_t warm_cap;
    ms_set_t *set;  /* the models trained on the training part */
    double train_s[MODEL__MAX + 1];
    int lenient;    /* a model that cannot be trained here is left out, not an error */
};

/* Whether the event at idx (among all events of the log) is held out of s's training
 * part: after the temporal cut, or the customer's test interaction and what followed. */
static int held_out(const split_t *s, const evt_t *e, uint64_t idx)
{
    if (s->parent && held_out(s->parent, e, idx))
        return 1;
    if (s->o->protocol == EV_TEMPORAL)
        return e->ts_ms >= s->cut_ms;
    if (!e->user_id.p)
        return 0;
    uint32_t uid = intern_get(s->users, e->user_id.p, e->user_id.n);
    return uid != INTERN_NONE && uid < s->test_cap && idx >= s->test[uid].cut;
}

static void grow_tests(split_t *s, uint32_t uid)
{
    if (uid < s->test_cap)
        return;
    uint32_t ncap = s->test_cap ? s->test_cap : 1024;
    while (ncap <= uid)
        ncap *= 2;
    s->test = realloc(s->test, ncap * sizeof *s->test);
    if (!s->test)
        abort();
    for (uint32_t i = s->test_cap; i < ncap; i++)
        s->test[i] = (test_t){UINT64_MAX, UINT32_MAX, 0, UINT32_MAX, 0, NULL, 0, 0, 0};
    s->test_cap = ncap;
}

static int is_target(const split_t *s, const evt_t *e)
{
    return e->user_id.p && e->item_id.p && (s->o->target_types & (1u << e->type));
}

/* Pass 1: which interaction each customer holds out. */
static int find_tests(void *ud, uint8_t type, const void *p, size_t n, uint64_t lsn)
{
    split_t *s = ud;
    (void)lsn;
    if (type != REC_EVENT)
        return 0;
    evt_t e;
    if (evt_decode(p, n, &e) != 0)
        return 0;
    uint64_t idx = s->events++;
    if (s->parent && held_out(s->parent, &e, idx))
        return 0;
    if (s->o->protocol == EV_TEMPORAL) {
        /* The times of the events this split sees (its parent's training part). */
        if (s->nts == s->ts_cap) {
            s->ts_cap = s->ts_cap ? s->ts_cap * 2 : 1 << 16;
            s->ts = realloc(s->ts, s->ts_cap * sizeof *s->ts);
            if (!s->ts)
                abort();
        }
        s->ts[s->nts++] = e.ts_ms;
    }
    if (s->o->protocol == EV_TEMPORAL || !e.user_id.p)
        return 0;
    uint32_t uid = intern_put(s->users, e.user_id.p, e.user_id.n, NULL);
    grow_tests(s, uid);
    test_t *t = &s->test[uid];
    uint32_t sid = e.session_id.p ? intern_put(s->sessions, e.session_id.p, e.session_id.n, NULL) : UINT32_MAX;
    if (sid == UINT32_MAX || sid != t->session) {
        t->session = sid;
        t->session_first = idx;
    }
    if (!is_target(s, &e))
        return 0;
    /* The last one wins: leave-one-out holds out each customer's latest, with the rest
     * of its session. */
    t->cut = sid == UINT32_MAX ? idx : t->session_first;
    t->item = intern_put(s->items, e.item_id.p, e.item_id.n, NULL);
    t->ts = e.ts_ms;
    return 0;
}

/* Temporal protocol, pass 1b: the first target interaction after the cut. */
static int find_temporal(void *ud, uint8_t type, const void *p, size_t n, uint64_t lsn)
{
    split_t *s = ud;
    (void)lsn;
    if (type != REC_EVENT)
        return 0;
    evt_t e;
    if (evt_decode(p, n, &e) != 0)
        return 0;
    uint64_t idx = s->events++;
    if (s->parent && held_out(s->parent, &e, idx))
        return 0;
    if (s->o->cold_items && e.item_id.p && e.ts_ms < s->cut_ms) {
        /* Items touched before the cut are not cold. */
        uint32_t it = intern_put(s->items, e.item_id.p, e.item_id.n, NULL);
        if (it >= s->warm_cap) {
            uint32_t ncap = s->warm_cap ? s->warm_cap * 2 : 4096;
            while (ncap <= it)
                ncap *= 2;
            s->warm = realloc(s->warm, ncap);
            if (!s->warm)
                abort();
            memset(s->warm + s->warm_cap, 0, ncap - s->warm_cap);
            s->warm_cap = ncap;
        }
        s->warm[it] = 1;
    }
    if (!is_target(s, &e) || e.ts_ms < s->cut_ms)
        return 0;
    uint32_t item = intern_put(s->items, e.item_id.p, e.item_id.n, NULL);
    if (s->o->cold_items && item < s->warm_cap && s->warm[item])
        return 0; /* cold start: the customer's first purchase after the cut of a new item */
    uint32_t uid = intern_put(s->users, e.user_id.p, e.user_id.n, NULL);
    grow_tests(s, uid);
    test_t *t = &s->test[uid];
    uint64_t order = e.order_id.p ? hash_bytes(e.order_id.p, e.order_id.n, 0) : (uint64_t)e.ts_ms;
    if (t->cut == UINT64_MAX) {
        *t = (test_t){idx, item, e.ts_ms, UINT32_MAX, 0, NULL, 0, 0, order};
    } else if (((s->o->basket && order == t->order) || s->parent) && item != t->item) {
        /* The rest of the first order after the cut: each of its items is a right answer.
         * The ranker's split takes every later one too: the first line of an order is an
         * arbitrary pick of it, and one example per customer is too few to learn from. */
        for (uint32_t k = 0; k < t->nbasket; k++)
            if (t->basket[k] == item)
                return 0;
        if (t->nbasket == t->basket_cap) {
            t->basket_cap = t->basket_cap ? t->basket_cap * 2 : 8;
            t->basket = realloc(t->basket, t->basket_cap * sizeof *t->basket);
            if (!t->basket)
                abort();
        }
        t->basket[t->nbasket++] = item;
    }
    return 0;
}

/* Whether store item `it` is one of customer uid's test items (the test item, or with
 * --basket any item of its order). */
static int is_test_item(const split_t *s, uint32_t uid, uint32_t it)
{
    const test_t *t = &s->test[uid];
    size_t n;
    const char *id = intern_str(s->st->items, it, &n);
    uint32_t local = intern_get(s->items, id, n);
    if (local == INTERN_NONE)
        return 0;
    if (local == t->item)
        return 1;
    for (uint32_t k = 0; k < t->nbasket; k++)
        if (t->basket[k] == local)
            return 1;
    return 0;
}

/* Pass 2: everything but the held-out part, applied as the server applies it. */
static int train(void *ud, uint8_t type, const void *p, size_t n, uint64_t lsn)
{
    split_t *s = ud;
    (void)lsn;
    if (type == REC_EVENT) {
        evt_t e;
        if (evt_decode(p, n, &e) != 0)
            return 0;
        uint64_t idx = s->events++;
        if (held_out(s, &e, idx))
            return 0; /* the test interaction and what the customer did after it */
        if (s->ix)
            ix_builder_add(s->ix, &e);
    }
    st_apply(s->st, type, p, n);
    s->train_records++;
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- answering ----------------------------------------------------------------------- */

enum { M_HYBRID, M_LIVE, M_REALTIME, M_KNN, M_EASE, M_IALS, M_SEQ, M_CONTENT, M_POPULAR, M__N };
static const char *model_names[M__N] = {"hybrid", "live",     "realtime", "knn",    "ease",
                                        "ials",   "sequence", "content",  "popular"};

/* Whether name is in the comma-separated list. */
static int listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0)
            return 1;
        p = e ? e + 1 : NULL;
    }
    return 0;
}

typedef struct {
    double hr[EV_KS], ndcg[EV_KS], mrr, pop;
    uint64_t users, pop_n;
    uint8_t *shown; /* items seen in a top 10 (coverage) */
} acc_t;

typedef struct {
    split_t *s;
    int model;
    rec_cache_t *cache;
    const ms_set_t *set;
    rec_blend_t blend;
    uint32_t from, to; /* test users [from, to) */
    acc_t acc;
    const uint32_t *catalog; /* items with a catalog document, for negatives */
    uint32_t ncatalog;
} job_t;

static uint32_t answer(const job_t *j, const prof_t *p, uint64_t seed, rec_hit_t *out, size_t cap)
{
    const split_t *s = j->s;
    rec_filter_t f;
    rec_filter_default(&f);
    f.in_stock_only = 0;
    f.exclude_cart = 0;
    f.tie_seed = seed | 1;
    int64_t now = s->st->last_event_ms;
    if (j->model == M_POPULAR)
        return (uint32_t)rec_popular(s->st, j->cache, p, &f, now, out, cap);
    return (uint32_t)rec_for_you(s->st, j->cache, j->set, &j->blend, p, &f, now, out, cap);
}

static void *run_job(void *arg)
{
    job_t *j = arg;
    split_t *s = j->s;
    const ev_opts_t *o = s->o;
    rec_hit_t *hits = malloc(2048 * sizeof *hits);
    if (!hits)
        abort();
    for (uint32_t uid = j->from; uid < j->to; uid++) {
        if (uid >= s->test_cap || s->test[uid].cut == UINT64_MAX)
            continue;
        size_t un;
        const char *user = intern_str(s->users, uid, &un);
        const prof_t *p = st_user_profile(s->st, user, un);
        if (!p && o->protocol != EV_TEMPORAL)
            continue; /* nothing before the test item */
        size_t tn;
        const char *titem = intern_str(s->items, s->test[uid].item, &tn);
        uint32_t target = intern_get(s->st->items, titem, tn);
        if (o->cold_items && target != INTERN_NONE) {
            /* Cold start: the item is in the catalog, but no event of training touched it. */
            const st_item_t *it = &s->st->item[target];
            int touched = 0;
            for (int t = 0; t < EVT__COUNT; t++)
                touched |= it->counts[t] != 0;
            if (touched || !it->doc)
                continue;
        }
        uint64_t seed = hash_mix(o->seed ^ ((uint64_t)uid << 20));
        int rank = 0; /* 1-based; 0: not found */
        if (o->protocol == EV_LOO_SAMPLED) {
            /* The test item against negatives: scores of every candidate, 0 for the rest. */
            uint32_t n = answer(j, p, seed, hits, 2048);
            float ts = 0;
            for (uint32_t i = 0; i < n; i++)
                if (hits[i].item == target)
                    ts = hits[i].score;
            uint32_t above = 0, ties = 0, drawn = 0;
            uint64_t r = seed;
            for (uint32_t tries = 0; drawn < o->negatives && tries < o->negatives * 20 && j->ncatalog; tries++) {
                r = hash_mix(r + 0x9e3779b97f4a7c15ull);
                uint32_t it = j->catalog[r % j->ncatalog];
                if (it == target || (p && prof_bought_count(p, it, NULL)))
                    continue;
                float sc = 0;
                for (uint32_t i = 0; i < n; i++)
                    if (hits[i].item == it) {
                        sc = hits[i].score;
                        break;
                    }
                drawn++;
                above += sc > ts;
                ties += sc == ts;
            }
            rank = 1 + (int)above + (int)(hash_mix(seed ^ 7) % (ties + 1)); /* ties at random */
        } else {
            uint32_t n = answer(j, p, seed, hits, MAX_RANK);
            for (uint32_t i = 0; i < n; i++) {
                if (!rank && (hits[i].item == target || (s->test[uid].nbasket && is_test_item(s, uid, hits[i].item))))
                    rank = (int)i + 1;
                if (i < 10) {
                    j->acc.shown[hits[i].item] = 1;
                    const st_item_t *it = &s->st->item[hits[i].item];
                    uint32_t c = 0;
                    for (int t = 0; t < EVT__COUNT; t++)
                        c += it->counts[t];
                    j->acc.pop += c;
                    j->acc.pop_n++;
                }
            }
        }
        j->acc.users++;
        for (int k = 0; k < EV_KS; k++)
            if (rank && rank <= ev_k[k]) {
                j->acc.hr[k] += 1;
                j->acc.ndcg[k] += 1.0 / log2(rank + 1.0);
            }
        if (rank && rank <= MAX_RANK)
            j->acc.mrr += 1.0 / rank;
    }
    free(hits);
    return NULL;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static void split_init(split_t *s, const ev_opts_t *o, const split_t *parent)
{
    memset(s, 0, sizeof *s);
    s->o = o;
    s->parent = parent;
    s->users = intern_new();
    s->items = intern_new();
    s->sessions = intern_new();
}

static void split_clear(split_t *s)
{
    ms_release(s->set);
    ix_builder_free(s->ix);
    st_free(s->st);
    intern_free(s->users);
    intern_free(s->items);
    intern_free(s->sessions);
    for (uint32_t u = 0; u < s->test_cap; u++)
        free(s->test[u].basket);
    free(s->test);
    free(s->ts);
    free(s->warm);
}

static const model_kind_t trained_kinds[] = {MODEL_KNN, MODEL_EASE, MODEL_IALS, MODEL_SEQ};

/* Splits the log of logdir (a nested split: the LOO split of parent's training part),
 * replays the training part into a fresh store and trains the models o->models lists on
 * it. Returns 0, or -1 with err. */
static int split_build(split_t *s, const char *logdir, char *err, size_t errlen)
{
    const ev_opts_t *o = s->o;
    log_replay_stats_t ls;
    if (log_scan(logdir, find_tests, s, &ls) != 0)
        return fail(err, errlen, "cannot read the log in %s", logdir);
    if (o->protocol == EV_TEMPORAL) {
        if (!s->nts)
            return fail(err, errlen, "the log holds no events");
        int64_t *sorted = malloc(s->nts * sizeof *sorted);
        if (!sorted)
            abort();
        memcpy(sorted, s->ts, s->nts * sizeof *sorted);
        qsort(sorted, s->nts, sizeof *sorted, cmp_i64);
        s->cut_ms = sorted[(uint64_t)((double)(s->nts - 1) * o->temporal_cut)];
        free(sorted);
        s->events = 0;
        log_scan(logdir, find_temporal, s, &ls);
    }
    st_config_t cfg;
    st_config_default(&cfg);
    cfg.recency_decay = o->recency_decay;
    s->st = st_new_with(&cfg);
    s->events = 0;
    int any_model = 0;
    for (size_t k = 0; k < sizeof trained_kinds / sizeof trained_kinds[0]; k++)
        any_model |= listed(o->models, model_kind_name(trained_kinds[k]));
    if (any_model)
        s->ix = ix_builder_new(&o->train.ix);
    log_scan(logdir, train, s, &ls);
    /* The trained models, on exactly what the store was given. */
    s->set = ms_new(1);
    if (!s->ix)
        return 0;
    ix_matrix_t *x = ix_build(s->ix);
    s->ix = NULL;
    for (size_t k = 0; k < sizeof trained_kinds / sizeof trained_kinds[0]; k++) {
        model_kind_t kind = trained_kinds[k];
        if (!listed(o->models, model_kind_name(kind)))
            continue;
        uint64_t tm = time_mono_ns();
        char why[600];
        model_t *m = train_model(x, kind, &o->train, why, sizeof why);
        if (!m && s->lenient) {
            fprintf(stderr, "aisle: %s left out: %s\n", model_kind_name(kind), why);
            continue;
        }
        if (!m) {
            ix_free(x);
            return fail(err, errlen, "training %s: %s", model_kind_name(kind), why);
        }
        s->train_s[kind] = (double)(time_mono_ns() - tm) / 1e9;
        ms_add(s->set, m, s->st, NULL);
    }
    ix_free(x);
    return 0;
}

/* ---- the learned ranker -------------------------------------------------------------- */

#define RANKER_CANDIDATES 100 /* per customer: the blend's best, the chosen item among them */
#define RANKER_CUSTOMERS 30000 /* at most, a seeded sample */

typedef struct {
    const split_t *s;
    rec_cache_t *cache;
    uint32_t from, to;
    rk_data_t data;
    uint64_t cases, found;
} rk_job_t;

static void *ranker_job(void *arg)
{
    rk_job_t *j = arg;
    const split_t *s = j->s;
    rec_cand_t *cand = malloc(RANKER_CANDIDATES * sizeof *cand);
    if (!cand)
        abort();
    rec_blend_t blend = s->o->blend;
    blend.ranker = 0;
    rec_filter_t f;
    rec_filter_default(&f);
    f.in_stock_only = 0;
    f.exclude_cart = 0;
    uint32_t nusers = intern_count(s->users);
    for (uint32_t uid = j->from; uid < j->to; uid++) {
        if (uid >= s->test_cap || s->test[uid].cut == UINT64_MAX)
            continue;
        if (nusers > RANKER_CUSTOMERS && hash_mix(s->o->seed ^ 0x5a5a ^ uid) % nusers >= RANKER_CUSTOMERS)
            continue;
        size_t un, tn;
        const char *user = intern_str(s->users, uid, &un);
        const prof_t *p = st_user_profile(s->st, user, un);
        const char *titem = intern_str(s->items, s->test[uid].item, &tn);
        uint32_t target = intern_get(s->st->items, titem, tn);
        if (!p || target == INTERN_NONE)
            continue;
        j->cases++;
        size_t n = rec_candidates(s->st, j->cache, s->set, &blend, p, &f, s->st->last_event_ms, cand,
                                  RANKER_CANDIDATES);
        uint8_t chosen[RANKER_CANDIDATES];
        int any = 0;
        for (size_t i = 0; i < n; i++) {
            chosen[i] = cand[i].item == target || (s->test[uid].nbasket && is_test_item(s, uid, cand[i].item));
            any |= chosen[i];
        }
        if (!any)
            continue; /* no source proposed it: nothing to learn about ordering */
        j->found++;
        for (size_t i = 0; i < n; i++)
            rk_data_add(&j->data, cand[i].x, chosen[i]);
    }
    free(cand);
    return NULL;
}

/* Learns the ranker from split s: for each test customer, the candidates for_you would
 * rank and which of them the customer went on to choose. Returns the ranker model. */
static model_t *ranker_fit(const split_t *s, int threads, int verbose, char *err, size_t errlen)
{
    uint64_t t0 = time_mono_ns();
    int nt = threads > 0 ? threads : 1;
    rk_job_t jobs[64];
    pthread_t th[64];
    if (nt > 64)
        nt = 64;
    uint32_t nusers = intern_count(s->users);
    rec_cache_t *cache = rec_cache_new(1000000000);
    for (int t = 0; t < nt; t++) {
        jobs[t] = (rk_job_t){s, cache, (uint32_t)((uint64_t)nusers * t / nt), (uint32_t)((uint64_t)nusers * (t + 1) / nt),
                             {0}, 0, 0};
        rk_data_init(&jobs[t].data);
        pthread_create(&th[t], NULL, ranker_job, &jobs[t]);
    }
    rk_data_t all;
    rk_data_init(&all);
    uint64_t cases = 0, found = 0;
    for (int t = 0; t < nt; t++) {
        pthread_join(th[t], NULL);
        for (size_t r = 0; r < jobs[t].data.n; r++)
            rk_data_add(&all, jobs[t].data.x + r * RK_NFEAT, jobs[t].data.y[r]);
        cases += jobs[t].cases;
        found += jobs[t].found;
        rk_data_free(&jobs[t].data);
    }
    rec_cache_free(cache);
    if (verbose)
        fprintf(stderr, "ranker: %llu customers held out, the chosen item among the candidates for %llu; "
                        "%zu examples\n",
                (unsigned long long)cases, (unsigned long long)found, all.n);
    rk_model_t rm;
    int iters = rk_fit(&all, RK_LAMBDA, verbose, &rm);
    rk_data_free(&all);
    if (iters < 0) {
        fail(err, errlen, "no customer's next choice was among the candidates: nothing to learn from");
        return NULL;
    }
    model_t *m = model_new(MODEL_RANKER, 0, RK_NFEAT);
    model_set_ids(m, s->items); /* no items: only the empty table */
    float *w = model_own(m, sizeof rm);
    memcpy(w, &rm, sizeof rm);
    m->ranker = w;
    m->events = s->train_records;
    m->users = found;
    m->train_seconds = (double)(time_mono_ns() - t0) / 1e9;
    buf_t b;
    buf_init(&b);
    buf_printf(&b, "{\"examples_from\":%llu,\"candidates\":%d,\"iterations\":%d,\"base\":\"%s\",\"weights\":{",
               (unsigned long long)found, RANKER_CANDIDATES, iters, s->o->models);
    for (int i = 0; i < RK_NFEAT; i++)
        buf_printf(&b, "%s\"%s\":%.4g", i ? "," : "", rk_feature_names[i], (double)rm.w[i]);
    buf_puts(&b, "}}");
    m->params = strndup(b.data, b.len);
    buf_free(&b);
    return m;
}

/* The ranker learned on the leave-one-out split of the log, or (parent given) of
 * parent's training part, with the models o->models lists trained on that split. */
static model_t *ranker_learn(const ev_opts_t *o, const split_t *parent, const char *logdir, int verbose, char *err,
                             size_t errlen)
{
    ev_opts_t lo = *o; /* the split keeps a pointer: it lives as long as this call */
    /* Inside an evaluation the ranker learns under the evaluation's own protocol (a
     * temporal cut within the training part for a temporal one), so that what it
     * learns to predict is what it is measured on; from a whole log, leave-one-out. */
    if (!parent)
        lo.protocol = EV_LOO;
    lo.cold_items = 0;
    split_t s;
    split_init(&s, &lo, parent);
    s.lenient = 1;
    model_t *m = NULL;
    if (split_build(&s, logdir, err, errlen) == 0)
        m = ranker_fit(&s, lo.threads, verbose, err, errlen);
    split_clear(&s);
    return m;
}

model_t *ev_train_ranker(const char *data_dir, const ev_opts_t *o, int verbose, char *err, size_t errlen)
{
    char logdir[1100];
    snprintf(logdir, sizeof logdir, "%s/log", data_dir);
    return ranker_learn(o, NULL, logdir, verbose, err, errlen);
}

int ev_run(const char *data_dir, const ev_opts_t *o, ev_row_t *rows, size_t *nrows, ev_info_t *info, char *err,
           size_t errlen)
{
    char logdir[1100];
    snprintf(logdir, sizeof logdir, "%s/log", data_dir);
    split_t s;
    split_init(&s, o, NULL);
    ms_set_t *set = NULL;
    double *train_s = s.train_s;
    int rc = -1;
    uint32_t *catalog = NULL;
    memset(info, 0, sizeof *info);
    *nrows = 0;
    uint64_t t0 = time_mono_ns();
    if (split_build(&s, logdir, err, errlen) != 0)
        goto out;
    info->train_seconds = (double)(time_mono_ns() - t0) / 1e9;
    for (int k = 0; k <= MODEL__MAX; k++)
        info->train_seconds -= train_s[k];
    info->train_records = s.train_records;
    set = s.set;
    if (listed(o->models, "hybrid")) {
        /* The learned ranker, on a split of the training part only (each customer's last
         * choice before the test one), so that it never sees a test item. */
        uint64_t tr = time_mono_ns();
        char why[600];
        model_t *rk = ranker_learn(o, &s, logdir, 0, why, sizeof why);
        if (!rk) {
            fail(err, errlen, "training the ranker: %s", why);
            goto out;
        }
        ms_add(set, rk, s.st, NULL);
        train_s[MODEL_RANKER] = (double)(time_mono_ns() - tr) / 1e9;
    }
    uint32_t nitems = intern_count(s.st->items);
    catalog = malloc((nitems + 1) * sizeof *catalog);
    if (!catalog)
        abort();
    for (uint32_t i = 0; i < nitems; i++)
        if (s.st->item[i].doc)
            catalog[info->catalog_items++] = i;
    /* Which customers are tested (a seeded sample when max_users is set). */
    uint32_t nusers = intern_count(s.users);
    uint64_t tested = 0;
    for (uint32_t u = 0; u < nusers && u < s.test_cap; u++) {
        if (s.test[u].cut == UINT64_MAX)
            continue;
        if (o->max_users && hash_mix(o->seed ^ u) % nusers >= o->max_users) {
            s.test[u].cut = UINT64_MAX;
            continue;
        }
        tested++;
    }
    info->test_users = tested;

    for (int m = 0; m < M__N; m++) {
        if (!listed(o->models, model_names[m]))
            continue;
        /* Which sources answer for this row. */
        rec_blend_t blend = o->blend;
        double row_train = 0;
        if (m == M_REALTIME) {
            blend.knn = blend.ease = blend.ials = blend.seq = blend.content = 0;
        } else if (m == M_CONTENT) {
            blend = (rec_blend_t){.content = 1, .history_decay = o->blend.history_decay};
        } else if (m == M_KNN || m == M_EASE || m == M_IALS || m == M_SEQ) {
            model_kind_t kind = m == M_KNN ? MODEL_KNN : m == M_EASE ? MODEL_EASE : m == M_IALS ? MODEL_IALS : MODEL_SEQ;
            blend = (rec_blend_t){.history_decay = o->blend.history_decay};
            *(kind == MODEL_KNN    ? &blend.knn
              : kind == MODEL_EASE ? &blend.ease
              : kind == MODEL_IALS ? &blend.ials
                                   : &blend.seq) = 1;
            row_train = train_s[kind];
        } else if (m == M_LIVE) {
            for (int k = 0; k <= MODEL__MAX; k++)
                row_train += k == MODEL_RANKER ? 0 : train_s[k];
        } else if (m == M_HYBRID) {
            blend.ranker = 1;
            for (int k = 0; k <= MODEL__MAX; k++)
                row_train += train_s[k];
        }
        if (m != M_HYBRID)
            blend.ranker = 0;
        int nt = o->threads > 0 ? o->threads : 1;
        job_t *jobs = calloc((size_t)nt, sizeof *jobs);
        pthread_t *th = calloc((size_t)nt, sizeof *th);
        rec_cache_t *cache = rec_cache_new(1000000000); /* the store does not change */
        uint64_t t1 = time_mono_ns();
        for (int t = 0; t < nt; t++) {
            jobs[t] = (job_t){&s,
                              m,
                              cache,
                              set,
                              blend,
                              (uint32_t)((uint64_t)nusers * t / nt),
                              (uint32_t)((uint64_t)nusers * (t + 1) / nt),
                              {{0}},
                              catalog,
                              info->catalog_items};
            jobs[t].acc.shown = calloc(nitems + 1, 1);
            pthread_create(&th[t], NULL, run_job, &jobs[t]);
        }
        acc_t sum = {{0}};
        sum.shown = calloc(nitems + 1, 1);
        for (int t = 0; t < nt; t++) {
            pthread_join(th[t], NULL);
            for (int k = 0; k < EV_KS; k++) {
                sum.hr[k] += jobs[t].acc.hr[k];
                sum.ndcg[k] += jobs[t].acc.ndcg[k];
            }
            sum.mrr += jobs[t].acc.mrr;
            sum.users += jobs[t].acc.users;
            sum.pop += jobs[t].acc.pop;
            sum.pop_n += jobs[t].acc.pop_n;
            for (uint32_t i = 0; i < nitems; i++)
                sum.shown[i] |= jobs[t].acc.shown[i];
            free(jobs[t].acc.shown);
        }
        ev_row_t *r = &rows[(*nrows)++];
        memset(r, 0, sizeof *r);
        snprintf(r->name, sizeof r->name, "%s", model_names[m]);
        r->users = (uint32_t)sum.users;
        double u = sum.users ? (double)sum.users : 1;
        for (int k = 0; k < EV_KS; k++) {
            r->hr[k] = sum.hr[k] / u;
            r->ndcg[k] = sum.ndcg[k] / u;
        }
        r->mrr = sum.mrr / u;
        uint32_t covered = 0;
        for (uint32_t i = 0; i < nitems; i++)
            covered += sum.shown[i];
        r->coverage = info->catalog_items ? (double)covered / info->catalog_items : 0;
        r->avg_popularity = sum.pop_n ? sum.pop / (double)sum.pop_n : 0;
        r->seconds = (double)(time_mono_ns() - t1) / 1e9;
        r->train_seconds = row_train;
        free(sum.shown);
        rec_cache_free(cache);
        free(jobs);
        free(th);
    }
    info->skipped_users = tested > rows[0].users && *nrows ? tested - rows[0].users : 0;
    rc = 0;
out:
    free(catalog);
    split_clear(&s); /* and the model set */
    return rc;
}

/* ---- command line -------------------------------------------------------------------- */

typedef struct {
    ev_opts_t o;
    const char *data, *curve;
    int json;
    /* The sequence model's first training (on the evaluated split; a nested one for the
     * ranker may follow): loss and validation NDCG@10 by epoch. */
    double loss[PLOT_MAX], ndcg[PLOT_MAX];
    uint32_t epochs, runs;
} cli_t;

static void seq_epoch(void *ud, uint32_t epoch, double loss, double ndcg, double hr, double seconds)
{
    cli_t *c = ud;
    if (epoch == 1)
        c->runs++;
    fprintf(stderr, "sequence%s: epoch %u loss %.5f valid ndcg@10 %.5f hr@10 %.5f  %.2f s\n",
            c->runs > 1 ? " (ranker's split)" : "", epoch, loss, ndcg, hr, seconds);
    if (c->runs == 1 && epoch <= PLOT_MAX) {
        c->loss[epoch - 1] = loss;
        c->ndcg[epoch - 1] = ndcg;
        c->epochs = epoch;
    }
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: aisle eval --data DIR [flags]\n\n"
               "Evaluates the recommenders on the log of DIR through the serving code (see docs/EVAL.md).\n\n"
               "  --data DIR          data directory (AISLE_DATA) [./data]\n"
               "  --protocol P        loo | loo-sampled | temporal [loo]\n"
               "  --models LIST       comma-separated: hybrid, live, realtime, knn, ease, ials, sequence,\n"
               "                      content, popular [live,popular]\n"
               "                      (knn, ease, ials, sequence are trained on the training part; live\n"
               "                      blends them)\n"
               "  --curve FILE.svg    plot the sequence model's training (loss, validation NDCG@10 by epoch)\n"
               "  --blend LIST        for_you's source weights (as aisle serve --blend)\n"
               "  --model-recency F   how the models read the history (as aisle serve) [1]\n"
               "  --target TYPES      event types to predict, comma-separated [purchase]\n"
               "  --cut F             temporal: share of events before the cut [0.8]\n"
               "  --recency-decay F   for_you setting to evaluate (as aisle serve) [0.85]\n"
               "  --users N           evaluate a seeded sample of N customers [all]\n"
               "  --cold-items        cold start: test items no training event touched (temporal: each\n"
               "                      customer's first purchase after the cut of an item new since it)\n"
               "  --basket            temporal: the test is the customer's whole first order after the cut\n"
               "                      (events of one order id, else of one time): any of its items is a\n"
               "                      hit, ranked by the best-placed one\n"
               "  --negatives N       loo-sampled: random items per test item [100]\n"
               "  --seed N            for samples and tie-breaking [42]\n"
               "  --threads N         [2]\n"
               "  --json              machine-readable output\n"
               "Training flags (as aisle train):\n%s"
               "  -h, --help          this help\n",
            train_flags_help);
}

static int set(void *ud, const char *name, const char *val)
{
    cli_t *c = ud;
    char *end;
    if (strcmp(name, "data") == 0) {
        c->data = val;
    } else if (strcmp(name, "curve") == 0) {
        c->curve = val;
    } else if (strcmp(name, "json") == 0) {
        c->json = 1;
    } else if (strcmp(name, "cold-items") == 0) {
        c->o.cold_items = 1;
    } else if (strcmp(name, "basket") == 0) {
        c->o.basket = 1;
    } else if (strcmp(name, "protocol") == 0) {
        if (strcmp(val, "loo") == 0)
            c->o.protocol = EV_LOO;
        else if (strcmp(val, "loo-sampled") == 0)
            c->o.protocol = EV_LOO_SAMPLED;
        else if (strcmp(val, "temporal") == 0)
            c->o.protocol = EV_TEMPORAL;
        else {
            fprintf(stderr, "aisle: --protocol wants loo, loo-sampled or temporal, got '%s'\n", val);
            return -1;
        }
    } else if (strcmp(name, "models") == 0) {
        c->o.models = val;
        for (const char *p = val; p && *p;) {
            const char *e = strchr(p, ',');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            int ok = 0;
            for (int m = 0; m < M__N; m++)
                ok |= strlen(model_names[m]) == len && memcmp(model_names[m], p, len) == 0;
            if (!ok) {
                fprintf(stderr, "aisle: --models wants hybrid, live, realtime, knn, ease, ials, sequence, content, popular, "
                                "got '%s'\n", val);
                return -1;
            }
            p = e ? e + 1 : NULL;
        }
    } else if (strcmp(name, "blend") == 0) {
        if (rec_blend_parse(&c->o.blend, val) != 0) {
            fprintf(stderr, "aisle: --blend wants SOURCE=WEIGHT pairs (co_view, co_purchase, category, trending, popular, knn, "
                            "ease, ials, content, sequence, ranker), got '%s'\n", val);
            return -1;
        }
    } else if (strcmp(name, "target") == 0) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", val);
        c->o.target_types = 0;
        char *save = NULL;
        for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            int ty = evt_type_from_name(t);
            if (ty < 0) {
                fprintf(stderr, "aisle: --target wants event types such as purchase,add_to_cart, got '%s'\n", val);
                return -1;
            }
            c->o.target_types |= 1u << ty;
        }
    } else if (strcmp(name, "recency-decay") == 0 || strcmp(name, "model-recency") == 0) {
        float *dst = name[0] == 'r' ? &c->o.recency_decay : &c->o.blend.history_decay;
        if (flags_fraction(val, dst) != 0) {
            fprintf(stderr, "aisle: --%s wants a number in (0, 1], got '%s'\n", name, val);
            return -1;
        }
    } else if (strcmp(name, "cut") == 0) {
        double d = strtod(val, &end);
        if (*end || !(d > 0 && d < 1)) {
            fprintf(stderr, "aisle: --cut wants a share between 0 and 1, got '%s'\n", val);
            return -1;
        }
        c->o.temporal_cut = d;
    } else if (strcmp(name, "users") == 0 || strcmp(name, "negatives") == 0 || strcmp(name, "seed") == 0 ||
               strcmp(name, "threads") == 0) {
        unsigned long long v = strtoull(val, &end, 10);
        if (*end || !*val || (strcmp(name, "threads") == 0 && (v < 1 || v > 64))) {
            fprintf(stderr, "aisle: --%s wants a number, got '%s'\n", name, val);
            return -1;
        }
        if (name[0] == 'u')
            c->o.max_users = (uint32_t)v;
        else if (name[0] == 'n')
            c->o.negatives = (uint32_t)v;
        else if (name[0] == 's')
            c->o.seed = v;
        else
            c->o.threads = (int)v;
    } else {
        int rc = train_set_flag(&c->o.train, name, val);
        if (rc == 1)
            fprintf(stderr, "aisle: unknown flag --%s (see aisle eval --help)\n", name);
        return rc ? -1 : 0;
    }
    return 0;
}

static const char *protocol_name(ev_protocol_t p)
{
    return p == EV_LOO ? "loo" : p == EV_LOO_SAMPLED ? "loo-sampled" : "temporal";
}

int ev_main(int argc, char **argv)
{
    static cli_t c; /* the curve's arrays */
    memset(&c, 0, sizeof c);
    c.data = getenv("AISLE_DATA") ? getenv("AISLE_DATA") : "./data";
    ev_opts_default(&c.o);
    c.o.train.seq.progress = seq_epoch;
    c.o.train.seq.progress_ud = &c;
    static const char *const switches[] = {"json", "cold-items", "basket", NULL};
    int rc = flags_parse(argc, argv, "eval", switches, set, &c, usage);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (c.o.basket && c.o.protocol != EV_TEMPORAL) {
        fprintf(stderr, "aisle: eval: --basket goes with --protocol temporal\n");
        return 2;
    }
    ev_row_t rows[EV_MAX_ROWS];
    size_t n;
    ev_info_t info;
    char err[512];
    if (ev_run(c.data, &c.o, rows, &n, &info, err, sizeof err) != 0) {
        fprintf(stderr, "aisle: eval: %s\n", err);
        return 1;
    }
    if (c.curve) {
        if (!c.epochs) {
            fprintf(stderr, "aisle: eval: --curve: no sequence model was trained (--models sequence)\n");
            return 1;
        }
        char title[200];
        snprintf(title, sizeof title, "sequence model on %s: training loss and validation NDCG@10", c.data);
        if (plot_epochs_svg(c.curve, title, c.loss, c.ndcg, c.epochs, err, sizeof err) != 0) {
            fprintf(stderr, "aisle: eval: %s\n", err);
            return 1;
        }
        fprintf(stderr, "wrote %s\n", c.curve);
    }
    const char *proto = protocol_name(c.o.protocol);
    if (c.json) {
        printf("{\"protocol\":\"%s\",\"test_users\":%llu,\"catalog_items\":%u,\"train_records\":%llu,"
               "\"train_seconds\":%.3f,\"models\":[",
               proto, (unsigned long long)info.test_users, info.catalog_items,
               (unsigned long long)info.train_records, info.train_seconds);
        for (size_t i = 0; i < n; i++)
            printf("%s{\"model\":\"%s\",\"users\":%u,\"hr@10\":%.4f,\"ndcg@10\":%.4f,\"hr@20\":%.4f,\"ndcg@20\":%.4f,"
                   "\"recall@10\":%.4f,\"recall@20\":%.4f,\"mrr\":%.4f,\"coverage\":%.4f,\"avg_popularity\":%.1f,"
                   "\"seconds\":%.3f,\"train_seconds\":%.3f}",
                   i ? "," : "", rows[i].name, rows[i].users, rows[i].hr[0], rows[i].ndcg[0], rows[i].hr[1],
                   rows[i].ndcg[1], rows[i].hr[0], rows[i].hr[1], rows[i].mrr, rows[i].coverage,
                   rows[i].avg_popularity, rows[i].seconds, rows[i].train_seconds);
        printf("]}\n");
        return 0;
    }
    printf("protocol %s: %llu test customers, %u catalog items, training replay %.2f s (%llu records)\n\n", proto,
           (unsigned long long)info.test_users, info.catalog_items, info.train_seconds,
           (unsigned long long)info.train_records);
    printf("| model | users | HR@10 | NDCG@10 | HR@20 | NDCG@20 | MRR | coverage@10 | avg pop@10 | train s | "
           "answer s |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < n; i++)
        printf("| %s | %u | %.4f | %.4f | %.4f | %.4f | %.4f | %.3f | %.1f | %.2f | %.2f |\n", rows[i].name,
               rows[i].users, rows[i].hr[0], rows[i].ndcg[0], rows[i].hr[1], rows[i].ndcg[1], rows[i].mrr,
               rows[i].coverage, rows[i].avg_popularity, rows[i].train_seconds, rows[i].seconds);
    printf("\n(one test item per customer, so Recall@k = HR@k)\n");
    return 0;
}
