/* The sequence model: sequences taken from the log in order, the hand-written gradients
 * against finite differences (every-item and sampled softmax), training that learns an
 * order and is deterministic for a seed, and the model file round trip. */
#include "harness.h"
#include "models/interactions.h"
#include "models/model.h"
#include "models/seq.h"
#include "test.h"

#include <math.h>
#include <unistd.h>

static void add(ix_builder_t *b, const char *user, const char *item, evt_type_t type, int64_t ts)
{
    evt_t e = {0};
    e.type = type;
    e.ts_ms = ts;
    e.price = -1;
    e.user_id = (strv_t){user, strlen(user)};
    e.item_id = (strv_t){item, strlen(item)};
    ix_builder_add(b, &e);
}

/* Customers whose items follow each other in a cycle of n: customer u starts at u % n
 * and goes on for len steps. Items are named i0, i1, ... in the order first seen. */
static ix_matrix_t *cycles(uint32_t users, uint32_t n, uint32_t len)
{
    ix_builder_t *b = ix_builder_new(NULL);
    for (uint32_t u = 0; u < users; u++) {
        char user[16], item[16];
        snprintf(user, sizeof user, "u%u", u);
        for (uint32_t k = 0; k < len; k++) {
            snprintf(item, sizeof item, "i%u", (u + k) % n);
            add(b, user, item, EVT_VIEW, 1000 * (int64_t)(u * len + k));
        }
    }
    return ix_build(b);
}

static uint32_t item_no(const ix_matrix_t *x, const char *id)
{
    return intern_get(x->items, id, strlen(id));
}

TEST(sequences_follow_the_log)
{
    ix_builder_t *b = ix_builder_new(NULL);
    add(b, "u", "a", EVT_VIEW, 1);
    add(b, "v", "c", EVT_VIEW, 2);
    add(b, "u", "a", EVT_ADD_TO_CART, 3); /* the same item again: one step */
    add(b, "u", "b", EVT_VIEW, 4);
    add(b, "u", "a", EVT_PURCHASE, 5); /* back to a: a step of its own */
    ix_matrix_t *x = ix_build(b);
    ASSERT_EQ(x->nusers, 2);
    ASSERT_EQ(x->seq_off[1] - x->seq_off[0], 3);
    const uint32_t *s = x->seq + x->seq_off[0];
    ASSERT_EQ(s[0], item_no(x, "a"));
    ASSERT_EQ(s[1], item_no(x, "b"));
    ASSERT_EQ(s[2], item_no(x, "a"));
    ASSERT_EQ(x->seq_off[2] - x->seq_off[1], 1);
    ix_free(x);
}

/* A small untrained model with every weight moved off its initial value, so that no
 * gradient is zero by symmetry (layer norm gains of 1, biases of 0). */
static model_t *random_model(ix_matrix_t *x, uint32_t d, uint32_t blocks, uint32_t maxlen)
{
    seq_opts_t o;
    seq_opts_default(&o);
    o.dim = d;
    o.blocks = blocks;
    o.maxlen = maxlen;
    o.epochs = 0;
    o.valid_users = 0;
    o.threads = 1;
    char err[200];
    model_t *m = seq_train(x, &o, err, sizeof err);
    ASSERT(m);
    float *net = (float *)m->net;
    uint64_t r = 12345;
    for (size_t i = 0; i < seq_net_floats(d, blocks, maxlen); i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        net[i] += ((float)(r >> 40) / 16777216.0f - 0.5f) * 0.4f;
    }
    return m;
}

static double loss_of(const model_t *m, const ix_matrix_t *x, const uint32_t *neg, uint32_t nneg, float *gn, float *ge)
{
    return seq_loss_grad(m, x->seq, x->seq_off, x->nusers, neg, nneg, gn, ge);
}

/* Central differences on a sample of weights, in double steps of a float model: agree
 * to a few percent (float rounding) with the analytic gradient. */
static void check_gradient(uint32_t nneg)
{
    ix_matrix_t *x = cycles(5, 9, 7);
    uint32_t d = 8, blocks = 2, L = 4; /* sequences of 7: windows cut at 4 positions */
    model_t *m = random_model(x, d, blocks, L);
    size_t nf = seq_net_floats(d, blocks, L), ne = (size_t)x->nitems * d;
    float *gn = malloc(nf * sizeof *gn), *ge = malloc(ne * sizeof *ge);
    float *tn = malloc(nf * sizeof *tn), *te = malloc(ne * sizeof *te);
    uint32_t neg[4] = {1, 3, 4, 8};
    loss_of(m, x, neg, nneg, gn, ge);
    float *net = (float *)m->net, *emb = (float *)m->Y;
    int checked = 0;
    for (size_t k = 0; k < nf + ne; k += 7) {
        float *w = k < nf ? net + k : emb + (k - nf);
        float g = k < nf ? gn[k] : ge[k - nf];
        float keep = *w, h = 3e-3f; /* small enough not to cross a ReLU's kink, here */
        *w = keep + h;
        double up = loss_of(m, x, neg, nneg, tn, te);
        *w = keep - h;
        double down = loss_of(m, x, neg, nneg, tn, te);
        *w = keep;
        double fd = (up - down) / (2 * h);
        if (fabs(fd - g) > 1e-3 + 0.05 * fabs(fd))
            FAIL("weight %zu (%s): analytic %.6g, finite difference %.6g", k, k < nf ? "network" : "embedding", g,
                 fd);
        checked++;
    }
    ASSERT(checked > 100);
    free(gn);
    free(ge);
    free(tn);
    free(te);
    model_free(m);
    ix_free(x);
}

TEST(gradient_matches_finite_differences_full_softmax)
{
    check_gradient(0);
}

TEST(gradient_matches_finite_differences_sampled)
{
    check_gradient(4);
}

static model_t *train_cycles(ix_matrix_t *x, uint32_t negatives, int threads)
{
    seq_opts_t o;
    seq_opts_default(&o);
    o.dim = 16;
    o.blocks = 1;
    o.maxlen = 8;
    o.epochs = 60;
    o.batch = 16;
    o.lr = 1e-2f;
    o.dropout = 0.1f;
    o.negatives = negatives;
    o.lazy_adam = negatives > 0; /* the sampled runs also check the lazy update */
    o.valid_users = 0;
    o.threads = threads;
    char err[200];
    model_t *m = seq_train(x, &o, err, sizeof err);
    ASSERT(m);
    return m;
}

TEST(training_learns_what_comes_next)
{
    ix_matrix_t *x = cycles(60, 12, 6);
    for (int neg = 0; neg < 2; neg++) {
        model_t *m = train_cycles(x, neg ? 5 : 0, 2);
        /* i3 i4 i5 -> i6, wherever the cycle is entered. */
        int right = 0;
        for (uint32_t s = 0; s < 12; s++) {
            char a[16], b[16], c[16];
            snprintf(a, sizeof a, "i%u", s);
            snprintf(b, sizeof b, "i%u", (s + 1) % 12);
            snprintf(c, sizeof c, "i%u", (s + 2) % 12);
            uint32_t in[2] = {item_no(x, a), item_no(x, b)};
            vec_hit_t out[3];
            ASSERT_EQ(seq_score(m, in, 2, out, 3), 3);
            right += out[0].item == item_no(x, c);
            for (int k = 0; k < 3; k++) /* never what the sequence holds */
                ASSERT(out[k].item != in[0] && out[k].item != in[1]);
        }
        if (right < 11)
            FAIL("%s: %d of 12 next items right", neg ? "sampled" : "full softmax", right);
        model_free(m);
    }
    ix_free(x);
}

TEST(training_is_deterministic_for_a_seed)
{
    ix_matrix_t *x = cycles(40, 10, 5);
    model_t *a = train_cycles(x, 4, 2), *b = train_cycles(x, 4, 2);
    ASSERT(memcmp(a->Y, b->Y, (size_t)x->nitems * a->dim * sizeof(float)) == 0);
    ASSERT(memcmp(a->net, b->net, seq_net_floats(a->dim, a->blocks, a->maxlen) * sizeof(float)) == 0);
    model_free(a);
    model_free(b);
    ix_free(x);
}

TEST(model_file_round_trip)
{
    ix_matrix_t *x = cycles(30, 10, 5);
    model_t *m = train_cycles(x, 0, 1);
    char dir[] = "/tmp/aisle-test-seq-XXXXXX";
    ASSERT(mkdtemp(dir));
    char path[200], err[300];
    snprintf(path, sizeof path, "%s/sequence.model", dir);
    ASSERT(model_write(m, path, err, sizeof err) == 0);
    model_t *r = model_load(path, err, sizeof err);
    if (!r)
        FAIL("%s", err);
    ASSERT_EQ(r->kind, MODEL_SEQ);
    ASSERT_EQ(r->blocks, m->blocks);
    ASSERT_EQ(r->maxlen, m->maxlen);
    ASSERT_STR_EQ(model_kind_name(r->kind), "sequence");
    uint32_t in[3] = {1, 2, 3};
    float za[16], zb[16];
    ASSERT(seq_encode(m, in, 3, za) == 0 && seq_encode(r, in, 3, zb) == 0);
    ASSERT(memcmp(za, zb, sizeof za) == 0);
    ASSERT(seq_encode(r, in, 0, zb) == -1);
    /* The request path's shortcut (only the last position through the last block) gives
     * what the whole network gives at that position. */
    uint32_t longer[7] = {4, 1, 2, 3, 0, 5, 2};
    float every[7 * 16], last[16];
    ASSERT(seq_encode_every(r, longer, 7, every) == 0 && seq_encode(r, longer, 7, last) == 0);
    for (int k = 0; k < 16; k++) /* 7 items, maxlen 8: all read */
        ASSERT(fabsf(last[k] - every[6 * 16 + k]) <= 1e-5f * (1 + fabsf(last[k])));
    /* model_score reads a history newest first: the same answer as the sequence. */
    model_in_t h[3] = {{3, 1, 1}, {2, 1, 1}, {1, 1, 1}};
    vec_hit_t o1[4], o2[4];
    ASSERT_EQ(model_score(r, h, 3, o1, 4), 4);
    ASSERT_EQ(seq_score(r, in, 3, o2, 4), 4);
    for (int k = 0; k < 4; k++)
        ASSERT_EQ(o1[k].item, o2[k].item);
    model_free(r);
    model_free(m);
    unlink(path);
    rmdir(dir);
    ix_free(x);
}

TEST_MAIN(TEST_ENTRY(sequences_follow_the_log), TEST_ENTRY(gradient_matches_finite_differences_full_softmax),
          TEST_ENTRY(gradient_matches_finite_differences_sampled), TEST_ENTRY(training_learns_what_comes_next),
          TEST_ENTRY(training_is_deterministic_for_a_seed), TEST_ENTRY(model_file_round_trip))
