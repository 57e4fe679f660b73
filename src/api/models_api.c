/* Trained models in the server: the modeler thread loads DIR/models into a new model set
 * and swaps it in (requests keep the set they started with; no request waits for a load),
 * retrains in a child process (`aisle train` at nice 19, its output in DIR/models/train.log)
 * on a timer or on demand, and answers the admin endpoints. See docs/API.md, "Models". */
#include "server.h"

#include "../util/slog.h"
#include "../util/timeutil.h"

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_WAITING 64

struct modeler {
    srv_t *srv;
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop, reload_wanted, retrain_wanted;
    srv_later_t *waiting[MAX_WAITING]; /* reload requests to answer */
    int nwaiting;
    pid_t child; /* the training process, 0 when none */
    uint64_t generation;
    int training;
    uint32_t runs;
    int64_t train_started_ms, train_finished_ms, next_train_ms;
    int train_status; /* exit status of the last run; -1 when killed */
    char reload_error[1000];
};

/* ---- describing the models ---------------------------------------------------------- */

static void put_time(buf_t *b, int64_t ms)
{
    if (!ms) {
        buf_puts(b, "null");
        return;
    }
    char ts[32];
    time_format_rfc3339(ms, ts);
    buf_printf(b, "\"%s\"", ts);
}

/* The model set and the retraining state as JSON (lock: the modeler's). */
static void describe(modeler_t *md, const ms_set_t *set, buf_t *b)
{
    const srv_config_t *cfg = &md->srv->cfg;
    buf_printf(b, "{\"generation\":%llu,\"loaded_at\":", (unsigned long long)set->generation);
    put_time(b, set->loaded_ms);
    buf_puts(b, ",\"models\":[");
    int first = 1;
    for (int k = MODEL_KNN; k <= MODEL__MAX; k++) {
        const ms_model_t *mm = ms_get(set, (model_kind_t)k);
        if (!mm)
            continue;
        const model_t *m = mm->m;
        uint32_t mapped = 0;
        for (uint32_t i = 0; i < m->nitems; i++)
            mapped += mm->to_store[i] != INTERN_NONE;
        buf_printf(b, "%s{\"model\":\"%s\",\"file\":", first ? "" : ",", model_kind_name(m->kind));
        buf_put_json_str(b, mm->path, strlen(mm->path));
        buf_printf(b, ",\"bytes\":%zu,\"items\":%u,\"mapped_items\":%u,\"dim\":%u,\"trained_at\":", m->map_len,
                   m->nitems, mapped, m->dim);
        put_time(b, m->created_ms);
        buf_printf(b, ",\"train_seconds\":%.3f,\"events\":%llu,\"customers\":%llu,\"params\":", m->train_seconds,
                   (unsigned long long)m->events, (unsigned long long)m->users);
        json_t *pj = json_loads(m->params ? m->params : "", 0, NULL);
        if (json_is_object(pj))
            st_dump_doc(b, pj);
        else
            buf_puts(b, "{}");
        json_decref(pj);
        buf_puts(b, "}");
        first = 0;
    }
    buf_printf(b, "],\"retrain\":{\"every_s\":%.3f,\"models\":", (double)cfg->retrain_every_ms / 1000.0);
    buf_put_json_str(b, cfg->retrain_models, strlen(cfg->retrain_models));
    buf_printf(b, ",\"running\":%s,\"runs\":%u,\"last_started_at\":", md->training ? "true" : "false", md->runs);
    put_time(b, md->train_started_ms);
    buf_puts(b, ",\"last_finished_at\":");
    put_time(b, md->train_finished_ms);
    if (md->runs && !md->training)
        buf_printf(b, ",\"last_exit_status\":%d", md->train_status);
    else
        buf_puts(b, ",\"last_exit_status\":null");
    buf_puts(b, ",\"next_at\":");
    put_time(b, cfg->retrain_every_ms ? md->next_train_ms : 0);
    buf_puts(b, "},\"last_reload_error\":");
    if (md->reload_error[0])
        buf_put_json_str(b, md->reload_error, strlen(md->reload_error));
    else
        buf_puts(b, "null");
    buf_puts(b, "}");
}

/* ---- loading ------------------------------------------------------------------------- */

/* Loads DIR/models into a new set and swaps it in. With partial_ok (start-up), files that
 * fail are logged and left out; otherwise one failure keeps the current set whole. */
static int reload(modeler_t *md, int partial_ok, char *err, size_t errlen)
{
    srv_t *srv = md->srv;
    int failed, reused;
    uint64_t t0 = time_mono_ns();
    ms_set_t *cur = srv_models(srv);
    ms_set_t *set = ms_load_dir(srv->cfg.data_dir, srv->st, cur, md->generation + 1, &failed, &reused, err, errlen);
    ms_release(cur);
    if (failed && !partial_ok) {
        ms_release(set);
        slog_error("model reload refused; the models loaded before stay", "generation=%llu failed=%d err=\"%s\"",
                   (unsigned long long)md->generation, failed, err);
        return -1;
    }
    if (failed)
        slog_error("model file refused", "failed=%d err=\"%s\"", failed, err);
    md->generation++;
    pthread_mutex_lock(&srv->models_mu);
    ms_set_t *old = srv->models;
    srv->models = set;
    pthread_mutex_unlock(&srv->models_mu);
    /* Free the old set here, not in whichever request lets go of it last: giving back
     * hundreds of MiB (an EASE model) takes milliseconds that no request should wait.
     * Requests hold a set for the length of one answer. */
    while (old && atomic_load(&old->refs) > 1)
        usleep(1000);
    ms_release(old);
    char names[64] = "";
    for (int k = MODEL_KNN; k <= MODEL__MAX; k++)
        if (ms_get(set, (model_kind_t)k))
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", names[0] ? "," : "",
                     model_kind_name((model_kind_t)k));
    slog_info("models loaded", "generation=%llu models=\"%s\" unchanged=%d seconds=%.3f",
              (unsigned long long)md->generation, names, reused, (double)(time_mono_ns() - t0) / 1e9);
    return failed ? -1 : 0;
}

/* ---- retraining ---------------------------------------------------------------------- */

/* The kinds to retrain: the configured ones, else those loaded, else knn and ials. */
static void retrain_kinds(srv_t *srv, char *out, size_t cap)
{
    if (srv->cfg.retrain_models[0]) {
        snprintf(out, cap, "%s", srv->cfg.retrain_models);
        return;
    }
    out[0] = '\0';
    ms_set_t *set = srv_models(srv);
    for (int k = MODEL_KNN; k <= MODEL__MAX; k++)
        if (ms_get(set, (model_kind_t)k))
            snprintf(out + strlen(out), cap - strlen(out), "%s%s", out[0] ? "," : "", model_kind_name((model_kind_t)k));
    ms_release(set);
    if (!out[0])
        snprintf(out, cap, "knn,ials");
}

/* Runs `aisle train` on the data directory in a child process at low priority and waits
 * for it. Returns its exit status, -1 when it was killed or could not start. */
static int run_training(modeler_t *md)
{
    srv_t *srv = md->srv;
    char kinds[64], weights[256] = "", logpath[1200], models_dir[1100], args[512];
    retrain_kinds(srv, kinds, sizeof kinds);
    for (int t = 0; t < EVT__COUNT; t++)
        snprintf(weights + strlen(weights), sizeof weights - strlen(weights), "%s%s=%g", t ? "," : "",
                 evt_type_name(t), (double)srv->cfg.store.prof.weight[t]);
    snprintf(models_dir, sizeof models_dir, "%s/models", srv->cfg.data_dir);
    mkdir(models_dir, 0755);
    snprintf(logpath, sizeof logpath, "%s/train.log", models_dir);
    char *argv[64];
    int argc = 0;
    argv[argc++] = "aisle";
    argv[argc++] = "train";
    argv[argc++] = "--data";
    argv[argc++] = srv->cfg.data_dir;
    argv[argc++] = "--model";
    argv[argc++] = kinds;
    argv[argc++] = "--event-weights";
    argv[argc++] = weights;
    snprintf(args, sizeof args, "%s", srv->cfg.retrain_args);
    char *save = NULL;
    for (char *a = strtok_r(args, " ", &save); a && argc < 62; a = strtok_r(NULL, " ", &save))
        argv[argc++] = a;
    argv[argc] = NULL;
    int logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    slog_info("retraining", "models=\"%s\" log=\"%s\"", kinds, logpath);
    pid_t pid = fork();
    if (pid == 0) {
        /* Only async-signal-safe calls until exec. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        /* Serving comes first, but training must finish on a busy server too: the
         * lowest normal priority, not the idle class this thread runs in. */
        struct sched_param zero = {0};
        sched_setscheduler(0, SCHED_OTHER, &zero);
        setpriority(PRIO_PROCESS, 0, 19);
        if (logfd >= 0) {
            dup2(logfd, 1);
            dup2(logfd, 2);
        }
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    if (logfd >= 0)
        close(logfd);
    if (pid < 0) {
        slog_error("cannot start training", "err=\"%s\"", strerror(errno));
        return -1;
    }
    pthread_mutex_lock(&md->mu);
    md->child = pid;
    int stopping = md->stop;
    pthread_mutex_unlock(&md->mu);
    if (stopping)
        kill(pid, SIGTERM);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&md->mu);
    md->child = 0;
    pthread_mutex_unlock(&md->mu);
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    slog(rc == 0 ? SLOG_INFO : SLOG_ERROR, "retraining finished", "models=\"%s\" exit_status=%d log=\"%s\"", kinds,
         rc, logpath);
    return rc;
}

/* ---- the thread ---------------------------------------------------------------------- */

static void answer_waiting(modeler_t *md, int status, const char *err)
{
    for (int i = 0; i < md->nwaiting; i++) {
        buf_t b;
        buf_init(&b);
        if (status == 200) {
            ms_set_t *set = srv_models(md->srv);
            describe(md, set, &b);
            ms_release(set);
        } else {
            buf_puts(&b, "{\"error\":{\"code\":");
            const char *code = status == 503 ? "shutting_down" : "model_rejected";
            buf_put_json_str(&b, code, strlen(code));
            buf_puts(&b, ",\"message\":");
            buf_put_json_str(&b, err, strlen(err));
            buf_puts(&b, "}}");
        }
        srv_later_done(md->waiting[i], status, &b);
    }
    md->nwaiting = 0;
}

static void *modeler_main(void *arg)
{
    modeler_t *md = arg;
    int64_t every = md->srv->cfg.retrain_every_ms;
    /* Loading a model reads and checks every byte of it (and indexes a large iALS
     * model): it runs only when the event loops leave a core idle (SCHED_IDLE: a nice
     * value still takes its share of a busy core; bench/swap.sh measured both). */
    struct sched_param sp = {0};
    pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
    pthread_mutex_lock(&md->mu);
    while (!md->stop) {
        int64_t now = time_now_ms();
        if (md->reload_wanted) {
            md->reload_wanted = 0;
            pthread_mutex_unlock(&md->mu);
            char err[700];
            int rc = reload(md, 0, err, sizeof err);
            pthread_mutex_lock(&md->mu);
            if (rc == 0) {
                md->reload_error[0] = '\0';
                answer_waiting(md, 200, NULL);
            } else {
                char msg[900];
                snprintf(msg, sizeof msg, "%s; still serving generation %llu", err,
                         (unsigned long long)md->generation);
                snprintf(md->reload_error, sizeof md->reload_error, "%s", msg);
                answer_waiting(md, 422, msg);
            }
            continue;
        }
        if (md->retrain_wanted || (every && now >= md->next_train_ms)) {
            md->retrain_wanted = 0;
            md->training = 1;
            md->runs++;
            md->train_started_ms = now;
            pthread_mutex_unlock(&md->mu);
            int rc = run_training(md);
            pthread_mutex_lock(&md->mu);
            md->training = 0;
            md->train_status = rc;
            md->train_finished_ms = time_now_ms();
            md->next_train_ms = md->train_finished_ms + every;
            if (!md->stop)
                md->reload_wanted = 1; /* what it wrote (a failed model leaves its old file) */
            continue;
        }
        if (every) {
            struct timespec ts = {(time_t)(md->next_train_ms / 1000), (long)(md->next_train_ms % 1000) * 1000000};
            pthread_cond_timedwait(&md->cv, &md->mu, &ts);
        } else {
            pthread_cond_wait(&md->cv, &md->mu);
        }
    }
    answer_waiting(md, 503, "the server is shutting down");
    pthread_mutex_unlock(&md->mu);
    return NULL;
}

int modeler_start(srv_t *srv)
{
    modeler_t *md = calloc(1, sizeof *md);
    if (!md)
        abort();
    md->srv = srv;
    pthread_mutex_init(&md->mu, NULL);
    pthread_cond_init(&md->cv, NULL);
    md->next_train_ms = time_now_ms() + srv->cfg.retrain_every_ms;
    char err[700];
    reload(md, 1, err, sizeof err);
    srv->modeler = md;
    if (pthread_create(&md->tid, NULL, modeler_main, md) != 0) {
        srv->modeler = NULL;
        free(md);
        return -1;
    }
    return 0;
}

void modeler_stop(srv_t *srv)
{
    modeler_t *md = srv->modeler;
    if (!md)
        return;
    pthread_mutex_lock(&md->mu);
    md->stop = 1;
    if (md->child > 0)
        kill(md->child, SIGTERM);
    pthread_cond_signal(&md->cv);
    pthread_mutex_unlock(&md->mu);
    pthread_join(md->tid, NULL);
    pthread_cond_destroy(&md->cv);
    pthread_mutex_destroy(&md->mu);
    free(md);
    srv->modeler = NULL;
}

/* ---- endpoints ----------------------------------------------------------------------- */

void api_models_get(h2o_req_t *req)
{
    srv_t *srv = srv_thread_of(req)->srv;
    modeler_t *md = srv->modeler;
    buf_t b;
    buf_init(&b);
    ms_set_t *set = srv_models(srv);
    pthread_mutex_lock(&md->mu);
    describe(md, set, &b);
    pthread_mutex_unlock(&md->mu);
    ms_release(set);
    srv_respond(req, 200, &b, 0);
}

void api_models_reload(h2o_req_t *req)
{
    srv_t *srv = srv_thread_of(req)->srv;
    modeler_t *md = srv->modeler;
    pthread_mutex_lock(&md->mu);
    if (md->nwaiting == MAX_WAITING) {
        pthread_mutex_unlock(&md->mu);
        srv_error(req, 503, "busy", NULL, "too many reloads waiting; try again shortly");
        return;
    }
    md->waiting[md->nwaiting++] = srv_later(req);
    md->reload_wanted = 1;
    pthread_cond_signal(&md->cv);
    pthread_mutex_unlock(&md->mu);
}

void api_models_retrain(h2o_req_t *req)
{
    srv_t *srv = srv_thread_of(req)->srv;
    modeler_t *md = srv->modeler;
    pthread_mutex_lock(&md->mu);
    int busy = md->training;
    if (!busy) {
        md->retrain_wanted = 1;
        pthread_cond_signal(&md->cv);
    }
    pthread_mutex_unlock(&md->mu);
    if (busy) {
        srv_error(req, 409, "already_training", NULL, "a training run is in progress; see GET /v1/admin/models");
        return;
    }
    buf_t b;
    buf_init(&b);
    buf_puts(&b, "{\"status\":\"training\"}");
    srv_respond(req, 202, &b, 0);
}
