/* Training entry points and the `aisle train` command line: read the log into the
 * interaction matrix once, train each model asked for, write its file, report. */
#include "train.h"

#include "../eval/eval.h"
#include "../util/flags.h"
#include "../util/timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void train_opts_default(train_opts_t *o)
{
    memset(o, 0, sizeof *o);
    ix_config_default(&o->ix);
    knn_opts_default(&o->knn);
    ease_opts_default(&o->ease);
    ials_opts_default(&o->ials);
    seq_opts_default(&o->seq);
}

static void seq_progress(void *ud, uint32_t epoch, double loss, double ndcg, double hr, double seconds)
{
    const train_opts_t *o = ud;
    if (ndcg >= 0)
        fprintf(stderr, "sequence: epoch %u/%u loss %.5f valid ndcg@10 %.5f hr@10 %.5f  %.2f s\n", epoch,
                o->seq.epochs, loss, ndcg, hr, seconds);
    else
        fprintf(stderr, "sequence: epoch %u/%u loss %.5f  %.2f s\n", epoch, o->seq.epochs, loss, seconds);
}

static void ials_progress(void *ud, uint32_t iter, double loss, double seconds)
{
    const train_opts_t *o = ud;
    fprintf(stderr, "ials: iteration %u/%u  loss %.6g  %.2f s\n", iter, o->ials.iterations, loss, seconds);
}

model_t *train_model(const ix_matrix_t *x, model_kind_t kind, const train_opts_t *o, char *err, size_t errlen)
{
    switch (kind) {
    case MODEL_KNN: return knn_train(x, &o->knn, err, errlen);
    case MODEL_EASE: {
        ease_opts_t eo = o->ease;
        eo.verbose = o->verbose;
        return ease_train(x, &eo, err, errlen);
    }
    case MODEL_IALS: {
        ials_opts_t io = o->ials;
        if (o->verbose && !io.progress) {
            io.progress = ials_progress;
            io.progress_ud = (void *)o;
        }
        return ials_train(x, &io, err, errlen);
    }
    case MODEL_SEQ: {
        seq_opts_t so = o->seq;
        if (o->verbose && !so.progress) {
            so.progress = seq_progress;
            so.progress_ud = (void *)o;
        }
        return seq_train(x, &so, err, errlen);
    }
    case MODEL_RANKER:
        snprintf(err, errlen, "the ranker learns from for_you's answers, not from the matrix: ev_train_ranker");
        return NULL;
    }
    snprintf(err, errlen, "unknown model kind");
    return NULL;
}

const char train_flags_help[] =
    "  --event-weights LIST  what each event type counts in the matrix [view=1,click=2,search=0.5,\n"
    "                        add_to_cart=4,remove_from_cart=0,purchase=8]\n"
    "  --half-life D         decay interactions by age against the newest event (0: none) [0]\n"
    "  --values V            cell values: binary (1 per customer x item) or log (log(1 + weight))\n"
    "                        [ease: binary; knn, ials: log]\n"
    "  --neighbours K        knn: neighbours kept per item [100]\n"
    "  --shrink S            knn: similarity = dot / (|a| |b| + S) [10]\n"
    "  --lambda L            ease and ials regularisation [ease 100, ials 1]\n"
    "  --max-items N         ease: refuse catalogs larger than N items (dense inverse) [60000]\n"
    "  --factors K           ials: latent factors [64]\n"
    "  --alpha A             ials: confidence 1 + A x [10]\n"
    "  --iterations N        ials: alternating sweeps [15]\n"
    "  --cg-steps N          ials: conjugate-gradient steps per row and sweep; 0: exact solves [3]\n"
    "  --seed N              ials, sequence: initialisation (and sampling) [42]\n"
    "  --train-threads N     knn, ials, sequence: threads (0: every core) [0]\n"
    "  --seq-dim D           sequence: embedding size [64]\n"
    "  --seq-blocks N        sequence: self-attention blocks [2]\n"
    "  --seq-maxlen L        sequence: the last L items are read [50]\n"
    "  --seq-dropout P       sequence: dropout [0.3]\n"
    "  --seq-epochs N        sequence: passes over the sequences [40]\n"
    "  --seq-batch N         sequence: sequences per Adam step [128]\n"
    "  --seq-lr R            sequence: Adam learning rate [0.001]\n"
    "  --seq-negatives N     sequence: sampled negatives per step; 0: softmax over every item [2048]\n"
    "  --seq-valid N         sequence: customers whose last item validates each epoch (0: none) [2000]\n"
    "  --seq-patience N      sequence: stop after N epochs without a better validation (0: never) [5]\n"
    "  --seq-adam A          sequence: dense (every embedding row each step), lazy (the rows a step\n"
    "                        touches) or auto (lazy past 50,000 items) [auto]\n";

static int num(const char *name, const char *val, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(val, &end);
    if (end == val || *end || errno || !(d >= lo && d <= hi)) {
        fprintf(stderr, "aisle: --%s wants a number from %g to %g, got '%s'\n", name, lo, hi, val);
        return -1;
    }
    *out = d;
    return 0;
}

int train_set_flag(train_opts_t *o, const char *name, const char *val)
{
    double d;
    if (strcmp(name, "event-weights") == 0) {
        if (evt_parse_weights(val, o->ix.weight) != 0) {
            fprintf(stderr, "aisle: --event-weights wants TYPE=WEIGHT pairs (weights 0 to 1000), got '%s'\n", val);
            return -1;
        }
    } else if (strcmp(name, "half-life") == 0) {
        int64_t ms;
        if (strcmp(val, "0") == 0)
            ms = 0;
        else if (time_parse_duration(val, &ms) || ms <= 0) {
            fprintf(stderr, "aisle: --half-life wants a duration such as 30d, or 0, got '%s'\n", val);
            return -1;
        }
        o->ix.half_life_ms = (double)ms;
    } else if (strcmp(name, "values") == 0) {
        int b = strcmp(val, "binary") == 0 ? 1 : strcmp(val, "log") == 0 ? 0 : -1;
        if (b < 0) {
            fprintf(stderr, "aisle: --values wants binary or log, got '%s'\n", val);
            return -1;
        }
        o->knn.binary = o->ease.binary = o->ials.binary = b;
    } else if (strcmp(name, "neighbours") == 0 || strcmp(name, "neighbors") == 0) {
        if (num(name, val, 1, 1000, &d))
            return -1;
        o->knn.neighbours = (uint32_t)d;
    } else if (strcmp(name, "shrink") == 0) {
        if (num(name, val, 0, 1e6, &d))
            return -1;
        o->knn.shrink = (float)d;
    } else if (strcmp(name, "lambda") == 0) {
        if (num(name, val, 0, 1e9, &d))
            return -1;
        o->ease.lambda = d;
        o->ials.lambda = (float)d;
    } else if (strcmp(name, "max-items") == 0) {
        if (num(name, val, 1, 4e9, &d))
            return -1;
        o->ease.max_items = (uint32_t)d;
    } else if (strcmp(name, "factors") == 0) {
        if (num(name, val, 1, 1024, &d))
            return -1;
        o->ials.factors = (uint32_t)d;
    } else if (strcmp(name, "alpha") == 0) {
        if (num(name, val, 0, 1e6, &d))
            return -1;
        o->ials.alpha = (float)d;
    } else if (strcmp(name, "iterations") == 0) {
        if (num(name, val, 1, 1000, &d))
            return -1;
        o->ials.iterations = (uint32_t)d;
    } else if (strcmp(name, "cg-steps") == 0) {
        if (num(name, val, 0, 100, &d))
            return -1;
        o->ials.cg_steps = (uint32_t)d;
    } else if (strcmp(name, "seed") == 0) {
        if (num(name, val, 0, 1e18, &d))
            return -1;
        o->ials.seed = o->seq.seed = (uint64_t)d;
    } else if (strcmp(name, "train-threads") == 0) {
        if (num(name, val, 0, 64, &d))
            return -1;
        o->knn.threads = o->ials.threads = o->seq.threads = (int)d;
    } else if (strcmp(name, "seq-adam") == 0) {
        int v = strcmp(val, "dense") == 0 ? 0 : strcmp(val, "lazy") == 0 ? 1 : strcmp(val, "auto") == 0 ? -1 : -2;
        if (v == -2) {
            fprintf(stderr, "aisle: --seq-adam wants dense, lazy or auto, got '%s'\n", val);
            return -1;
        }
        o->seq.lazy_adam = v;
    } else if (strncmp(name, "seq-", 4) == 0) {
        static const struct {
            const char *name;
            double lo, hi;
        } seqf[] = {{"dim", 4, 1024},    {"blocks", 1, 8},   {"maxlen", 1, 1024}, {"dropout", 0, 0.95},
                    {"epochs", 0, 10000}, {"batch", 1, 65536}, {"lr", 1e-7, 1},  {"negatives", 0, 1e9},
                    {"valid", 0, 1e9},   {"patience", 0, 10000}};
        size_t k = 0;
        while (k < sizeof seqf / sizeof seqf[0] && strcmp(name + 4, seqf[k].name) != 0)
            k++;
        if (k == sizeof seqf / sizeof seqf[0])
            return 1;
        if (num(name, val, seqf[k].lo, seqf[k].hi, &d))
            return -1;
        seq_opts_t *q = &o->seq;
        switch (k) {
        case 0: q->dim = (uint32_t)d; break;
        case 1: q->blocks = (uint32_t)d; break;
        case 2: q->maxlen = (uint32_t)d; break;
        case 3: q->dropout = (float)d; break;
        case 4: q->epochs = (uint32_t)d; break;
        case 5: q->batch = (uint32_t)d; break;
        case 6: q->lr = (float)d; break;
        case 7: q->negatives = (uint32_t)d; break;
        case 8: q->valid_users = (uint32_t)d; break;
        default: q->patience = (uint32_t)d; break;
        }
    } else {
        return 1;
    }
    return 0;
}

/* ---- command line -------------------------------------------------------------------- */

typedef struct {
    train_opts_t o;
    const char *data, *models, *out;
    int json;
} cli_t;

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: aisle train --data DIR --model MODEL[,MODEL...] [flags]\n\n"
            "Trains models on the whole event log of DIR and writes DIR/models/<model>.model, which\n"
            "`aisle serve` loads at start and on POST /v1/admin/models/reload. Reads the log only:\n"
            "it may run while a server runs on DIR.\n\n"
            "  --data DIR            data directory (AISLE_DATA) [./data]\n"
            "  --model LIST          knn, ease, ials, sequence, ranker (comma-separated; the ranker learns\n"
            "                        on top of the others listed, or of knn, ease and ials when alone)\n"
            "  --out FILE            write here instead (one model only)\n"
            "  --json                one JSON object per model on stdout\n"
            "%s"
            "  -h, --help            this help\n",
            train_flags_help);
}

static int set(void *ud, const char *name, const char *val)
{
    cli_t *c = ud;
    if (strcmp(name, "data") == 0)
        c->data = val;
    else if (strcmp(name, "model") == 0 || strcmp(name, "models") == 0)
        c->models = val;
    else if (strcmp(name, "out") == 0)
        c->out = val;
    else if (strcmp(name, "json") == 0)
        c->json = 1;
    else {
        int rc = train_set_flag(&c->o, name, val);
        if (rc == 1)
            fprintf(stderr, "aisle: unknown flag --%s (see aisle train --help)\n", name);
        return rc ? -1 : 0;
    }
    return 0;
}

int train_main(int argc, char **argv)
{
    cli_t c = {.data = getenv("AISLE_DATA") ? getenv("AISLE_DATA") : "./data"};
    train_opts_default(&c.o);
    static const char *const switches[] = {"json", NULL};
    int rc = flags_parse(argc, argv, "train", switches, set, &c, usage);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (!c.models) {
        fprintf(stderr, "aisle: train needs --model knn, ease, ials, sequence or ranker (see aisle train --help)\n");
        return 2;
    }
    model_kind_t kinds[8];
    int nk = 0;
    char list[256];
    snprintf(list, sizeof list, "%s", c.models);
    char *save = NULL;
    for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        model_kind_t k = model_kind_from_name(t);
        if (!k || nk == 8) {
            fprintf(stderr, "aisle: --model wants knn, ease, ials, sequence or ranker, got '%s'\n", t);
            return 2;
        }
        kinds[nk++] = k;
    }
    if (c.out && nk != 1) {
        fprintf(stderr, "aisle: --out names one file: train one model at a time with it\n");
        return 2;
    }
    c.o.verbose = 1;
    char logdir[1100];
    snprintf(logdir, sizeof logdir, "%s/log", c.data);
    struct stat sb;
    if (stat(logdir, &sb) != 0) {
        fprintf(stderr, "aisle: train: %s has no log (nothing imported or served there yet)\n", c.data);
        return 1;
    }
    /* The ranker learns on top of the other models listed (on a split of the log of its
     * own), or of all three when it comes alone. */
    char base[64] = "";
    int matrix = 0;
    for (int i = 0; i < nk; i++)
        if (kinds[i] != MODEL_RANKER) {
            matrix = 1;
            snprintf(base + strlen(base), sizeof base - strlen(base), "%s%s", base[0] ? "," : "",
                     model_kind_name(kinds[i]));
        }
    if (!base[0])
        snprintf(base, sizeof base, "knn,ease,ials");
    uint64_t t0 = time_mono_ns();
    ix_matrix_t *x = matrix ? ix_from_log(logdir, &c.o.ix) : NULL;
    if (matrix && !x) {
        fprintf(stderr, "aisle: train: cannot read the log in %s\n", logdir);
        return 1;
    }
    double read_s = (double)(time_mono_ns() - t0) / 1e9;
    if (x)
        fprintf(stderr, "read %llu events: %u customers x %u items, %llu cells (%.2f s)\n",
                (unsigned long long)x->events, x->nusers, x->nitems, (unsigned long long)x->nnz, read_s);
    int status = 0;
    for (int i = 0; i < nk; i++) {
        char err[600], path[1200];
        if (c.out)
            snprintf(path, sizeof path, "%s", c.out);
        else
            model_path(path, sizeof path, c.data, kinds[i]);
        model_t *m;
        if (kinds[i] == MODEL_RANKER) {
            ev_opts_t eo;
            ev_opts_default(&eo);
            eo.train = c.o;
            eo.models = base;
            m = ev_train_ranker(c.data, &eo, 1, err, sizeof err);
        } else {
            m = train_model(x, kinds[i], &c.o, err, sizeof err);
        }
        if (!m) {
            fprintf(stderr, "aisle: train %s: %s\n", model_kind_name(kinds[i]), err);
            status = 1;
            continue;
        }
        if (model_write(m, path, err, sizeof err) != 0) {
            fprintf(stderr, "aisle: train %s: %s\n", model_kind_name(kinds[i]), err);
            model_free(m);
            status = 1;
            continue;
        }
        stat(path, &sb);
        if (c.json)
            printf("{\"model\":\"%s\",\"file\":\"%s\",\"bytes\":%lld,\"seconds\":%.3f,\"read_seconds\":%.3f,"
                   "\"items\":%u,\"users\":%llu,\"events\":%llu,\"params\":%s}\n",
                   model_kind_name(kinds[i]), path, (long long)sb.st_size, m->train_seconds, read_s, m->nitems,
                   (unsigned long long)m->users, (unsigned long long)m->events, m->params);
        else
            printf("%s: %u items, %llu customers, trained in %.2f s -> %s (%.1f MiB)\n  %s\n",
                   model_kind_name(kinds[i]), m->nitems, (unsigned long long)m->users, m->train_seconds, path,
                   (double)sb.st_size / (1 << 20), m->params);
        fflush(stdout);
        model_free(m);
    }
    ix_free(x);
    return status;
}
