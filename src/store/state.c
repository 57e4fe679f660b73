/* Applying records to the in-memory store, and rendering what it holds as JSON. */
#include "state.h"

#include "../util/hash.h"
#include "../util/timeutil.h"

#include <stdlib.h>
#include <string.h>

#define SEEN_SEED 0xa15e5eedull

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n, sz);
    if (!p)
        abort();
    return p;
}

state_t *st_new(void)
{
    state_t *st = xcalloc(1, sizeof *st);
    pthread_rwlock_init(&st->lock, NULL);
    st->users = intern_new();
    st->items = intern_new();
    st->sessions = intern_new();
    st->categories = intern_new();
    st->brands = intern_new();
    st->orders = intern_new();
    st->seen_mask = 1023;
    st->seen = xcalloc(st->seen_mask + 1, sizeof(uint64_t));
    return st;
}

void st_free(state_t *st)
{
    if (!st)
        return;
    for (uint32_t i = 0; i < intern_count(st->items); i++)
        json_decref(st->item[i].doc);
    for (uint32_t i = 0; i < intern_count(st->users); i++)
        json_decref(st->user[i].doc);
    free(st->item);
    free(st->user);
    free(st->session);
    free(st->seen);
    intern_free(st->users);
    intern_free(st->items);
    intern_free(st->sessions);
    intern_free(st->categories);
    intern_free(st->brands);
    intern_free(st->orders);
    pthread_rwlock_destroy(&st->lock);
    free(st);
}

/* Grows a per-id array so that index id exists, zero-filling new entries and running
 * init on them. */
#define ENSURE(arr, cap, id, init)                                                                             \
    do {                                                                                                       \
        if ((id) >= (cap)) {                                                                                   \
            uint32_t ncap = (cap) ? (cap) : 1024;                                                              \
            while (ncap <= (id))                                                                               \
                ncap *= 2;                                                                                     \
            void *np = realloc((arr), (size_t)ncap * sizeof *(arr));                                           \
            if (!np)                                                                                           \
                abort();                                                                                       \
            (arr) = np;                                                                                        \
            memset((arr) + (cap), 0, (size_t)(ncap - (cap)) * sizeof *(arr));                                  \
            for (uint32_t k_ = (cap); k_ < ncap; k_++)                                                         \
                init(&(arr)[k_]);                                                                              \
            (cap) = ncap;                                                                                      \
        }                                                                                                      \
    } while (0)

static void item_init(st_item_t *it)
{
    it->brand = it->category = INTERN_NONE;
    it->price = -1;
}

static void user_init(st_user_t *u)
{
    u->last_order = INTERN_NONE;
}

static void session_init(st_session_t *s)
{
    s->user = INTERN_NONE;
}

static uint32_t item_id(state_t *st, const char *s, size_t n)
{
    uint32_t id = intern_put(st->items, s, n, NULL);
    ENSURE(st->item, st->item_cap, id, item_init);
    return id;
}

static uint32_t user_id(state_t *st, const char *s, size_t n)
{
    uint32_t id = intern_put(st->users, s, n, NULL);
    ENSURE(st->user, st->user_cap, id, user_init);
    return id;
}

static uint32_t session_id(state_t *st, const char *s, size_t n)
{
    uint32_t id = intern_put(st->sessions, s, n, NULL);
    ENSURE(st->session, st->session_cap, id, session_init);
    return id;
}

static uint64_t seen_hash(const char *id, size_t n)
{
    uint64_t h = hash_bytes(id, n, SEEN_SEED);
    return h ? h : 1;
}

int st_event_seen(const state_t *st, const char *id, size_t n)
{
    uint64_t h = seen_hash(id, n);
    for (uint64_t j = h & st->seen_mask;; j = (j + 1) & st->seen_mask) {
        if (st->seen[j] == 0)
            return 0;
        if (st->seen[j] == h)
            return 1;
    }
}

static void seen_add(state_t *st, const char *id, size_t n)
{
    if ((st->seen_count + 1) * 10 > (st->seen_mask + 1) * 7) {
        uint64_t nmask = st->seen_mask * 2 + 1;
        uint64_t *ns = xcalloc(nmask + 1, sizeof(uint64_t));
        for (uint64_t i = 0; i <= st->seen_mask; i++) {
            uint64_t h = st->seen[i];
            if (!h)
                continue;
            uint64_t j = h & nmask;
            while (ns[j])
                j = (j + 1) & nmask;
            ns[j] = h;
        }
        free(st->seen);
        st->seen = ns;
        st->seen_mask = nmask;
    }
    uint64_t h = seen_hash(id, n);
    uint64_t j = h & st->seen_mask;
    while (st->seen[j]) {
        if (st->seen[j] == h)
            return;
        j = (j + 1) & st->seen_mask;
    }
    st->seen[j] = h;
    st->seen_count++;
}

static void apply_event(state_t *st, const evt_t *e)
{
    if (e->event_id.p)
        seen_add(st, e->event_id.p, e->event_id.n);
    st->events++;
    st->by_type[e->type]++;
    if (e->ts_ms > st->last_event_ms)
        st->last_event_ms = e->ts_ms;

    uint32_t uid = INTERN_NONE;
    if (e->session_id.p) {
        uint32_t sid = session_id(st, e->session_id.p, e->session_id.n);
        st_session_t *s = &st->session[sid];
        if (e->user_id.p) {
            uint32_t u = user_id(st, e->user_id.p, e->user_id.n);
            st->session[sid].user = u; /* the session logged in */
        }
        s = &st->session[sid];
        uid = s->user;
        s->events++;
        if (e->ts_ms > s->last_seen_ms)
            s->last_seen_ms = e->ts_ms;
    } else if (e->user_id.p) {
        uid = user_id(st, e->user_id.p, e->user_id.n);
    }

    double value = 0;
    uint32_t qty = e->quantity ? e->quantity : 1;
    if (e->type == EVT_PURCHASE && e->price > 0)
        value = e->price * qty;

    if (e->item_id.p) {
        uint32_t iid = item_id(st, e->item_id.p, e->item_id.n); /* may move st->item */
        st_item_t *it = &st->item[iid];
        it->counts[e->type]++;
        if (e->ts_ms > it->last_event_ms)
            it->last_event_ms = e->ts_ms;
    }
    if (uid != INTERN_NONE) {
        st_user_t *u = &st->user[uid];
        u->counts[e->type]++;
        if (!u->first_seen_ms || e->ts_ms < u->first_seen_ms)
            u->first_seen_ms = e->ts_ms;
        if (e->ts_ms > u->last_seen_ms)
            u->last_seen_ms = e->ts_ms;
        if (e->type == EVT_PURCHASE) {
            u->units += qty;
            u->revenue += value;
            uint32_t oid = e->order_id.p ? intern_put(st->orders, e->order_id.p, e->order_id.n, NULL) : INTERN_NONE;
            if (oid == INTERN_NONE || oid != u->last_order)
                u->orders++;
            u->last_order = oid;
        }
    }
}

static int decode_doc(const void *p, size_t n, const char **id, size_t *idn, json_t **doc)
{
    rd_t r = {p, (const unsigned char *)p + n};
    if (rd_str(&r, id, idn) || *idn == 0)
        return -1;
    if (!doc)
        return r.p == r.end ? 0 : -1;
    json_error_t je;
    *doc = json_loadb((const char *)r.p, (size_t)(r.end - r.p), 0, &je);
    return *doc && json_is_object(*doc) ? 0 : (json_decref(*doc), -1);
}

static void apply_item(state_t *st, const char *id, size_t idn, json_t *doc)
{
    uint32_t iid = item_id(st, id, idn);
    st_item_t *it = &st->item[iid];
    if (!it->doc && doc)
        st->live_items++;
    else if (it->doc && !doc)
        st->live_items--;
    json_decref(it->doc);
    it->doc = doc;
    it->price = -1;
    it->brand = it->category = INTERN_NONE;
    it->in_stock = 0;
    if (!doc)
        return;
    json_t *v = json_object_get(doc, "price");
    if (json_is_number(v))
        it->price = json_number_value(v);
    it->in_stock = json_is_true(json_object_get(doc, "in_stock"));
    v = json_object_get(doc, "brand");
    if (json_is_string(v))
        it->brand = intern_put(st->brands, json_string_value(v), json_string_length(v), NULL);
    v = json_object_get(doc, "categories");
    if (json_is_array(v) && json_array_size(v)) {
        /* Intern every prefix of the path ("Home", "Home/Kitchen", ...), keep the leaf. */
        buf_t path;
        buf_init(&path);
        size_t i;
        json_t *c;
        json_array_foreach(v, i, c)
        {
            if (i)
                buf_append(&path, "/", 1);
            buf_append(&path, json_string_value(c), json_string_length(c));
            it->category = intern_put(st->categories, path.data, path.len, NULL);
        }
        buf_free(&path);
    }
}

int st_apply(state_t *st, uint8_t type, const void *payload, size_t len)
{
    const char *id;
    size_t idn;
    json_t *doc;
    switch (type) {
    case REC_EVENT: {
        evt_t e;
        if (evt_decode(payload, len, &e) != 0)
            return -1;
        apply_event(st, &e);
        return 0;
    }
    case REC_ITEM_PUT:
        if (decode_doc(payload, len, &id, &idn, &doc) != 0)
            return -1;
        apply_item(st, id, idn, doc);
        return 0;
    case REC_ITEM_DEL:
        if (decode_doc(payload, len, &id, &idn, NULL) != 0)
            return -1;
        apply_item(st, id, idn, NULL);
        return 0;
    case REC_USER_PUT: {
        if (decode_doc(payload, len, &id, &idn, &doc) != 0)
            return -1;
        uint32_t uid = user_id(st, id, idn);
        st_user_t *u = &st->user[uid];
        json_decref(u->doc);
        u->doc = doc;
        return 0;
    }
    default:
        return -1;
    }
}

void st_encode_doc(buf_t *out, const char *id, size_t idn, json_t *doc)
{
    buf_put_str(out, id, idn);
    size_t need = json_dumpb(doc, NULL, 0, JSON_COMPACT);
    buf_reserve(out, need);
    out->len += json_dumpb(doc, out->data + out->len, need, JSON_COMPACT);
}

void st_encode_id(buf_t *out, const char *id, size_t idn)
{
    buf_put_str(out, id, idn);
}

static void dump_into(buf_t *out, json_t *doc)
{
    size_t need = json_dumpb(doc, NULL, 0, JSON_COMPACT);
    buf_reserve(out, need);
    out->len += json_dumpb(doc, out->data + out->len, need, JSON_COMPACT);
    out->data[out->len] = '\0';
}

/* Writes doc without its closing brace, ready for more members: "{...," or "{". */
static void open_doc(buf_t *out, json_t *doc)
{
    dump_into(out, doc);
    out->len--; /* the '}' */
    if (out->data[out->len - 1] != '{')
        buf_append(out, ",", 1);
}

int st_item_json(const state_t *st, const char *id, size_t n, buf_t *out)
{
    uint32_t iid = intern_get(st->items, id, n);
    if (iid == INTERN_NONE || !st->item[iid].doc)
        return -1;
    const st_item_t *it = &st->item[iid];
    open_doc(out, it->doc);
    buf_puts(out, "\"stats\":{");
    for (int t = 0; t < EVT__COUNT; t++)
        buf_printf(out, "%s\"%s\":%u", t ? "," : "", evt_type_name(t), it->counts[t]);
    if (it->last_event_ms) {
        char ts[32];
        time_format_rfc3339(it->last_event_ms, ts);
        buf_printf(out, ",\"last_event_at\":\"%s\"", ts);
    }
    buf_puts(out, "}}");
    return 0;
}

int st_user_json(const state_t *st, const char *id, size_t n, buf_t *out)
{
    uint32_t uid = intern_get(st->users, id, n);
    if (uid == INTERN_NONE)
        return -1;
    const st_user_t *u = &st->user[uid];
    if (u->doc) {
        open_doc(out, u->doc);
    } else {
        buf_puts(out, "{\"user_id\":");
        buf_put_json_str(out, id, n);
        buf_puts(out, ",");
    }
    buf_puts(out, "\"computed\":{\"events\":{");
    uint32_t total = 0;
    for (int t = 0; t < EVT__COUNT; t++) {
        buf_printf(out, "%s\"%s\":%u", t ? "," : "", evt_type_name(t), u->counts[t]);
        total += u->counts[t];
    }
    buf_printf(out, "},\"total_events\":%u,\"orders\":%u,\"units_purchased\":%u,\"revenue\":%.2f", total, u->orders,
               u->units, u->revenue);
    char ts[32];
    if (u->first_seen_ms) {
        time_format_rfc3339(u->first_seen_ms, ts);
        buf_printf(out, ",\"first_seen\":\"%s\"", ts);
        time_format_rfc3339(u->last_seen_ms, ts);
        buf_printf(out, ",\"last_seen\":\"%s\"", ts);
    }
    buf_puts(out, "}}");
    return 0;
}

size_t st_memory(const state_t *st)
{
    return intern_bytes(st->users) + intern_bytes(st->items) + intern_bytes(st->sessions) +
           intern_bytes(st->categories) + intern_bytes(st->brands) + intern_bytes(st->orders) +
           (size_t)st->item_cap * sizeof(st_item_t) + (size_t)st->user_cap * sizeof(st_user_t) +
           (size_t)st->session_cap * sizeof(st_session_t) + (st->seen_mask + 1) * sizeof(uint64_t);
}
