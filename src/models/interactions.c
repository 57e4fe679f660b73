/* Building the interaction matrix: events are collected as (row, item, type, time)
 * tuples, then counting-sorted into rows, merged per cell, and transposed into columns. */
#include "interactions.h"

#include "../store/log.h"
#include "../store/state.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint32_t row, item;
    int64_t ts;
    float w;
} tuple_t;

struct ix_builder {
    ix_config_t cfg;
    intern_t *users, *sessions, *items;
    uint32_t *user_row, *session_row; /* by interned id */
    uint32_t user_cap, session_cap;
    uint32_t *alias; /* row -> the row it joined (itself when none) */
    uint32_t nrows, alias_cap;
    tuple_t *t;
    uint64_t n, cap;
    int64_t newest;
};

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        abort();
    return p;
}

void ix_config_default(ix_config_t *c)
{
    memset(c, 0, sizeof *c);
    prof_config_t pc;
    prof_config_default(&pc);
    for (int i = 0; i < EVT__COUNT; i++)
        c->weight[i] = pc.weight[i];
}

ix_builder_t *ix_builder_new(const ix_config_t *c)
{
    ix_builder_t *b = calloc(1, sizeof *b);
    if (!b)
        abort();
    if (c)
        b->cfg = *c;
    else
        ix_config_default(&b->cfg);
    b->users = intern_new();
    b->sessions = intern_new();
    b->items = intern_new();
    return b;
}

void ix_builder_free(ix_builder_t *b)
{
    if (!b)
        return;
    intern_free(b->users);
    intern_free(b->sessions);
    intern_free(b->items);
    free(b->user_row);
    free(b->session_row);
    free(b->alias);
    free(b->t);
    free(b);
}

static uint32_t new_row(ix_builder_t *b)
{
    if (b->nrows == b->alias_cap) {
        b->alias_cap = b->alias_cap ? b->alias_cap * 2 : 1024;
        b->alias = xrealloc(b->alias, b->alias_cap * sizeof *b->alias);
    }
    b->alias[b->nrows] = b->nrows;
    return b->nrows++;
}

/* The row slot of interned id `id` in a by-id table, grown with UINT32_MAX (no row). */
static uint32_t *row_slot(uint32_t **tab, uint32_t *cap, uint32_t id)
{
    if (id >= *cap) {
        uint32_t ncap = *cap ? *cap : 1024;
        while (ncap <= id)
            ncap *= 2;
        *tab = xrealloc(*tab, ncap * sizeof **tab);
        memset(*tab + *cap, 0xff, (ncap - *cap) * sizeof **tab);
        *cap = ncap;
    }
    return &(*tab)[id];
}

static uint32_t resolve(const ix_builder_t *b, uint32_t r)
{
    while (b->alias[r] != r)
        r = b->alias[r];
    return r;
}

void ix_builder_add(ix_builder_t *b, const evt_t *e)
{
    float w = b->cfg.weight[e->type];
    if (w <= 0 || !e->item_id.p || (!e->user_id.p && !e->session_id.p))
        return;
    uint32_t row = UINT32_MAX;
    if (e->user_id.p) {
        uint32_t *ur = row_slot(&b->user_row, &b->user_cap, intern_put(b->users, e->user_id.p, e->user_id.n, NULL));
        if (*ur == UINT32_MAX)
            *ur = new_row(b);
        row = *ur;
    }
    if (e->session_id.p) {
        uint32_t *sr = row_slot(&b->session_row, &b->session_cap,
                                intern_put(b->sessions, e->session_id.p, e->session_id.n, NULL));
        if (row == UINT32_MAX) {
            if (*sr == UINT32_MAX)
                *sr = new_row(b);
            row = *sr;
        } else if (*sr != row) {
            if (*sr != UINT32_MAX && resolve(b, *sr) != row)
                b->alias[resolve(b, *sr)] = row; /* the anonymous visit logged in */
            *sr = row;
        }
    }
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 1 << 16;
        b->t = xrealloc(b->t, b->cap * sizeof *b->t);
    }
    b->t[b->n++] = (tuple_t){row, intern_put(b->items, e->item_id.p, e->item_id.n, NULL), e->ts_ms, w};
    if (e->ts_ms > b->newest)
        b->newest = e->ts_ms;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

ix_matrix_t *ix_build(ix_builder_t *b)
{
    ix_matrix_t *m = calloc(1, sizeof *m);
    if (!m)
        abort();
    /* Final row numbers: rows that joined another are gone; empty ones never existed. */
    uint32_t *final = xrealloc(NULL, (b->nrows + 1) * sizeof *final);
    for (uint32_t r = 0; r < b->nrows; r++)
        final[r] = UINT32_MAX;
    uint32_t nrows = 0;
    for (uint64_t k = 0; k < b->n; k++) {
        uint32_t r = resolve(b, b->t[k].row);
        if (final[r] == UINT32_MAX)
            final[r] = nrows++;
        b->t[k].row = final[r];
    }
    free(final);
    m->nusers = nrows;
    m->nitems = intern_count(b->items);
    m->events = b->n;

    /* Counting sort of the tuples' (item, weight) by row. */
    uint64_t *start = xrealloc(NULL, ((uint64_t)nrows + 1) * sizeof *start);
    memset(start, 0, ((uint64_t)nrows + 1) * sizeof *start);
    for (uint64_t k = 0; k < b->n; k++)
        start[b->t[k].row + 1]++;
    for (uint32_t r = 0; r < nrows; r++)
        start[r + 1] += start[r];
    uint32_t *it = xrealloc(NULL, b->n * sizeof *it);
    float *w = xrealloc(NULL, b->n * sizeof *w);
    uint64_t *fill = xrealloc(NULL, ((uint64_t)nrows + 1) * sizeof *fill);
    memcpy(fill, start, ((uint64_t)nrows + 1) * sizeof *fill);
    double hl = b->cfg.half_life_ms;
    for (uint64_t k = 0; k < b->n; k++) {
        const tuple_t *t = &b->t[k];
        uint64_t at = fill[t->row]++;
        it[at] = t->item;
        w[at] = hl > 0 ? t->w * (float)exp2(-(double)(b->newest - t->ts) / hl) : t->w;
    }
    free(fill);
    free(b->t);
    b->t = NULL;

    /* Each row's items in log order, a run of events on one item (a view, the cart, the
     * purchase) one step: what the sequence model learns from. */
    m->seq_off = xrealloc(NULL, ((uint64_t)nrows + 1) * sizeof *m->seq_off);
    m->seq = xrealloc(NULL, b->n * sizeof *m->seq);
    uint64_t ns = 0;
    for (uint32_t r = 0; r < nrows; r++) {
        m->seq_off[r] = ns;
        for (uint64_t k = start[r]; k < start[r + 1]; k++)
            if (ns == m->seq_off[r] || m->seq[ns - 1] != it[k])
                m->seq[ns++] = it[k];
    }
    m->seq_off[nrows] = ns;

    /* Merge each row's cells: sort (item, weight) pairs by item, sum equal items. The
     * pair is packed into 64 bits (item high, weight bits low) so a plain sort works. */
    m->row = xrealloc(NULL, ((uint64_t)nrows + 1) * sizeof *m->row);
    m->col = xrealloc(NULL, b->n * sizeof *m->col);
    m->val = xrealloc(NULL, b->n * sizeof *m->val);
    uint64_t nnz = 0, scratch_cap = 0;
    uint64_t *pairs = NULL;
    for (uint32_t r = 0; r < nrows; r++) {
        m->row[r] = nnz;
        uint64_t s = start[r], e = start[r + 1], len = e - s;
        if (len > scratch_cap) {
            scratch_cap = len * 2;
            pairs = xrealloc(pairs, scratch_cap * sizeof *pairs);
        }
        for (uint64_t k = 0; k < len; k++) {
            uint32_t bits;
            memcpy(&bits, &w[s + k], 4);
            pairs[k] = ((uint64_t)it[s + k] << 32) | bits;
        }
        /* Rows are short; insertion sort for the usual case, qsort past 32. */
        if (len > 32) {
            qsort(pairs, len, sizeof *pairs, cmp_u64);
        } else {
            for (uint64_t i = 1; i < len; i++) {
                uint64_t x = pairs[i];
                uint64_t j = i;
                while (j > 0 && pairs[j - 1] > x) {
                    pairs[j] = pairs[j - 1];
                    j--;
                }
                pairs[j] = x;
            }
        }
        for (uint64_t k = 0; k < len; k++) {
            uint32_t item = (uint32_t)(pairs[k] >> 32), bits = (uint32_t)pairs[k];
            float v;
            memcpy(&v, &bits, 4);
            if (nnz > m->row[r] && m->col[nnz - 1] == item)
                m->val[nnz - 1] += v;
            else {
                m->col[nnz] = item;
                m->val[nnz++] = v;
            }
        }
    }
    m->row[nrows] = nnz;
    m->nnz = nnz;
    free(pairs);
    free(start);
    free(it);
    free(w);

    /* Columns: counting sort of the cells by item. */
    m->ccol = xrealloc(NULL, ((uint64_t)m->nitems + 1) * sizeof *m->ccol);
    memset(m->ccol, 0, ((uint64_t)m->nitems + 1) * sizeof *m->ccol);
    for (uint64_t k = 0; k < nnz; k++)
        m->ccol[m->col[k] + 1]++;
    for (uint32_t i = 0; i < m->nitems; i++)
        m->ccol[i + 1] += m->ccol[i];
    m->crow = xrealloc(NULL, nnz * sizeof *m->crow);
    m->cval = xrealloc(NULL, nnz * sizeof *m->cval);
    uint64_t *cf = xrealloc(NULL, ((uint64_t)m->nitems + 1) * sizeof *cf);
    memcpy(cf, m->ccol, ((uint64_t)m->nitems + 1) * sizeof *cf);
    for (uint32_t r = 0; r < nrows; r++)
        for (uint64_t k = m->row[r]; k < m->row[r + 1]; k++) {
            uint64_t at = cf[m->col[k]]++;
            m->crow[at] = r;
            m->cval[at] = m->val[k];
        }
    free(cf);
    m->items = b->items;
    b->items = NULL;
    ix_builder_free(b);
    return m;
}

void ix_free(ix_matrix_t *m)
{
    if (!m)
        return;
    free(m->row);
    free(m->col);
    free(m->val);
    free(m->ccol);
    free(m->crow);
    free(m->cval);
    free(m->seq_off);
    free(m->seq);
    intern_free(m->items);
    free(m);
}

static int add_record(void *ud, uint8_t type, const void *p, size_t n, uint64_t lsn)
{
    (void)lsn;
    evt_t e;
    if (type == REC_EVENT && evt_decode(p, n, &e) == 0)
        ix_builder_add(ud, &e);
    return 0;
}

ix_matrix_t *ix_from_log(const char *logdir, const ix_config_t *c)
{
    ix_builder_t *b = ix_builder_new(c);
    log_replay_stats_t st;
    if (log_scan(logdir, add_record, b, &st) != 0) {
        ix_builder_free(b);
        return NULL;
    }
    return ix_build(b);
}
