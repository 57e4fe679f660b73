/* The trained models a server (or an evaluation) answers with: at most one of each kind,
 * with their items mapped to the store's ids both ways. A set is immutable once built
 * and reference-counted, so that a new set is swapped in while requests go on with the
 * old one, which is freed when its last reader lets go. */
#ifndef AISLE_MODELSET_H
#define AISLE_MODELSET_H

#include "../store/state.h"
#include "model.h"

#include <stdatomic.h>

/* A loaded model, shared by the sets that hold it: a reload keeps a file it already
 * holds (same inode, size and modification time) instead of reading it again. */
typedef struct {
    atomic_int refs;
    model_t *m;
    uint64_t dev, ino, size;
    int64_t mtime_ns;
} ms_shared_t;

typedef struct {
    model_t *m; /* sh->m */
    ms_shared_t *sh;
    uint32_t *to_store; /* model item -> store item (INTERN_NONE: unknown to the store) */
    uint32_t *to_model; /* store item -> model item (MODEL_NONE), for store ids < nstore */
    uint32_t nstore;
    char path[1024]; /* where it was loaded from ("" when trained in memory) */
} ms_model_t;

typedef struct {
    atomic_int refs;
    ms_model_t kind[MODEL__MAX + 1]; /* by model_kind_t; m NULL when absent */
    uint64_t generation;
    int64_t loaded_ms;
} ms_set_t;

/* An empty set with one reference. Caller owns; ms_release frees. */
ms_set_t *ms_new(uint64_t generation);
/* Adds m (taking ownership; replacing a model of its kind) and maps its items to st's.
 * Call with st's lock held (reading is enough). */
void ms_add(ms_set_t *s, model_t *m, const state_t *st, const char *path);
const ms_model_t *ms_get(const ms_set_t *s, model_kind_t kind);
void ms_retain(ms_set_t *s);
void ms_release(ms_set_t *s);
/* Loads DIR/models/<kind>.model for every kind whose file exists; a model of prev (may
 * be NULL) whose file has not changed since is shared instead of read again (*reused
 * counts them). A file that is damaged or does not match is left out with its reason in
 * err (the first one), and *failed counts them. Files are read and checked outside any
 * lock; st's read lock is taken only to map the items (so ingest is not held up).
 * Caller owns the result. */
ms_set_t *ms_load_dir(const char *data_dir, const state_t *st, const ms_set_t *prev, uint64_t generation,
                      int *failed, int *reused, char *err, size_t errlen);

#endif
