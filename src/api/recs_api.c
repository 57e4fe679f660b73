/* Recommendation endpoints: query parameters into a rec_filter_t, the scenario run under
 * the store's read lock, the answer rendered with readable reasons and recorded under a
 * fresh rec_id. See docs/API.md, "Recommendations". */
#include "server.h"

#include "../ingest/entity.h"
#include "../rank/recs.h"
#include "../rank/shown.h"
#include "../util/prefetch.h"
#include "../util/timeutil.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_N 100
#define MAX_EXCLUDE 100
#define FIELDS_ALL UINT32_MAX /* fields=*: the whole catalog document */
_Static_assert(ENT_ITEM_NFIELDS < 32, "a query's fields are bits of a uint32_t");

/* The query parameters of the recommendation endpoints, a bit each: an endpoint names
 * the ones it takes, and anything else is refused (a misspelt `catgory=` or a `scenario=`
 * on an endpoint that has none would otherwise change nothing, silently). */
enum {
    P_N = 1 << 0,
    P_OFFSET = 1 << 1,
    P_AFTER = 1 << 2,
    P_CATEGORY = 1 << 3,
    P_BRAND = 1 << 4,
    P_PRICE_MIN = 1 << 5,
    P_PRICE_MAX = 1 << 6,
    P_IN_STOCK = 1 << 7,
    P_EXCLUDE = 1 << 8,
    P_FIELDS = 1 << 9,
    P_DIVERSITY = 1 << 10,
    P_SCENARIO = 1 << 11,
    P_USER_ID = 1 << 12,
    P_SESSION_ID = 1 << 13,
};
#define P_FILTERS                                                                                                \
    (P_N | P_OFFSET | P_AFTER | P_CATEGORY | P_BRAND | P_PRICE_MIN | P_PRICE_MAX | P_IN_STOCK | P_EXCLUDE |     \
     P_FIELDS | P_DIVERSITY)
#define P_CUSTOMER (P_USER_ID | P_SESSION_ID)

static const char *const param_names[] = {"n",       "offset",    "after",     "category", "brand",
                                          "price_min", "price_max", "in_stock", "exclude",  "fields",
                                          "diversity", "scenario",  "user_id",  "session_id"};
#define NPARAMS (sizeof param_names / sizeof param_names[0])
_Static_assert(P_SESSION_ID == 1 << (NPARAMS - 1), "a name per parameter bit");

/* Refuses a query that names a parameter the endpoint does not take, or one twice (the
 * second would be ignored: `exclude=a&exclude=b` would show b). 0, or -1 answered. */
static int check_params(h2o_req_t *req, unsigned allowed, const char *endpoint)
{
    if (req->query_at == SIZE_MAX)
        return 0;
    const char *q = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    unsigned seen = 0;
    for (; q < end; q++) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(q, '=', (size_t)(pe - q));
        size_t kl = (size_t)((eq ? eq : pe) - q);
        size_t k = 0;
        while (k < NPARAMS && !(strlen(param_names[k]) == kl && memcmp(param_names[k], q, kl) == 0))
            k++;
        if (kl && (k == NPARAMS || !(allowed & (1u << k)))) {
            char name[65], list[256];
            size_t nl = kl < sizeof name - 1 ? kl : sizeof name - 1, o = 0;
            memcpy(name, q, nl);
            name[nl] = '\0';
            for (size_t j = 0; j < NPARAMS; j++)
                if (allowed & (1u << j))
                    o += (size_t)snprintf(list + o, sizeof list - o, o ? ", %s" : "%s", param_names[j]);
            srv_error(req, 400, "unknown_parameter", name, "%s takes no parameter %s (it takes %s)", endpoint, name,
                      list);
            return -1;
        }
        if (kl && (seen & (1u << k))) {
            srv_error(req, 400, "invalid_value", param_names[k], "%s is given twice%s", param_names[k],
                      (1u << k) == P_EXCLUDE ? ": list the ids once, separated by commas" : "");
            return -1;
        }
        if (kl)
            seen |= 1u << k;
        q = pe;
    }
    return 0;
}

/* Finds query parameter name; decodes its value into out. Returns its length, or -1. */
static int qparam(h2o_req_t *req, const char *name, char *out, size_t cap)
{
    if (req->query_at == SIZE_MAX)
        return -1;
    const char *q = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    size_t nl = strlen(name);
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(q, '=', (size_t)(pe - q));
        const char *ke = eq ? eq : pe;
        if ((size_t)(ke - q) == nl && memcmp(q, name, nl) == 0) {
            size_t o = 0;
            for (const char *v = eq ? eq + 1 : pe; v < pe; v++) {
                char c = *v;
                if (c == '+')
                    c = ' ';
                else if (c == '%' && pe - v > 2 && isxdigit((unsigned char)v[1]) && isxdigit((unsigned char)v[2])) {
                    char hex[3] = {v[1], v[2], 0};
                    c = (char)strtol(hex, NULL, 16);
                    v += 2;
                }
                if (o + 1 >= cap)
                    return -2; /* too long */
                out[o++] = c;
            }
            out[o] = '\0';
            return (int)o;
        }
        q = pe + 1;
    }
    return -1;
}

/* snprintf(dst, cap, "%s", src) without printf (every request). */
static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

typedef struct {
    char scenario[32];
    long n;
    rec_filter_t f;
    int impossible; /* a category or brand nobody has: the answer is empty */
    char user[VAL_MAX_ID + 1], session[VAL_MAX_ID + 1];
    int has_user, has_session;
    char category[1024], brand[VAL_MAX_ID + 1], after[64];
    int has_category, has_brand, has_after;
    int has_exclude;
    uint32_t fields; /* catalog fields each item carries: a bit per ent_item_fields, FIELDS_ALL */
    char exclude_raw[MAX_EXCLUDE * (VAL_MAX_ID + 1)]; /* last: parse_query clears what is before */
    uint32_t exclude[2 * MAX_EXCLUDE + 1];
} query_t;

static int num_param(h2o_req_t *req, const char *name, double lo, double hi, double *v, int integer)
{
    char buf[64];
    int len = qparam(req, name, buf, sizeof buf);
    if (len == -1)
        return 0;
    char *end;
    double d = strtod(buf, &end);
    if (len < 0 || !len || *end || !(d >= lo && d <= hi) || (integer && d != (double)(long)d)) {
        srv_error(req, 400, "invalid_value", name, "%s must be %s from %g to %g", name,
                  integer ? "an integer" : "a number", lo, hi);
        return -1;
    }
    *v = d;
    return 1;
}

static int id_param(h2o_req_t *req, const char *name, char *out, size_t cap, int *has)
{
    int len = qparam(req, name, out, cap);
    *has = 0;
    if (len == -1)
        return 0;
    if (len <= 0 || !val_utf8(out, (size_t)len)) {
        srv_error(req, 400, "invalid_id", name, "%s must be 1 to %d bytes of UTF-8", name, VAL_MAX_ID);
        return -1;
    }
    *has = 1;
    return 0;
}

/* fields=: "*" or item document fields separated by commas, into *mask (0 when absent).
 * Answers and returns -1 on a bad one. */
static int parse_fields(h2o_req_t *req, uint32_t *mask)
{
    char buf[256];
    int len = qparam(req, "fields", buf, sizeof buf);
    *mask = 0;
    if (len == -1)
        return 0;
    if (len == 1 && buf[0] == '*') {
        *mask = FIELDS_ALL;
        return 0;
    }
    for (const char *p = buf; len > 0; p = strchr(p, ',') + 1) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        int f = ent_item_field(p, n);
        if (f < 0) {
            *mask = 0;
            break;
        }
        *mask |= 1u << f;
        if (!comma)
            return 0;
    }
    char names[256];
    size_t o = 0;
    for (int i = 0; i < ENT_ITEM_NFIELDS; i++)
        o += (size_t)snprintf(names + o, sizeof names - o, i ? ", %s" : "%s", ent_item_fields[i]);
    srv_error(req, 400, "invalid_value", "fields", "fields must be * or item fields separated by commas (%s)", names);
    return -1;
}

/* Parses the parameters every recommendation endpoint shares. Answers and returns -1 on
 * a bad one. */
static int parse_query(h2o_req_t *req, query_t *q, const char *default_scenario, int default_diversity,
                       unsigned allowed, const char *endpoint)
{
    srv_t *srv = srv_thread_of(req)->srv;
    if (check_params(req, allowed, endpoint) != 0)
        return -1;
    memset(q, 0, offsetof(query_t, exclude_raw)); /* the id buffers after it (26 KiB) are
                                                       read only once written */
    q->exclude_raw[0] = '\0';
    rec_filter_default(&q->f);
    q->f.wall_ms = time_now_ms();
    q->n = 10;
    q->f.max_per_category = default_diversity;
    copy_str(q->scenario, sizeof q->scenario, default_scenario);
    double d;
    int rc;
    if ((rc = num_param(req, "n", 1, MAX_N, &d, 1)) < 0)
        return -1;
    if (rc)
        q->n = (long)d;
    if ((rc = num_param(req, "offset", 0, 1000, &d, 1)) < 0)
        return -1;
    if (rc)
        q->f.offset = (uint32_t)d;
    if ((rc = num_param(req, "diversity", 0, 100, &d, 1)) < 0)
        return -1;
    if (rc)
        q->f.max_per_category = (int)d;
    if ((rc = num_param(req, "price_min", 0, 1e9, &d, 0)) < 0)
        return -1;
    if (rc)
        q->f.price_min = d;
    if ((rc = num_param(req, "price_max", 0, 1e9, &d, 0)) < 0)
        return -1;
    if (rc)
        q->f.price_max = d;
    char buf[32];
    int len = qparam(req, "in_stock", buf, sizeof buf);
    if (len != -1) {
        if (len > 0 && strcmp(buf, "true") == 0)
            q->f.in_stock_only = 1;
        else if (len > 0 && strcmp(buf, "false") == 0)
            q->f.in_stock_only = 0;
        else {
            srv_error(req, 400, "invalid_value", "in_stock", "in_stock must be true or false");
            return -1;
        }
    }
    len = qparam(req, "scenario", buf, sizeof buf);
    if (len != -1) {
        if (len <= 0 || (strcmp(buf, "for_you") && strcmp(buf, "buy_again") && strcmp(buf, "trending") &&
                         strcmp(buf, "recently_viewed"))) {
            srv_error(req, 400, "invalid_value", "scenario",
                      "scenario must be for_you, buy_again, trending or recently_viewed");
            return -1;
        }
        copy_str(q->scenario, sizeof q->scenario, buf);
        /* A history is shown whole unless diversity is asked for. */
        if (strcmp(buf, "recently_viewed") == 0 && qparam(req, "diversity", buf, sizeof buf) == -1)
            q->f.max_per_category = 0;
    }
    if (id_param(req, "user_id", q->user, sizeof q->user, &q->has_user) ||
        id_param(req, "session_id", q->session, sizeof q->session, &q->has_session) ||
        id_param(req, "brand", q->brand, sizeof q->brand, &q->has_brand))
        return -1;
    len = qparam(req, "category", q->category, sizeof q->category);
    if (len != -1) {
        if (len <= 0 || !val_utf8(q->category, (size_t)len)) {
            srv_error(req, 400, "invalid_value", "category", "category must be a path such as Home/Kitchen");
            return -1;
        }
        q->has_category = 1;
    }
    len = qparam(req, "after", q->after, sizeof q->after);
    if (len != -1) {
        if (len != 16) {
            srv_error(req, 400, "invalid_value", "after", "after must be a rec_id from an earlier answer");
            return -1;
        }
        q->has_after = 1;
    }
    if (parse_fields(req, &q->fields) != 0)
        return -1;
    len = qparam(req, "exclude", q->exclude_raw, sizeof q->exclude_raw);
    if (len == -2) {
        srv_error(req, 400, "too_long", "exclude", "exclude lists at most %d ids", MAX_EXCLUDE);
        return -1;
    }
    q->has_exclude = len > 0;
    (void)srv;
    return 0;
}

/* Resolves names to ids; call with the read lock held. */
static void resolve_query(srv_t *srv, query_t *q)
{
    state_t *st = srv->st;
    q->f.scenario = rule_scenario_bit(q->scenario);
    if (q->has_category) {
        q->f.category = intern_get(st->categories, q->category, strlen(q->category));
        if (q->f.category == INTERN_NONE)
            q->impossible = 1;
    }
    if (q->has_brand) {
        q->f.brand = intern_get(st->brands, q->brand, strlen(q->brand));
        if (q->f.brand == INTERN_NONE)
            q->impossible = 1;
    }
    size_t n = 0;
    if (q->has_exclude) {
        char *save = NULL;
        for (char *tok = strtok_r(q->exclude_raw, ",", &save); tok && n < MAX_EXCLUDE;
             tok = strtok_r(NULL, ",", &save)) {
            uint32_t id = intern_get(st->items, tok, strlen(tok));
            if (id != INTERN_NONE)
                q->exclude[n++] = id;
        }
    }
    if (q->has_after) {
        int m = shown_get(srv->shown, q->after, q->exclude + n, NULL);
        if (m > 0)
            n += (size_t)m;
    }
    q->f.exclude = q->exclude;
    q->f.nexclude = n;
}

/* The pieces of a reason go straight into the answer, escaped where they come from the
 * catalog (a buffer of its own per reason was an allocation per item of every answer). */
static void put_title(const state_t *st, uint32_t item, buf_t *b)
{
    if (st->item[item].title) {
        buf_put_json_body(b, st->item[item].title, st->item[item].title_len);
    } else {
        size_t n;
        const char *s = intern_str(st->items, item, &n);
        buf_put_json_body(b, s, n);
    }
}

static void put_category_name(const state_t *st, uint32_t cat, buf_t *b)
{
    size_t n;
    const char *s = intern_str(st->categories, cat, &n);
    const char *slash = s ? memrchr(s, '/', n) : NULL;
    if (slash)
        buf_put_json_body(b, slash + 1, n - (size_t)(slash + 1 - s));
    else if (s)
        buf_put_json_body(b, s, n);
}

/* Appends the reason as a JSON string; the literal parts need no escaping. */
static void put_reason(const state_t *st, const rec_hit_t *h, buf_t *r)
{
    buf_puts(r, "\"");
    switch (h->why) {
    case WHY_VIEWED_WITH: buf_puts(r, "viewed together with "), put_title(st, h->ref, r); break;
    case WHY_BOUGHT_WITH: buf_puts(r, "bought together with "), put_title(st, h->ref, r); break;
    case WHY_CATEGORY: buf_puts(r, "popular in "), put_category_name(st, h->ref, r); break;
    case WHY_TRENDING:
        if (h->ref == INTERN_NONE)
            buf_puts(r, "trending now");
        else
            buf_puts(r, "trending in "), put_category_name(st, h->ref, r);
        break;
    case WHY_POPULAR:
        if (h->ref == INTERN_NONE)
            buf_puts(r, "popular now");
        else
            buf_puts(r, "popular in "), put_category_name(st, h->ref, r);
        break;
    case WHY_BUY_AGAIN:
        if (h->ref > 1)
            buf_printf(r, "you bought this %u times", h->ref);
        else
            buf_puts(r, "you bought this before");
        break;
    case WHY_RECENT:
        buf_puts(r, h->ref == EVT_ADD_TO_CART ? "you put this in your cart recently" : "you looked at this recently");
        break;
    case WHY_CONTENT:
        if (h->ref == INTERN_NONE)
            buf_puts(r, "like what you looked at");
        else
            buf_puts(r, "resembles "), put_title(st, h->ref, r);
        break;
    case WHY_NEXT:
        if (h->ref == INTERN_NONE)
            buf_puts(r, "what customers go on to next");
        else
            buf_puts(r, "often comes next after "), put_title(st, h->ref, r);
        break;
    case WHY_SIMILAR_TO:
    case WHY_CHOSEN_WITH:
    case WHY_TASTE:
        if (h->ref == INTERN_NONE) {
            buf_puts(r, "picked for you from what you did");
            break;
        }
        buf_puts(r, h->why == WHY_SIMILAR_TO    ? "similar to "
                    : h->why == WHY_CHOSEN_WITH ? "customers who chose "
                                                : "matches your interest in ");
        put_title(st, h->ref, r);
        if (h->why == WHY_CHOSEN_WITH)
            buf_puts(r, " also chose this");
        break;
    }
    buf_puts(r, "\"");
}

/* Renders hits (lock held), records them, answers. */
static void reply_hits(h2o_req_t *req, srv_t *srv, const char *scenario, const rec_hit_t *hits, size_t n,
                       uint32_t profile, uint32_t fields)
{
    state_t *st = srv->st;
    uint32_t ids[MAX_N] = {0}; /* zeroed: gcc cannot see that only ids[0..n) are read */
    for (size_t i = 0; i < n; i++)
        ids[i] = hits[i].item;
    /* What the answer's text reads is two dependent misses per item (its id's offset,
     * then the id; the record of the item a reason names, then its title): the first
     * steps are asked for here, the second after recording the answer, which has misses
     * of its own to overlap with them. */
    uint32_t named[MAX_N];
    size_t nnamed = 0;
    for (size_t i = 0; i < n; i++) /* the items the reasons name */
        if (hits[i].ref < intern_count(st->items) && hits[i].why != WHY_CATEGORY && hits[i].why != WHY_TRENDING &&
            hits[i].why != WHY_POPULAR && hits[i].why != WHY_BUY_AGAIN && hits[i].why != WHY_RECENT) {
            __builtin_prefetch(&st->item[hits[i].ref]);
            named[nnamed++] = hits[i].ref;
        }
    intern_prefetch_offsets(st->items, ids, n);
    for (size_t i = 0; fields && i < n; i++) /* where each item's document is */
        __builtin_prefetch(&st->item[ids[i]]);
    char rec_id[17];
    shown_put(srv->shown, profile, ids, n, time_now_ms(), rec_id);
    for (size_t i = 0; fields && i < n; i++) /* the documents, read whole to cut them */
        if (st->item[ids[i]].doc)
            prefetch_span(st->item[ids[i]].doc, st->item[ids[i]].doc_len < 1024 ? st->item[ids[i]].doc_len : 1024);
    for (size_t i = 0; i < nnamed; i++)
        if (st->item[named[i]].title)
            __builtin_prefetch(st->item[named[i]].title);
    intern_prefetch_strs(st->items, ids, n);
    buf_t b;
    buf_init(&b);
    buf_reserve(&b, 256 + 256 * n); /* an answer of 10 is about 1.4 KB: one allocation */
    /* Plain appends rather than printf: this runs for every answer (printf's format
     * parsing showed in profiles). */
    buf_puts(&b, "{\"rec_id\":\"");
    buf_puts(&b, rec_id);
    buf_puts(&b, "\",\"scenario\":\"");
    buf_puts(&b, scenario);
    buf_puts(&b, "\",\"items\":[");
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *id = intern_str(st->items, hits[i].item, &len);
        buf_puts(&b, i ? ",{\"item_id\":" : "{\"item_id\":");
        buf_put_json_str(&b, id, len);
        if (fields) {
            const st_item_t *it = &st->item[hits[i].item];
            buf_puts(&b, ",\"item\":");
            if (!it->doc)
                buf_puts(&b, "{}");
            else if (fields == FIELDS_ALL)
                buf_append(&b, it->doc, it->doc_len);
            else
                ent_item_project(&b, it->doc, it->doc_len, fields);
        }
        buf_puts(&b, ",\"score\":");
        buf_put_g6(&b, (double)hits[i].score);
        buf_puts(&b, ",\"reasons\":[");
        put_reason(st, &hits[i], &b);
        buf_puts(&b, "],\"sources\":[");
        int first = 1;
        for (int s = 0; s < REC_NSOURCES; s++)
            if (hits[i].sources & (1u << s)) {
                buf_puts(&b, first ? "\"" : ",\"");
                buf_puts(&b, rec_source_names[s]);
                buf_puts(&b, "\"");
                first = 0;
            }
        buf_puts(&b, "]}");
    }
    buf_puts(&b, "]}");
    srv_respond(req, 200, &b, 0);
}

/* The customer's profile; else the visit's (anonymous, or not yet merged); NULL for a
 * visitor Aisle has never seen, or none named. Read lock held. */
static const prof_t *query_profile(const state_t *st, const query_t *q)
{
    const prof_t *p = NULL;
    if (q->has_user)
        p = st_user_profile(st, q->user, strlen(q->user));
    if (!p && q->has_session)
        p = st_session_profile(st, q->session, strlen(q->session));
    return p;
}

static int64_t stream_now(const state_t *st)
{
    return st->last_event_ms ? st->last_event_ms : time_now_ms();
}

void api_recommend(h2o_req_t *req, const char *user_id)
{
    srv_t *srv = srv_thread_of(req)->srv;
    query_t *q = malloc(sizeof *q);
    if (!q)
        abort();
    ms_set_t *models = srv_models(srv); /* the set this answer uses, even if a new one comes */
    pthread_rwlock_rdlock(&srv->st->lock);
    if (user_id) /* its table slot comes while the query is parsed */
        intern_prefetch(srv->st->users, user_id, strlen(user_id));
    if (parse_query(req, q, "for_you", srv->cfg.diversity,
                    P_FILTERS | P_SCENARIO | (user_id ? P_SESSION_ID : P_CUSTOMER),
                    user_id ? "GET /v1/users/{id}/recommendations" : "GET /v1/recommendations") != 0)
        goto out;
    if (user_id) {
        copy_str(q->user, sizeof q->user, user_id);
        q->has_user = 1;
    }
    rec_hit_t hits[MAX_N];
    size_t n = 0;
    resolve_query(srv, q);
    state_t *st = srv->st;
    const prof_t *p = query_profile(st, q); /* NULL: the cold-start answer */
    if (p) /* read a little later: its lines are asked for now */
        prefetch_span(p, sizeof *p);
    uint32_t pid = p ? (uint32_t)(p - st->prof) : PROF_NONE;
    shown_prefetch(srv->shown, pid); /* read when the answer is ordered, written when sent */
    int64_t now = stream_now(st);
    /* Anti-repetition reorders picks, not a customer's own history. */
    q->f.impressions = strcmp(q->scenario, "recently_viewed") ? srv->shown : NULL;
    q->f.profile = pid;
    if (!q->impossible) {
        if (strcmp(q->scenario, "buy_again") == 0)
            n = rec_buy_again(st, p, &q->f, now, hits, (size_t)q->n);
        else if (strcmp(q->scenario, "recently_viewed") == 0)
            n = rec_recently_viewed(st, p, &q->f, hits, (size_t)q->n);
        else if (strcmp(q->scenario, "trending") == 0)
            n = rec_trending(st, srv->cache, p, &q->f, now, hits, (size_t)q->n);
        else
            n = rec_for_you(st, srv->cache, models, &srv->cfg.blend, p, &q->f, now, hits, (size_t)q->n);
    }
    reply_hits(req, srv, q->scenario, hits, n, pid, q->fields);
out:
    pthread_rwlock_unlock(&srv->st->lock);
    ms_release(models);
    free(q);
}

void api_item_recs(h2o_req_t *req, const char *item_id, int bought_together)
{
    srv_t *srv = srv_thread_of(req)->srv;
    query_t *q = malloc(sizeof *q);
    if (!q)
        abort();
    if (parse_query(req, q, bought_together ? "bought_together" : "similar", 0, P_FILTERS | P_CUSTOMER,
                    bought_together ? "GET /v1/items/{id}/bought-together" : "GET /v1/items/{id}/similar") != 0)
        goto out;
    pthread_rwlock_rdlock(&srv->st->lock);
    state_t *st = srv->st;
    uint32_t item = intern_get(st->items, item_id, strlen(item_id));
    if (item == INTERN_NONE) {
        pthread_rwlock_unlock(&srv->st->lock);
        srv_error(req, 404, "not_found", "item_id", "no item with id %s", item_id);
        goto out;
    }
    resolve_query(srv, q);
    const prof_t *p = query_profile(st, q); /* what they bought or carted is left out */
    rec_hit_t hits[MAX_N];
    size_t n = 0;
    if (!q->impossible)
        n = bought_together ? rec_bought_together(st, p, item, &q->f, hits, (size_t)q->n)
                            : rec_similar(st, srv->cache, p, item, &q->f, stream_now(st), hits, (size_t)q->n);
    reply_hits(req, srv, q->scenario, hits, n, p ? (uint32_t)(p - st->prof) : PROF_NONE, q->fields);
    pthread_rwlock_unlock(&srv->st->lock);
out:
    free(q);
}

void api_top(h2o_req_t *req, int popular)
{
    srv_t *srv = srv_thread_of(req)->srv;
    query_t *q = malloc(sizeof *q);
    if (!q)
        abort();
    if (parse_query(req, q, popular ? "popular" : "trending", srv->cfg.diversity, P_FILTERS | P_CUSTOMER,
                    popular ? "GET /v1/popular" : "GET /v1/trending") != 0)
        goto out;
    pthread_rwlock_rdlock(&srv->st->lock);
    state_t *st = srv->st;
    resolve_query(srv, q);
    const prof_t *p = query_profile(st, q); /* purchases and cart left out, liked categories lifted */
    rec_hit_t hits[MAX_N];
    size_t n = 0;
    if (!q->impossible)
        n = popular ? rec_popular(st, srv->cache, p, &q->f, stream_now(st), hits, (size_t)q->n)
                    : rec_trending(st, srv->cache, p, &q->f, stream_now(st), hits, (size_t)q->n);
    reply_hits(req, srv, q->scenario, hits, n, p ? (uint32_t)(p - st->prof) : PROF_NONE, q->fields);
    pthread_rwlock_unlock(&srv->st->lock);
out:
    free(q);
}

void api_cart(h2o_req_t *req)
{
    srv_t *srv = srv_thread_of(req)->srv;
    query_t *q = malloc(sizeof *q);
    json_t *body = NULL;
    if (!q)
        abort();
    if (parse_query(req, q, "cart", srv->cfg.diversity, P_FILTERS, "POST /v1/recommendations/cart") != 0)
        goto out;
    json_error_t je;
    body = json_loadb(req->entity.base, req->entity.len, 0, &je);
    if (!body || !json_is_object(body)) {
        srv_error(req, 400, body ? "invalid_type" : "invalid_json", "", "the body must be a JSON object: %s",
                  body ? "{\"items\":[...]}" : je.text);
        goto out;
    }
    json_t *items = json_object_get(body, "items");
    if (!json_is_array(items) || json_array_size(items) == 0 || json_array_size(items) > MAX_N) {
        srv_error(req, 400, items ? "invalid_value" : "missing_field", "items",
                  "items must be an array of 1 to %d item ids", MAX_N);
        goto out;
    }
    const char *fields[2] = {"user_id", "session_id"};
    char *dst[2] = {q->user, q->session};
    int *has[2] = {&q->has_user, &q->has_session};
    for (int k = 0; k < 2; k++) {
        json_t *v = json_object_get(body, fields[k]);
        if (!v)
            continue;
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > VAL_MAX_ID) {
            srv_error(req, 400, "invalid_id", fields[k], "%s must be a string of 1 to %d bytes", fields[k],
                      VAL_MAX_ID);
            goto out;
        }
        snprintf(dst[k], VAL_MAX_ID + 1, "%s", json_string_value(v));
        *has[k] = 1;
    }
    size_t i;
    json_t *v;
    json_array_foreach(items, i, v) if (!json_is_string(v))
    {
        srv_error(req, 400, "invalid_type", "items", "items[%zu] must be a string", i);
        goto out;
    }
    pthread_rwlock_rdlock(&srv->st->lock);
    state_t *st = srv->st;
    resolve_query(srv, q);
    uint32_t cart[MAX_N];
    size_t ncart = 0;
    json_array_foreach(items, i, v)
    {
        uint32_t id = intern_get(st->items, json_string_value(v), json_string_length(v));
        if (id != INTERN_NONE)
            cart[ncart++] = id;
    }
    const prof_t *p = query_profile(st, q);
    rec_hit_t hits[MAX_N];
    size_t n = q->impossible ? 0 : rec_cart(st, p, cart, ncart, &q->f, hits, (size_t)q->n);
    reply_hits(req, srv, "cart", hits, n, p ? (uint32_t)(p - st->prof) : PROF_NONE, q->fields);
    pthread_rwlock_unlock(&srv->st->lock);
out:
    json_decref(body);
    free(q);
}
