/* `aisle eval`: offline evaluation of the recommenders on a data directory's log, through
 * the same code the server answers with (candidate generation, blend and filters of
 * src/rank/recs.c; business rules and anti-repetition left out). The log is split by a
 * protocol into a training part, replayed into a fresh store with st_apply exactly as the
 * server would, and held-out interactions, which each customer's recommendations must find.
 *
 * Protocols: leave-one-out (each customer's last target interaction is the test item,
 * everything before its session history: the views and cart that led to a purchase
 * would give it away; full ranking over items they have not bought), the
 * SASRec paper's sampled variant (the test item ranked against 100 random items the
 * customer never touched), and a temporal split (a global time cut; each customer's first
 * target interaction after it is the test item). Ties are broken at random. */
#ifndef AISLE_EVAL_H
#define AISLE_EVAL_H

#include "../models/train.h"
#include "../rank/recs.h"

#include <stddef.h>
#include <stdint.h>

typedef enum { EV_LOO, EV_LOO_SAMPLED, EV_TEMPORAL } ev_protocol_t;

typedef struct {
    ev_protocol_t protocol;
    uint32_t target_types; /* bit per evt_type_t: which interactions are predicted */
    double temporal_cut;   /* share of events (by time) before the cut */
    uint32_t max_users;    /* 0: every customer; else a seeded sample */
    int cold_items;        /* test only items nobody interacted with in the training part */
    int basket;            /* temporal: any item of the test event's order is a hit */
    uint32_t negatives;    /* sampled protocol */
    uint64_t seed;
    int threads;
    const char *models; /* comma-separated: live, realtime, knn, ease, ials, popular */
    float recency_decay; /* the store's for_you setting (as aisle serve --recency-decay) */
    rec_blend_t blend;   /* for_you's source weights (as aisle serve --blend) */
    train_opts_t train;  /* how knn, ease and ials are trained on the training part */
} ev_opts_t;

#define EV_KS 2 /* cut-offs: 10 and 20 */
#define EV_MAX_ROWS 12

typedef struct {
    char name[32];
    uint32_t users;
    double hr[EV_KS], ndcg[EV_KS];
    double mrr;          /* of the rank within the first 100 (0 beyond) */
    double coverage;     /* distinct items in the top 10 lists / catalog items */
    double avg_popularity; /* mean training interactions of top-10 items */
    double seconds;      /* answering (the training replay is reported apart) */
    double train_seconds; /* training the row's models on the training part */
} ev_row_t;

typedef struct {
    uint64_t train_records, test_users, skipped_users;
    double train_seconds;
    uint32_t catalog_items;
} ev_info_t;

extern const int ev_k[EV_KS];

void ev_opts_default(ev_opts_t *o);
/* Evaluates the models of o on DIR/log. rows: room for EV_MAX_ROWS. Returns 0, or -1 with err.
 * Rows: hybrid (for_you ordered by the learned ranker, itself learned on a split of the
 * training part), live (for_you as served without a ranker: real-time sources and every
 * trained model listed, blended), realtime (for_you without trained models), knn, ease,
 * ials, content (for_you with only that source), popular. Each trained model is trained
 * once on the training part. */
int ev_run(const char *data_dir, const ev_opts_t *o, ev_row_t *rows, size_t *nrows, ev_info_t *info, char *err,
           size_t errlen);
/* Learns the hybrid ranker from the log of DIR: each customer's last o->target_types
 * interaction held out, the models o->models lists trained on the rest (one that cannot
 * be trained here, such as EASE on a large catalog, is left out), and a logistic
 * regression fitted on for_you's candidates, labelled by which one the customer chose.
 * Returns the model (caller owns), or NULL with err. */
model_t *ev_train_ranker(const char *data_dir, const ev_opts_t *o, int verbose, char *err, size_t errlen);
/* The `aisle eval` subcommand. */
int ev_main(int argc, char **argv);

#endif
