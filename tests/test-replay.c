/* Replay on two threads (st_replay_*) against st_apply record by record: the same log
 * must give the same state, field by field, whatever the hand-over between the threads
 * (blocks, the decode stage, catalog records that make it drain). */
#include "harness.h"
#include "ingest/event.h"
#include "store/state.h"
#include "test.h"

#include <stddef.h>

typedef struct {
    uint8_t type;
    buf_t b;
} rec_t;

static uint64_t rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static void item_put(rec_t *r, int i, int cat)
{
    char id[16], json[200];
    snprintf(id, sizeof id, "i%d", i);
    snprintf(json, sizeof json, "{\"item_id\":\"%s\",\"title\":\"Thing %d\",\"categories\":[\"C%d\",\"C%d/%d\"],"
             "\"brand\":\"B%d\",\"price\":%d.5,\"in_stock\":true}", id, i, cat, cat, i % 3, i % 7, 1 + i % 40);
    json_error_t je;
    json_t *doc = json_loads(json, 0, &je);
    ASSERT(doc);
    r->type = REC_ITEM_PUT;
    buf_init(&r->b);
    st_encode_doc(&r->b, id, strlen(id), doc);
    json_decref(doc);
}

/* A log of n records: a catalog, then events (customers, anonymous sessions that log in,
 * orders, repeated event ids), with catalog changes, a customer document and a damaged
 * record in the middle. */
static rec_t *make_log(size_t n, uint64_t seed)
{
    rec_t *r = calloc(n, sizeof *r);
    ASSERT(r);
    size_t k = 0;
    for (int i = 0; i < 150 && k < n; i++)
        item_put(&r[k++], i, i % 5);
    uint64_t s = seed;
    int64_t ts = 1764000000000LL;
    char user[16], sess[16], item[16], order[16], eid[24];
    while (k < n) {
        uint64_t x = rnd(&s);
        if (k % 5000 == 2500) { /* the catalog changes while events flow */
            item_put(&r[k++], (int)(x % 170), (int)(x % 9));
            continue;
        }
        if (k % 997 == 300) { /* customer documents between events, new customers too */
            r[k].type = REC_USER_PUT;
            buf_init(&r[k].b);
            snprintf(user, sizeof user, "u%d", k % 7 ? (int)(x % 400) : 7);
            json_t *doc = json_pack("{s:s,s:i}", "user_id", user, "tier", (int)(k % 5));
            st_encode_doc(&r[k].b, user, strlen(user), doc);
            json_decref(doc);
            k++;
            continue;
        }
        if (k == n / 2) { /* not a decodable event */
            r[k].type = REC_EVENT;
            buf_init(&r[k].b);
            buf_puts(&r[k].b, "\x07garbage");
            k++;
            continue;
        }
        evt_t e = {0};
        e.type = (int)(x % EVT__COUNT);
        ts += (int64_t)(x % 90000);
        e.ts_ms = ts - (int64_t)(rnd(&s) % 3 == 0 ? rnd(&s) % 600000 : 0); /* some late */
        e.price = x % 4 ? (double)(x % 50) : -1;
        e.quantity = (uint32_t)(x % 3);
        int u = (int)(rnd(&s) % 300), ss = (int)(rnd(&s) % 200);
        snprintf(user, sizeof user, "u%d", u);
        snprintf(sess, sizeof sess, "s%d", ss);
        snprintf(item, sizeof item, "i%d", (int)(rnd(&s) % 170));
        snprintf(order, sizeof order, "o%d", (int)(k / 4));
        snprintf(eid, sizeof eid, "e%d", (int)(rnd(&s) % 15000)); /* repeats */
        uint64_t who = rnd(&s) % 3; /* 0: customer, 1: anonymous, 2: both (a login) */
        if (who != 1)
            e.user_id = (strv_t){user, strlen(user)};
        if (who != 0)
            e.session_id = (strv_t){sess, strlen(sess)};
        if (e.type != EVT_SEARCH)
            e.item_id = (strv_t){item, strlen(item)};
        else
            e.query = (strv_t){"mug", 3};
        if (e.type == EVT_PURCHASE && x % 2)
            e.order_id = (strv_t){order, strlen(order)};
        if (x % 2)
            e.event_id = (strv_t){eid, strlen(eid)};
        r[k].type = REC_EVENT;
        buf_init(&r[k].b);
        evt_encode(&e, &r[k].b);
        k++;
    }
    return r;
}

static void same_table(const intern_t *a, const intern_t *b)
{
    ASSERT_EQ(intern_count(a), intern_count(b));
    for (uint32_t i = 0; i < intern_count(a); i++) {
        size_t na, nb;
        const char *sa = intern_str(a, i, &na), *sb = intern_str(b, i, &nb);
        ASSERT(na == nb && memcmp(sa, sb, na) == 0);
    }
}

static void same_cooc(const cooc_t *a, const cooc_t *b, uint32_t nitems)
{
    for (uint32_t i = 0; i < nitems; i++) {
        const cooc_slot_t *sa, *sb;
        size_t na = cooc_get(a, i, &sa), nb = cooc_get(b, i, &sb);
        ASSERT_EQ(na, nb);
        ASSERT(na == 0 || memcmp(sa, sb, na * sizeof *sa) == 0);
    }
}

/* The documents' bytes as the arrays hold them: what st->doc_bytes must say. */
static size_t doc_bytes_of(const state_t *st)
{
    size_t n = 0;
    for (uint32_t i = 0; i < intern_count(st->items); i++)
        if (st->item[i].doc)
            n += st->item[i].doc_len + 1u + (st->item[i].title ? st->item[i].title_len + 1u : 0);
    for (uint32_t i = 0; i < intern_count(st->users); i++)
        if (st->user[i].doc)
            n += st->user[i].doc_len + 1u;
    return n;
}

static void same_state(const state_t *a, const state_t *b)
{
    ASSERT_EQ(a->events, b->events);
    ASSERT(memcmp(a->by_type, b->by_type, sizeof a->by_type) == 0);
    ASSERT_EQ(a->last_event_ms, b->last_event_ms);
    ASSERT_EQ(a->seen_cur, b->seen_cur);
    ASSERT_EQ(a->seen_since_ms, b->seen_since_ms);
    for (int g = 0; g < 2; g++)
        ASSERT_EQ(a->seen[g].count, b->seen[g].count);
    same_table(a->users, b->users);
    same_table(a->items, b->items);
    same_table(a->sessions, b->sessions);
    same_table(a->orders, b->orders);
    same_table(a->categories, b->categories);
    ASSERT(a->doc_bytes == doc_bytes_of(a) && b->doc_bytes == doc_bytes_of(b) && a->doc_bytes > 0);
    for (uint32_t i = 0; i < intern_count(a->items); i++) {
        const st_item_t *x = &a->item[i], *y = &b->item[i];
        ASSERT(memcmp(x->counts, y->counts, sizeof x->counts) == 0);
        ASSERT(x->last_event_ms == y->last_event_ms && x->pop_ms == y->pop_ms);
        ASSERT(x->pop_short == y->pop_short && x->pop_long == y->pop_long);
        ASSERT(x->price == y->price && x->category == y->category && x->brand == y->brand);
        ASSERT((x->doc == NULL) == (y->doc == NULL));
        ASSERT(!x->doc || (x->doc_len == y->doc_len && memcmp(x->doc, y->doc, x->doc_len + 1) == 0));
        ASSERT(x->title_len == y->title_len && (x->title == NULL) == (y->title == NULL));
        ASSERT(!x->title || memcmp(x->title, y->title, x->title_len + 1) == 0);
        /* The filters' copy agrees with the item, on both sides. */
        const st_filt_t *fa = &a->filt[i], *fb = &b->filt[i];
        ASSERT(fa->price == fb->price && fa->brand == fb->brand && fa->category == fb->category &&
               fa->live == fb->live && fa->in_stock == fb->in_stock);
        ASSERT(fa->live == (x->doc != NULL) && fa->in_stock == x->in_stock);
        ASSERT(fa->price == x->price && fa->category == x->category && fa->brand == x->brand);
    }
    for (uint32_t i = 0; i < intern_count(a->users); i++) {
        const st_user_t *x = &a->user[i], *y = &b->user[i];
        ASSERT(memcmp(x->counts, y->counts, sizeof x->counts) == 0);
        ASSERT(x->first_seen_ms == y->first_seen_ms && x->last_seen_ms == y->last_seen_ms);
        ASSERT(x->orders == y->orders && x->last_order == y->last_order && x->units == y->units);
        ASSERT(x->revenue == y->revenue && a->user_prof[i] == b->user_prof[i]);
        ASSERT((x->doc == NULL) == (y->doc == NULL));
        ASSERT(!x->doc || (x->doc_len == y->doc_len && memcmp(x->doc, y->doc, x->doc_len + 1) == 0));
    }
    for (uint32_t i = 0; i < intern_count(a->sessions); i++)
        ASSERT(memcmp(&a->session[i], &b->session[i], sizeof a->session[i]) == 0);
    ASSERT_EQ(a->nprof, b->nprof);
    for (uint32_t i = 0; i < a->nprof; i++) {
        const prof_t *x = &a->prof[i], *y = &b->prof[i];
        ASSERT(memcmp(x, y, offsetof(prof_t, bought)) == 0);
        ASSERT_EQ(x->nbought, y->nbought);
        for (uint32_t k = 0; k < x->nbought; k++) /* field by field: the struct has padding */
            ASSERT(x->bought[k].item == y->bought[k].item && x->bought[k].count == y->bought[k].count &&
                   x->bought[k].last_s == y->bought[k].last_s);
    }
    same_cooc(a->coview, b->coview, intern_count(a->items));
    same_cooc(a->cobuy, b->cobuy, intern_count(a->items));
}

TEST(two_threads_rebuild_what_one_builds)
{
    /* Past several hand-over blocks (4,096 events) and many decode stages (32). */
    size_t n = 30000;
    rec_t *log = make_log(n, 42);
    state_t *a = st_new(), *b = st_new();
    st_replay_t *r = st_replay_new(b);
    int bad = 0;
    for (size_t k = 0; k < n; k++) {
        int ra = st_apply(a, log[k].type, log[k].b.data, log[k].b.len);
        int rb = st_replay_add(r, log[k].type, log[k].b.data, log[k].b.len);
        ASSERT_EQ(ra, rb); /* the damaged record is refused by both */
        bad += ra != 0;
        /* The caller's buffer is reused at once, as the log reader's is. */
        memset(log[k].b.data, 0xee, log[k].b.len);
    }
    st_replay_finish(r);
    ASSERT_EQ(bad, 1);
    ASSERT(a->events > 25000);
    same_state(a, b);
    ASSERT(a->nprof > 100 && a->user[intern_get(a->users, "u7", 2)].doc);
    for (size_t k = 0; k < n; k++)
        buf_free(&log[k].b);
    free(log);
    st_free(a);
    st_free(b);
}

/* A view of i1 by u1 at ts_ms, with event_id eid (none when NULL), applied to a on one
 * thread and handed to r (replay on two). */
static void view_to_both(state_t *a, st_replay_t *r, const char *eid, int64_t ts_ms)
{
    evt_t e = {0};
    e.type = EVT_VIEW;
    e.ts_ms = ts_ms;
    e.price = -1;
    if (eid)
        e.event_id = (strv_t){eid, strlen(eid)};
    e.user_id = (strv_t){"u1", 2};
    e.item_id = (strv_t){"i1", 2};
    buf_t rec;
    buf_init(&rec);
    evt_encode(&e, &rec);
    ASSERT_EQ(st_apply(a, REC_EVENT, rec.data, rec.len), 0);
    ASSERT_EQ(st_replay_add(r, REC_EVENT, rec.data, rec.len), 0);
    buf_free(&rec);
}

/* The event-id set (duplicates are refused by it) keeps every id as it grows, on one
 * thread and on two, reserved up front or not, and grows by doubling: 60,000 ids in
 * 2^17 slots at the 0.7 load bound (growing past it by quadrupling took 2^18). */
TEST(the_event_id_set_keeps_every_id_and_doubles)
{
    state_t *a = st_new(), *b = st_new();
    st_reserve_for_log(b, 100 * 3000); /* room for 3,000: outgrown */
    st_replay_t *r = st_replay_new(b);
    char eid[24];
    for (int i = 0; i < 60000; i++) {
        snprintf(eid, sizeof eid, "ev%d", i);
        view_to_both(a, r, eid, 1764000000000LL + i);
    }
    st_replay_finish(r);
    state_t *both[] = {a, b};
    for (int k = 0; k < 2; k++) {
        const st_seen_t *g = &both[k]->seen[both[k]->seen_cur];
        ASSERT_EQ(g->count, 60000);
        ASSERT_EQ(g->mask + 1, 1u << 17);
        for (int i = 0; i < 60100; i++) {
            snprintf(eid, sizeof eid, "ev%d", i);
            ASSERT_EQ(st_event_seen(both[k], eid, strlen(eid)), i < 60000);
        }
    }
    st_free(a);
    st_free(b);
}

/* With a dedup window the set forgets: an id is remembered for at least a window of
 * stream time (the latest event time), at most two, whatever the order of late events;
 * one thread and two forget the same ids. A window of an hour, an event with an id every
 * minute for five hours: the generations turn at 1, 2, 3 and 4 hours, so the ids of the
 * last two hours are kept, not those before. */
TEST(the_event_id_set_forgets_ids_past_the_dedup_window)
{
    st_config_t cfg;
    st_config_default(&cfg);
    cfg.dedup_window_ms = 3600 * 1000;
    state_t *a = st_new_with(&cfg), *b = st_new_with(&cfg);
    st_reserve_for_log(b, 1u << 20);
    st_replay_t *r = st_replay_new(b);
    const int64_t t0 = 1764000000000LL;
    char eid[24];
    for (int i = 0; i < 300; i++) {
        snprintf(eid, sizeof eid, "w%d", i);
        view_to_both(a, r, eid, t0 + i * 60000LL);
        view_to_both(a, r, NULL, t0 - 86400000LL); /* each minute, an id-less one from long ago */
        /* Every id of the last hour is always remembered. */
        for (int k = i >= 60 ? i - 60 : 0; k <= i; k++) {
            snprintf(eid, sizeof eid, "w%d", k);
            ASSERT(st_event_seen(a, eid, strlen(eid)));
        }
    }
    st_replay_finish(r);
    for (int i = 0; i < 300; i++) {
        snprintf(eid, sizeof eid, "w%d", i);
        ASSERT_EQ(st_event_seen(a, eid, strlen(eid)), i >= 180);
        ASSERT_EQ(st_event_seen(b, eid, strlen(eid)), i >= 180);
    }
    /* The generation after the first is sized by the window before it: no growing. */
    ASSERT_EQ(a->seen[a->seen_cur].count, 60);
    ASSERT_EQ(a->seen[a->seen_cur].mask + 1, 1024);
    st_free(a);
    st_free(b);
}

TEST(an_empty_replay_and_one_of_catalog_only)
{
    state_t *st = st_new();
    st_replay_finish(st_replay_new(st));
    st_replay_t *r = st_replay_new(st);
    rec_t one;
    item_put(&one, 1, 1);
    ASSERT_EQ(st_replay_add(r, one.type, one.b.data, one.b.len), 0);
    st_replay_finish(r);
    ASSERT_EQ(intern_count(st->items), 1);
    ASSERT(st->item[0].doc);
    buf_free(&one.b);
    st_free(st);
}

/* Customer documents are kept as the text the log holds, checked on the way in: odd but
 * valid text renders as valid JSON, and text that is not one JSON object is refused, on
 * one thread and on two alike. */
TEST(customer_documents_are_checked_text)
{
    static const char *good[] = {"{\"user_id\":\"u1\",\"tier\":\"gold\"}", "{ }", "{}",
                                 "{\"a\":{\"b\":[1,2.5,null,true]} \n}"};
    static const char *bad[] = {"{\"user_id\":zu9\"}", "{\"a\":1}{}", "{\"a\":1", "{\"a\"}", "[1]", "{\"a\":\"\xff\"}"};
    for (int threaded = 0; threaded < 2; threaded++) {
        state_t *st = st_new();
        st_replay_t *r = threaded ? st_replay_new(st) : NULL;
        buf_t b;
        buf_init(&b);
        for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
            char id[8];
            snprintf(id, sizeof id, "g%zu", i);
            b.len = 0;
            st_encode_id(&b, id, strlen(id));
            buf_append(&b, good[i], strlen(good[i]));
            ASSERT_EQ(threaded ? st_replay_add(r, REC_USER_PUT, b.data, b.len) : st_apply(st, REC_USER_PUT, b.data, b.len), 0);
        }
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
            b.len = 0;
            st_encode_id(&b, "x", 1);
            buf_append(&b, bad[i], strlen(bad[i]));
            if ((threaded ? st_replay_add(r, REC_USER_PUT, b.data, b.len) : st_apply(st, REC_USER_PUT, b.data, b.len)) != -1)
                FAIL("accepted %s", bad[i]);
        }
        if (r)
            st_replay_finish(r);
        ASSERT_EQ(intern_count(st->users), sizeof good / sizeof *good);
        for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
            char id[8];
            snprintf(id, sizeof id, "g%zu", i);
            b.len = 0;
            ASSERT_EQ(st_user_json(st, id, strlen(id), &b), 0);
            json_error_t je;
            json_t *out = json_loadb(b.data, b.len, 0, &je);
            if (!out)
                FAIL("customer %s renders invalid JSON: %s: %.*s", id, je.text, (int)b.len, b.data);
            json_t *doc = st_user_doc(st, (uint32_t)i), *want = json_loads(good[i], 0, NULL);
            ASSERT(doc && want && json_equal(doc, want));
            const char *key;
            json_t *val;
            json_object_foreach(want, key, val) {
                ASSERT(json_equal(json_object_get(out, key), val));
            }
            ASSERT(json_object_get(out, "computed"));
            json_decref(out);
            json_decref(doc);
            json_decref(want);
        }
        buf_free(&b);
        st_free(st);
    }
}

/* Catalog documents are kept as the log's text with the title beside it, unescaped:
 * GET /v1/items answers with the text, answers name items by the title. A replaced item
 * takes the new text and title, a deleted one has neither, one without a title has none. */
TEST(item_documents_are_the_logs_text_with_the_title_beside)
{
    static const char *title = "Say \\\"hi\\\" \\\\ caf\\u00e9 mug\\n"; /* as JSON writes it */
    static const char *exact = "Say \"hi\" \\ caf\xc3\xa9 mug\n";
    char json[256];
    snprintf(json, sizeof json, "{\"item_id\":\"m1\",\"title\":\"%s\",\"price\":2.5,\"in_stock\":true}", title);
    for (int threaded = 0; threaded < 2; threaded++) {
        state_t *st = st_new();
        st_replay_t *r = threaded ? st_replay_new(st) : NULL;
        const char *docs[] = {json, "{\"item_id\":\"m1\",\"price\":3}", "{\"item_id\":\"m2\",\"title\":\"Plain\"}"};
        buf_t b, out, text;
        buf_init(&b);
        buf_init(&out);
        buf_init(&text);
        for (int k = 0; k < 3; k++) {
            json_error_t je;
            json_t *doc = json_loads(docs[k], 0, &je);
            ASSERT(doc);
            const char *id = k == 2 ? "m2" : "m1";
            b.len = 0;
            st_encode_doc(&b, id, 2, doc);
            ASSERT_EQ(r ? st_replay_add(r, REC_ITEM_PUT, b.data, b.len) : st_apply(st, REC_ITEM_PUT, b.data, b.len), 0);
            if (k == 0) {
                if (r)
                    st_replay_finish(r);
                r = NULL;
                const st_item_t *it = &st->item[intern_get(st->items, "m1", 2)];
                ASSERT(it->title && it->title_len == strlen(exact) && memcmp(it->title, exact, it->title_len + 1) == 0);
                /* The document answered is the text the log holds, then the stats. */
                text.len = 0;
                st_dump_doc(&text, doc);
                ASSERT(it->doc_len == text.len && strcmp(it->doc, text.data) == 0);
                ASSERT_EQ(st_item_json(st, "m1", 2, &out), 0);
                ASSERT(strncmp(out.data, text.data, text.len - 1) == 0 && out.data[text.len - 1] == ',');
                json_t *back = json_loads(out.data, 0, &je);
                ASSERT(back);
                ASSERT_STR_EQ(json_string_value(json_object_get(back, "title")), exact);
                ASSERT(json_is_object(json_object_get(back, "stats")));
                json_decref(back);
                json_t *parsed = st_item_doc(st, intern_get(st->items, "m1", 2));
                ASSERT(parsed && json_equal(parsed, doc));
                json_decref(parsed);
            }
            json_decref(doc);
        }
        const st_item_t *m1 = &st->item[intern_get(st->items, "m1", 2)], *m2 = &st->item[intern_get(st->items, "m2", 2)];
        ASSERT(m1->doc && !m1->title && m1->title_len == 0 && m1->price == 3);
        ASSERT(m2->title && strcmp(m2->title, "Plain") == 0 && m2->title_len == 5);
        b.len = 0;
        st_encode_id(&b, "m2", 2);
        ASSERT_EQ(st_apply(st, REC_ITEM_DEL, b.data, b.len), 0);
        m2 = &st->item[intern_get(st->items, "m2", 2)];
        ASSERT(!m2->doc && !m2->title && st_item_doc(st, intern_get(st->items, "m2", 2)) == NULL);
        out.len = 0;
        ASSERT_EQ(st_item_json(st, "m2", 2, &out), -1);
        /* Text with space around (a log this server did not write) still answers JSON. */
        b.len = 0;
        st_encode_id(&b, "m3", 2);
        buf_puts(&b, " {\"title\":\"T\" } \n");
        ASSERT_EQ(st_apply(st, REC_ITEM_PUT, b.data, b.len), 0);
        out.len = 0;
        ASSERT_EQ(st_item_json(st, "m3", 2, &out), 0);
        json_error_t je;
        json_t *back = json_loads(out.data, 0, &je);
        ASSERT(back && strcmp(json_string_value(json_object_get(back, "title")), "T") == 0);
        ASSERT(json_is_object(json_object_get(back, "stats")));
        json_decref(back);
        ASSERT(st->doc_bytes == doc_bytes_of(st) && st->doc_bytes > 0);
        buf_free(&b);
        buf_free(&out);
        buf_free(&text);
        st_free(st);
    }
}

TEST_MAIN(TEST_ENTRY(two_threads_rebuild_what_one_builds), TEST_ENTRY(the_event_id_set_keeps_every_id_and_doubles),
          TEST_ENTRY(the_event_id_set_forgets_ids_past_the_dedup_window),
          TEST_ENTRY(an_empty_replay_and_one_of_catalog_only),
          TEST_ENTRY(customer_documents_are_checked_text),
          TEST_ENTRY(item_documents_are_the_logs_text_with_the_title_beside))
