/* A trained model (item-kNN, EASE, iALS, the sequence model or the ranker) and its file. A model is a few flat arrays
 * indexed by the model's own item numbers, plus the item ids as the shop spells them
 * (the server maps them to its ids when it loads the model).
 *
 * File (little endian), written whole to a temporary name and renamed into place:
 *   header, 128 bytes: "AISLEMDL", u32 version, u32 kind, u32 nitems, u32 dim,
 *     i64 created_ms, u64 events, u64 users, f64 train_seconds, u32 nsections,
 *     u32 table_crc, u64 file_bytes, zeros, u32 header_crc (CRC32C of bytes 0..123);
 *   section table: nsections x {u32 id, u32 crc32c, u64 offset, u64 bytes};
 *   sections, each at a 64-byte aligned offset, so the file read (or mapped) whole is
 *   used in place.
 * Every byte is covered by a checksum: a damaged, truncated or foreign file is refused
 * with a message saying what is wrong, and nothing of it is used. */
#ifndef AISLE_MODEL_H
#define AISLE_MODEL_H

#include "../util/vec.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    MODEL_KNN = 1,
    MODEL_EASE = 2,
    MODEL_IALS = 3,
    MODEL_RANKER = 4,
    MODEL_SEQ = 5,
    MODEL__MAX = 5
} model_kind_t;

#define MODEL_VERSION 1
#define MODEL_RANKER_FEATURES 33 /* RK_NFEAT (src/rank/ranker.h), checked there */
#define MODEL_NONE UINT32_MAX

typedef struct {
    model_kind_t kind;
    uint32_t nitems;
    uint32_t dim; /* knn: neighbour slots per item; ease: nitems; ials: factors; sequence:
                     embedding size; ranker: features (no items) */
    /* Item i's id is ids[id_off[i] .. id_off[i+1]). */
    const uint32_t *id_off;
    const char *ids;
    /* knn: item i's neighbours, best first, MODEL_NONE past the last. */
    const uint32_t *nbr;
    const float *sim;
    /* ease: row h of the weight matrix: what having h adds to each item's score. */
    const float *B;
    /* ials: item factors (nitems x dim), their Gram matrix Y^T Y (dim x dim), and the
     * regularisation and confidence scale the customer side is solved with. sequence:
     * Y holds the item embeddings. */
    const float *Y, *gram;
    float lambda, alpha;
    /* sequence: the network (seq_net_floats(dim, blocks, maxlen) floats, src/models/seq.c
     * lays them out), its attention blocks and the positions it reads. */
    const float *net;
    uint32_t blocks, maxlen;
    /* ranker: 3 dim + 1 floats, the layout of rk_model_t (src/rank/ranker.h): weights,
     * bias, feature means, feature scales. */
    const float *ranker;
    /* ials and sequence, large catalogs: the approximate index (ials_index), derived at load: ivf_n
     * clusters (centroids ivf_cent), cluster c's rows ivf_start[c] .. ivf_start[c+1],
     * row r being item ivf_items[r] with int8 factors Yq[r] (times Yscale[r]). */
    const float *ivf_cent, *ivf_radius;
    const uint32_t *ivf_start, *ivf_items;
    uint32_t ivf_n;
    const int8_t *Yq;
    const float *Yscale;
    /* How a history's weights become cell values, as in training: 1 (binary), or
     * log(1 + weight). */
    int binary;
    /* About the training. */
    int64_t created_ms;
    uint64_t events, users;
    double train_seconds;
    char *params; /* hyperparameters as a JSON object; owned */
    /* What backs the arrays: memory the model owns (a file read whole, or a trainer's
     * arrays); map_len: bytes of the file it was read from, 0 when trained here. */
    size_t map_len;
    void *own[12];
    int nown;
} model_t;

const char *model_kind_name(model_kind_t k); /* "knn", "ease", "ials", "ranker", "sequence" */
/* 0 when unknown. */
model_kind_t model_kind_from_name(const char *s);

/* An empty model of a kind, to be filled by a trainer; arrays given to model_own are
 * freed with it. Caller owns; model_free frees. */
model_t *model_new(model_kind_t kind, uint32_t nitems, uint32_t dim);
void *model_own(model_t *m, size_t bytes); /* zeroed, 64-byte aligned, aborts on OOM */
/* Copies the item ids (model item i = interned id i of ids). */
struct intern;
void model_set_ids(model_t *m, const struct intern *ids);
void model_free(model_t *m);

/* The id of model item i. */
const char *model_item_id(const model_t *m, uint32_t i, size_t *n);

/* Writes m to path atomically (temporary file, fsync, rename, fsync of the folder).
 * Returns 0, or -1 with err. */
int model_write(const model_t *m, const char *path, char *err, size_t errlen);
/* Reads and checks the file at path. Returns the model (caller owns), or NULL with err. */
model_t *model_load(const char *path, char *err, size_t errlen);
/* Checks and reads a model from memory that stays alive and unchanged while the model
 * is used (the fuzz driver's entry point; model_load reads the file and calls it). */
model_t *model_parse(const void *data, size_t len, char *err, size_t errlen);

/* A customer's history as a model reads it: model item numbers with the summed weights
 * of the customer's events on each (the units of ix_config_t.weight). */
typedef struct {
    uint32_t item;
    float w;
    float r; /* how much it counts now (recency): multiplies its cell value; 1: fully */
} model_in_t;

/* The value a matrix cell of summed weight w has for a model: 1 (binary), or
 * log(1 + w). Training and serving both go through it, so they cannot disagree. */
static inline float model_value(int binary, float w)
{
    return binary ? 1.0f : __builtin_log1pf(w);
}

/* The cell value of a weight, as the model was trained. */
static inline float model_cell(const model_t *m, float w)
{
    return model_value(m->binary, w);
}

/* The k best items for a history, best first, leaving out the history's own items.
 * Returns how many. Thread-safe: a model is read-only once built. The sequence model
 * reads an order instead (seq_score); here it takes the history as given, newest first. */
size_t model_score(const model_t *m, const model_in_t *in, size_t nin, vec_hit_t *out, size_t k);

/* DIR/models/<kind>.model */
void model_path(char *out, size_t cap, const char *data_dir, model_kind_t kind);

#endif
