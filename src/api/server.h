/* The HTTP server: h2o event loops (one per thread, each with its own listener on the
 * shared port via SO_REUSEPORT), the server context that owns the store and the log,
 * replay at start, responses held back until their log records are durable, and
 * graceful shutdown on SIGTERM/SIGINT. */
#ifndef AISLE_SERVER_H
#define AISLE_SERVER_H

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include "../models/modelset.h"
#include "../rank/recs.h"
#include "../rank/shown.h"
#include "../store/log.h"
#include "../store/state.h"
#include "../util/buf.h"
#include "metrics.h"

#include <stdatomic.h>

typedef struct {
    char host[256];
    int port;
    char data_dir[1024];
    int threads;
    int loop_slice_us; /* CPU slice each loop asks the scheduler for; 0: the kernel's default */
    size_t max_body;  /* bytes; larger bodies get 413 */
    size_t max_batch; /* records per request */
    log_opts_t log;
    st_config_t store;
    int diversity;        /* default most items per category in an answer; 0: no limit */
    int64_t rank_cache_ms; /* how long trending/popular top lists are reused */
    size_t shown_cap;     /* answers remembered under their rec_id */
    rec_blend_t blend;    /* for_you's source weights */
    int64_t retrain_every_ms; /* 0: never retrain in the background */
    char retrain_models[64];  /* kinds to retrain; "": those loaded, else knn,ials */
    char retrain_args[512];   /* extra `aisle train` flags, space-separated */
} srv_config_t;

typedef struct pending pending_t;
typedef struct srv_later srv_later_t;
typedef struct srv srv_t;
typedef struct modeler modeler_t;

/* One event loop and what waits on it. Its h2o context comes first so that a request's
 * conn->ctx leads back here. */
typedef struct {
    h2o_context_t ctx;
    srv_t *srv;
    h2o_accept_ctx_t accept_ctx;
    pthread_t tid;
    int listen_fd;
    h2o_socket_t *listener;
    int wake_fd; /* eventfd: durability advanced, or shutdown */
    h2o_socket_t *wake_sock;
    pending_t *head, *tail; /* responses waiting for the log, in LSN order */
    atomic_size_t npending; /* read by the log writer thread */
    pthread_mutex_t mail_mu;
    srv_later_t *mail; /* answers other threads finished, to send from this loop */
    struct srv_handoff *handoff; /* connections other loops accepted for this one (mail_mu) */
    atomic_int nconn; /* open connections this loop serves, or is handed */
    met_loop_t *met; /* this loop's request metrics (in srv->met) */
    met_route_t route; /* of the request whose handler runs now; MET_NONE outside one */
    uint64_t route_t0; /* when that handler started (time_mono_ns) */
    int closing;
    uint64_t closing_since_ns;
    int done;
} srv_thread_t;

struct srv {
    srv_config_t cfg;
    h2o_globalconf_t h2o;
    state_t *st;
    log_t *log;
    atomic_int ready;
    atomic_int stopping;
    atomic_ullong replayed; /* records replayed so far, for /v1/stats during replay */
    int64_t started_ms;
    log_replay_stats_t replay;
    uint64_t replay_skipped;
    st_replay_t *replayer; /* while replaying */
    srv_thread_t *threads;
    met_loop_t *met; /* one per loop */
    rec_cache_t *cache;
    shown_t *shown;
    atomic_uint rule_seq; /* for generated rule ids */
    pthread_mutex_t models_mu;
    ms_set_t *models; /* the trained models answering now (never NULL once ready) */
    modeler_t *modeler; /* loads and retrains models in the background */
};

void srv_config_default(srv_config_t *c);
/* Runs the server until SIGTERM/SIGINT; returns the process exit code. */
int srv_run(const srv_config_t *cfg);

/* Used by the handlers (src/api/handlers.c). */
srv_thread_t *srv_thread_of(h2o_req_t *req);
/* Sends body with status now, or once the log is durable up to lsn (0: now).
 * Takes ownership of body's memory. */
void srv_respond(h2o_req_t *req, int status, buf_t *body, uint64_t lsn);
/* Sends body (taken over) at once as Content-Type type (a static string): not JSON. */
void srv_respond_text(h2o_req_t *req, int status, buf_t *body, const char *type);
/* A request answered later by another thread: srv_later parks it (on its loop thread);
 * srv_later_done (any thread, once) hands back the answer, which the request's loop
 * sends. If the client went away meanwhile, the answer is dropped. Takes body. */
srv_later_t *srv_later(h2o_req_t *req);
void srv_later_done(srv_later_t *l, int status, buf_t *body);
/* The current model set, with a reference the caller releases with ms_release. */
ms_set_t *srv_models(srv_t *srv);
/* Sends {"error":{"code","message","field"}}. */
void srv_error(h2o_req_t *req, int status, const char *code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
int srv_route(h2o_handler_t *self, h2o_req_t *req);

/* Recommendation endpoints (recs_api.c). */
void api_recommend(h2o_req_t *req, const char *user_id);
void api_item_recs(h2o_req_t *req, const char *item_id, int bought_together);
void api_top(h2o_req_t *req, int popular);
void api_cart(h2o_req_t *req);
/* Trained models (models_api.c): GET /v1/admin/models, POST .../reload, POST .../retrain,
 * and the background thread that loads and retrains them. */
void api_models_get(h2o_req_t *req);
void api_models_reload(h2o_req_t *req);
void api_models_retrain(h2o_req_t *req);
/* Starts the modeler after replay: loads DIR/models (what fails to load is logged and
 * left out), then retrains every cfg.retrain_every_ms. Returns 0 or -1. */
int modeler_start(srv_t *srv);
void modeler_stop(srv_t *srv); /* stops a training run in progress, joins */
/* Business rules (rules_api.c); id NULL: from the body (put) or all rules (get). */
void api_rule_put(h2o_req_t *req, const char *path_id);
void api_rule_get(h2o_req_t *req, const char *id);
void api_rule_delete(h2o_req_t *req, const char *id);

#endif
