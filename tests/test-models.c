/* Trained models on tiny matrices with answers computed here independently: the
 * interaction matrix, EASE's closed form, kNN's cosines, iALS's loss and fold-in, and the
 * model file (round trip, and every kind of damage refused). */
#include "harness.h"
#include "models/ease.h"
#include "models/ials.h"
#include "models/interactions.h"
#include "models/knn.h"
#include "models/model.h"
#include "models/modelset.h"
#include "models/train.h"
#include "test.h"

#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

static void add(ix_builder_t *b, const char *user, const char *session, const char *item, evt_type_t type,
                int64_t ts)
{
    evt_t e = {0};
    e.type = type;
    e.ts_ms = ts;
    e.price = -1;
    if (user)
        e.user_id = (strv_t){user, strlen(user)};
    if (session)
        e.session_id = (strv_t){session, strlen(session)};
    if (item)
        e.item_id = (strv_t){item, strlen(item)};
    ix_builder_add(b, &e);
}

/* The cell (user row, item) of m, found by item id; -1 when absent. */
static float cell(const ix_matrix_t *m, uint32_t row, const char *item)
{
    uint32_t it = intern_get(m->items, item, strlen(item));
    for (uint64_t k = m->row[row]; k < m->row[row + 1]; k++)
        if (m->col[k] == it)
            return m->val[k];
    return -1;
}

/* Builds a binary matrix: rows[u] lists item names (single letters). */
static ix_matrix_t *matrix_of(const char *const *rows, int nrows)
{
    ix_config_t c;
    ix_config_default(&c);
    ix_builder_t *b = ix_builder_new(&c);
    for (int u = 0; u < nrows; u++) {
        char user[16];
        snprintf(user, sizeof user, "u%d", u);
        for (const char *p = rows[u]; *p; p++) {
            char item[2] = {*p, 0};
            add(b, user, NULL, item, EVT_PURCHASE, 1000 + u);
        }
    }
    return ix_build(b);
}

static uint32_t item_of(const ix_matrix_t *x, char c)
{
    char s[2] = {c, 0};
    return intern_get(x->items, s, 1);
}

static int by_score_then_index(const void *a, const void *b)
{
    const vec_hit_t *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->item < y->item ? -1 : x->item > y->item;
}

TEST(top_k_is_exact_on_long_lists)
{
    /* Long lists take the sampled-threshold path: the same answer as a full sort, ties
     * (many: scores are coarse) in index order, skipped and floored items left out. */
    enum { N = 60000 };
    float *s = malloc(N * sizeof *s);
    uint8_t *skip = calloc(N, 1);
    vec_hit_t *all = malloc(N * sizeof *all), out[300];
    for (int round = 0; round < 3; round++) {
        size_t n = 0;
        for (uint32_t i = 0; i < N; i++) {
            uint64_t h = (i + 1) * 0x9e3779b97f4a7c15ull * (uint64_t)(round + 1);
            s[i] = (float)((h >> 40) % 5000) / 10.0f - (round == 2 ? 400 : 0);
            skip[i] = i % 7 == 3;
            if (!skip[i] && s[i] > 0)
                all[n++] = (vec_hit_t){i, s[i]};
        }
        qsort(all, n, sizeof *all, by_score_then_index);
        size_t k = round == 0 ? 10 : 300;
        size_t got = vec_top(s, N, skip, 0, out, k);
        ASSERT_EQ(got, n < k ? n : k);
        for (size_t i = 0; i < got; i++) {
            ASSERT_EQ(out[i].item, all[i].item);
            ASSERT(out[i].score == all[i].score);
        }
    }
    free(s);
    free(skip);
    free(all);
}

TEST(select_hits_keeps_the_best_k)
{
    /* Against a full sort, on coarse scores (many ties, broken by item), shuffled, for
     * k at the edges and between. */
    enum { N = 5000 };
    vec_hit_t *h = malloc(N * sizeof *h), *ref = malloc(N * sizeof *ref);
    size_t ks[] = {0, 1, 2, 39, 200, N - 1, N, N + 5};
    for (size_t r = 0; r < sizeof ks / sizeof ks[0]; r++) {
        uint64_t x = 12345 + r;
        for (uint32_t i = 0; i < N; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            h[i] = (vec_hit_t){(uint32_t)(x >> 20) % 100000, (float)((x >> 40) % 50)};
        }
        memcpy(ref, h, N * sizeof *h);
        qsort(ref, N, sizeof *ref, by_score_then_index);
        size_t k = ks[r], got = vec_select_hits(h, N, k);
        ASSERT_EQ(got, k < N ? k : N);
        qsort(h, got, sizeof *h, by_score_then_index);
        for (size_t i = 0; i < got; i++)
            ASSERT(h[i].item == ref[i].item && h[i].score == ref[i].score);
    }
    /* vec_sort_hits, short lists (insertion) and long (qsort) alike, against qsort. */
    for (size_t n = 0; n < 80; n++) {
        memcpy(ref, h + n, n * sizeof *h);
        vec_hit_t mine[80];
        memcpy(mine, ref, n * sizeof *h);
        qsort(ref, n, sizeof *ref, by_score_then_index);
        vec_sort_hits(mine, n);
        for (size_t i = 0; i < n; i++)
            ASSERT(mine[i].item == ref[i].item && mine[i].score == ref[i].score);
    }
    free(h);
    free(ref);
}

TEST(matrix_sums_weights_and_merges_sessions)
{
    ix_config_t c;
    ix_config_default(&c); /* view=1 click=2 search=0.5 cart=4 remove=0 purchase=8 */
    ix_builder_t *b = ix_builder_new(&c);
    add(b, "alice", NULL, "A", EVT_VIEW, 1);
    add(b, "alice", NULL, "A", EVT_PURCHASE, 2);
    add(b, NULL, "s1", "B", EVT_VIEW, 3);        /* anonymous ... */
    add(b, NULL, "s1", "C", EVT_CLICK, 4);
    add(b, "alice", "s1", "C", EVT_ADD_TO_CART, 5); /* ... then logged in as alice */
    add(b, NULL, "s2", "A", EVT_VIEW, 6);           /* another visitor, never logged in */
    add(b, "bob", NULL, "B", EVT_REMOVE_FROM_CART, 7); /* weight 0: left out */
    add(b, "bob", NULL, NULL, EVT_SEARCH, 8);          /* no item: left out */
    ix_matrix_t *m = ix_build(b);
    ASSERT_EQ(m->nusers, 2); /* alice (with s1), s2; bob had nothing that counts */
    ASSERT_EQ(m->nitems, 3);
    ASSERT_EQ(m->nnz, 4);
    ASSERT_EQ(m->events, 6);
    /* alice is row 0: A 1+8, B 1 (from s1), C 2+4 */
    ASSERT(fabsf(cell(m, 0, "A") - 9) < 1e-6f);
    ASSERT(fabsf(cell(m, 0, "B") - 1) < 1e-6f);
    ASSERT(fabsf(cell(m, 0, "C") - 6) < 1e-6f);
    ASSERT(fabsf(cell(m, 1, "A") - 1) < 1e-6f);
    /* The columns hold the same cells. */
    uint32_t a = intern_get(m->items, "A", 1);
    ASSERT_EQ(m->ccol[a + 1] - m->ccol[a], 2);
    float sum = 0;
    for (uint64_t k = m->ccol[a]; k < m->ccol[a + 1]; k++)
        sum += m->cval[k];
    ASSERT(fabsf(sum - 10) < 1e-6f);
    ix_free(m);

    /* Time decay: with a half-life of 1 ms, an event 1 ms older than the newest counts half. */
    c.half_life_ms = 1;
    b = ix_builder_new(&c);
    add(b, "u", NULL, "A", EVT_VIEW, 10);
    add(b, "u", NULL, "B", EVT_VIEW, 11);
    m = ix_build(b);
    ASSERT(fabsf(cell(m, 0, "A") - 0.5f) < 1e-6f);
    ASSERT(fabsf(cell(m, 0, "B") - 1) < 1e-6f);
    ix_free(m);
}

/* Inverts a small dense matrix (Gauss-Jordan with partial pivoting), in place. */
static void invert(double *a, int n)
{
    double inv[16 * 16] = {0};
    for (int i = 0; i < n; i++)
        inv[i * n + i] = 1;
    for (int c = 0; c < n; c++) {
        int p = c;
        for (int r = c + 1; r < n; r++)
            if (fabs(a[r * n + c]) > fabs(a[p * n + c]))
                p = r;
        for (int k = 0; k < n; k++) {
            double t = a[c * n + k];
            a[c * n + k] = a[p * n + k];
            a[p * n + k] = t;
            t = inv[c * n + k];
            inv[c * n + k] = inv[p * n + k];
            inv[p * n + k] = t;
        }
        double d = a[c * n + c];
        for (int k = 0; k < n; k++) {
            a[c * n + k] /= d;
            inv[c * n + k] /= d;
        }
        for (int r = 0; r < n; r++) {
            if (r == c)
                continue;
            double f = a[r * n + c];
            for (int k = 0; k < n; k++) {
                a[r * n + k] -= f * a[c * n + k];
                inv[r * n + k] -= f * inv[c * n + k];
            }
        }
    }
    memcpy(a, inv, (size_t)n * n * sizeof *a);
}

static const char *const ROWS[] = {"ABC", "AB", "BCD", "AD", "CDE", "BE", "A"};
#define NROWS 7

TEST(ease_matches_the_closed_form)
{
    ix_matrix_t *x = matrix_of(ROWS, NROWS);
    int n = (int)x->nitems;
    ASSERT_EQ(n, 5);
    /* G = X^T X + lambda I, P = G^-1, B[i][j] = -P[i][j] / P[j][j], diag 0. */
    double lambda = 2.5, G[25] = {0};
    for (uint32_t u = 0; u < x->nusers; u++)
        for (uint64_t p = x->row[u]; p < x->row[u + 1]; p++)
            for (uint64_t q = x->row[u]; q < x->row[u + 1]; q++)
                G[x->col[p] * n + x->col[q]] += 1;
    for (int i = 0; i < n; i++)
        G[i * n + i] += lambda;
    invert(G, n);
    ease_opts_t o;
    ease_opts_default(&o);
    o.lambda = lambda;
    char err[512];
    model_t *m = ease_train(x, &o, err, sizeof err);
    ASSERT(m);
    ASSERT_EQ(m->kind, MODEL_EASE);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double want = i == j ? 0 : -G[i * n + j] / G[j * n + j];
            if (fabs(m->B[i * n + j] - want) > 1e-5)
                FAIL("B[%d][%d] = %g, want %g", i, j, (double)m->B[i * n + j], want);
        }
    /* Scores for a history {A}: row A of B, A itself left out, best first. */
    model_in_t in[1] = {{item_of(x, 'A'), 1, 1}};
    vec_hit_t out[8];
    size_t k = model_score(m, in, 1, out, 8);
    ASSERT_EQ(k, 4);
    for (size_t i = 0; i < k; i++) {
        ASSERT(out[i].item != item_of(x, 'A'));
        ASSERT(fabsf(out[i].score - m->B[item_of(x, 'A') * n + out[i].item]) < 1e-6f);
        if (i)
            ASSERT(out[i].score <= out[i - 1].score);
    }
    model_free(m);

    /* Too many items for a dense inverse: refused, and told what to use instead. */
    o.max_items = 4;
    ASSERT(ease_train(x, &o, err, sizeof err) == NULL);
    ASSERT_CONTAINS(err, "--model=ials");
    ASSERT_CONTAINS(err, "--model=knn");
    ix_free(x);
}

TEST(knn_keeps_the_best_cosines)
{
    ix_matrix_t *x = matrix_of(ROWS, NROWS);
    knn_opts_t o;
    knn_opts_default(&o);
    o.neighbours = 2;
    o.shrink = 0;
    o.binary = 1;
    o.threads = 2;
    char err[256];
    model_t *m = knn_train(x, &o, err, sizeof err);
    ASSERT(m);
    /* Customers per item: A {0,1,3,6} B {0,1,2,5} C {0,2,4} D {2,3,4} E {4,5}.
     * cos(A,B) = 2/4, cos(A,C) = 1/sqrt(12), cos(A,D) = 1/sqrt(12), cos(A,E) = 0. */
    uint32_t a = item_of(x, 'A'), b = item_of(x, 'B');
    const uint32_t *nb = m->nbr + a * 2;
    const float *sm = m->sim + a * 2;
    ASSERT_EQ(nb[0], b);
    ASSERT(fabsf(sm[0] - 0.5f) < 1e-6f);
    ASSERT(fabsf(sm[1] - 1 / sqrtf(12)) < 1e-6f);
    /* C and D tie for A's second place: the lower item number wins. */
    uint32_t c = item_of(x, 'C'), d = item_of(x, 'D');
    ASSERT_EQ(nb[1], c < d ? c : d);
    /* E's neighbours: C (1/sqrt 6), B (1/sqrt 8), D (1/sqrt 6): C and D, then nothing of B. */
    uint32_t e = item_of(x, 'E');
    ASSERT(fabsf(m->sim[e * 2] - 1 / sqrtf(6)) < 1e-6f);
    /* Scores: a history {A, E} sums its items' neighbour lists. */
    model_in_t in[2] = {{a, 1, 1}, {e, 1, 1}};
    vec_hit_t out[8];
    size_t k = model_score(m, in, 2, out, 8);
    ASSERT(k >= 2);
    for (size_t i = 0; i < k; i++)
        ASSERT(out[i].item != a && out[i].item != e);
    /* C is A's neighbour (1/sqrt 12, if it won the tie) and E's (1/sqrt 6). */
    float want_c = 1 / sqrtf(6) + (nb[1] == c ? 1 / sqrtf(12) : 0);
    int found = 0;
    for (size_t i = 0; i < k; i++)
        if (out[i].item == c) {
            ASSERT(fabsf(out[i].score - want_c) < 1e-5f);
            found = 1;
        }
    ASSERT(found);
    model_free(m);
    ix_free(x);
}

static double losses[64];
static uint32_t nlosses;

static void record_loss(void *ud, uint32_t iter, double loss, double seconds)
{
    (void)ud;
    (void)seconds;
    losses[iter - 1] = loss;
    nlosses = iter;
}

TEST(ials_loss_falls_and_fold_in_solves_exactly)
{
    ix_matrix_t *x = matrix_of(ROWS, NROWS);
    ials_opts_t o;
    ials_opts_default(&o);
    o.factors = 3;
    o.cg_steps = 3; /* = factors: conjugate gradient solves each row exactly */
    o.iterations = 8;
    o.lambda = 0.5f;
    o.alpha = 4;
    o.binary = 1;
    o.threads = 2;
    o.progress = record_loss;
    char err[256];
    nlosses = 0;
    model_t *m = ials_train(x, &o, err, sizeof err);
    ASSERT(m);
    ASSERT_EQ(nlosses, 8);
    /* Exact alternating solves never raise the loss. */
    for (uint32_t i = 1; i < nlosses; i++)
        if (losses[i] > losses[i - 1] * (1 + 1e-5))
            FAIL("loss rose at iteration %u: %g -> %g", i + 1, losses[i - 1], losses[i]);
    ASSERT(losses[nlosses - 1] < losses[0]);
    /* Exact Cholesky solves (cg_steps 0) reach the same loss as CG with k steps. */
    double cg_loss = losses[nlosses - 1];
    o.cg_steps = 0;
    model_t *mx = ials_train(x, &o, err, sizeof err);
    ASSERT(mx);
    if (fabs(losses[nlosses - 1] - cg_loss) > 1e-3 * cg_loss)
        FAIL("exact solves: loss %g, conjugate gradient: %g", losses[nlosses - 1], cg_loss);
    model_free(mx);
    o.cg_steps = 3;
    /* The same seed gives the same model whatever the thread count. */
    o.threads = 1;
    o.progress = NULL;
    model_t *m1 = ials_train(x, &o, err, sizeof err);
    ASSERT(memcmp(m->Y, m1->Y, (size_t)m->nitems * m->dim * sizeof(float)) == 0);
    model_free(m1);

    /* Fold-in: (Y^T Y + lambda I + sum (c-1) y y^T) x = sum c y, c = 1 + alpha. */
    uint32_t k = m->dim;
    model_in_t in[2] = {{item_of(x, 'A'), 8, 1}, {item_of(x, 'C'), 8, 1}};
    float xu[3];
    ASSERT(ials_fold_in(m, in, 2, xu) == 0);
    for (uint32_t r = 0; r < k; r++) {
        double lhs = m->lambda * xu[r], rhs = 0;
        for (uint32_t c = 0; c < k; c++)
            lhs += m->gram[r * k + c] * xu[c];
        for (int h = 0; h < 2; h++) {
            const float *y = m->Y + in[h].item * k;
            double dot = 0;
            for (uint32_t c = 0; c < k; c++)
                dot += y[c] * xu[c];
            lhs += o.alpha * y[r] * dot;
            rhs += (1 + o.alpha) * y[r];
        }
        if (fabs(lhs - rhs) > 1e-3 * (1 + fabs(rhs)))
            FAIL("fold-in row %u: %g != %g", r, lhs, rhs);
    }
    /* The gram matrix stored is Y^T Y of the final factors. */
    for (uint32_t r = 0; r < k; r++)
        for (uint32_t c = 0; c < k; c++) {
            double g = 0;
            for (uint32_t i = 0; i < m->nitems; i++)
                g += m->Y[i * k + r] * m->Y[i * k + c];
            ASSERT(fabs(g - m->gram[r * k + c]) < 1e-4 * (1 + fabs(g)));
        }
    /* Scoring ranks by y . x_u, history left out. */
    vec_hit_t out[8];
    size_t got = model_score(m, in, 2, out, 8);
    ASSERT_EQ(got, 3);
    for (size_t i = 0; i < got; i++) {
        ASSERT(out[i].item != in[0].item && out[i].item != in[1].item);
        float s = 0;
        for (uint32_t c = 0; c < k; c++)
            s += m->Y[out[i].item * k + c] * xu[c];
        ASSERT(fabsf(s - out[i].score) < 1e-4f);
    }
    /* No item of the model in the history: no answer. */
    model_in_t none[1] = {{9999, 1, 1}};
    ASSERT(ials_fold_in(m, none, 1, xu) != 0);
    ASSERT_EQ(model_score(m, none, 1, out, 8), 0);
    model_free(m);
    ix_free(x);
}

TEST(ials_index_finds_what_an_exact_scan_finds)
{
    /* 5,000 items, 4,000 customers with 12 items each, popularity skewed. */
    ix_config_t c;
    ix_config_default(&c);
    ix_builder_t *b = ix_builder_new(&c);
    for (int u = 0; u < 4000; u++) {
        char user[16], item[16];
        snprintf(user, sizeof user, "u%d", u);
        for (int k = 0; k < 12; k++) {
            uint64_t h = (uint64_t)u * 7919 + (uint64_t)k * 104729;
            h ^= h >> 13;
            h *= 0x9e3779b97f4a7c15ull;
            double r = (double)(h >> 11) / 9007199254740992.0;
            int it = (int)(5000 * r * r); /* squared: the low ids are popular */
            /* tastes: a customer's items cluster around u mod 50 */
            it = (it + (u % 50) * 100) % 5000;
            snprintf(item, sizeof item, "i%d", it);
            add(b, user, NULL, item, EVT_PURCHASE, 1000);
        }
    }
    ix_matrix_t *x = ix_build(b);
    ials_opts_t o;
    ials_opts_default(&o);
    o.factors = 8;
    o.iterations = 4;
    char err[256];
    model_t *m = ials_train(x, &o, err, sizeof err);
    ASSERT(m && !m->Yq); /* small: exact scans */
    enum { Q = 40, K = 20 };
    vec_hit_t exact[Q][K], approx[Q][K];
    size_t ne[Q], na[Q];
    model_in_t in[Q][5];
    for (int q = 0; q < Q; q++) {
        for (int h = 0; h < 5; h++)
            in[q][h] = (model_in_t){(uint32_t)((q * 131 + h * 977) % m->nitems), 8, 1};
        ne[q] = model_score(m, in[q], 5, exact[q], K);
    }
    ials_index(m);
    ASSERT(m->Yq && m->ivf_n >= 50);
    ASSERT_EQ(m->ivf_start[m->ivf_n], m->nitems);
    double found = 0;
    for (int q = 0; q < Q; q++) {
        na[q] = model_score(m, in[q], 5, approx[q], K);
        ASSERT_EQ(na[q], ne[q]);
        for (size_t i = 0; i < na[q]; i++) {
            /* every score the index gives is the exact one, history left out */
            for (int h = 0; h < 5; h++)
                ASSERT(approx[q][i].item != in[q][h].item);
            for (size_t j = 0; j < ne[q]; j++)
                if (exact[q][j].item == approx[q][i].item) {
                    ASSERT(fabsf(exact[q][j].score - approx[q][i].score) < 1e-5f);
                    found++;
                }
        }
    }
    double recall = found / (Q * K);
    fprintf(stderr, "index recall@%d over %d histories: %.3f (%u clusters)\n", K, Q, recall, m->ivf_n);
    ASSERT(recall >= 0.98); /* the bound makes it all but exact: only int8 error can cost */
    model_free(m);
    ix_free(x);
}

/* Flips one byte at off of the file at path. */
static void flip(const char *path, long off)
{
    FILE *f = fopen(path, "r+b");
    ASSERT(f);
    ASSERT(fseek(f, off, SEEK_SET) == 0);
    int c = fgetc(f);
    ASSERT(c != EOF);
    ASSERT(fseek(f, off, SEEK_SET) == 0);
    fputc(c ^ 0x40, f);
    fclose(f);
}

static void copy_file(const char *from, const char *to, size_t keep)
{
    size_t n;
    char *d = file_read(from, &n);
    ASSERT(d);
    FILE *f = fopen(to, "wb");
    ASSERT(f);
    fwrite(d, 1, keep < n ? keep : n, f);
    fclose(f);
    free(d);
}

TEST(model_file_round_trip_and_damage)
{
    char dir[256], path[400], bad[400], err[1024];
    tmpdir_make(dir);
    ix_matrix_t *x = matrix_of(ROWS, NROWS);
    train_opts_t o;
    train_opts_default(&o);
    o.ials.factors = 4;
    o.ials.iterations = 3;
    model_kind_t kinds[3] = {MODEL_KNN, MODEL_EASE, MODEL_IALS};
    for (int i = 0; i < 3; i++) {
        model_t *m = train_model(x, kinds[i], &o, err, sizeof err);
        ASSERT(m);
        model_path(path, sizeof path, dir, kinds[i]);
        ASSERT(model_write(m, path, err, sizeof err) == 0);
        model_t *r = model_load(path, err, sizeof err);
        if (!r)
            FAIL("load: %s", err);
        ASSERT_EQ(r->kind, kinds[i]);
        ASSERT_EQ(r->nitems, m->nitems);
        ASSERT_EQ(r->dim, m->dim);
        ASSERT_EQ(r->created_ms, m->created_ms);
        ASSERT_EQ(r->users, m->users);
        ASSERT_STR_EQ(r->params, m->params);
        for (uint32_t it = 0; it < m->nitems; it++) {
            size_t n1, n2;
            const char *a = model_item_id(m, it, &n1), *b = model_item_id(r, it, &n2);
            ASSERT(n1 == n2 && memcmp(a, b, n1) == 0);
        }
        /* The loaded model answers exactly as the trained one. */
        model_in_t in[2] = {{0, 8, 1}, {2, 8, 1}};
        vec_hit_t o1[8], o2[8];
        size_t k1 = model_score(m, in, 2, o1, 8), k2 = model_score(r, in, 2, o2, 8);
        ASSERT_EQ(k1, k2);
        ASSERT(memcmp(o1, o2, k1 * sizeof *o1) == 0);
        model_free(r);
        model_free(m);
    }
    /* A ranker: weights, no items; read back as written, refused with items or another
     * feature count. */
    {
        model_t *m = model_new(MODEL_RANKER, 0, MODEL_RANKER_FEATURES);
        intern_t *none = intern_new();
        model_set_ids(m, none);
        intern_free(none);
        float *w = model_own(m, (3 * MODEL_RANKER_FEATURES + 1) * sizeof(float));
        for (int i = 0; i < 3 * MODEL_RANKER_FEATURES + 1; i++)
            w[i] = (float)i * 0.5f;
        m->ranker = w;
        m->params = strdup("{\"weights\":{}}");
        char rp[400];
        model_path(rp, sizeof rp, dir, MODEL_RANKER);
        ASSERT(model_write(m, rp, err, sizeof err) == 0);
        model_t *r = model_load(rp, err, sizeof err);
        if (!r)
            FAIL("load ranker: %s", err);
        ASSERT_EQ(r->kind, MODEL_RANKER);
        ASSERT_EQ(r->nitems, 0);
        ASSERT(memcmp(r->ranker, w, (3 * MODEL_RANKER_FEATURES + 1) * sizeof(float)) == 0);
        vec_hit_t none_out[4];
        model_in_t in1[1] = {{0, 1, 1}};
        ASSERT_EQ(model_score(r, in1, 1, none_out, 4), 0); /* it proposes nothing */
        model_free(r);
        m->dim = 7;
        ASSERT(model_write(m, rp, err, sizeof err) == 0);
        ASSERT(model_load(rp, err, sizeof err) == NULL);
        ASSERT_CONTAINS(err, "features");
        ASSERT(unlink(rp) == 0);
        m->dim = MODEL_RANKER_FEATURES;
        model_free(m);
    }
    model_path(path, sizeof path, dir, MODEL_IALS);
    snprintf(bad, sizeof bad, "%s/bad.model", dir);
    size_t len;
    free(file_read(path, &len));
    /* Every byte matters: a flip anywhere (header, table, padding-free payload) is refused. */
    long offs[] = {0, 9, 12, 30, 70, 124, 130, 200, (long)len - 1};
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        copy_file(path, bad, len);
        flip(bad, offs[i]);
        model_t *r = model_load(bad, err, sizeof err);
        if (r)
            FAIL("a flip at byte %ld was not noticed", offs[i]);
        ASSERT_CONTAINS(err, bad);
    }
    copy_file(path, bad, len);
    flip(bad, (long)len - 1);
    ASSERT(model_load(bad, err, sizeof err) == NULL);
    ASSERT_CONTAINS(err, "ials gram matrix section is damaged");
    copy_file(path, bad, len - 10);
    ASSERT(model_load(bad, err, sizeof err) == NULL);
    ASSERT_CONTAINS(err, "truncated");
    copy_file(path, bad, 50);
    ASSERT(model_load(bad, err, sizeof err) == NULL);
    ASSERT_CONTAINS(err, "not an Aisle model file");
    FILE *f = fopen(bad, "wb");
    fputs("{\"this is\":\"json\"}", f);
    fclose(f);
    ASSERT(model_load(bad, err, sizeof err) == NULL);
    ASSERT_CONTAINS(err, "not an Aisle model file");
    snprintf(bad, sizeof bad, "%s/missing.model", dir);
    ASSERT(model_load(bad, err, sizeof err) == NULL);
    ASSERT_CONTAINS(err, "cannot open");

    /* A model set over a store: ids map both ways; a damaged file is left out and named;
     * a file holding another kind than its name says is refused. */
    state_t *st = st_new();
    evt_t e = {0};
    buf_t b;
    buf_init(&b);
    const char *ids[] = {"Z", "A", "B", "C", "D", "E"}; /* Z: an item no model knows */
    for (int i = 0; i < 6; i++) {
        e.type = EVT_VIEW;
        e.ts_ms = 1;
        e.price = -1;
        e.user_id = (strv_t){"v", 1};
        e.item_id = (strv_t){ids[i], 1};
        b.len = 0;
        evt_encode(&e, &b);
        ASSERT(st_apply(st, REC_EVENT, b.data, b.len) == 0);
    }
    buf_free(&b);
    int failed, reused;
    ms_set_t *set = ms_load_dir(dir, st, NULL, 7, &failed, &reused, err, sizeof err);
    ASSERT_EQ(failed, 0);
    ASSERT_EQ(reused, 0);
    ASSERT_EQ(set->generation, 7);
    const ms_model_t *mm = ms_get(set, MODEL_EASE);
    ASSERT(mm);
    for (uint32_t i = 0; i < mm->m->nitems; i++) {
        size_t n;
        const char *id = model_item_id(mm->m, i, &n);
        uint32_t sid = intern_get(st->items, id, n);
        ASSERT_EQ(mm->to_store[i], sid);
        ASSERT_EQ(mm->to_model[sid], i);
    }
    ASSERT_EQ(mm->to_model[intern_get(st->items, "Z", 1)], MODEL_NONE);
    /* Loading again next to that set shares its unchanged models; a file written anew
     * (another inode) is read again. */
    model_path(path, sizeof path, dir, MODEL_KNN);
    copy_file(path, bad, SIZE_MAX);
    ASSERT(rename(bad, path) == 0);
    ms_set_t *again = ms_load_dir(dir, st, set, 8, &failed, &reused, err, sizeof err);
    ASSERT_EQ(failed, 0);
    ASSERT_EQ(reused, 2);
    ASSERT(ms_get(again, MODEL_EASE)->m == ms_get(set, MODEL_EASE)->m);
    ASSERT(ms_get(again, MODEL_IALS)->m == ms_get(set, MODEL_IALS)->m);
    ASSERT(ms_get(again, MODEL_KNN)->m != ms_get(set, MODEL_KNN)->m);
    ms_release(set); /* the shared models live on in `again` */
    ASSERT_EQ(ms_get(again, MODEL_EASE)->m->nitems, 5);
    ms_release(again);
    set = NULL;
    flip(path, 200);
    set = ms_load_dir(dir, st, NULL, 8, &failed, &reused, err, sizeof err);
    ASSERT_EQ(failed, 1);
    ASSERT(!ms_get(set, MODEL_KNN) && ms_get(set, MODEL_EASE) && ms_get(set, MODEL_IALS));
    ASSERT_CONTAINS(err, "knn.model");
    ms_release(set);
    char ease_path[400];
    model_path(ease_path, sizeof ease_path, dir, MODEL_EASE);
    model_path(path, sizeof path, dir, MODEL_IALS);
    copy_file(path, ease_path, SIZE_MAX);
    set = ms_load_dir(dir, st, NULL, 9, &failed, &reused, err, sizeof err);
    ASSERT_EQ(failed, 2);
    ms_release(set);
    st_free(st);
    ix_free(x);
    rmrf(dir);
}

TEST_MAIN(TEST_ENTRY(top_k_is_exact_on_long_lists), TEST_ENTRY(select_hits_keeps_the_best_k), TEST_ENTRY(matrix_sums_weights_and_merges_sessions), TEST_ENTRY(ease_matches_the_closed_form),
          TEST_ENTRY(knn_keeps_the_best_cosines), TEST_ENTRY(ials_loss_falls_and_fold_in_solves_exactly), TEST_ENTRY(ials_index_finds_what_an_exact_scan_finds),
          TEST_ENTRY(model_file_round_trip_and_damage))
