/* Applying records to the in-memory store, and rendering what it holds as JSON. */
#include "state.h"

#include "../ingest/jsonscan.h"
#include "../util/bigmem.h"
#include "../util/hash.h"
#include "../util/prefetch.h"
#include "../util/timeutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEEN_SEED 0xa15e5eedull
/* Recent distinct items each event is paired with in the co-occurrence tables. Fewer,
 * closer pairs are both faster and better: measured with aisle eval (BENCHMARKS.md). */
#define COOC_SEEDS 2

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n, sz);
    if (!p)
        abort();
    return p;
}

static void seen_init(st_seen_t *g, uint64_t need);

void st_config_default(st_config_t *c)
{
    prof_config_default(&c->prof);
    c->trend_short_ms = 24.0 * 3600 * 1000;
    c->trend_long_ms = 14.0 * 24 * 3600 * 1000;
    c->recency_decay = 0.85f;
    c->dedup_window_ms = 7LL * 24 * 3600 * 1000;
}

state_t *st_new(void)
{
    return st_new_with(NULL);
}

state_t *st_new_with(const st_config_t *cfg)
{
    state_t *st = xcalloc(1, sizeof *st);
    if (cfg)
        st->cfg = *cfg;
    else
        st_config_default(&st->cfg);
    st->coview = cooc_new();
    st->cobuy = cooc_new();
    st->content = ct_new();
    pthread_rwlockattr_t attr; /* writers first: see state.h */
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&st->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    st->users = intern_new();
    st->items = intern_new();
    st->sessions = intern_new();
    st->categories = intern_new();
    st->brands = intern_new();
    st->orders = intern_new();
    st->tags = intern_new();
    seen_init(&st->seen[0], 0);
    seen_init(&st->seen[1], 0);
    st->seen_clock_ms = st->seen_since_ms = INT64_MIN;
    return st;
}

void st_free(state_t *st)
{
    if (!st)
        return;
    for (uint32_t i = 0; i < intern_count(st->items); i++) {
        free(st->item[i].doc);
        free(st->item[i].tags);
    }
    for (uint32_t i = 0; i < st->nrules; i++)
        rule_clear(&st->rules[i]);
    free(st->rules);
    intern_free(st->tags);
    for (uint32_t i = 0; i < intern_count(st->users); i++)
        free(st->user[i].doc);
    for (uint32_t i = 0; i < st->nprof; i++)
        prof_clear(&st->prof[i]);
    free(st->prof);
    cooc_free(st->coview);
    cooc_free(st->cobuy);
    ct_free(st->content);
    for (uint32_t i = 0; i < st->cat_cap; i++)
        free(st->cat_items[i].v);
    free(st->cat_items);
    free(st->cat_parent);
    free(st->item);
    free(st->filt);
    free(st->user);
    free(st->user_prof);
    free(st->session);
    free(st->seen[0].slot);
    free(st->seen[1].slot);
    intern_free(st->users);
    intern_free(st->items);
    intern_free(st->sessions);
    intern_free(st->categories);
    intern_free(st->brands);
    intern_free(st->orders);
    pthread_rwlock_destroy(&st->lock);
    free(st);
}

/* Grows a per-id array so that index id exists, zero-filling new entries and running
 * init on them. */
#define ENSURE(arr, cap, id, init)                                                                             \
    do {                                                                                                       \
        if ((id) >= (cap)) {                                                                                   \
            uint32_t ncap = (cap) ? (cap) : 1024;                                                              \
            while (ncap <= (id))                                                                               \
                ncap *= 2;                                                                                     \
            void *np = realloc((arr), (size_t)ncap * sizeof *(arr));                                           \
            if (!np)                                                                                           \
                abort();                                                                                       \
            (arr) = np;                                                                                        \
            memset((arr) + (cap), 0, (size_t)(ncap - (cap)) * sizeof *(arr));                                  \
            for (uint32_t k_ = (cap); k_ < ncap; k_++)                                                         \
                init(&(arr)[k_]);                                                                              \
            (cap) = ncap;                                                                                      \
        }                                                                                                      \
    } while (0)

static void item_init(st_item_t *it)
{
    it->brand = it->category = INTERN_NONE;
    it->price = -1;
}

static void filt_init(st_filt_t *f)
{
    *f = (st_filt_t){-1, INTERN_NONE, INTERN_NONE, 0, 0};
}

/* Makes room for item id in both item arrays (they grow to the same capacity). */
static void ensure_item(state_t *st, uint32_t id)
{
    uint32_t cap = st->item_cap;
    ENSURE(st->filt, cap, id, filt_init);
    ENSURE(st->item, st->item_cap, id, item_init);
}

static void user_init(st_user_t *u)
{
    u->last_order = INTERN_NONE;
}

static void user_prof_init(uint32_t *p)
{
    *p = PROF_NONE;
}

/* Makes room for user id in both user arrays (they grow to the same capacity). */
static void ensure_user(state_t *st, uint32_t id)
{
    uint32_t cap = st->user_cap;
    ENSURE(st->user_prof, cap, id, user_prof_init);
    ENSURE(st->user, st->user_cap, id, user_init);
}

static void session_init(st_session_t *s)
{
    s->user = INTERN_NONE;
    s->prof = PROF_NONE;
}

static uint32_t new_profile(state_t *st)
{
    if (st->nprof == st->prof_cap) {
        st->prof_cap = st->prof_cap ? st->prof_cap * 2 : 1024;
        st->prof = realloc(st->prof, (size_t)st->prof_cap * sizeof *st->prof);
        if (!st->prof)
            abort();
    }
    prof_init(&st->prof[st->nprof]);
    return st->nprof++;
}

static uint32_t item_events(const st_item_t *it)
{
    uint32_t n = 0;
    for (int t = 0; t < EVT__COUNT; t++)
        n += it->counts[t];
    return n;
}

static void decay_item(const state_t *st, const st_item_t *it, int64_t now_ms, float *s, float *l)
{
    *s = it->pop_short;
    *l = it->pop_long;
    if (now_ms > it->pop_ms) {
        double dt = (double)(now_ms - it->pop_ms);
        *s *= (float)exp2(-dt / st->cfg.trend_short_ms);
        *l *= (float)exp2(-dt / st->cfg.trend_long_ms);
    }
}

float st_item_popularity(const state_t *st, uint32_t item, int64_t now_ms)
{
    float s, l;
    decay_item(st, &st->item[item], now_ms, &s, &l);
    return l;
}

float st_item_trending(const state_t *st, uint32_t item, int64_t now_ms)
{
    float s, l;
    decay_item(st, &st->item[item], now_ms, &s, &l);
    /* At a steady rate the short sum is r times the long one; the excess over that,
     * scaled like a Poisson z-score, is the trend. */
    float r = (float)(st->cfg.trend_short_ms / st->cfg.trend_long_ms);
    return (s - r * l) / sqrtf(r * l + 1.0f);
}

int st_item_in_category(const state_t *st, uint32_t item, uint32_t cat)
{
    for (uint32_t c = st->filt[item].category; c != INTERN_NONE; c = st->cat_parent[c])
        if (c == cat)
            return 1;
    return 0;
}

static uint32_t item_id(state_t *st, const char *s, size_t n)
{
    uint32_t id = intern_put(st->items, s, n, NULL);
    ensure_item(st, id);
    return id;
}

static uint32_t user_id(state_t *st, const char *s, size_t n)
{
    uint32_t id = intern_put(st->users, s, n, NULL);
    ensure_user(st, id);
    return id;
}

static uint64_t seen_hash(const char *id, size_t n)
{
    uint64_t h = hash_bytes(id, n, SEEN_SEED);
    return h ? h : 1;
}

static int seen_has(const st_seen_t *g, uint64_t h)
{
    for (uint64_t j = h & g->mask;; j = (j + 1) & g->mask) {
        if (g->slot[j] == 0)
            return 0;
        if (g->slot[j] == h)
            return 1;
    }
}

int st_event_seen(const state_t *st, const char *id, size_t n)
{
    uint64_t h = seen_hash(id, n);
    return seen_has(&st->seen[st->seen_cur], h) || seen_has(&st->seen[!st->seen_cur], h);
}

/* The smallest power of two of slots (1,024 at least) that holds `need` ids under the
 * 0.7 load bound. */
static uint64_t seen_slots(uint64_t need)
{
    uint64_t n = 1024;
    while (need * 10 > n * 7)
        n *= 2;
    return n;
}

static void seen_init(st_seen_t *g, uint64_t need)
{
    g->mask = seen_slots(need) - 1;
    g->slot = bigmem_calloc((g->mask + 1) * sizeof(uint64_t));
    g->count = 0;
}

/* Rehashes a generation into enough slots for `need` ids. */
static void seen_grow(st_seen_t *g, uint64_t need)
{
    uint64_t nmask = seen_slots(need) - 1;
    if (nmask <= g->mask)
        return;
    uint64_t *ns = bigmem_calloc((nmask + 1) * sizeof(uint64_t));
    for (uint64_t i = 0; i <= g->mask; i++) {
        uint64_t h = g->slot[i];
        if (!h)
            continue;
        uint64_t j = h & nmask;
        while (ns[j])
            j = (j + 1) & nmask;
        ns[j] = h;
    }
    free(g->slot);
    g->slot = ns;
    g->mask = nmask;
}

uint64_t st_event_ids(const state_t *st)
{
    return st->seen[0].count + st->seen[1].count;
}

size_t st_event_id_bytes(const state_t *st)
{
    return (size_t)(st->seen[0].mask + st->seen[1].mask + 2) * sizeof(uint64_t);
}

void st_reserve_for_log(state_t *st, uint64_t log_bytes)
{
    /* An event record takes 60-120 bytes and most carry an event_id: one id per 100
     * bytes. Capped (256 MiB of table) so that a huge log of id-less events does not
     * reserve gigabytes; past that the set grows as it fills. With a dedup window the
     * first generation holds one window's ids, unknown yet: a smaller cap, and each
     * generation after is sized by the one before. */
    uint64_t expect = log_bytes / 100, cap = st->cfg.dedup_window_ms > 0 ? (1u << 20) : (16u << 20);
    seen_grow(&st->seen[st->seen_cur], expect < cap ? expect : cap);
}

/* Adds an event id to the set by its seen_hash (the id itself is never kept), first
 * starting a new generation when the window has passed. */
static void seen_add(state_t *st, uint64_t h)
{
    int64_t window = st->cfg.dedup_window_ms;
    if (st->seen_since_ms == INT64_MIN) {
        st->seen_since_ms = st->seen_clock_ms;
    } else if (window > 0 && st->seen_clock_ms - st->seen_since_ms >= window) {
        /* The older generation's ids are all more than a window old: forgotten. The new
         * one is sized for as many ids as the last window brought. */
        st_seen_t *old = &st->seen[!st->seen_cur];
        uint64_t last = st->seen[st->seen_cur].count;
        free(old->slot);
        seen_init(old, last);
        st->seen_cur = !st->seen_cur;
        st->seen_since_ms = st->seen_clock_ms;
    }
    st_seen_t *g = &st->seen[st->seen_cur];
    /* Doubles: asking for twice the count would double past the load bound too and
     * quadruple the table. */
    if ((g->count + 1) * 10 > (g->mask + 1) * 7)
        seen_grow(g, g->count + 1);
    uint64_t j = h & g->mask;
    while (g->slot[j]) {
        if (g->slot[j] == h)
            return;
        j = (j + 1) & g->mask;
    }
    g->slot[j] = h;
    g->count++;
}

/* The profile an event belongs to: the customer's, or the anonymous session's. A
 * session that logs in (an event with both ids) is merged into the customer. */
static uint32_t resolve_profile(state_t *st, uint32_t uid, uint32_t sid)
{
    uint32_t pid = PROF_NONE;
    if (uid != INTERN_NONE) {
        if (st->user_prof[uid] == PROF_NONE)
            st->user_prof[uid] = new_profile(st);
        pid = st->user_prof[uid];
    }
    if (sid != INTERN_NONE) {
        st_session_t *s = &st->session[sid];
        if (pid == PROF_NONE) {
            if (s->prof == PROF_NONE)
                s->prof = new_profile(st);
            pid = s->prof;
        } else if (s->prof != pid) {
            if (s->prof != PROF_NONE)
                prof_merge(&st->prof[pid], &st->prof[s->prof], &st->cfg.prof);
            s->prof = pid;
        }
    }
    return pid;
}

/* Co-occurrence from the profile's recent interactions, before this event joins them:
 * items handled in the same session are "similar"; items bought within an hour of each
 * other are "bought together". */
static void update_cooc(state_t *st, const prof_t *p, uint32_t item, int type, int64_t ts_ms)
{
    const float *w = st->cfg.prof.weight;
    if (w[type] <= 0)
        return;
    int seen = 0;
    for (int k = 0; k < PROF_RECENT && seen < COOC_SEEDS; k++) {
        uint32_t other;
        int otype;
        int64_t ots;
        if (prof_recent(p, k, &other, &otype, &ots) != 0)
            break;
        if (ts_ms - ots > 3600 * 1000 || ots - ts_ms > 3600 * 1000)
            break;
        if (other == item || w[otype] <= 0)
            continue;
        seen++;
        /* Browsing makes "similar"; buying makes "bought together" (purchases would
         * otherwise swamp the browsing signal with their weight). */
        if (ts_ms - ots <= PROF_SESSION_GAP_MS && type != EVT_PURCHASE && otype != EVT_PURCHASE) {
            float pw = sqrtf(w[type] * w[otype]);
            cooc_add(st->coview, item, other, pw);
            cooc_add(st->coview, other, item, pw);
        }
        if (type == EVT_PURCHASE && otype == EVT_PURCHASE) {
            cooc_add(st->cobuy, item, other, 1.0f);
            cooc_add(st->cobuy, other, item, 1.0f);
        }
    }
}

/* An event with its ids interned: what applying it needs, and nothing of its text. */
typedef struct {
    uint32_t uid, sid, iid, oid; /* INTERN_NONE when absent */
    int64_t ts_ms;
    double price;
    uint32_t quantity;
    uint8_t type;
    char *doc; /* replay only: a customer document's text for uid (no event), owned;
                  its length in quantity */
} st_ev_t;

/* The hashes of an event's ids (0 where it has none), computed once: replay prefetches
 * by them and then looks the ids up with them. */
typedef struct {
    uint64_t seen, user, session, item;
} ev_hash_t;

static void hash_event(const evt_t *e, ev_hash_t *h)
{
    h->seen = e->event_id.p ? seen_hash(e->event_id.p, e->event_id.n) : 0;
    h->user = e->user_id.p ? intern_hash(e->user_id.p, e->user_id.n) : 0;
    h->session = e->session_id.p ? intern_hash(e->session_id.p, e->session_id.n) : 0;
    h->item = e->item_id.p ? intern_hash(e->item_id.p, e->item_id.n) : 0;
}

/* The first half of applying an event: the event-id set and the id tables, the only
 * parts of the state it touches (so that replay can run it on a thread of its own).
 * h holds e's hashes, from hash_event. */
static void resolve_event(state_t *st, const evt_t *e, const ev_hash_t *h, st_ev_t *r)
{
    if (e->ts_ms > st->seen_clock_ms) /* the set's own clock: replay runs this apart */
        st->seen_clock_ms = e->ts_ms;
    if (e->event_id.p)
        seen_add(st, h->seen);
    r->uid = e->user_id.p ? intern_put_h(st->users, e->user_id.p, e->user_id.n, h->user, NULL) : INTERN_NONE;
    r->sid = e->session_id.p ? intern_put_h(st->sessions, e->session_id.p, e->session_id.n, h->session, NULL)
                             : INTERN_NONE;
    r->iid = e->item_id.p ? intern_put_h(st->items, e->item_id.p, e->item_id.n, h->item, NULL) : INTERN_NONE;
    r->oid = e->type == EVT_PURCHASE && e->order_id.p ? intern_put(st->orders, e->order_id.p, e->order_id.n, NULL)
                                                       : INTERN_NONE;
    r->ts_ms = e->ts_ms;
    r->price = e->price;
    r->quantity = e->quantity;
    r->type = (uint8_t)e->type;
    r->doc = NULL;
}

/* The second half: everything else, from ids alone (never the id tables). */
static void apply_resolved(state_t *st, const st_ev_t *e)
{
    st->events++;
    st->by_type[e->type]++;
    if (e->ts_ms > st->last_event_ms)
        st->last_event_ms = e->ts_ms;

    uint32_t uid = e->uid, sid = e->sid;
    if (uid != INTERN_NONE)
        ensure_user(st, uid);
    if (sid != INTERN_NONE) {
        ENSURE(st->session, st->session_cap, sid, session_init);
        st_session_t *s = &st->session[sid];
        if (uid != INTERN_NONE)
            s->user = uid; /* the session logged in */
        else
            uid = s->user;
        s->events++;
        if (e->ts_ms > s->last_seen_ms)
            s->last_seen_ms = e->ts_ms;
    }

    double value = 0;
    uint32_t qty = e->quantity ? e->quantity : 1;
    if (e->type == EVT_PURCHASE && e->price > 0)
        value = e->price * qty;

    uint32_t iid = e->iid;
    if (iid != INTERN_NONE) {
        ensure_item(st, iid);
        st_item_t *it = &st->item[iid];
        it->counts[e->type]++;
        if (item_events(it) == ST_FRESH_EVENTS)
            ct_item_mature(st->content, iid); /* the other sources can place it now */
        if (e->ts_ms > it->last_event_ms)
            it->last_event_ms = e->ts_ms;
        float w = st->cfg.prof.weight[e->type];
        if (w > 0) {
            float sh, lo;
            int64_t at = e->ts_ms > it->pop_ms ? e->ts_ms : it->pop_ms;
            decay_item(st, it, at, &sh, &lo);
            /* A late event counts as if it had decayed from its own time. */
            float fs = 1, fl = 1;
            if (e->ts_ms < at) {
                fs = (float)exp2(-(double)(at - e->ts_ms) / st->cfg.trend_short_ms);
                fl = (float)exp2(-(double)(at - e->ts_ms) / st->cfg.trend_long_ms);
            }
            it->pop_short = sh + w * fs;
            it->pop_long = lo + w * fl;
            it->pop_ms = at;
        }
    }
    if (uid != INTERN_NONE) {
        st_user_t *u = &st->user[uid];
        u->counts[e->type]++;
        if (!u->first_seen_ms || e->ts_ms < u->first_seen_ms)
            u->first_seen_ms = e->ts_ms;
        if (e->ts_ms > u->last_seen_ms)
            u->last_seen_ms = e->ts_ms;
        if (e->type == EVT_PURCHASE) {
            u->units += qty;
            u->revenue += value;
            if (e->oid == INTERN_NONE || e->oid != u->last_order)
                u->orders++;
            u->last_order = e->oid;
        }
    }

    uint32_t pid = resolve_profile(st, uid, sid);
    if (pid == PROF_NONE)
        return;
    prof_event_t pe = {iid == INTERN_NONE ? PROF_NONE : iid, e->type, e->ts_ms, PROF_NONE, PROF_NONE, e->price, qty};
    if (iid != INTERN_NONE) {
        const st_item_t *it = &st->item[iid];
        pe.category = it->category;
        pe.brand = it->brand;
        if (pe.price < 0)
            pe.price = it->price;
        update_cooc(st, &st->prof[pid], iid, e->type, e->ts_ms);
    }
    prof_observe(&st->prof[pid], &pe, &st->cfg.prof);
}

static void apply_event(state_t *st, const evt_t *e)
{
    st_ev_t r;
    ev_hash_t h;
    hash_event(e, &h);
    resolve_event(st, e, &h, &r);
    apply_resolved(st, &r);
}

/* A customer document's text, copied out of a log record (caller owns), or NULL when it
 * is not one JSON object's text. Checked with the scanner, which builds nothing: a
 * hundredth of what parsing it with jansson cost replay. */
static char *copy_user_doc(const unsigned char *p, size_t n)
{
    if (n < 2 || n > UINT32_MAX || p[0] != '{' || p[n - 1] != '}' || !js_utf8_ok((const char *)p, n))
        return NULL;
    char small[1024];
    char *arena = n <= sizeof small ? small : malloc(n);
    if (!arena)
        abort();
    val_error_t err;
    js_t j;
    js_init(&j, (const char *)p, n, arena, &err);
    int ok = js_skip(&j) == 0;
    js_skip_ws(&j);
    ok = ok && j.p == j.end;
    if (arena != small)
        free(arena);
    if (!ok)
        return NULL;
    char *t = malloc(n + 1);
    if (!t)
        abort();
    memcpy(t, p, n);
    t[n] = '\0';
    return t;
}

/* A REC_USER_PUT record: the customer id and a copy of the document's text. */
static int decode_user_doc(const void *p, size_t n, const char **id, size_t *idn, char **doc, uint32_t *doc_len)
{
    rd_t r = {p, (const unsigned char *)p + n};
    if (rd_str(&r, id, idn) || *idn == 0)
        return -1;
    *doc_len = (uint32_t)(r.end - r.p);
    *doc = copy_user_doc(r.p, (size_t)(r.end - r.p));
    return *doc ? 0 : -1;
}

static void set_user_doc(state_t *st, st_user_t *u, char *doc, uint32_t len)
{
    st->doc_bytes -= u->doc ? u->doc_len + 1u : 0;
    st->doc_bytes += doc ? len + 1u : 0;
    free(u->doc);
    u->doc = doc;
    u->doc_len = len;
}

json_t *st_user_doc(const state_t *st, uint32_t uid)
{
    if (uid >= intern_count(st->users) || !st->user[uid].doc)
        return NULL;
    return json_loadb(st->user[uid].doc, st->user[uid].doc_len, 0, NULL);
}

json_t *st_item_doc(const state_t *st, uint32_t iid)
{
    if (iid >= intern_count(st->items) || !st->item[iid].doc)
        return NULL;
    return json_loadb(st->item[iid].doc, st->item[iid].doc_len, 0, NULL);
}

/* A REC_*_PUT or _DEL record: the id, and for a put the document parsed (caller owns)
 * and, when text is not NULL, where its text lies in the payload. */
static int decode_doc(const void *p, size_t n, const char **id, size_t *idn, json_t **doc, const char **text,
                      size_t *text_len)
{
    rd_t r = {p, (const unsigned char *)p + n};
    if (rd_str(&r, id, idn) || *idn == 0)
        return -1;
    if (!doc)
        return r.p == r.end ? 0 : -1;
    if (text) {
        *text = (const char *)r.p;
        *text_len = (size_t)(r.end - r.p);
    }
    json_error_t je;
    *doc = json_loadb((const char *)r.p, (size_t)(r.end - r.p), 0, &je);
    return *doc && json_is_object(*doc) ? 0 : (json_decref(*doc), -1);
}

static void ensure_category(state_t *st, uint32_t cat)
{
    if (cat < st->cat_cap)
        return;
    uint32_t ncap = st->cat_cap ? st->cat_cap : 64;
    while (ncap <= cat)
        ncap *= 2;
    st->cat_parent = realloc(st->cat_parent, (size_t)ncap * sizeof *st->cat_parent);
    st->cat_items = realloc(st->cat_items, (size_t)ncap * sizeof *st->cat_items);
    if (!st->cat_parent || !st->cat_items)
        abort();
    for (uint32_t i = st->cat_cap; i < ncap; i++) {
        st->cat_parent[i] = INTERN_NONE;
        st->cat_items[i] = (st_idlist_t){0};
    }
    st->cat_cap = ncap;
}

static void idlist_add(st_idlist_t *l, uint32_t id)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        if (!l->v)
            abort();
    }
    l->v[l->n++] = id;
}

static void idlist_remove(st_idlist_t *l, uint32_t id)
{
    for (uint32_t i = 0; i < l->n; i++)
        if (l->v[i] == id) {
            l->v[i] = l->v[--l->n];
            return;
        }
}

/* Bytes of an item's document allocation: the text and, after it, the title. */
static size_t item_doc_size(const st_item_t *it)
{
    return it->doc ? it->doc_len + 1u + (it->title ? it->title_len + 1u : 0) : 0;
}

/* Keeps text (doc's, from the log) and doc's title in one allocation: it->doc. */
static void set_item_text(state_t *st, st_item_t *it, json_t *doc, const char *text, size_t len)
{
    st->doc_bytes -= item_doc_size(it);
    free(it->doc);
    it->doc = NULL;
    it->title = NULL;
    it->doc_len = it->title_len = 0;
    if (!doc)
        return;
    json_t *title = json_object_get(doc, "title");
    const char *tv = json_string_value(title); /* NULL unless a string */
    size_t tn = tv ? json_string_length(title) : 0;
    char *d = malloc(len + 1 + (tv ? tn + 1 : 0));
    if (!d)
        abort();
    memcpy(d, text, len);
    d[len] = '\0';
    if (tv) {
        memcpy(d + len + 1, tv, tn);
        d[len + 1 + tn] = '\0';
        it->title = d + len + 1;
        it->title_len = (uint32_t)tn;
    }
    it->doc = d;
    it->doc_len = (uint32_t)len;
    st->doc_bytes += item_doc_size(it);
}

/* An item put (doc: parsed from text, the log's; the caller frees doc) or, with doc
 * NULL, a delete. */
static void apply_item(state_t *st, const char *id, size_t idn, json_t *doc, const char *text, size_t text_len)
{
    uint32_t iid = item_id(st, id, idn);
    st_item_t *it = &st->item[iid];
    uint32_t old_cat = it->category;
    if (!it->doc && doc)
        st->live_items++;
    else if (it->doc && !doc)
        st->live_items--;
    set_item_text(st, it, doc, text, text_len);
    it->price = -1;
    it->brand = it->category = INTERN_NONE;
    it->in_stock = 0;
    free(it->tags);
    it->tags = NULL;
    it->ntags = 0;
    ct_item_set(st->content, iid, doc, item_events(it) < ST_FRESH_EVENTS);
    filt_init(&st->filt[iid]);
    if (!doc) {
        for (uint32_t cat = old_cat; cat != INTERN_NONE; cat = st->cat_parent[cat])
            idlist_remove(&st->cat_items[cat], iid);
        return;
    }
    json_t *v = json_object_get(doc, "price");
    if (json_is_number(v))
        it->price = json_number_value(v);
    it->in_stock = json_is_true(json_object_get(doc, "in_stock"));
    v = json_object_get(doc, "brand");
    if (json_is_string(v))
        it->brand = intern_put(st->brands, json_string_value(v), json_string_length(v), NULL);
    v = json_object_get(doc, "tags");
    if (json_is_array(v) && json_array_size(v)) {
        it->tags = malloc(json_array_size(v) * sizeof *it->tags);
        if (!it->tags)
            abort();
        size_t i;
        json_t *t;
        json_array_foreach(v, i, t) it->tags[it->ntags++] =
            intern_put(st->tags, json_string_value(t), json_string_length(t), NULL);
    }
    v = json_object_get(doc, "categories");
    if (json_is_array(v) && json_array_size(v)) {
        /* Intern every prefix of the path ("Home", "Home/Kitchen", ...), keep the leaf. */
        buf_t path;
        buf_init(&path);
        size_t i;
        json_t *c;
        uint32_t parent = INTERN_NONE;
        json_array_foreach(v, i, c)
        {
            if (i)
                buf_append(&path, "/", 1);
            buf_append(&path, json_string_value(c), json_string_length(c));
            uint32_t cat = intern_put(st->categories, path.data, path.len, NULL);
            ensure_category(st, cat);
            if (cat != parent) /* a path naming the same prefix twice must not loop */
                st->cat_parent[cat] = parent;
            parent = cat;
        }
        it->category = parent;
        buf_free(&path);
    }
    if (it->category != old_cat) {
        for (uint32_t cat = old_cat; cat != INTERN_NONE; cat = st->cat_parent[cat])
            idlist_remove(&st->cat_items[cat], iid);
        for (uint32_t cat = it->category; cat != INTERN_NONE; cat = st->cat_parent[cat])
            idlist_add(&st->cat_items[cat], iid);
    }
    st->filt[iid] = (st_filt_t){it->price, it->brand, it->category, 1, it->in_stock};
}

int st_apply(state_t *st, uint8_t type, const void *payload, size_t len)
{
    const char *id;
    size_t idn;
    json_t *doc;
    switch (type) {
    case REC_EVENT: {
        evt_t e;
        if (evt_decode(payload, len, &e) != 0)
            return -1;
        apply_event(st, &e);
        return 0;
    }
    case REC_ITEM_PUT: {
        const char *text;
        size_t tlen;
        if (decode_doc(payload, len, &id, &idn, &doc, &text, &tlen) != 0)
            return -1;
        apply_item(st, id, idn, doc, text, tlen);
        json_decref(doc);
        return 0;
    }
    case REC_ITEM_DEL:
        if (decode_doc(payload, len, &id, &idn, NULL, NULL, NULL) != 0)
            return -1;
        apply_item(st, id, idn, NULL, NULL, 0);
        return 0;
    case REC_USER_PUT: {
        char *text;
        uint32_t tlen;
        if (decode_user_doc(payload, len, &id, &idn, &text, &tlen) != 0)
            return -1;
        uint32_t uid = user_id(st, id, idn); /* may move st->user */
        set_user_doc(st, &st->user[uid], text, tlen);
        return 0;
    }
    case REC_RULE_PUT: {
        if (decode_doc(payload, len, &id, &idn, &doc, NULL, NULL) != 0)
            return -1;
        rule_t r;
        int rc = rule_compile(doc, &r);
        json_decref(doc);
        if (rc != 0)
            return -1;
        int at = st_rule_find(st, r.id);
        if (at >= 0) {
            rule_clear(&st->rules[at]);
            st->rules[at] = r;
            return 0;
        }
        if (st->nrules == st->rules_cap) {
            st->rules_cap = st->rules_cap ? st->rules_cap * 2 : 16;
            st->rules = realloc(st->rules, st->rules_cap * sizeof *st->rules);
            if (!st->rules)
                abort();
        }
        st->rules[st->nrules++] = r;
        return 0;
    }
    case REC_RULE_DEL: {
        if (decode_doc(payload, len, &id, &idn, NULL, NULL, NULL) != 0)
            return -1;
        char key[VAL_MAX_ID + 1];
        snprintf(key, sizeof key, "%.*s", (int)idn, id);
        int at = st_rule_find(st, key);
        if (at >= 0) {
            rule_clear(&st->rules[at]);
            memmove(&st->rules[at], &st->rules[at + 1], (st->nrules - (uint32_t)at - 1) * sizeof *st->rules);
            st->nrules--;
        }
        return 0;
    }
    default:
        return -1;
    }
}

/* ---- replay on two threads ---------------------------------------------------------- */

#define RP_BLOCK 4096 /* resolved events handed over at a time */
#define RP_BLOCKS 8   /* blocks in flight */
#define RP_STAGE 32   /* events decoded and their table slots prefetched before resolving */
#define RP_STAGE_BYTES (64u << 10)
#define RP_AHEAD 16 /* events between prefetching an id's slot and the entry it points to */
#define RP_APPLY_AHEAD 16 /* events between prefetching a customer's record and applying */

struct st_replay {
    state_t *st;
    st_ev_t *blk[RP_BLOCKS];
    uint32_t len[RP_BLOCKS];
    uint64_t head, tail; /* blocks published, blocks applied (under mu) */
    st_ev_t *cur;        /* the block being filled (slot head % RP_BLOCKS), or NULL */
    uint32_t ncur;
    /* Decoded events waiting to be resolved, their bytes copied into stage_buf (the
     * log's buffer may be reused once the callback returns). */
    evt_t stage[RP_STAGE];
    ev_hash_t stage_h[RP_STAGE];
    uint32_t nstage;
    size_t stage_used;
    char *stage_buf;
    int done, threaded;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
};

static void rp_prefetch_records(const state_t *st, const st_ev_t *e)
{
    if (e->doc)
        return;
    if (e->uid < st->user_cap) {
        prefetch_span(&st->user[e->uid], sizeof st->user[0]);
        __builtin_prefetch(&st->user_prof[e->uid]);
    }
    if (e->sid < st->session_cap)
        __builtin_prefetch(&st->session[e->sid]);
    if (e->iid < st->item_cap) {
        prefetch_span(&st->item[e->iid], sizeof st->item[0]);
        cooc_prefetch_ref(st->coview, e->iid);
    }
}

/* The event's profile, as resolve_profile will find it (a guess when a session is about
 * to log in: a prefetch cannot be wrong, only wasted). */
static uint32_t rp_guess_profile(const state_t *st, const st_ev_t *e)
{
    if (e->uid < st->user_cap && st->user_prof[e->uid] != PROF_NONE)
        return st->user_prof[e->uid];
    if (e->sid < st->session_cap)
        return st->session[e->sid].prof;
    return PROF_NONE;
}

static void rp_prefetch_profile(const state_t *st, const st_ev_t *e)
{
    if (e->doc)
        return;
    uint32_t pid = rp_guess_profile(st, e);
    if (pid < st->nprof)
        prefetch_span(&st->prof[pid], offsetof(prof_t, cart));
    if (e->iid < st->item_cap)
        cooc_prefetch_items(st->coview, &e->iid, 1);
}

/* The co-view lists of the profile's latest items (update_cooc's, one more in case the
 * event's own item is among them). */
static void rp_prefetch_lists(const state_t *st, const st_ev_t *e)
{
    if (e->doc || e->iid == INTERN_NONE)
        return;
    uint32_t pid = rp_guess_profile(st, e);
    if (pid >= st->nprof)
        return;
    const prof_t *p = &st->prof[pid];
    uint32_t items[COOC_SEEDS + 1];
    size_t n = 0;
    for (int k = 0; k < COOC_SEEDS + 1; k++) {
        uint32_t item;
        int type;
        int64_t ts;
        if (prof_recent(p, k, &item, &type, &ts) != 0)
            break;
        items[n++] = item;
    }
    cooc_prefetch_items(st->coview, items, n);
}

static void *replay_worker(void *arg)
{
    st_replay_t *r = arg;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (r->tail == r->head && !r->done)
            pthread_cond_wait(&r->cv, &r->mu);
        if (r->tail == r->head)
            break;
        uint32_t slot = (uint32_t)(r->tail % RP_BLOCKS), n = r->len[slot];
        pthread_mutex_unlock(&r->mu);
        const st_ev_t *b = r->blk[slot];
        for (uint32_t i = 0; i < n; i++) {
            const st_ev_t *e = &b[i];
            /* What applying the events ahead will read, in three steps, as each step's
             * addresses come from the one before (the customer's user_prof entry holds
             * the profile's number, the profile the items whose lists it updates). */
            if (i + RP_APPLY_AHEAD < n)
                rp_prefetch_records(r->st, &b[i + RP_APPLY_AHEAD]);
            if (i + RP_APPLY_AHEAD / 2 < n)
                rp_prefetch_profile(r->st, &b[i + RP_APPLY_AHEAD / 2]);
            if (i + 2 < n)
                rp_prefetch_lists(r->st, &b[i + 2]);
            if (e->doc) { /* a customer document, as st_apply's REC_USER_PUT */
                ensure_user(r->st, e->uid);
                set_user_doc(r->st, &r->st->user[e->uid], e->doc, e->quantity);
            } else {
                apply_resolved(r->st, e);
            }
        }
        pthread_mutex_lock(&r->mu);
        r->tail++;
        pthread_cond_broadcast(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

st_replay_t *st_replay_new(state_t *st)
{
    st_replay_t *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    r->st = st;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    /* One core: no second thread to hand work to. */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus > 1) {
        for (int b = 0; b < RP_BLOCKS; b++) {
            r->blk[b] = malloc(RP_BLOCK * sizeof *r->blk[b]);
            if (!r->blk[b])
                abort();
        }
        r->stage_buf = malloc(RP_STAGE_BYTES);
        if (!r->stage_buf)
            abort();
        r->threaded = pthread_create(&r->th, NULL, replay_worker, r) == 0;
    }
    return r;
}

/* Hands the block being filled to the worker. */
static void rp_publish(st_replay_t *r)
{
    if (!r->cur)
        return;
    pthread_mutex_lock(&r->mu);
    r->len[r->head % RP_BLOCKS] = r->ncur;
    r->head++;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    r->cur = NULL;
    r->ncur = 0;
}

/* Waits until the worker has applied all but `keep` published blocks. */
static void rp_wait(st_replay_t *r, uint64_t keep)
{
    pthread_mutex_lock(&r->mu);
    while (r->head - r->tail > keep)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
}

/* The next entry of the block being filled. */
static st_ev_t *rp_next(st_replay_t *r)
{
    if (!r->cur) {
        rp_wait(r, RP_BLOCKS - 1); /* a free slot */
        r->cur = r->blk[r->head % RP_BLOCKS];
    }
    return &r->cur[r->ncur++];
}

static void rp_done(st_replay_t *r)
{
    if (r->ncur == RP_BLOCK)
        rp_publish(r);
}

/* Resolves one event (its hashes h) into the block being filled. */
static void rp_resolve(st_replay_t *r, const evt_t *e, const ev_hash_t *h)
{
    resolve_event(r->st, e, h, rp_next(r));
    rp_done(r);
}

/* One prefetch step for each id of e (its hashes h), in its table. */
static void prefetch_ids(const state_t *st, const evt_t *e, const ev_hash_t *h,
                         void (*step)(const intern_t *, uint64_t))
{
    if (e->user_id.p)
        step(st->users, h->user);
    if (e->session_id.p)
        step(st->sessions, h->session);
    if (e->item_id.p)
        step(st->items, h->item);
}

/* The table slots resolving e will read: fetched while the events before it resolve. */
static void rp_prefetch(const state_t *st, const evt_t *e, const ev_hash_t *h)
{
    if (e->event_id.p) {
        const st_seen_t *g = &st->seen[st->seen_cur];
        __builtin_prefetch(&g->slot[h->seen & g->mask]);
    }
    prefetch_ids(st, e, h, intern_prefetch_h);
}

/* The second wait of each look-up: the string entry a slot points to, once the slot
 * prefetched RP_AHEAD events earlier has arrived. */
static void rp_prefetch_entries(const state_t *st, const evt_t *e, const ev_hash_t *h)
{
    prefetch_ids(st, e, h, intern_prefetch_entry_h);
}

static void rp_flush_stage(st_replay_t *r)
{
    /* The events whose entries st_replay_add did not prefetch yet: their fetches overlap
     * the resolving of the first ones. */
    for (uint32_t i = r->nstage > RP_AHEAD ? r->nstage - RP_AHEAD : 0; i < r->nstage; i++)
        rp_prefetch_entries(r->st, &r->stage[i], &r->stage_h[i]);
    for (uint32_t i = 0; i < r->nstage; i++)
        rp_resolve(r, &r->stage[i], &r->stage_h[i]);
    r->nstage = 0;
    r->stage_used = 0;
}

int st_replay_add(st_replay_t *r, uint8_t type, const void *payload, size_t len)
{
    if (!r->threaded)
        return st_apply(r->st, type, payload, len);
    if (type == REC_USER_PUT) {
        /* Customer documents come by the million in a bulk load: copied and interned here,
         * stored by the applier, in log order, without draining the hand-over. */
        const char *id;
        size_t idn;
        char *doc;
        uint32_t doc_len;
        if (decode_user_doc(payload, len, &id, &idn, &doc, &doc_len) != 0)
            return -1;
        rp_flush_stage(r);
        st_ev_t *e = rp_next(r);
        memset(e, 0, sizeof *e);
        e->uid = intern_put(r->st->users, id, idn, NULL);
        e->doc = doc;
        e->quantity = doc_len;
        rp_done(r);
        return 0;
    }
    if (type != REC_EVENT || len > RP_STAGE_BYTES) {
        /* Catalog, customers, rules (rare): applied here once everything before is. */
        rp_flush_stage(r);
        if (type == REC_EVENT) {
            evt_t e;
            ev_hash_t h;
            if (evt_decode(payload, len, &e) != 0)
                return -1;
            hash_event(&e, &h);
            rp_resolve(r, &e, &h);
            return 0;
        }
        rp_publish(r);
        rp_wait(r, 0);
        return st_apply(r->st, type, payload, len);
    }
    if (r->nstage == RP_STAGE || r->stage_used + len > RP_STAGE_BYTES)
        rp_flush_stage(r);
    char *copy = r->stage_buf + r->stage_used;
    memcpy(copy, payload, len);
    evt_t *e = &r->stage[r->nstage];
    if (evt_decode(copy, len, e) != 0)
        return -1;
    ev_hash_t *h = &r->stage_h[r->nstage];
    hash_event(e, h);
    r->stage_used += len;
    r->nstage++;
    rp_prefetch(r->st, e, h);
    if (r->nstage > RP_AHEAD) {
        uint32_t k = r->nstage - 1 - RP_AHEAD;
        rp_prefetch_entries(r->st, &r->stage[k], &r->stage_h[k]);
    }
    return 0;
}

void st_replay_finish(st_replay_t *r)
{
    if (!r)
        return;
    if (r->threaded) {
        rp_flush_stage(r);
        rp_publish(r);
        pthread_mutex_lock(&r->mu);
        r->done = 1;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->th, NULL);
    }
    for (int b = 0; b < RP_BLOCKS; b++)
        free(r->blk[b]);
    free(r->stage_buf);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

uint32_t st_profile_of(const state_t *st, const evt_t *e)
{
    if (e->user_id.p) {
        uint32_t uid = intern_get(st->users, e->user_id.p, e->user_id.n);
        if (uid != INTERN_NONE && st->user_prof[uid] != PROF_NONE)
            return st->user_prof[uid];
    }
    if (e->session_id.p) {
        uint32_t sid = intern_get(st->sessions, e->session_id.p, e->session_id.n);
        if (sid != INTERN_NONE)
            return st->session[sid].prof;
    }
    return PROF_NONE;
}

int st_rule_find(const state_t *st, const char *id)
{
    for (uint32_t i = 0; i < st->nrules; i++)
        if (strcmp(st->rules[i].id, id) == 0)
            return (int)i;
    return -1;
}

int st_item_has_tag(const state_t *st, uint32_t item, uint32_t tag)
{
    const st_item_t *it = &st->item[item];
    for (uint32_t i = 0; i < it->ntags; i++)
        if (it->tags[i] == tag)
            return 1;
    return 0;
}

void st_encode_doc(buf_t *out, const char *id, size_t idn, json_t *doc)
{
    buf_put_str(out, id, idn);
    st_dump_doc(out, doc);
}

void st_encode_id(buf_t *out, const char *id, size_t idn)
{
    buf_put_str(out, id, idn);
}

void st_dump_doc(buf_t *out, json_t *doc)
{
    size_t need = json_dumpb(doc, NULL, 0, JSON_COMPACT | JSON_REAL_PRECISION(15));
    buf_reserve(out, need);
    out->len += json_dumpb(doc, out->data + out->len, need, JSON_COMPACT | JSON_REAL_PRECISION(15));
    out->data[out->len] = '\0';
}

static int json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Writes a stored document's text (a JSON object) without its closing brace, ready for
 * more members: "{...," or "{". */
static void open_doc(buf_t *out, const char *doc, uint32_t len)
{
    while (len > 2 && json_space(doc[len - 1])) /* text a JSON parser accepted: an object */
        len--;
    len--; /* the '}' */
    while (len > 1 && json_space(doc[len - 1]))
        len--;
    buf_append(out, doc, len);
    if (doc[len - 1] != '{')
        buf_append(out, ",", 1);
}

int st_item_json(const state_t *st, const char *id, size_t n, buf_t *out)
{
    uint32_t iid = intern_get(st->items, id, n);
    if (iid == INTERN_NONE || !st->item[iid].doc)
        return -1;
    const st_item_t *it = &st->item[iid];
    open_doc(out, it->doc, it->doc_len);
    buf_puts(out, "\"stats\":{");
    for (int t = 0; t < EVT__COUNT; t++)
        buf_printf(out, "%s\"%s\":%u", t ? "," : "", evt_type_name(t), it->counts[t]);
    if (it->last_event_ms) {
        char ts[32];
        time_format_rfc3339(it->last_event_ms, ts);
        buf_printf(out, ",\"last_event_at\":\"%s\"", ts);
    }
    /* Conversion with a Beta(1, 50) prior, so that one view and one sale is not 100%. */
    double conv = (it->counts[EVT_PURCHASE] + 1.0) / (it->counts[EVT_VIEW] + it->counts[EVT_CLICK] + 51.0);
    buf_printf(out, ",\"conversion_rate\":%.4f,\"popularity\":%.3f,\"trending\":%.3f}}", conv,
               (double)st_item_popularity(st, iid, st->last_event_ms),
               (double)st_item_trending(st, iid, st->last_event_ms));
    return 0;
}

static void put_id(const intern_t *t, uint32_t id, buf_t *out)
{
    size_t n;
    const char *s = intern_str(t, id, &n);
    buf_put_json_str(out, s ? s : "", s ? n : 0);
}

/* The live profile, as GET /v1/users/{id} shows it under computed.profile. */
static void profile_json(const state_t *st, const prof_t *p, int64_t now, buf_t *out)
{
    char ts[32];
    buf_puts(out, ",\"profile\":{\"recent\":[");
    for (int k = 0; k < p->recent_n; k++) {
        uint32_t item;
        int type;
        int64_t at;
        prof_recent(p, k, &item, &type, &at);
        time_format_rfc3339(at, ts);
        buf_puts(out, k ? ",{\"item_id\":" : "{\"item_id\":");
        put_id(st->items, item, out);
        buf_printf(out, ",\"type\":\"%s\",\"ts\":\"%s\"}", evt_type_name(type), ts);
    }
    /* Affinities, strongest first. */
    int order[PROF_CATS];
    int nc = 0;
    for (int i = 0; i < PROF_CATS; i++)
        if (p->cat[i] != PROF_NONE)
            order[nc++] = i;
    for (int i = 1; i < nc; i++)
        for (int j = i; j > 0 && p->cat_w[order[j]] > p->cat_w[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    buf_puts(out, "],\"categories\":[");
    for (int i = 0; i < nc; i++) {
        buf_puts(out, i ? ",{\"category\":" : "{\"category\":");
        put_id(st->categories, p->cat[order[i]], out);
        buf_printf(out, ",\"affinity\":%.3f}", (double)prof_cat_weight(p, order[i], now, &st->cfg.prof));
    }
    buf_puts(out, "],\"brands\":[");
    int first = 1;
    for (int i = 0; i < PROF_BRANDS; i++) {
        if (p->brand[i] == PROF_NONE)
            continue;
        buf_puts(out, first ? "{\"brand\":" : ",{\"brand\":");
        first = 0;
        put_id(st->brands, p->brand[i], out);
        buf_printf(out, ",\"affinity\":%.3f}", (double)prof_brand_weight(p, i, now, &st->cfg.prof));
    }
    buf_puts(out, "]");
    double center = prof_price_center(p);
    if (center > 0)
        buf_printf(out, ",\"price_band\":{\"center\":%.2f,\"low\":%.2f,\"high\":%.2f}", center, center / 2,
                   center * 2);
    buf_puts(out, ",\"cart\":[");
    for (int i = 0; i < p->ncart; i++) {
        if (i)
            buf_puts(out, ",");
        put_id(st->items, p->cart[i], out);
    }
    buf_puts(out, "],\"purchased\":[");
    for (uint32_t i = 0; i < p->nbought && i < 100; i++) {
        time_format_rfc3339((int64_t)p->bought[i].last_s * 1000, ts);
        buf_puts(out, i ? ",{\"item_id\":" : "{\"item_id\":");
        put_id(st->items, p->bought[i].item, out);
        buf_printf(out, ",\"count\":%u,\"last\":\"%s\"}", p->bought[i].count, ts);
    }
    buf_puts(out, "]");
    if (p->session_last_ms) {
        char start[32];
        time_format_rfc3339(p->session_start_ms, start);
        time_format_rfc3339(p->session_last_ms, ts);
        buf_printf(out, ",\"session\":{\"started\":\"%s\",\"last\":\"%s\",\"events\":%u,\"active\":%s}", start,
                   ts, p->session_events, now - p->session_last_ms <= PROF_SESSION_GAP_MS ? "true" : "false");
    }
    buf_puts(out, "}");
}

int st_user_json(const state_t *st, const char *id, size_t n, buf_t *out)
{
    uint32_t uid = intern_get(st->users, id, n);
    if (uid == INTERN_NONE)
        return -1;
    const st_user_t *u = &st->user[uid];
    if (u->doc) {
        open_doc(out, u->doc, u->doc_len);
    } else {
        buf_puts(out, "{\"user_id\":");
        buf_put_json_str(out, id, n);
        buf_puts(out, ",");
    }
    buf_puts(out, "\"computed\":{\"events\":{");
    uint32_t total = 0;
    for (int t = 0; t < EVT__COUNT; t++) {
        buf_printf(out, "%s\"%s\":%u", t ? "," : "", evt_type_name(t), u->counts[t]);
        total += u->counts[t];
    }
    buf_printf(out, "},\"total_events\":%u,\"orders\":%u,\"units_purchased\":%u,\"revenue\":%.2f", total, u->orders,
               u->units, u->revenue);
    char ts[32];
    if (u->first_seen_ms) {
        time_format_rfc3339(u->first_seen_ms, ts);
        buf_printf(out, ",\"first_seen\":\"%s\"", ts);
        time_format_rfc3339(u->last_seen_ms, ts);
        buf_printf(out, ",\"last_seen\":\"%s\"", ts);
    }
    int64_t now = st->last_event_ms;
    /* Engagement: recency, frequency and monetary value, each squashed to [0, 1]. */
    double days = u->last_seen_ms ? (double)(now - u->last_seen_ms) / 86400000.0 : 1e9;
    double r = exp(-(days < 0 ? 0 : days) / 30.0), f = 1 - exp(-(double)u->orders / 5.0), m = 1 - exp(-u->revenue / 500.0);
    buf_printf(out,
               ",\"engagement\":{\"score\":%.1f,\"recency_days\":%.2f,\"frequency_orders\":%u,\"monetary\":%.2f}",
               100 * (0.4 * r + 0.3 * f + 0.3 * m), u->last_seen_ms ? days : -1.0, u->orders, u->revenue);
    if (st->user_prof[uid] != PROF_NONE)
        profile_json(st, &st->prof[st->user_prof[uid]], now, out);
    buf_puts(out, "}}");
    return 0;
}

const prof_t *st_user_profile(const state_t *st, const char *id, size_t n)
{
    uint32_t uid = intern_get(st->users, id, n);
    if (uid == INTERN_NONE || st->user_prof[uid] == PROF_NONE)
        return NULL;
    return &st->prof[st->user_prof[uid]];
}

const prof_t *st_session_profile(const state_t *st, const char *id, size_t n)
{
    uint32_t sid = intern_get(st->sessions, id, n);
    if (sid == INTERN_NONE || st->session[sid].prof == PROF_NONE)
        return NULL;
    return &st->prof[st->session[sid].prof];
}

size_t st_memory(const state_t *st)
{
    size_t prof = (size_t)st->prof_cap * sizeof(prof_t);
    for (uint32_t i = 0; i < st->nprof; i++)
        prof += (size_t)st->prof[i].bought_cap * sizeof(prof_bought_t);
    size_t cats = (size_t)st->cat_cap * (sizeof(uint32_t) + sizeof(st_idlist_t));
    for (uint32_t i = 0; i < st->cat_cap; i++)
        cats += (size_t)st->cat_items[i].cap * sizeof(uint32_t);
    return intern_bytes(st->users) + intern_bytes(st->items) + intern_bytes(st->sessions) +
           intern_bytes(st->categories) + intern_bytes(st->brands) + intern_bytes(st->orders) +
           (size_t)st->item_cap * (sizeof(st_item_t) + sizeof(st_filt_t)) +
           (size_t)st->user_cap * (sizeof(st_user_t) + sizeof(uint32_t)) +
           (size_t)st->session_cap * sizeof(st_session_t) +
           st_event_id_bytes(st) + prof +
           cats + cooc_bytes(st->coview) + cooc_bytes(st->cobuy) + ct_bytes(st->content) + st->doc_bytes;
}
