/* Item-kNN: for every item its K most similar items by cosine similarity of their
 * customer vectors (who interacted with both, weighted), with an optional shrinkage
 * that discounts similarities resting on few customers. A customer's scores are the
 * neighbours of their history's items, summed. */
#ifndef AISLE_KNN_H
#define AISLE_KNN_H

#include "interactions.h"
#include "model.h"

typedef struct {
    uint32_t neighbours; /* K */
    float shrink;        /* sim = dot / (|a| |b| + shrink) */
    int binary;          /* 1: one per cell; 0: log(1 + weight) */
    int threads;         /* 0: every core */
} knn_opts_t;

void knn_opts_default(knn_opts_t *o);
/* Caller owns the model; NULL with err when there is nothing to train on. */
model_t *knn_train(const ix_matrix_t *x, const knn_opts_t *o, char *err, size_t errlen);
size_t knn_score(const model_t *m, const model_in_t *in, size_t nin, vec_hit_t *out, size_t k);

#endif
