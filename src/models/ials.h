/* iALS: implicit-feedback matrix factorisation (Hu, Koren & Volinsky, ICDM 2008). Every
 * customer x item cell is a preference (1 where they interacted, 0 elsewhere) with a
 * confidence 1 + alpha * x_ui; customer and item factors are solved in turn, each side a
 * regularised weighted least-squares problem per row, solved approximately by a few
 * conjugate-gradient steps warm-started from the last sweep (Takacs, Pilaszy & Tikk,
 * RecSys 2011), so that a sweep costs O(nnz k + rows k^2) instead of O(rows k^3).
 * Serving folds a customer in from their live interactions with one exact k x k solve. */
#ifndef AISLE_IALS_H
#define AISLE_IALS_H

#include "interactions.h"
#include "model.h"

typedef struct {
    uint32_t factors;
    float lambda;
    float alpha;
    uint32_t iterations;
    uint32_t cg_steps;
    int binary; /* 1: x_ui = 1; 0: log(1 + weight) */
    int threads; /* 0: every core */
    uint64_t seed;
    /* Called after each iteration (may be NULL). */
    void (*progress)(void *ud, uint32_t iter, double loss, double seconds);
    void *progress_ud;
} ials_opts_t;

void ials_opts_default(ials_opts_t *o);
model_t *ials_train(const ix_matrix_t *x, const ials_opts_t *o, char *err, size_t errlen);
/* Folds the history in (x = (Y^T Y + lambda I + sum (c-1) y y^T)^-1 sum c y, with
 * c = 1 + alpha * w) into out_factor (room for dim; may be NULL). Returns 0, or -1 when
 * the history has no item of the model. */
int ials_fold_in(const model_t *m, const model_in_t *in, size_t nin, float *out_factor);
size_t ials_score(const model_t *m, const model_in_t *in, size_t nin, vec_hit_t *out, size_t k);

#endif
