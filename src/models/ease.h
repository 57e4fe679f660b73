/* EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019): an
 * item x item weight matrix in closed form, B = I - P diagMat(1/diag(P)) with
 * P = (X^T X + lambda I)^-1, diagonal zero. One dense inverse of the item Gram matrix
 * (Cholesky, LAPACK on OpenBLAS), so it suits catalogs up to some tens of thousands of
 * items; larger ones are refused with the model to use instead. A customer's scores
 * are the sum of the rows of B of the items in their history. */
#ifndef AISLE_EASE_H
#define AISLE_EASE_H

#include "interactions.h"
#include "model.h"

typedef struct {
    double lambda;
    uint32_t max_items; /* refuse above this many items (the inverse is dense) */
    int binary;         /* 1: X holds 1 per cell (the paper); 0: log(1 + weight) */
    int verbose;        /* each step's time on stderr as it finishes */
} ease_opts_t;

void ease_opts_default(ease_opts_t *o);
/* Bytes of memory training on n items takes. */
uint64_t ease_memory(uint32_t n);
/* Trains on x. Returns the model (caller owns), or NULL with err: too many items for a
 * dense inverse, not enough memory, or a factorisation that failed. */
model_t *ease_train(const ix_matrix_t *x, const ease_opts_t *o, char *err, size_t errlen);
size_t ease_score(const model_t *m, const model_in_t *in, size_t nin, vec_hit_t *out, size_t k);

#endif
