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

static void shared_release(ms_shared_t *sh)
{
    if (sh && atomic_fetch_sub_explicit(&sh->refs, 1, memory_order_acq_rel) == 1) {
        model_free(sh->m);
        free(sh);
    }
}

static void clear(ms_model_t *k)
{
    shared_release(k->sh);
    free(k->to_store);
    free(k->to_model);
    memset(k, 0, sizeof *k);
}

/* Puts a shared model into s (taking the caller's reference) and maps its items. */
static void add_shared(ms_set_t *s, ms_shared_t *sh, const state_t *st, const char *path)
{
    model_t *m = sh->m;
    ms_model_t *k = &s->kind[m->kind];
    clear(k);
    k->sh = sh;
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

static ms_shared_t *shared_new(model_t *m, const struct stat *sb)
{
    ms_shared_t *sh = calloc(1, sizeof *sh);
    if (!sh)
        abort();
    atomic_init(&sh->refs, 1);
    sh->m = m;
    if (sb) {
        sh->dev = (uint64_t)sb->st_dev;
        sh->ino = (uint64_t)sb->st_ino;
        sh->size = (uint64_t)sb->st_size;
        sh->mtime_ns = (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
    }
    return sh;
}

void ms_add(ms_set_t *s, model_t *m, const state_t *st, const char *path)
{
    add_shared(s, shared_new(m, NULL), st, path);
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

ms_set_t *ms_load_dir(const char *data_dir, const state_t *st, const ms_set_t *prev, uint64_t generation,
                      int *failed, int *reused, char *err, size_t errlen)
{
    ms_set_t *s = ms_new(generation);
    ms_shared_t *got[MODEL__MAX + 1] = {0};
    char paths[MODEL__MAX + 1][1200];
    *failed = *reused = 0;
    if (errlen)
        err[0] = '\0';
    for (int k = MODEL_KNN; k <= MODEL__MAX; k++) {
        char *path = paths[k], why[1400];
        struct stat sb;
        model_path(path, sizeof paths[k], data_dir, (model_kind_t)k);
        if (stat(path, &sb) != 0)
            continue;
        const ms_model_t *old = ms_get(prev, (model_kind_t)k);
        ms_shared_t *osh = old ? old->sh : NULL;
        if (osh && osh->dev == (uint64_t)sb.st_dev && osh->ino == (uint64_t)sb.st_ino &&
            osh->size == (uint64_t)sb.st_size &&
            osh->mtime_ns == (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec) {
            atomic_fetch_add_explicit(&osh->refs, 1, memory_order_relaxed);
            got[k] = osh;
            (*reused)++;
            continue;
        }
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
        got[k] = shared_new(m, &sb);
    }
    pthread_rwlock_rdlock((pthread_rwlock_t *)&st->lock);
    for (int k = MODEL_KNN; k <= MODEL__MAX; k++)
        if (got[k])
            add_shared(s, got[k], st, paths[k]);
    pthread_rwlock_unlock((pthread_rwlock_t *)&st->lock);
    return s;
}
