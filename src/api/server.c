/* Server lifecycle and the machinery shared by all handlers: listeners, event loops,
 * deferred responses (group commit) and shutdown. Endpoints live in handlers.c. */
#include "server.h"

#include "../util/slog.h"
#include "../util/timeutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

struct srv_later {
    srv_later_t *next;
    srv_thread_t *t;
    h2o_req_t *req; /* NULL once the client went away */
    srv_later_t **guard;
    int status;
    buf_t body;
    met_route_t route; /* and when its handler started, for the metrics */
    uint64_t t0;
};

struct pending {
    pending_t *next;
    h2o_req_t *req; /* NULL once the client went away */
    pending_t **guard;
    uint64_t lsn;
    int status;
    buf_t body;
    met_route_t route;
    uint64_t t0;
};

void srv_config_default(srv_config_t *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->host, sizeof c->host, "127.0.0.1");
    c->port = 8080;
    snprintf(c->data_dir, sizeof c->data_dir, "./data");
    /* Two event loops per core: an answer is computed on its loop, so while one loop works
     * through a heavy answer the other can serve its connections (BENCHMARKS.md: p99 at
     * half load 2.5-3.0 ms with one loop per core, 1.0-1.3 ms with two). */
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    c->threads = n > 0 ? 2 * (int)n : 2;
    c->loop_slice_us = 0;
    c->max_body = 32u << 20;
    c->max_batch = 10000;
    log_opts_default(&c->log);
    st_config_default(&c->store);
    c->diversity = 3;
    c->rank_cache_ms = 1000;
    c->shown_cap = 1u << 16;
    rec_blend_default(&c->blend);
}

srv_thread_t *srv_thread_of(h2o_req_t *req)
{
    return (srv_thread_t *)req->conn->ctx;
}

static const char *reason_of(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 409: return "Conflict";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "OK";
    }
}

static void send_as(h2o_req_t *req, int status, buf_t *body, met_route_t route, uint64_t t0, const char *type,
                    size_t typen)
{
    if (route != MET_NONE)
        met_record(srv_thread_of(req)->met, route, status, time_mono_ns() - t0);
    req->res.status = status;
    req->res.reason = reason_of(status);
    req->res.content_length = body->len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, type, typen);
    /* h2o_send_inline copies the body into the request's pool. */
    h2o_send_inline(req, body->data ? body->data : "", body->len);
}

static void send_now(h2o_req_t *req, int status, buf_t *body, met_route_t route, uint64_t t0)
{
    send_as(req, status, body, route, t0, H2O_STRLIT("application/json"));
}

void srv_respond_text(h2o_req_t *req, int status, buf_t *body, const char *type)
{
    srv_thread_t *t = srv_thread_of(req);
    send_as(req, status, body, t->route, t->route_t0, type, strlen(type));
    buf_free(body);
}

static void flush_pending(srv_thread_t *t);

static void on_guard_dispose(void *p)
{
    pending_t **guard = p;
    if (*guard)
        (*guard)->req = NULL;
}

void srv_respond(h2o_req_t *req, int status, buf_t *body, uint64_t lsn)
{
    srv_thread_t *t = srv_thread_of(req);
    srv_t *srv = t->srv;
    if (lsn == 0 || !srv->log || log_durable(srv->log) >= lsn) {
        send_now(req, status, body, t->route, t->route_t0);
        buf_free(body);
        return;
    }
    pending_t *p = calloc(1, sizeof *p);
    if (!p)
        abort();
    p->req = req;
    p->lsn = lsn;
    p->status = status;
    p->route = t->route;
    p->t0 = t->route_t0;
    p->body = *body;
    buf_init(body);
    /* If the client disconnects before the log catches up, h2o frees the request's
     * pool; the guard's destructor then tells us not to touch the request. */
    p->guard = h2o_mem_alloc_shared(&req->pool, sizeof(pending_t *), on_guard_dispose);
    *p->guard = p;
    if (t->tail)
        t->tail->next = p;
    else
        t->head = p;
    t->tail = p;
    /* Count first, then look at the log again: either this thread sees the new durable
     * LSN, or the writer (which updates the LSN before reading npending) sees the count
     * and wakes us. Checking in the other order could miss both. */
    atomic_fetch_add(&t->npending, 1);
    if (log_durable(srv->log) >= lsn)
        flush_pending(t);
}

static void on_later_dispose(void *p)
{
    srv_later_t **guard = p;
    if (*guard)
        (*guard)->req = NULL;
}

srv_later_t *srv_later(h2o_req_t *req)
{
    srv_later_t *l = calloc(1, sizeof *l);
    if (!l)
        abort();
    l->t = srv_thread_of(req);
    l->req = req;
    l->route = l->t->route;
    l->t0 = l->t->route_t0;
    l->guard = h2o_mem_alloc_shared(&req->pool, sizeof(srv_later_t *), on_later_dispose);
    *l->guard = l;
    return l;
}

static void wake(srv_thread_t *t);

void srv_later_done(srv_later_t *l, int status, buf_t *body)
{
    l->status = status;
    l->body = *body;
    buf_init(body);
    srv_thread_t *t = l->t;
    pthread_mutex_lock(&t->mail_mu);
    l->next = t->mail;
    t->mail = l;
    pthread_mutex_unlock(&t->mail_mu);
    wake(t);
}

/* Sends what other threads finished (loop thread). */
static void flush_mail(srv_thread_t *t)
{
    pthread_mutex_lock(&t->mail_mu);
    srv_later_t *l = t->mail;
    t->mail = NULL;
    pthread_mutex_unlock(&t->mail_mu);
    while (l) {
        srv_later_t *next = l->next;
        if (l->req) {
            *l->guard = NULL;
            send_now(l->req, l->status, &l->body, l->route, l->t0);
        }
        buf_free(&l->body);
        free(l);
        l = next;
    }
}

ms_set_t *srv_models(srv_t *srv)
{
    pthread_mutex_lock(&srv->models_mu);
    ms_set_t *m = srv->models;
    if (m)
        ms_retain(m);
    pthread_mutex_unlock(&srv->models_mu);
    return m;
}

void srv_error(h2o_req_t *req, int status, const char *code, const char *field, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    buf_t b;
    buf_init(&b);
    buf_puts(&b, "{\"error\":{\"code\":");
    buf_put_json_str(&b, code, strlen(code));
    buf_puts(&b, ",\"message\":");
    buf_put_json_str(&b, msg, strlen(msg));
    if (field) {
        buf_puts(&b, ",\"field\":");
        buf_put_json_str(&b, field, strlen(field));
    }
    buf_puts(&b, "}}");
    srv_respond(req, status, &b, 0);
}

/* Answers every waiting request whose records are now durable. */
static void flush_pending(srv_thread_t *t)
{
    if (!t->head)
        return;
    uint64_t durable = log_durable(t->srv->log);
    while (t->head && t->head->lsn <= durable) {
        pending_t *p = t->head;
        t->head = p->next;
        if (!t->head)
            t->tail = NULL;
        atomic_fetch_sub(&t->npending, 1);
        if (p->req) {
            *p->guard = NULL;
            send_now(p->req, p->status, &p->body, p->route, p->t0);
        }
        buf_free(&p->body);
        free(p);
    }
}

static void wake(srv_thread_t *t)
{
    uint64_t one = 1;
    ssize_t w = write(t->wake_fd, &one, sizeof one);
    (void)w;
}

static void on_durable(void *ud, uint64_t lsn)
{
    (void)lsn;
    srv_t *srv = ud;
    for (int i = 0; i < srv->cfg.threads; i++)
        if (atomic_load(&srv->threads[i].npending))
            wake(&srv->threads[i]);
}

/* A connection one loop accepted for another. */
struct srv_handoff {
    h2o_socket_export_t sock;
    struct srv_handoff *next;
};

static void on_conn_close(void *data)
{
    srv_thread_t *t = data;
    atomic_fetch_sub(&t->nconn, 1);
}

/* Serves sock on t's loop from now on (t's thread). */
static void serve_conn(srv_thread_t *t, h2o_socket_t *sock)
{
    sock->on_close.cb = on_conn_close;
    sock->on_close.data = t;
    h2o_accept(&t->accept_ctx, sock);
}

/* Starts serving the connections other loops handed to t (t's thread). */
static void take_handoffs(srv_thread_t *t)
{
    pthread_mutex_lock(&t->mail_mu);
    struct srv_handoff *h = t->handoff;
    t->handoff = NULL;
    pthread_mutex_unlock(&t->mail_mu);
    while (h) {
        struct srv_handoff *next = h->next;
        h2o_socket_t *sock = t->closing ? NULL : h2o_socket_import(t->ctx.loop, &h->sock);
        if (sock) {
            serve_conn(t, sock);
        } else {
            if (!t->closing)
                slog_warn("cannot take over a connection", "%s", "");
            h2o_socket_dispose_export(&h->sock);
            atomic_fetch_sub(&t->nconn, 1);
        }
        free(h);
        h = next;
    }
}

/* The loop that serves fewest connections, t itself among equals. */
static srv_thread_t *least_busy(srv_thread_t *t)
{
    srv_t *srv = t->srv;
    srv_thread_t *best = t;
    int least = atomic_load(&t->nconn);
    for (int i = 0; i < srv->cfg.threads; i++) {
        int n = atomic_load(&srv->threads[i].nconn);
        if (n < least) {
            least = n;
            best = &srv->threads[i];
        }
    }
    return best;
}

static void on_wake(h2o_socket_t *sock, const char *err)
{
    srv_thread_t *t = sock->data;
    (void)err;
    uint64_t v;
    ssize_t r = read(t->wake_fd, &v, sizeof v);
    (void)r;
    take_handoffs(t);
    flush_mail(t);
    if (t->srv->log)
        flush_pending(t);
}

/* Each loop listens on its own SO_REUSEPORT socket, and the kernel spreads connections
 * over them by a hash of their addresses: 32 connections came out as 11, 8, 6 and 7.
 * The loop with 11 then ran a third of the answers and queued them (a loop answers one
 * at a time). So a loop serves what it accepts only while no other loop serves fewer;
 * else it hands the connection over (once per connection, not per request). */
static void on_accept(h2o_socket_t *listener, const char *err)
{
    srv_thread_t *t = listener->data;
    if (err)
        return;
    h2o_socket_t *sock;
    /* Accept a few per wake-up so one busy thread does not starve the loop. */
    for (int i = 0; i < 16 && (sock = h2o_evloop_socket_accept(listener)) != NULL; i++) {
        int one = 1;
        setsockopt(h2o_socket_get_fd(sock), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        srv_thread_t *to = least_busy(t);
        atomic_fetch_add(&to->nconn, 1);
        if (to == t) {
            serve_conn(t, sock);
            continue;
        }
        struct srv_handoff *h = calloc(1, sizeof *h);
        if (!h || h2o_socket_export(sock, &h->sock) != 0) { /* serve it here after all */
            free(h);
            atomic_fetch_sub(&to->nconn, 1);
            atomic_fetch_add(&t->nconn, 1);
            serve_conn(t, sock);
            continue;
        }
        pthread_mutex_lock(&to->mail_mu);
        h->next = to->handoff;
        to->handoff = h;
        pthread_mutex_unlock(&to->mail_mu);
        wake(to);
    }
}

static int bind_listener(const srv_config_t *cfg, int port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    int rc = getaddrinfo(cfg->host, portstr, &hints, &res);
    if (rc != 0) {
        slog_error("cannot resolve listen address", "host=\"%s\" err=\"%s\"", cfg->host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
        slog_error("cannot listen", "host=\"%s\" port=%d err=\"%s\"", cfg->host, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    return fd;
}

static void begin_close(srv_thread_t *t)
{
    if (t->closing)
        return;
    t->closing = 1;
    t->closing_since_ns = time_mono_ns();
    if (t->listener) {
        h2o_socket_read_stop(t->listener);
        h2o_socket_close(t->listener);
        t->listener = NULL;
    }
    h2o_context_request_shutdown(&t->ctx);
}

/* Asks for a short CPU slice for the calling thread (Linux 6.12+ EEVDF; older kernels
 * take the call and ignore it). A loop runs in bursts of tens of microseconds; with the
 * default slice (1.4 ms on 2 cores) a loop woken by a request while every core runs
 * something else waits out that slice, which is the p99 of an answer under load. A
 * shorter slice gives a woken loop an earlier deadline, so it runs first. */
static void ask_slice(int us)
{
    struct { /* struct sched_attr of sched_setattr(2); glibc 2.36 has no wrapper */
        uint32_t size, policy;
        uint64_t flags;
        int32_t nice;
        uint32_t priority;
        uint64_t runtime, deadline, period;
    } a = {.size = sizeof a, .policy = 0 /* SCHED_OTHER */, .nice = getpriority(PRIO_PROCESS, 0),
           .runtime = (uint64_t)us * 1000};
    if (us > 0 && syscall(SYS_sched_setattr, 0, &a, 0) != 0)
        slog_info("cannot ask for a short CPU slice", "slice_us=%d err=\"%s\"", us, strerror(errno));
}

static void *thread_main(void *arg)
{
    srv_thread_t *t = arg;
    ask_slice(t->srv->cfg.loop_slice_us);
    while (!t->done) {
        h2o_evloop_run(t->ctx.loop, 50);
        if (atomic_load(&t->srv->stopping)) {
            begin_close(t);
            flush_mail(t);
            if (t->srv->log)
                flush_pending(t);
            /* Finish in-flight work: answer everything waiting on the log, and give
             * responses already queued a moment to reach their sockets. */
            uint64_t waited = time_mono_ns() - t->closing_since_ns;
            if ((atomic_load(&t->npending) == 0 && waited > 100000000ull) || waited > 10000000000ull)
                t->done = 1;
        }
    }
    return NULL;
}

static int replay_record(void *ud, uint8_t type, const void *payload, size_t len, uint64_t lsn)
{
    srv_t *srv = ud;
    (void)lsn;
    if (st_replay_add(srv->replayer, type, payload, len) != 0) {
        /* CRC-valid but not understood: a bug or a foreign record. Keep going; say so. */
        if (srv->replay_skipped++ < 10)
            slog_warn("replay skipped a record it could not apply", "type=%u len=%zu lsn=%llu", type, len,
                      (unsigned long long)lsn);
    }
    atomic_fetch_add_explicit(&srv->replayed, 1, memory_order_relaxed);
    return 0;
}

static int setup_threads(srv_t *srv)
{
    srv_config_t *cfg = &srv->cfg;
    h2o_config_init(&srv->h2o);
    /* The body limit is enforced by the handler (JSON 413); h2o's own cap, which
     * answers in plain text, sits above it so that only absurd bodies meet it. */
    srv->h2o.max_request_entity_size = cfg->max_body * 2 + (1u << 20);
    /* No Server header: it names the software to anyone probing, and h2o formats it
     * with sprintf on every response. */
    srv->h2o.server_name = h2o_iovec_init(H2O_STRLIT(""));
    h2o_hostconf_t *host = h2o_config_register_host(&srv->h2o, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(path, sizeof(*handler));
    handler->on_req = srv_route;

    srv->threads = calloc((size_t)cfg->threads, sizeof *srv->threads);
    srv->met = calloc((size_t)cfg->threads, sizeof *srv->met);
    if (!srv->threads || !srv->met)
        abort();
    int port = cfg->port;
    for (int i = 0; i < cfg->threads; i++) {
        srv_thread_t *t = &srv->threads[i];
        t->srv = srv;
        t->met = &srv->met[i];
        t->route = MET_NONE;
        pthread_mutex_init(&t->mail_mu, NULL);
        t->listen_fd = bind_listener(cfg, port);
        if (t->listen_fd < 0)
            return -1;
        if (port == 0) {
            struct sockaddr_storage ss;
            socklen_t sl = sizeof ss;
            getsockname(t->listen_fd, (struct sockaddr *)&ss, &sl);
            port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                  : ((struct sockaddr_in *)&ss)->sin_port);
            cfg->port = port;
        }
        h2o_context_init(&t->ctx, h2o_evloop_create(), &srv->h2o);
        t->accept_ctx.ctx = &t->ctx;
        t->accept_ctx.hosts = srv->h2o.hosts;
        t->listener = h2o_evloop_socket_create(t->ctx.loop, t->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
        t->listener->data = t;
        h2o_socket_read_start(t->listener, on_accept);
        t->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        t->wake_sock = h2o_evloop_socket_create(t->ctx.loop, t->wake_fd, H2O_SOCKET_FLAG_DONT_READ);
        t->wake_sock->data = t;
        h2o_socket_read_start(t->wake_sock, on_wake);
    }
    return 0;
}

int srv_run(const srv_config_t *cfg_in)
{
    srv_t *srv = calloc(1, sizeof *srv);
    int rc = 1, nstarted = 0;
    log_t *log = NULL; /* opened, not yet started (srv->log once started) */
    srv->cfg = *cfg_in;
    if (srv->cfg.threads < 1)
        srv->cfg.threads = 1;
    srv->started_ms = time_now_ms();
    srv->st = st_new_with(&srv->cfg.store);
    srv->cache = rec_cache_new(srv->cfg.rank_cache_ms);
    srv->shown = shown_new(srv->cfg.shown_cap, srv->started_ms);
    pthread_mutex_init(&srv->models_mu, NULL);

    /* Signals are taken synchronously by the main thread (sigwait); every other
     * thread inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    char logdir[1100];
    snprintf(logdir, sizeof logdir, "%s/log", srv->cfg.data_dir);
    if (mkdir(srv->cfg.data_dir, 0755) != 0 && errno != EEXIST) {
        slog_error("cannot create data directory", "dir=\"%s\" err=\"%s\"", srv->cfg.data_dir, strerror(errno));
        goto out;
    }
    /* The log's lock first: a second process on this directory (a server, an import)
     * is refused before it listens. */
    int lrc = log_open(logdir, &srv->cfg.log, &log);
    if (lrc != 0) {
        if (lrc == LOG_EBUSY)
            slog_error("data directory is in use by another aisle process", "dir=\"%s\"", srv->cfg.data_dir);
        goto out;
    }
    if (setup_threads(srv) != 0)
        goto out;
    for (; nstarted < srv->cfg.threads; nstarted++)
        if (pthread_create(&srv->threads[nstarted].tid, NULL, thread_main, &srv->threads[nstarted]) != 0)
            goto out;
    slog_info("listening", "addr=%s:%d threads=%d data=\"%s\"", srv->cfg.host, srv->cfg.port, srv->cfg.threads,
              srv->cfg.data_dir);

    st_reserve_for_log(srv->st, log_disk_bytes(logdir));
    /* Replay while the loops already answer /healthz and /readyz (not ready yet). */
    srv->replayer = st_replay_new(srv->st);
    int replayed = log_replay(log, replay_record, srv, &srv->replay);
    st_replay_finish(srv->replayer); /* the last events applied */
    srv->replayer = NULL;
    if (replayed != 0)
        goto out;
    double secs = srv->replay.seconds;
    slog_info("replay done", "records=%llu bytes=%llu segments=%u seconds=%.3f records_per_s=%.0f truncated_bytes=%llu",
              (unsigned long long)srv->replay.records, (unsigned long long)srv->replay.bytes, srv->replay.segments,
              secs, secs > 0 ? (double)srv->replay.records / secs : 0.0,
              (unsigned long long)srv->replay.truncated_bytes);
    if (log_start(log, on_durable, srv) != 0)
        goto out;
    srv->log = log;
    log = NULL;
    if (rec_cache_start(srv->cache, srv->st) != 0)
        goto out;
    if (modeler_start(srv) != 0)
        goto out;
    atomic_store(&srv->ready, 1);
    slog_info("ready", "items=%u users=%u events=%llu", srv->st->live_items, intern_count(srv->st->users),
              (unsigned long long)srv->st->events);

    int sig = 0;
    sigwait(&set, &sig);
    slog_info("shutting down", "signal=%d", sig);
    rc = 0;
out:
    atomic_store(&srv->stopping, 1);
    modeler_stop(srv); /* its answers go out before the loops close */
    for (int i = 0; i < nstarted; i++)
        wake(&srv->threads[i]);
    for (int i = 0; i < nstarted; i++)
        pthread_join(srv->threads[i].tid, NULL);
    for (int i = 0; i < nstarted; i++) { /* handed over as the loops closed: closed unread */
        srv->threads[i].closing = 1;
        take_handoffs(&srv->threads[i]);
    }
    if (srv->log) {
        log_close(srv->log); /* flushes and fsyncs */
        srv->log = NULL;
    }
    log_close(log); /* opened but never started: releases the lock */
    rec_cache_free(srv->cache); /* its refresher reads the store: stop it first */
    ms_release(srv->models);
    st_free(srv->st);
    shown_free(srv->shown);
    if (rc == 0)
        slog_info("stopped", "%s", "");
    /* h2o contexts and sockets are left to process exit: h2o 2.2 has no way to close
     * live connections from outside their callbacks. */
    free(srv->threads);
    free(srv->met);
    free(srv);
    return rc;
}
