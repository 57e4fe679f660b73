/* `aisle train`: the models trained on the whole log (item-kNN, EASE, iALS, the sequence
 * model, the ranker), each written
 * to DIR/models/<kind>.model for `aisle serve` to load. The same entry points train
 * inside `aisle eval` (on a split of the log) and in the server's background retraining. */
#ifndef AISLE_TRAIN_H
#define AISLE_TRAIN_H

#include "ease.h"
#include "ials.h"
#include "interactions.h"
#include "knn.h"
#include "model.h"
#include "seq.h"

typedef struct {
    ix_config_t ix;
    knn_opts_t knn;
    ease_opts_t ease;
    ials_opts_t ials;
    seq_opts_t seq;
    int verbose; /* progress lines on stderr */
} train_opts_t;

void train_opts_default(train_opts_t *o);
/* Trains one model on x. Returns it (caller owns), or NULL with err. */
model_t *train_model(const ix_matrix_t *x, model_kind_t kind, const train_opts_t *o, char *err, size_t errlen);
/* Applies a flag of the training options (--neighbours, --lambda, --factors, ...) to o.
 * Returns 0, 1 when the name is not a training flag, or -1 after printing why the
 * value is wrong. Shared by `aisle train` and `aisle eval`. */
int train_set_flag(train_opts_t *o, const char *name, const char *val);
/* The help lines of those flags. */
extern const char train_flags_help[];
/* The `aisle train` subcommand. */
int train_main(int argc, char **argv);

#endif
