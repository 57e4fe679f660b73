/* Building and sharing model sets. */
#include "modelset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../util/timeutil.h"

ms_set_t *ms_new(uint64_t generation)
{
    ms_set_t *s = calloc(1, sizeof *s);
    if (!s)
        abort();
    atomic_init(&s->refs, 1);
    s->generation = generation;
    s->loaded_ms = time_now_ms();
    return s;
}

static void clear(ms_model_t *k)
{
    model_free(k->m);
    free(k->to_store);
    free(k->to_model);
    memset(k, 0, sizeof *k);
}

void ms_add(ms_set_t *s, model_t *m, const state_t *st, const char *path)
{
    ms_model_t *k = &s->kind[m->kind];
    clear(k);
    k->m = m;
    snprintf(k->path, sizeof k->path, "%s", path ? path : "");
    k->nstore = intern_count(st->items);
    k->to_store = malloc(((size_t)m->nitems + 1) * sizeof *k->to_store);
    k->to_model = malloc(((size_t)k->nstore + 1) * sizeof *k->to_model);
    if (!k->to_store || !k->to_model)
        abort();
    memset(k->to_model, 0xff, ((size_t)k->nstore + 1) * sizeof *k->to_model);
    for (uint32_t i = 0; i < m->nitems; i++) {
        size_t n;
        const char *id = model_item_id(m, i, &n);
        uint32_t sid = intern_get(st->items, id, n);
        k->to_store[i] = sid;
        if (sid != INTERN_NONE && sid < k->nstore)
            k->to_model[sid] = i;
    }
}

const ms_model_t *ms_get(const ms_set_t *s, model_kind_t kind)
{
    if (!s || kind < MODEL_KNN || kind > MODEL__MAX || !s->kind[kind].m)
        return NULL;
    return &s->kind[kind];
}

void ms_retain(ms_set_t *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void ms_release(ms_set_t *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (int k = 0; k <= MODEL__MAX; k++)
        clear(&s->kind[k]);
    free(s);
}

ms_set_t *ms_load_dir(const char *data_dir, const state_t *st, uint64_t generation, int *failed, char *err,
                      size_t errlen)
{
    ms_set_t *s = ms_new(generation);
    model_t *loaded[MODEL__MAX + 1] = {0};
    char paths[MODEL__MAX + 1][1200];
    *failed = 0;
    if (errlen)
        err[0] = '\0';
    for (int k = MODEL_KNN; k <= MODEL__MAX; k++) {
        char *path = paths[k], why[1400];
        struct stat sb;
        model_path(path, sizeof paths[k], data_dir, (model_kind_t)k);
        if (stat(path, &sb) != 0)
            continue;
        model_t *m = model_load(path, why, sizeof why);
        if (m && m->kind != (model_kind_t)k) {
            snprintf(why, sizeof why, "%s holds a %s model, not %s", path, model_kind_name(m->kind),
                     model_kind_name((model_kind_t)k));
            model_free(m);
            m = NULL;
        }
        if (!m) {
            if (!*failed && errlen)
                snprintf(err, errlen, "%s", why);
            (*failed)++;
            continue;
        }
        loaded[k] = m;
    }
    pthread_rwlock_rdlock((pthread_rwlock_t *)&st->lock);
    for (int k = MODEL_KNN; k <= MODEL__MAX; k++)
        if (loaded[k])
            ms_add(s, loaded[k], st, paths[k]);
    pthread_rwlock_unlock((pthread_rwlock_t *)&st->lock);
    return s;
}
