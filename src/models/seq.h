/* The sequence model: a self-attentive sequential recommender in the style of SASRec
 * (Kang & McAuley, ICDM 2018) that reads a customer's items in the order they came and
 * scores what comes next. Item and (reverse) position embeddings, pre-LN causal
 * self-attention blocks (one head) with a feed-forward layer, dropout, a final layer norm;
 * an item's score is the dot product of the last position's output with the item's own
 * embedding (shared with the input). Trained with a many-negatives softmax (sampled, or
 * over every item) by Adam, on OpenBLAS, deterministic for a seed and a thread count.
 * Serving runs the network over the customer's live sequence for each request. */
#ifndef AISLE_SEQ_H
#define AISLE_SEQ_H

#include "interactions.h"
#include "model.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t dim;         /* embedding size [64] */
    uint32_t blocks;      /* attention blocks [2] */
    uint32_t maxlen;      /* positions read: the last maxlen items [50] */
    float dropout;        /* on embeddings and each block's residual branches [0.3] */
    uint32_t epochs;      /* [40] */
    uint32_t batch;       /* sequences per step [128] */
    float lr;             /* Adam [1e-3] */
    uint32_t negatives;   /* shared sampled negatives per step; 0: softmax over every item [2048] */
    uint32_t valid_users; /* customers whose last item is held out for validation [2000] */
    uint32_t patience;    /* stop after this many epochs without a better validation [5]; 0: never */
    int lazy_adam;        /* 1: Adam updates only the embedding rows a step touches; 0: every
                             row (as PyTorch's Adam); -1: lazy past SEQ_LAZY_ITEMS items [-1] */
    int threads;          /* 0: every core */
    uint64_t seed;
    /* After each epoch (may be NULL): mean loss, validation NDCG@10 and HR@10 (full
     * ranking, seen items left out; -1 without validation), seconds of training. */
    void (*progress)(void *ud, uint32_t epoch, double loss, double ndcg, double hr, double seconds);
    void *progress_ud;
} seq_opts_t;

#define SEQ_LAZY_ITEMS 50000

void seq_opts_default(seq_opts_t *o);
/* Trains on x's sequences. The weights of the epoch with the best validation NDCG@10 are
 * kept (the last ones without validation). Returns the model (caller owns), or NULL with
 * err. */
model_t *seq_train(const ix_matrix_t *x, const seq_opts_t *o, char *err, size_t errlen);

/* The output for a sequence of model items, oldest first (only the last m->maxlen are
 * read), into out (room for dim): what the next item's embedding should point to.
 * Returns 0, or -1 when the sequence is empty. */
int seq_encode(const model_t *m, const uint32_t *items, size_t n, float *out);
/* For the tests: the output of every position (the full network, as in training, without
 * dropout; only the last min(n, maxlen) items) into out (that many x dim). seq_encode's
 * output is the last of them, worked out without the rest. */
int seq_encode_every(const model_t *m, const uint32_t *items, size_t n, float *out);
/* The k best next items for the sequence, leaving out its own items. */
size_t seq_score(const model_t *m, const uint32_t *items, size_t n, vec_hit_t *out, size_t k);

/* Floats of the network (everything but the item embeddings) for these sizes. */
size_t seq_net_floats(uint32_t dim, uint32_t blocks, uint32_t maxlen);

/* For the tests: the mean loss of one batch of sequences (each seq[off[s]..off[s+1]),
 * inputs all but the last item, targets all but the first) with dropout off, over the
 * given negatives (nneg 0: every item), and its gradient with respect to the network
 * (grad_net, seq_net_floats) and the item embeddings (grad_emb, nitems x dim), both
 * overwritten. */
double seq_loss_grad(const model_t *m, const uint32_t *seq, const uint64_t *off, uint32_t nseq,
                     const uint32_t *neg, uint32_t nneg, float *grad_net, float *grad_emb);

#endif
