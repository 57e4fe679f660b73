/* Endpoints: routing by path and method, then one function per endpoint. Writes take
 * the store's write lock around "append to log + apply" and answer once the log says
 * the records are durable; reads take the read lock. See docs/API.md. */
#include "server.h"

#include "../ingest/batch.h"
#include "../ingest/entity.h"
#include "../ingest/event.h"
#include "../util/slog.h"
#include "../util/timeutil.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

typedef enum { BODY_JSON, BODY_NDJSON } body_kind_t;

static int method_is(h2o_req_t *req, const char *m)
{
    size_t n = strlen(m);
    return req->method.len == n && memcmp(req->method.base, m, n) == 0;
}

static void method_not_allowed(h2o_req_t *req, const char *allow)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, allow, strlen(allow));
    srv_error(req, 405, "method_not_allowed", NULL, "%.*s is not allowed here; allowed: %s", (int)req->method.len,
              req->method.base, allow);
}

static int check_ready(h2o_req_t *req)
{
    if (atomic_load_explicit(&srv_thread_of(req)->srv->ready, memory_order_acquire))
        return 1;
    srv_error(req, 503, "not_ready", NULL, "the server is replaying its log; try again shortly");
    return 0;
}

/* Checks Content-Type and the body limit. Returns 0 and sets *kind, or answers. */
static int check_body(h2o_req_t *req, int allow_ndjson, body_kind_t *kind)
{
    srv_t *srv = srv_thread_of(req)->srv;
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    const char *ct = i >= 0 ? req->headers.entries[i].value.base : "";
    size_t ctn = i >= 0 ? req->headers.entries[i].value.len : 0;
    size_t mt = 0;
    while (mt < ctn && ct[mt] != ';' && ct[mt] != ' ')
        mt++;
#define IS(s) (mt == sizeof(s) - 1 && strncasecmp(ct, s, mt) == 0)
    if (IS("application/json"))
        *kind = BODY_JSON;
    else if (allow_ndjson && (IS("application/x-ndjson") || IS("application/ndjson") || IS("application/jsonl") ||
                              IS("application/x-jsonlines")))
        *kind = BODY_NDJSON;
    else {
        srv_error(req, 415, "unsupported_media_type", "Content-Type", "Content-Type must be application/json%s, not %.*s",
                  allow_ndjson ? " or application/x-ndjson" : "", (int)(ctn > 100 ? 100 : ctn),
                  ctn ? ct : "(none)");
        return -1;
    }
#undef IS
    if (req->entity.len > srv->cfg.max_body) {
        srv_error(req, 413, "body_too_large", NULL, "request body of %zu bytes is over the limit of %zu bytes",
                  req->entity.len, srv->cfg.max_body);
        return -1;
    }
    return 0;
}

/* Percent-decodes a path segment into out (NUL-terminated). -1 when malformed, empty,
 * too long, or not UTF-8. */
static int decode_segment(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n || !isxdigit((unsigned char)s[i + 1]) || !isxdigit((unsigned char)s[i + 2]))
                return -1;
            char hex[3] = {s[i + 1], s[i + 2], 0};
            long v = strtol(hex, NULL, 16);
            if (v == 0)
                return -1;
            c = (char)v;
            i += 2;
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    if (o == 0 || o > VAL_MAX_ID || !val_utf8(out, o))
        return -1;
    return (int)o;
}

static void add_reject(buf_t *out, size_t *nrej, size_t index, const val_error_t *e)
{
    buf_printf(out, "%s{\"index\":%zu,\"code\":", (*nrej)++ ? "," : "", index);
    buf_put_json_str(out, e->code, strlen(e->code));
    buf_puts(out, ",\"message\":");
    buf_put_json_str(out, e->message, strlen(e->message));
    buf_puts(out, ",\"field\":");
    const char *f = e->field ? e->field : "";
    buf_put_json_str(out, f, strlen(f));
    buf_puts(out, "}");
}

/* Finishes a batch answer: 200 when anything was kept, else 400 carrying the first
 * rejection as the error as well. */
static void batch_reply(h2o_req_t *req, size_t accepted, size_t dups, buf_t *rej, size_t nrej,
                        const val_error_t *first, uint64_t lsn, int with_dups)
{
    buf_t b;
    buf_init(&b);
    int status = 200;
    buf_puts(&b, "{");
    if (accepted == 0 && dups == 0 && first) {
        status = 400;
        buf_puts(&b, "\"error\":{\"code\":");
        buf_put_json_str(&b, first->code, strlen(first->code));
        buf_puts(&b, ",\"message\":");
        char msg[300];
        snprintf(msg, sizeof msg, "no record was accepted; first problem: %s", first->message);
        buf_put_json_str(&b, msg, strlen(msg));
        buf_puts(&b, ",\"field\":");
        buf_put_json_str(&b, first->field ? first->field : "", first->field ? strlen(first->field) : 0);
        buf_puts(&b, "},");
    }
    buf_printf(&b, "\"accepted\":%zu,", accepted);
    if (with_dups)
        buf_printf(&b, "\"duplicates\":%zu,", dups);
    buf_puts(&b, "\"rejected\":[");
    buf_append(&b, rej->data ? rej->data : "", rej->len);
    buf_puts(&b, "]}");
    buf_free(rej);
    (void)nrej;
    srv_respond(req, status, &b, lsn);
}

/* Fills in the log frame header of the record whose payload follows at+LOG_FRAME_HEADER
 * up to the end of b. */
static void frame_in_place(buf_t *b, size_t at, uint8_t type)
{
    size_t plen = b->len - at - LOG_FRAME_HEADER;
    buf_t hdr;
    buf_init(&hdr);
    log_frame(&hdr, type, b->data + at + LOG_FRAME_HEADER, plen);
    memcpy(b->data + at, hdr.data, LOG_FRAME_HEADER);
    buf_free(&hdr);
}

/* Between two chunks of a batch (write lock held, the chunk before already appended):
 * whoever waits for the store (answers, another batch) has a turn, then this goes on. */
static void let_others_in(srv_t *srv)
{
    pthread_rwlock_unlock(&srv->st->lock);
    pthread_rwlock_wrlock(&srv->st->lock);
}

static void post_events(h2o_req_t *req)
{
    srv_t *srv = srv_thread_of(req)->srv;
    body_kind_t kind;
    if (!check_ready(req) || check_body(req, 1, &kind) != 0)
        return;
    evt_batch_t bat;
    val_error_t err;
    int status = evt_parse_batch(req->entity.base, req->entity.len, kind == BODY_NDJSON, srv->cfg.max_batch,
                                 time_now_ms(), &bat, &err);
    if (status) {
        evt_batch_free(&bat);
        srv_error(req, status, err.code, err.field, "%s", err.message);
        return;
    }
    buf_t enc, rej;
    buf_init(&enc);
    buf_init(&rej);
    size_t *ends = malloc(bat.n * sizeof *ends);
    size_t nrej = 0, nvalid = 0;
    val_error_t first = {0};
    /* Encode outside the lock, straight into framed log records: payload first, header
     * filled in after. */
    for (size_t i = 0; i < bat.n; i++) {
        ends[i] = SIZE_MAX;
        if (bat.err[i].code) {
            if (!nrej)
                first = bat.err[i];
            add_reject(&rej, &nrej, i, &bat.err[i]);
            continue;
        }
        size_t at = enc.len;
        buf_reserve(&enc, LOG_FRAME_HEADER);
        enc.len += LOG_FRAME_HEADER;
        evt_encode(&bat.ev[i], &enc);
        frame_in_place(&enc, at, REC_EVENT);
        ends[i] = enc.len;
        nvalid++;
    }
    size_t accepted = 0, dups = 0;
    uint64_t lsn = 0;
    if (nvalid) {
        /* A chunk at a time, each appended before the lock goes: answers wait for one
         * chunk at most, and the log stays in apply order. */
        pthread_rwlock_wrlock(&srv->st->lock);
        size_t start = 0, keep = 0, flushed = 0, held = 0;
        for (size_t i = 0; i < bat.n; i++) {
            if (ends[i] == SIZE_MAX)
                continue;
            if (held == ST_WRITE_CHUNK) {
                if (keep > flushed)
                    lsn = log_append_framed(srv->log, enc.data + flushed, keep - flushed);
                flushed = keep;
                held = 0;
                let_others_in(srv);
            }
            held++;
            size_t len = ends[i] - start;
            /* bat.ev[i] views the body, which is still alive: check it before the record
             * is moved. */
            const evt_t *e = &bat.ev[i];
            if (e->event_id.p && st_event_seen(srv->st, e->event_id.p, e->event_id.n)) {
                dups++;
            } else {
                if (keep != start) /* close the gap a duplicate left */
                    memmove(enc.data + keep, enc.data + start, len);
                st_apply(srv->st, REC_EVENT, enc.data + keep + LOG_FRAME_HEADER, len - LOG_FRAME_HEADER);
                keep += len;
                accepted++;
                if (e->item_id.p && (e->type == EVT_CLICK || e->type == EVT_ADD_TO_CART || e->type == EVT_PURCHASE)) {
                    /* The customer engaged with it: it is no longer a repeat nobody wants. */
                    uint32_t item = intern_get(srv->st->items, e->item_id.p, e->item_id.n);
                    uint32_t pid = st_profile_of(srv->st, e);
                    if (pid != PROF_NONE)
                        shown_engaged(srv->shown, pid, item);
                }
            }
            start = ends[i];
        }
        /* Duplicates wait too, as their first copy may not be durable yet. */
        if (keep > flushed)
            lsn = log_append_framed(srv->log, enc.data + flushed, keep - flushed);
        else /* past every first copy, also one appended between two chunks */
            lsn = log_end(srv->log);
        pthread_rwlock_unlock(&srv->st->lock);
    }
    free(ends);
    buf_free(&enc);
    evt_batch_free(&bat);
    batch_reply(req, accepted, dups, &rej, nrej, &first, lsn, 1);
}

/* Appends one record and applies it under the write lock; returns its LSN. *existed
 * tells whether the entity was there before. */
static uint64_t write_record(srv_t *srv, uint8_t type, buf_t *payload, intern_t *(*table)(state_t *),
                             const char *id, size_t idn, int *existed)
{
    pthread_rwlock_wrlock(&srv->st->lock);
    if (existed) {
        uint32_t x = intern_get(table(srv->st), id, idn);
        *existed = x != INTERN_NONE &&
                   (type == REC_USER_PUT ? srv->st->user[x].doc != NULL : srv->st->item[x].doc != NULL);
    }
    uint64_t lsn = log_append(srv->log, type, payload->data, payload->len);
    st_apply(srv->st, type, payload->data, payload->len);
    pthread_rwlock_unlock(&srv->st->lock);
    return lsn;
}

static intern_t *items_table(state_t *st)
{
    return st->items;
}

static intern_t *users_table(state_t *st)
{
    return st->users;
}

static json_t *parse_object(h2o_req_t *req)
{
    body_kind_t kind;
    if (check_body(req, 0, &kind) != 0)
        return NULL;
    json_error_t je;
    json_t *obj = json_loadb(req->entity.base, req->entity.len, 0, &je);
    if (!obj) {
        val_error_t e;
        bat_json_error(&je, &e);
        srv_error(req, 400, e.code, NULL, "%s", e.message);
    }
    return obj;
}

static void put_entity(h2o_req_t *req, const char *id, int is_item)
{
    srv_t *srv = srv_thread_of(req)->srv;
    json_t *obj = parse_object(req);
    if (!obj)
        return;
    json_t *doc;
    val_error_t e;
    int rc = is_item ? ent_item_from_json(obj, id, time_now_ms(), &doc, &e) : ent_user_from_json(obj, id, &doc, &e);
    json_decref(obj);
    if (rc != 0) {
        srv_error(req, 400, e.code, e.field, "%s", e.message);
        return;
    }
    buf_t payload, body;
    buf_init(&payload);
    buf_init(&body);
    size_t idn = strlen(id);
    st_encode_doc(&payload, id, idn, doc);
    int existed;
    uint64_t lsn = write_record(srv, is_item ? REC_ITEM_PUT : REC_USER_PUT, &payload,
                                is_item ? items_table : users_table, id, idn, &existed);
    /* The answer is the canonical document: the payload after its id. */
    rd_t r = {(const unsigned char *)payload.data, (const unsigned char *)payload.data + payload.len};
    const char *s;
    size_t n;
    rd_str(&r, &s, &n);
    buf_append(&body, r.p, (size_t)(r.end - r.p));
    buf_free(&payload);
    json_decref(doc);
    srv_respond(req, existed ? 200 : 201, &body, lsn);
}

/* Batch upsert of items (POST /v1/items) or customers (POST /v1/users). */
static void post_entities(h2o_req_t *req, int is_item)
{
    srv_t *srv = srv_thread_of(req)->srv;
    body_kind_t kind;
    if (check_body(req, 1, &kind) != 0)
        return;
    bat_t bat;
    val_error_t err;
    int status = bat_parse(req->entity.base, req->entity.len, kind == BODY_NDJSON, srv->cfg.max_batch, &bat, &err);
    if (status) {
        srv_error(req, status, err.code, err.field, "%s", err.message);
        return;
    }
    int64_t now = time_now_ms();
    uint8_t type = is_item ? REC_ITEM_PUT : REC_USER_PUT;
    buf_t enc, rej, payload;
    buf_init(&enc);
    buf_init(&rej);
    buf_init(&payload);
    size_t *ends = malloc(bat.n * sizeof *ends);
    size_t nrej = 0, nvalid = 0;
    val_error_t first = {0};
    for (size_t i = 0; i < bat.n; i++) {
        ends[i] = SIZE_MAX;
        val_error_t e;
        json_t *doc;
        if (!bat.v[i].val)
            e = bat.v[i].err;
        else if ((is_item ? ent_item_from_json(bat.v[i].val, NULL, now, &doc, &e)
                          : ent_user_from_json(bat.v[i].val, NULL, &doc, &e)) == 0) {
            json_t *idv = json_object_get(doc, is_item ? "item_id" : "user_id");
            payload.len = 0;
            st_encode_doc(&payload, json_string_value(idv), json_string_length(idv), doc);
            json_decref(doc);
            log_frame(&enc, type, payload.data, payload.len);
            ends[i] = enc.len;
            nvalid++;
            continue;
        }
        if (!nrej)
            first = e;
        add_reject(&rej, &nrej, i, &e);
    }
    uint64_t lsn = 0;
    if (nvalid) {
        pthread_rwlock_wrlock(&srv->st->lock);
        size_t start = 0, flushed = 0, held = 0;
        for (size_t i = 0; i < bat.n; i++) {
            if (ends[i] == SIZE_MAX)
                continue;
            if (held == ST_WRITE_CHUNK) { /* as for events: a chunk per hold of the lock */
                lsn = log_append_framed(srv->log, enc.data + flushed, start - flushed);
                flushed = start;
                held = 0;
                let_others_in(srv);
            }
            held++;
            st_apply(srv->st, type, enc.data + start + LOG_FRAME_HEADER, ends[i] - start - LOG_FRAME_HEADER);
            start = ends[i];
        }
        lsn = log_append_framed(srv->log, enc.data + flushed, enc.len - flushed);
        pthread_rwlock_unlock(&srv->st->lock);
    }
    free(ends);
    buf_free(&enc);
    buf_free(&payload);
    bat_free(&bat);
    batch_reply(req, nvalid, 0, &rej, nrej, &first, lsn, 0);
}

static void get_entity(h2o_req_t *req, const char *id, int is_item)
{
    srv_t *srv = srv_thread_of(req)->srv;
    buf_t b;
    buf_init(&b);
    pthread_rwlock_rdlock(&srv->st->lock);
    int rc = is_item ? st_item_json(srv->st, id, strlen(id), &b) : st_user_json(srv->st, id, strlen(id), &b);
    pthread_rwlock_unlock(&srv->st->lock);
    if (rc != 0) {
        buf_free(&b);
        srv_error(req, 404, "not_found", is_item ? "item_id" : "user_id", "no %s with id %s",
                  is_item ? "item" : "customer", id);
        return;
    }
    srv_respond(req, 200, &b, 0);
}

static void delete_item(h2o_req_t *req, const char *id)
{
    srv_t *srv = srv_thread_of(req)->srv;
    size_t idn = strlen(id);
    buf_t payload;
    buf_init(&payload);
    st_encode_id(&payload, id, idn);
    pthread_rwlock_wrlock(&srv->st->lock);
    uint32_t x = intern_get(srv->st->items, id, idn);
    if (x == INTERN_NONE || !srv->st->item[x].doc) {
        pthread_rwlock_unlock(&srv->st->lock);
        buf_free(&payload);
        srv_error(req, 404, "not_found", "item_id", "no item with id %s", id);
        return;
    }
    uint64_t lsn = log_append(srv->log, REC_ITEM_DEL, payload.data, payload.len);
    st_apply(srv->st, REC_ITEM_DEL, payload.data, payload.len);
    pthread_rwlock_unlock(&srv->st->lock);
    buf_free(&payload);
    buf_t b;
    buf_init(&b);
    buf_puts(&b, "{\"item_id\":");
    buf_put_json_str(&b, id, idn);
    buf_puts(&b, ",\"deleted\":true}");
    srv_respond(req, 200, &b, lsn);
}

static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * sysconf(_SC_PAGESIZE);
}

/* "http":{ROUTE:{"requests","errors","p50_ms","p90_ms","p99_ms","p999_ms"},...}, for
 * each route that answered since the start (the server's own time, metrics.h). */
static void put_http_stats(buf_t *b, srv_t *srv)
{
    met_loop_t *m = malloc(sizeof *m);
    if (!m)
        abort();
    met_sum(srv->met, (size_t)srv->cfg.threads, m);
    buf_puts(b, "\"http\":{");
    int first = 1;
    for (int r = 0; r < MET_NROUTES; r++) {
        uint64_t ok = m->count[r][0] + m->count[r][1], bad = m->count[r][2] + m->count[r][3];
        if (!ok && !bad)
            continue;
        buf_printf(b, "%s\"%s\":{\"requests\":%llu,\"errors\":%llu", first ? "" : ",", met_route_name(r),
                   (unsigned long long)(ok + bad), (unsigned long long)bad);
        static const double qs[] = {0.5, 0.9, 0.99, 0.999};
        static const char *const qn[] = {"p50_ms", "p90_ms", "p99_ms", "p999_ms"};
        for (int i = 0; i < 4; i++)
            buf_printf(b, ",\"%s\":%.4f", qn[i], met_quantile(m, r, qs[i]) / 1e6);
        buf_puts(b, "}");
        first = 0;
    }
    buf_puts(b, "},");
    free(m);
}

/* GET /metrics: the Prometheus text format, requests and their durations per route
 * (metrics.h), then what the store holds. */
static void get_metrics(h2o_req_t *req)
{
    srv_t *srv = srv_thread_of(req)->srv;
    buf_t b;
    buf_init(&b);
    met_loop_t *m = malloc(sizeof *m);
    if (!m)
        abort();
    met_sum(srv->met, (size_t)srv->cfg.threads, m);
    met_render(&b, m);
    free(m);
    int conns = 0;
    for (int i = 0; i < srv->cfg.threads; i++)
        conns += atomic_load(&srv->threads[i].nconn);
    buf_printf(&b,
               "# HELP aisle_ready Whether the log is replayed and requests are served.\n# TYPE aisle_ready gauge\n"
               "aisle_ready %d\n"
               "# HELP aisle_connections Open HTTP connections.\n# TYPE aisle_connections gauge\naisle_connections %d\n"
               "# HELP aisle_resident_memory_bytes Resident set size.\n# TYPE aisle_resident_memory_bytes gauge\n"
               "aisle_resident_memory_bytes %ld\n",
               atomic_load_explicit(&srv->ready, memory_order_acquire), conns, rss_bytes());
    if (atomic_load_explicit(&srv->ready, memory_order_acquire)) {
        state_t *st = srv->st;
        uint64_t log_bytes;
        uint32_t segs;
        log_size(srv->log, &log_bytes, &segs);
        buf_printf(&b,
                   "# HELP aisle_log_bytes Bytes in the event log.\n# TYPE aisle_log_bytes gauge\n"
                   "aisle_log_bytes %llu\n",
                   (unsigned long long)log_bytes);
        pthread_rwlock_rdlock(&st->lock);
        buf_puts(&b, "# HELP aisle_events_total Events applied, by type.\n# TYPE aisle_events_total counter\n");
        for (int t = 0; t < EVT__COUNT; t++)
            buf_printf(&b, "aisle_events_total{type=\"%s\"} %llu\n", evt_type_name(t),
                       (unsigned long long)st->by_type[t]);
        buf_printf(&b,
                   "# HELP aisle_items Live catalog items.\n# TYPE aisle_items gauge\naisle_items %u\n"
                   "# HELP aisle_users Customers known.\n# TYPE aisle_users gauge\naisle_users %u\n"
                   "# HELP aisle_profiles Live profiles (customers with events, anonymous sessions).\n"
                   "# TYPE aisle_profiles gauge\naisle_profiles %u\n"
                   "# HELP aisle_rules Business rules.\n# TYPE aisle_rules gauge\naisle_rules %u\n",
                   st->live_items, intern_count(st->users), st->nprof, st->nrules);
        pthread_rwlock_unlock(&st->lock);
    }
    srv_respond_text(req, 200, &b, "text/plain; version=0.0.4; charset=utf-8");
}

static void get_stats(h2o_req_t *req)
{
    srv_t *srv = srv_thread_of(req)->srv;
    buf_t b;
    buf_init(&b);
    double uptime = (double)(time_now_ms() - srv->started_ms) / 1000.0;
    if (!atomic_load_explicit(&srv->ready, memory_order_acquire)) {
        buf_printf(&b, "{\"status\":\"replaying\",\"replayed_records\":%llu,\"uptime_s\":%.3f}",
                   (unsigned long long)atomic_load(&srv->replayed), uptime);
        srv_respond(req, 200, &b, 0);
        return;
    }
    state_t *st = srv->st;
    uint64_t log_bytes;
    uint32_t segs;
    log_size(srv->log, &log_bytes, &segs);
    pthread_rwlock_rdlock(&st->lock);
    buf_printf(&b, "{\"status\":\"ready\",\"uptime_s\":%.3f,\"events\":{\"total\":%llu,\"by_type\":{", uptime,
               (unsigned long long)st->events);
    for (int t = 0; t < EVT__COUNT; t++)
        buf_printf(&b, "%s\"%s\":%llu", t ? "," : "", evt_type_name(t), (unsigned long long)st->by_type[t]);
    buf_printf(&b, "}},\"items\":%u,\"fresh_items\":%u,\"item_ids\":%u,\"users\":%u,\"sessions\":%u,\"categories\":%u,\"brands\":%u,",
               st->live_items, ct_fresh_count(st->content), intern_count(st->items), intern_count(st->users), intern_count(st->sessions),
               intern_count(st->categories), intern_count(st->brands));
    /* A million profiles take milliseconds: add them up a block at a time, letting
     * writers (preferred, so answers would queue behind them) in between. */
    size_t pbytes = 0;
    for (uint32_t i = 0; i < st->nprof;) {
        for (uint32_t end = i + 65536; i < st->nprof && i < end; i++)
            pbytes += prof_bytes(&st->prof[i]);
        pthread_rwlock_unlock(&st->lock);
        pthread_rwlock_rdlock(&st->lock);
    }
    buf_printf(&b,
               "\"profiles\":%u,\"rules\":%u,\"memory\":{\"store_bytes\":%zu,\"profile_bytes\":%zu,"
               "\"bytes_per_profile\":%.0f,\"cooccurrence_bytes\":%zu,\"event_id_bytes\":%zu,\"rss_bytes\":%ld},"
               "\"event_ids\":%llu,",
               st->nprof, st->nrules, st_memory(st), pbytes, st->nprof ? (double)pbytes / st->nprof : 0.0,
               cooc_bytes(st->coview) + cooc_bytes(st->cobuy), st_event_id_bytes(st), rss_bytes(),
               (unsigned long long)st_event_ids(st));
    pthread_rwlock_unlock(&st->lock);
    buf_puts(&b, "\"connections\":[");
    for (int i = 0; i < srv->cfg.threads; i++)
        buf_printf(&b, "%s%d", i ? "," : "", atomic_load(&srv->threads[i].nconn));
    buf_puts(&b, "],");
    put_http_stats(&b, srv);
    buf_printf(&b,
               "\"log\":{\"bytes\":%llu,\"segments\":%u,\"durable_lsn\":%llu,\"end_lsn\":%llu},"
               "\"replay\":{\"records\":%llu,\"seconds\":%.3f,\"records_per_s\":%.0f,\"truncated_bytes\":%llu,"
               "\"corrupt_segments\":%u,\"skipped_records\":%llu}}",
               (unsigned long long)log_bytes, segs, (unsigned long long)log_durable(srv->log),
               (unsigned long long)log_end(srv->log), (unsigned long long)srv->replay.records,
               srv->replay.seconds, srv->replay.seconds > 0 ? (double)srv->replay.records / srv->replay.seconds : 0,
               (unsigned long long)srv->replay.truncated_bytes, srv->replay.corrupt_segments,
               (unsigned long long)srv->replay_skipped);
    srv_respond(req, 200, &b, 0);
}

static void reply_static(h2o_req_t *req, int status, const char *json)
{
    buf_t b;
    buf_init(&b);
    buf_puts(&b, json);
    srv_respond(req, status, &b, 0);
}

/* Routes /v1/{items,users}/{id}[/sub-resource]. */
static void entity_route(h2o_req_t *req, const char *rest, size_t restn, int is_item)
{
    char id[VAL_MAX_ID * 3 + 1];
    const char *slash = memchr(rest, '/', restn);
    size_t idn = slash ? (size_t)(slash - rest) : restn;
    const char *sub = slash ? slash + 1 : NULL;
    size_t subn = slash ? restn - idn - 1 : 0;
#define SUB_IS(s) (sub && subn == sizeof(s) - 1 && memcmp(sub, s, subn) == 0)
    int sub_kind = !sub ? 0 : is_item && SUB_IS("similar") ? 1 : is_item && SUB_IS("bought-together") ? 2
                          : !is_item && SUB_IS("recommendations") ? 3 : -1;
#undef SUB_IS
    if (sub_kind < 0) {
        srv_error(req, 404, "not_found", NULL, "no such endpoint");
        return;
    }
    if (decode_segment(rest, idn, id, sizeof id) < 0) {
        srv_error(req, 400, "invalid_id", is_item ? "item_id" : "user_id",
                  "the id in the path must be 1 to %d bytes of percent-encoded UTF-8", VAL_MAX_ID);
        return;
    }
    if (!check_ready(req))
        return;
    if (sub_kind) {
        if (!method_is(req, "GET"))
            method_not_allowed(req, "GET");
        else if (sub_kind == 3)
            api_recommend(req, id);
        else
            api_item_recs(req, id, sub_kind == 2);
        return;
    }
    if (method_is(req, "GET"))
        get_entity(req, id, is_item);
    else if (method_is(req, "PUT"))
        put_entity(req, id, is_item);
    else if (is_item && method_is(req, "DELETE"))
        delete_item(req, id);
    else
        method_not_allowed(req, is_item ? "GET, PUT, DELETE" : "GET, PUT");
}

/* Routes /v1/rules/{id}. */
static void rule_route(h2o_req_t *req, const char *rest, size_t restn)
{
    char id[VAL_MAX_ID * 3 + 1];
    body_kind_t kind;
    if (memchr(rest, '/', restn)) {
        srv_error(req, 404, "not_found", NULL, "no such endpoint");
        return;
    }
    if (decode_segment(rest, restn, id, sizeof id) < 0) {
        srv_error(req, 400, "invalid_id", "rule_id", "the id in the path must be 1 to %d bytes of percent-encoded UTF-8",
                  VAL_MAX_ID);
        return;
    }
    if (!check_ready(req))
        return;
    if (method_is(req, "GET"))
        api_rule_get(req, id);
    else if (method_is(req, "PUT")) {
        if (check_body(req, 0, &kind) == 0)
            api_rule_put(req, id);
    } else if (method_is(req, "DELETE"))
        api_rule_delete(req, id);
    else
        method_not_allowed(req, "GET, PUT, DELETE");
}

/* A GET-only endpoint that needs the replayed state. */
static int get_ready(h2o_req_t *req)
{
    if (!method_is(req, "GET")) {
        method_not_allowed(req, "GET");
        return 0;
    }
    return check_ready(req);
}

/* A POST endpoint without a body that needs the replayed state. */
static int post_ready(h2o_req_t *req)
{
    if (!method_is(req, "POST")) {
        method_not_allowed(req, "POST");
        return 0;
    }
    return check_ready(req);
}

#define PATH_IS(s) (n == sizeof(s) - 1 && memcmp(path, s, n) == 0)
#define PATH_STARTS(s) (n > sizeof(s) - 1 && memcmp(path, s, sizeof(s) - 1) == 0)
#define PATH_ENDS(s) (n > sizeof(s) - 1 && memcmp(path + n - (sizeof(s) - 1), s, sizeof(s) - 1) == 0)

/* Which route the metrics count a path under (srv_route decides what it does). */
static met_route_t route_of(const char *path, size_t n)
{
    if (PATH_STARTS("/v1/items/"))
        return PATH_ENDS("/similar") ? MET_SIMILAR : PATH_ENDS("/bought-together") ? MET_BOUGHT_TOGETHER : MET_ITEMS;
    if (PATH_STARTS("/v1/users/"))
        return PATH_ENDS("/recommendations") ? MET_RECOMMENDATIONS : MET_USERS;
    if (PATH_IS("/v1/recommendations"))
        return MET_RECOMMENDATIONS;
    if (PATH_IS("/v1/events"))
        return MET_EVENTS;
    if (PATH_IS("/v1/items"))
        return MET_ITEMS;
    if (PATH_IS("/v1/users"))
        return MET_USERS;
    if (PATH_IS("/v1/recommendations/cart"))
        return MET_CART;
    if (PATH_IS("/v1/trending"))
        return MET_TRENDING;
    if (PATH_IS("/v1/popular"))
        return MET_POPULAR;
    if (PATH_IS("/v1/rules") || PATH_STARTS("/v1/rules/"))
        return MET_RULES;
    if (PATH_IS("/v1/stats") || PATH_IS("/metrics") || PATH_STARTS("/v1/admin/"))
        return MET_ADMIN;
    if (PATH_IS("/healthz") || PATH_IS("/readyz"))
        return MET_HEALTH;
    return MET_NOT_FOUND;
}

int srv_route(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    const char *path = req->path.base;
    size_t n = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    srv_thread_t *t = srv_thread_of(req);
    t->route = route_of(path, n);
    t->route_t0 = time_mono_ns();
    if (PATH_IS("/healthz")) {
        if (method_is(req, "GET"))
            reply_static(req, 200, "{\"status\":\"ok\"}");
        else
            method_not_allowed(req, "GET");
    } else if (PATH_IS("/readyz")) {
        if (!method_is(req, "GET"))
            method_not_allowed(req, "GET");
        else if (atomic_load_explicit(&srv_thread_of(req)->srv->ready, memory_order_acquire))
            reply_static(req, 200, "{\"status\":\"ready\"}");
        else
            srv_error(req, 503, "not_ready", NULL, "the server is replaying its log");
    } else if (PATH_IS("/v1/stats")) {
        if (method_is(req, "GET"))
            get_stats(req);
        else
            method_not_allowed(req, "GET");
    } else if (PATH_IS("/metrics")) {
        if (method_is(req, "GET"))
            get_metrics(req);
        else
            method_not_allowed(req, "GET");
    } else if (PATH_IS("/v1/events")) {
        if (method_is(req, "POST"))
            post_events(req);
        else
            method_not_allowed(req, "POST");
    } else if (PATH_IS("/v1/items") || PATH_IS("/v1/users")) {
        if (!method_is(req, "POST"))
            method_not_allowed(req, "POST");
        else if (check_ready(req))
            post_entities(req, path[4] == 'i');
    } else if (PATH_IS("/v1/recommendations")) {
        if (get_ready(req))
            api_recommend(req, NULL);
    } else if (PATH_IS("/v1/recommendations/cart")) {
        body_kind_t kind;
        if (!method_is(req, "POST"))
            method_not_allowed(req, "POST");
        else if (check_ready(req) && check_body(req, 0, &kind) == 0)
            api_cart(req);
    } else if (PATH_IS("/v1/rules")) {
        body_kind_t kind;
        if (method_is(req, "GET")) {
            if (check_ready(req))
                api_rule_get(req, NULL);
        } else if (!method_is(req, "POST")) {
            method_not_allowed(req, "GET, POST");
        } else if (check_ready(req) && check_body(req, 0, &kind) == 0) {
            api_rule_put(req, NULL);
        }
    } else if (PATH_STARTS("/v1/rules/")) {
        rule_route(req, path + 10, n - 10);
    } else if (PATH_IS("/v1/trending")) {
        if (get_ready(req))
            api_top(req, 0);
    } else if (PATH_IS("/v1/popular")) {
        if (get_ready(req))
            api_top(req, 1);
    } else if (PATH_IS("/v1/admin/models")) {
        if (get_ready(req))
            api_models_get(req);
    } else if (PATH_IS("/v1/admin/models/reload")) {
        if (post_ready(req))
            api_models_reload(req);
    } else if (PATH_IS("/v1/admin/models/retrain")) {
        if (post_ready(req))
            api_models_retrain(req);
    } else if (PATH_STARTS("/v1/items/")) {
        entity_route(req, path + 10, n - 10, 1);
    } else if (PATH_STARTS("/v1/users/")) {
        entity_route(req, path + 10, n - 10, 0);
    } else {
        srv_error(req, 404, "not_found", NULL, "no endpoint at %.*s", (int)(n > 200 ? 200 : n), path);
    }
    t->route = MET_NONE; /* what is sent later carries its own route */
    return 0;
}
#undef PATH_IS
#undef PATH_STARTS
#undef PATH_ENDS
