/* The customer x item interaction matrix the trained models learn from, built from log
 * events: each (customer, item) cell sums the weights of the events between them (per
 * event type, optionally decayed by age), in both row (by customer) and column (by item)
 * compressed form. A customer is its user_id; an anonymous session is a row of its own
 * until it logs in, when it joins the customer's row, as the live profile does. */
#ifndef AISLE_INTERACTIONS_H
#define AISLE_INTERACTIONS_H

#include "../ingest/event.h"
#include "../util/intern.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    float weight[EVT__COUNT]; /* what each event type counts; 0 leaves it out */
    double half_life_ms;      /* age decay against the newest event; 0: none */
} ix_config_t;

typedef struct {
    uint32_t nusers, nitems;
    uint64_t nnz;
    /* Rows: customer u's items are col[row[u] .. row[u+1]), ascending, values in val. */
    uint64_t *row;
    uint32_t *col;
    float *val;
    /* Columns: item i's customers are crow[ccol[i] .. ccol[i+1]), values in cval. */
    uint64_t *ccol;
    uint32_t *crow;
    float *cval;
    /* Sequences: customer u's items in log order, consecutive events on one item
     * merged, are seq[seq_off[u] .. seq_off[u+1]). */
    uint64_t *seq_off;
    uint32_t *seq;
    intern_t *items; /* item ids as the shop spells them, index = column; owned */
    uint64_t events; /* events that went into it */
} ix_matrix_t;

typedef struct ix_builder ix_builder_t;

void ix_config_default(ix_config_t *c); /* the serving defaults: view=1 ... purchase=8 */
/* Caller owns; ix_builder_free or ix_build frees it. */
ix_builder_t *ix_builder_new(const ix_config_t *c);
void ix_builder_free(ix_builder_t *b);
/* Takes one event (events without an item or a customer/session, or of a type weighted
 * 0, are left out). The event's strings are copied. */
void ix_builder_add(ix_builder_t *b, const evt_t *e);
/* Builds the matrix and frees the builder. Caller owns the result. */
ix_matrix_t *ix_build(ix_builder_t *b);
void ix_free(ix_matrix_t *m);
/* Reads every event of the log in logdir (read-only, also while a server writes it).
 * Returns the matrix, or NULL when the log cannot be read. */
ix_matrix_t *ix_from_log(const char *logdir, const ix_config_t *c);

#endif
