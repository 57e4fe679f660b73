/* aisle import: the Online Retail preset (Latin-1, cancellations, anonymous lines, bad
 * numbers) with exact summary counts, re-import as all duplicates, the log replayed into
 * a state and served by the real server; sequences; generic CSV (RFC 4180 quoting,
 * mapping flags and file); NDJSON; usage errors; the data-directory lock. Fixtures are
 * written by the tests themselves. */
#include "harness.h"
#include "store/log.h"
#include "store/state.h"
#include "test.h"
#include "util/timeutil.h"

#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>

#define DAY_MS 86400000LL

typedef struct {
    int status; /* exit status, or -1 when killed by a signal */
    char *out, *err;
} run_t;

static char *slurp_path(const char *path)
{
    char *buf = file_read(path, NULL);
    return buf ? buf : calloc(1, 1);
}

static void write_file(const char *path, const char *data)
{
    FILE *f = fopen(path, "wb");
    ASSERT(f);
    ASSERT(fwrite(data, 1, strlen(data), f) == strlen(data));
    fclose(f);
}

/* Runs `aisle import ARGS...` (NULL-terminated) and captures its output. */
static void run_import(run_t *r, ...)
{
    const char *argv[64];
    int n = 0;
    argv[n++] = AISLE_BIN;
    argv[n++] = "import";
    va_list ap;
    va_start(ap, r);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 62)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    char dir[256], out[300], err[300];
    tmpdir_make(dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(err, sizeof err, "%s/err", dir);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644), fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fo < 0 || fe < 0)
            _exit(126);
        dup2(fo, 1);
        dup2(fe, 2);
        setenv("LSAN_OPTIONS", "suppressions=" LSAN_SUPP ":print_suppressions=0", 1);
        unsetenv("AISLE_DATA");
        execv(AISLE_BIN, (char *const *)argv);
        _exit(127);
    }
    int st;
    ASSERT(waitpid(pid, &st, 0) == pid);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r->out = slurp_path(out);
    r->err = slurp_path(err);
    rmrf(dir);
}

static void run_free(run_t *r)
{
    free(r->out);
    free(r->err);
}

/* Runs an import that must succeed with --json; returns the summary. */
static json_t *import_json(run_t *r)
{
    if (r->status != 0)
        FAIL("import failed (status %d): %s", r->status, r->err);
    json_error_t je;
    json_t *j = json_loads(r->out, 0, &je);
    if (!j)
        FAIL("summary is not JSON (%s): %s", je.text, r->out);
    run_free(r);
    return j;
}

/* The midnight before yesterday's, as the end of the synthetic period (always in the past). */
static int64_t test_end_ms(char out[32])
{
    int64_t end = (time_now_ms() / DAY_MS - 1) * DAY_MS;
    time_format_rfc3339(end, out);
    return end;
}

/* 20 invoice lines in Latin-1 with CRLF line ends, as the UCI file: what each becomes is
 * at its end. */
static const char retail_csv[] =
    "InvoiceNo,StockCode,Description,Quantity,UnitPrice,CustomerID,Country\r\n"
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2.55,17850,United Kingdom\r\n" /* sale */
    "536365,71053,WHITE METAL LANTERN,6,3.39,17850,United Kingdom\r\n"                 /* sale */
    "536365,22752,\"SET 7 BABUSHKA NESTING BOXES\",2,7.65,17850,United Kingdom\r\n"    /* sale */
    "536366,22633,HAND WARMER UNION JACK,6,1.85,13047,France\r\n"                      /* sale */
    "536366,90001,\"TEA COSY \xA3" "5 OFFER, \"\"SPECIAL\"\"\",1,5.00,13047,France\r\n" /* sale */
    "536366,POST,POSTAGE,1,18.00,13047,France\r\n"                                     /* non_product */
    "C536367,85123A,WHITE HANGING HEART T-LIGHT HOLDER,-2,2.55,17850,United Kingdom\r\n" /* cancellation, matched */
    "536368,85123A,WHITE HANGING HEART T-LIGHT HOLDER,4,2.95,,United Kingdom\r\n"       /* sale, anonymous */
    "536368,71053,white  metal lantern ,2,3.39,,United Kingdom\r\n"                     /* sale, anonymous */
    "536369,22633,HAND WARMER UNION JACK,0,1.85,13047,France\r\n"                       /* quantity_not_positive */
    "536369,21777,damaged,-5,0,,United Kingdom\r\n"                                     /* quantity_not_positive */
    "536370,84029G,KNITTED UNION FLAG HOT WATER BOTTLE,3,0,17850,United Kingdom\r\n"    /* price_not_positive */
    "536370,85123a,WHITE HANGING HEART T-LIGHT HOLDER,1,2.55,17850,United Kingdom\r\n"  /* sale (85123A) */
    "536371,22633,HAND WARMER UNION JACK,12,1.85,12583,Germany\r\n"                     /* sale */
    "536371,22633,HAND WARMER UNION JACK,12,1.85,12583,Germany\r\n"                     /* sale: line 2 */
    "C536372,22633,HAND WARMER UNION JACK,-12,1.85,99999,Germany\r\n"                   /* cancellation */
    "536373,90001,TEA COSY \xA3" "5 OFFER,1,4.50,12583.0,Germany\r\n"                   /* sale (12583) */
    "536373,,NO CODE,1,1.00,12583,Germany\r\n"                                          /* no_item */
    "536373,22752,SET 7 BABUSHKA NESTING BOXES,abc,7.65,12583,Germany\r\n"              /* invalid_number */
    "536374,22752,SET 7 BABUSHKA NESTING BOXES,1,7.65,12583\r\n";                       /* malformed_line */

#define TEA_COSY "TEA COSY \xC2\xA3" "5 OFFER, \"SPECIAL\""

static void retail_fixture(char dir[256], char file[300])
{
    tmpdir_make(dir);
    snprintf(file, 300, "%s.csv", dir);
    write_file(file, retail_csv);
}

static json_t *import_retail(const char *dir, const char *file, const char *end)
{
    run_t r;
    run_import(&r, "--data", dir, "--format=online-retail", "--end", end, "--days", "9", "--json", file, NULL);
    return import_json(&r);
}

static void check_retail_first(json_t *j)
{
    ASSERT_EQ(jint(j, "records"), 20);
    ASSERT_EQ(jint(j, "events.imported"), 11);
    ASSERT_EQ(jint(j, "events.duplicates"), 0);
    ASSERT_EQ(jint(j, "events.skipped.cancellation"), 2);
    ASSERT_EQ(jint(j, "events.skipped.non_product"), 1);
    ASSERT_EQ(jint(j, "events.skipped.quantity_not_positive"), 2);
    ASSERT_EQ(jint(j, "events.skipped.price_not_positive"), 1);
    ASSERT_EQ(jint(j, "events.skipped.no_item"), 1);
    ASSERT_EQ(jint(j, "events.skipped.invalid_number"), 1);
    ASSERT_EQ(jint(j, "events.skipped.malformed_line"), 1);
    ASSERT_EQ(json_object_size(jget(j, "events.skipped")), 7);
    ASSERT_EQ(jint(j, "items.created"), 5);
    ASSERT_EQ(jint(j, "items.updated"), 0);
    ASSERT_EQ(jint(j, "items.unchanged"), 0);
    ASSERT_EQ(jint(j, "customers.created"), 3);
    ASSERT_EQ(jint(j, "cancellations.lines"), 2);
    ASSERT_EQ(jint(j, "cancellations.matched"), 1);
    ASSERT_EQ(jint(j, "log_records_before"), 0);
}

TEST(online_retail_counts_and_reimport)
{
    char dir[256], file[300], end[32];
    test_end_ms(end);
    retail_fixture(dir, file);
    json_t *j = import_retail(dir, file, end);
    check_retail_first(j);
    json_decref(j);

    /* Again: nothing new. */
    j = import_retail(dir, file, end);
    ASSERT_EQ(jint(j, "records"), 20);
    ASSERT_EQ(jint(j, "events.imported"), 0);
    ASSERT_EQ(jint(j, "events.duplicates"), 11);
    ASSERT_EQ(jint(j, "events.skipped.cancellation"), 2);
    ASSERT_EQ(jint(j, "items.created"), 0);
    ASSERT_EQ(jint(j, "items.unchanged"), 5);
    ASSERT_EQ(jint(j, "customers.created"), 0);
    ASSERT_EQ(jint(j, "customers.unchanged"), 3);
    ASSERT_EQ(jint(j, "log_records_before"), 11 + 5 + 3);
    json_decref(j);

    /* The text summary names the reasons. */
    run_t r;
    run_import(&r, "--data", dir, "--format", "online-retail", "--end", end, file, NULL);
    ASSERT_EQ(r.status, 0);
    ASSERT_CONTAINS(r.out, "0 imported, 11 duplicates, 9 skipped");
    ASSERT_CONTAINS(r.out, "cancellation 2");
    ASSERT_CONTAINS(r.out, "1 of them cancel an earlier purchase");
    ASSERT(strchr(r.err, '\r') == NULL); /* no progress bar when stderr is not a terminal */
    run_free(&r);
    rmrf(dir);
    remove(file);
}

static int replay_apply(void *ud, uint8_t type, const void *p, size_t n, uint64_t lsn)
{
    (void)lsn;
    ASSERT(st_apply(ud, type, p, n) == 0);
    return 0;
}

/* An item's or a customer's document, parsed from the text the store keeps (caller owns). */
static json_t *doc_of(state_t *st, int item, const char *id)
{
    uint32_t x = intern_get(item ? st->items : st->users, id, strlen(id));
    if (x == INTERN_NONE)
        FAIL("no %s %s in the replayed state", item ? "item" : "user", id);
    return item ? st_item_doc(st, x) : st_user_doc(st, x);
}

/* A string member of a document. */
static const char *doc_str(state_t *st, int item, const char *id, const char *key)
{
    static char out[256];
    json_t *d = doc_of(st, item, id);
    const char *v = json_string_value(json_object_get(d, key));
    snprintf(out, sizeof out, "%s", v ? v : "(none)");
    json_decref(d);
    return out;
}

/* A number member of an item's document (NAN when absent). */
static double item_num(state_t *st, const char *id, const char *key)
{
    json_t *d = doc_of(st, 1, id);
    json_t *v = json_object_get(d, key);
    double x = json_is_number(v) ? json_number_value(v) : NAN;
    json_decref(d);
    return x;
}

TEST(online_retail_log_replays_and_serves)
{
    char dir[256], file[300], end[32];
    int64_t end_ms = test_end_ms(end);
    retail_fixture(dir, file);
    json_t *j = import_retail(dir, file, end);
    check_retail_first(j);
    json_decref(j);

    /* The log replays into what the summary said. */
    char logdir[300];
    snprintf(logdir, sizeof logdir, "%s/log", dir);
    log_opts_t o;
    log_opts_default(&o);
    log_t *l;
    ASSERT(log_open(logdir, &o, &l) == 0);
    state_t *st = st_new();
    log_replay_stats_t rs;
    ASSERT(log_replay(l, replay_apply, st, &rs) == 0);
    log_close(l);
    ASSERT_EQ(rs.records, 11 + 5 + 3);
    ASSERT_EQ(st->events, 11);
    ASSERT_EQ(st->by_type[EVT_PURCHASE], 11);
    ASSERT_EQ(st->live_items, 5);
    ASSERT_STR_EQ(doc_str(st, 1, "90001", "title"), TEA_COSY);
    ASSERT_STR_EQ(doc_str(st, 1, "71053", "title"), "WHITE METAL LANTERN");
    /* The most common price (2.55 twice, 2.95 once), GBP. */
    ASSERT(item_num(st, "85123A", "price") == 2.55);
    ASSERT_STR_EQ(doc_str(st, 1, "85123A", "currency"), "GBP");
    ASSERT(item_num(st, "22633", "price") == 1.85);
    ASSERT_EQ(intern_get(st->items, "POST", 4), INTERN_NONE);
    ASSERT_EQ(intern_get(st->items, "84029G", 6), INTERN_NONE); /* never sold */
    ASSERT_STR_EQ(doc_str(st, 0, "13047", "country"), "France");
    ASSERT_STR_EQ(doc_str(st, 0, "12583", "country"), "Germany");
    ASSERT_EQ(intern_get(st->users, "99999", 5), INTERN_NONE); /* only a cancellation */
    ASSERT(st_event_seen(st, "or-536365-1", 11));
    ASSERT(st_event_seen(st, "or-536371-2", 11));
    ASSERT(st_event_seen(st, "or-536370-2", 11));
    ASSERT(!st_event_seen(st, "or-536370-1", 11));
    ASSERT(intern_get(st->sessions, "inv-536368", 10) != INTERN_NONE);
    /* 9 invoices (the malformed line's does not count), one a day over --days 9, the
     * last one at --end: 17850's first is 536365 (rank 0), its last 536370 (rank 5). */
    const st_user_t *u = &st->user[intern_get(st->users, "17850", 5)];
    ASSERT_EQ(u->counts[EVT_PURCHASE], 4);
    ASSERT_EQ(u->orders, 2);
    ASSERT_EQ(u->units, 15);
    ASSERT_EQ(u->first_seen_ms, end_ms - 8 * DAY_MS);
    ASSERT_EQ(u->last_seen_ms, end_ms - 3 * DAY_MS);
    st_free(st);

    /* The real server on that directory. */
    server_t s;
    server_start(&s, dir, "--threads", "2", NULL);
    server_wait_ready(&s, 30000);
    j = http_json(&s, "GET", "/v1/items/90001", NULL, 200);
    ASSERT_STR_EQ(jstr(j, "title"), TEA_COSY);
    ASSERT_EQ(jint(j, "stats.purchase"), 2);
    json_decref(j);
    j = http_json(&s, "GET", "/v1/users/12583", NULL, 200);
    ASSERT_STR_EQ(jstr(j, "country"), "Germany");
    ASSERT_EQ(jint(j, "computed.events.purchase"), 3);
    ASSERT_EQ(jint(j, "computed.orders"), 2);
    ASSERT_EQ(jint(j, "computed.units_purchased"), 25);
    json_decref(j);
    j = http_json(&s, "GET", "/v1/stats", NULL, 200);
    ASSERT_EQ(jint(j, "events.total"), 11);
    ASSERT_EQ(jint(j, "items"), 5);
    json_decref(j);
    ASSERT_EQ(server_stop(&s), 0);
    rmrf(dir);
    remove(file);
    remove(s.logpath);
}

TEST(lock_refuses_while_server_runs)
{
    char dir[256], file[300], end[32];
    test_end_ms(end);
    retail_fixture(dir, file);
    server_t s;
    server_start(&s, dir, "--threads", "1", NULL);
    server_wait_ready(&s, 30000);
    run_t r;
    run_import(&r, "--data", dir, "--format=online-retail", "--end", end, file, NULL);
    ASSERT_EQ(r.status, 1);
    ASSERT_CONTAINS(r.err, "is in use by another aisle process");
    ASSERT_CONTAINS(r.err, dir);
    run_free(&r);
    /* Nothing was written: the server still has an empty store. */
    json_t *j = http_json(&s, "GET", "/v1/stats", NULL, 200);
    ASSERT_EQ(jint(j, "events.total"), 0);
    json_decref(j);
    /* A second server is refused too. */
    server_t s2;
    server_start(&s2, dir, "--threads", "1", NULL);
    int st;
    ASSERT_EQ(waitpid(s2.pid, &st, 0), s2.pid);
    ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    char *log = slurp_path(s2.logpath);
    ASSERT_CONTAINS(log, "data directory is in use by another aisle process");
    free(log);
    ASSERT_EQ(server_stop(&s), 0);

    /* The lock goes with the server. */
    j = import_retail(dir, file, end);
    ASSERT_EQ(jint(j, "events.imported"), 11);
    json_decref(j);
    rmrf(dir);
    remove(file);
    remove(s.logpath);
}

TEST(sequences)
{
    char dir[256], file[300], items[300], end[32];
    int64_t end_ms = test_end_ms(end);
    tmpdir_make(dir);
    snprintf(file, sizeof file, "%s.txt", dir);
    snprintf(items, sizeof items, "%s.items", dir);
    write_file(file, "1 10 11 12\n2 11 13\n\n3 10\n4\n5 12 12 14"); /* no newline at the end */
    /* The catalog already has i10: it keeps its title. */
    write_file(items, "{\"item_id\":\"i10\",\"title\":\"Rose cream\"}\n");
    run_t r;
    run_import(&r, "--data", dir, "--format=ndjson", "--kind=items", "--json", items, NULL);
    json_t *j = import_json(&r);
    ASSERT_EQ(jint(j, "items.created"), 1);
    json_decref(j);

    run_import(&r, "--data", dir, "--format=sequences", "--end", end, "--gap", "1h", "--json", file, NULL);
    j = import_json(&r);
    ASSERT_EQ(jint(j, "records"), 5);
    ASSERT_EQ(jint(j, "events.imported"), 9);
    ASSERT_EQ(jint(j, "events.skipped.no_items"), 1);
    ASSERT_EQ(jint(j, "items.created"), 4);
    ASSERT_EQ(jint(j, "items.unchanged"), 1);
    json_decref(j);

    run_import(&r, "--data", dir, "--format=sequences", "--end", end, "--gap", "1h", "--json", file, NULL);
    j = import_json(&r);
    ASSERT_EQ(jint(j, "events.imported"), 0);
    ASSERT_EQ(jint(j, "events.duplicates"), 9);
    ASSERT_EQ(jint(j, "items.unchanged"), 5);
    json_decref(j);

    char logdir[300];
    snprintf(logdir, sizeof logdir, "%s/log", dir);
    log_opts_t o;
    log_opts_default(&o);
    log_t *l;
    ASSERT(log_open(logdir, &o, &l) == 0);
    state_t *st = st_new();
    log_replay_stats_t rs;
    ASSERT(log_replay(l, replay_apply, st, &rs) == 0);
    log_close(l);
    ASSERT_EQ(st->events, 9);
    ASSERT_EQ(st->live_items, 5);
    ASSERT_STR_EQ(doc_str(st, 1, "i10", "title"), "Rose cream");
    ASSERT_STR_EQ(doc_str(st, 1, "i14", "title"), "Item 14");
    ASSERT(st_event_seen(st, "seq-5-3", 7));
    ASSERT(!st_event_seen(st, "seq-5-4", 7));
    const st_user_t *u = &st->user[intern_get(st->users, "u1", 2)];
    ASSERT_EQ(u->counts[EVT_PURCHASE], 3);
    ASSERT_EQ(u->first_seen_ms, end_ms - 2 * 3600000LL);
    ASSERT_EQ(u->last_seen_ms, end_ms);
    ASSERT_EQ(intern_get(st->users, "u4", 2), INTERN_NONE);
    st_free(st);
    rmrf(dir);
    remove(file);
    remove(items);
}

TEST(csv_mapping)
{
    char dir[256], file[300], map[300];
    tmpdir_make(dir);
    snprintf(file, sizeof file, "%s.csv", dir);
    snprintf(map, sizeof map, "%s.map", dir);
    write_file(file, "\xEF\xBB\xBFid,when,who,what,kind,qty,amount,note\n"
                     "e1,2025-10-01 10:00:00,u1,mug,purchase,2,3.5,\"gift, wrapped\"\n"
                     "e2,2025-10-01T11:00:00Z,u1,\"tea \"\"green\"\"\",view,,,\n"
                     "e3,1759312800000,u2,mug,add_to_cart,1.0,3.50,\"two\r\nlines\"\r\n"
                     "e4,10/2/2025 9:30,u2,mug,purchase,abc,3.5,\n"
                     "e5,2999-01-01T00:00:00Z,u3,mug,view,,,\n"
                     "e6,,u4,,view,,,\n"
                     "\n"
                     "e7,10/2/2025 9:30,u2,mug,purchase,1,3.5\n");
    run_t r;
    run_import(&r, "--data", dir, "--format=csv", "--map", "event_id=id", "--map", "ts=when", "--map=user_id=who",
               "--map", "item_id=what", "--map", "type=kind", "--map", "quantity=qty", "--map", "price=amount",
               "--map", "properties.note=note", "--json", file, NULL);
    json_t *j = import_json(&r);
    ASSERT_EQ(jint(j, "records"), 7);
    ASSERT_EQ(jint(j, "events.imported"), 4);
    ASSERT_EQ(jint(j, "events.skipped.invalid_type"), 1);        /* quantity "abc" */
    ASSERT_EQ(jint(j, "events.skipped.timestamp_in_future"), 1); /* year 2999 */
    ASSERT_EQ(jint(j, "events.skipped.missing_field"), 1);       /* a view without item_id */
    json_decref(j);

    /* The same through a mapping file, with a constant type: all duplicates (by id). */
    write_file(map, "# events\nevent_id=id\nmap ts=when\nuser_id=who\nitem_id=what\n\nconst type=purchase\n");
    run_import(&r, "--data", dir, "--format=csv", "--mapping", map, "--json", file, NULL);
    j = import_json(&r);
    ASSERT_EQ(jint(j, "events.imported"), 1); /* e4: its bad quantity is not mapped now */
    ASSERT_EQ(jint(j, "events.duplicates"), 4);
    json_decref(j);

    char logdir[300];
    snprintf(logdir, sizeof logdir, "%s/log", dir);
    log_opts_t o;
    log_opts_default(&o);
    log_t *l;
    ASSERT(log_open(logdir, &o, &l) == 0);
    state_t *st = st_new();
    log_replay_stats_t rs;
    ASSERT(log_replay(l, replay_apply, st, &rs) == 0);
    log_close(l);
    ASSERT_EQ(st->events, 5);
    ASSERT(intern_get(st->items, "tea \"green\"", 11) != INTERN_NONE);
    const st_user_t *u1 = &st->user[intern_get(st->users, "u1", 2)];
    int64_t ms;
    ASSERT(time_parse_rfc3339("2025-10-01T10:00:00Z", 20, &ms) == 0);
    ASSERT_EQ(u1->first_seen_ms, ms);
    const st_user_t *u2 = &st->user[intern_get(st->users, "u2", 2)];
    ASSERT_EQ(u2->first_seen_ms, 1759312800000LL);
    ASSERT(time_parse_rfc3339("2025-10-02T09:30:00Z", 20, &ms) == 0);
    ASSERT_EQ(u2->last_seen_ms, ms);
    st_free(st);

    /* Items from a CSV, with Latin-1 and a list column; one row without a valid price. */
    write_file(file, "sku;name;cat;cost\n"
                     "a1;Caf\xE9 mug;Home > Kitchen;4.5\n"
                     "a2;Plate;Home/Kitchen;cheap\n");
    run_import(&r, "--data", dir, "--format=csv", "--kind=items", "--delimiter", ";", "--encoding=latin1", "--map",
               "item_id=sku", "--map", "title=name", "--map", "categories=cat", "--map", "price=cost", "--const",
               "currency=EUR", "--json", file, NULL);
    j = import_json(&r);
    ASSERT_EQ(jint(j, "items.created"), 1);
    ASSERT_EQ(jint(j, "items.rejected.invalid_type"), 1);
    json_decref(j);
    ASSERT(log_open(logdir, &o, &l) == 0);
    st = st_new();
    ASSERT(log_replay(l, replay_apply, st, &rs) == 0);
    log_close(l);
    json_t *doc = doc_of(st, 1, "a1");
    ASSERT_STR_EQ(json_string_value(json_object_get(doc, "title")), "Caf\xC3\xA9 mug");
    ASSERT_STR_EQ(json_string_value(json_array_get(json_object_get(doc, "categories"), 1)), "Kitchen");
    ASSERT_STR_EQ(json_string_value(json_object_get(doc, "currency")), "EUR");
    json_decref(doc);
    st_free(st);
    rmrf(dir);
    remove(file);
    remove(map);
}

TEST(ndjson_kinds)
{
    char dir[256], file[300];
    tmpdir_make(dir);
    snprintf(file, sizeof file, "%s.ndjson", dir);
    write_file(file, "{\"item_id\":\"a\",\"title\":\"A\",\"price\":1}\n"
                     "{\"item_id\":\"b\",\"title\":\"B\",\"colour\":\"red\"}\n"
                     "not json\n"
                     "\n"
                     "{\"item_id\":\"a\",\"title\":\"A\",\"price\":1}\n"
                     "{\"item_id\":\"a\",\"title\":\"A2\",\"price\":1}\n");
    run_t r;
    run_import(&r, "--data", dir, "--format=ndjson", "--kind=items", "--json", file, NULL);
    json_t *j = import_json(&r);
    ASSERT_EQ(jint(j, "records"), 5);
    ASSERT_EQ(jint(j, "items.created"), 1);
    ASSERT_EQ(jint(j, "items.unchanged"), 1);
    ASSERT_EQ(jint(j, "items.updated"), 1);
    ASSERT_EQ(jint(j, "items.rejected.unknown_field"), 1);
    ASSERT_EQ(jint(j, "items.rejected.invalid_json"), 1);
    json_decref(j);

    write_file(file, "{\"user_id\":\"u1\",\"country\":\"FR\"}\n{\"user_id\":\"u2\",\"consent\":{\"x\":true}}\n");
    run_import(&r, "--data", dir, "--format=ndjson", "--kind=users", "--json", file, NULL);
    j = import_json(&r);
    ASSERT_EQ(jint(j, "customers.created"), 1);
    ASSERT_EQ(jint(j, "customers.rejected.unknown_field"), 1);
    json_decref(j);

    write_file(file, "{\"event_id\":\"e1\",\"type\":\"view\",\"user_id\":\"u1\",\"item_id\":\"a\"}\n"
                     "{\"event_id\":\"e2\",\"type\":\"purchase\",\"user_id\":\"u1\",\"item_id\":\"a\",\"price\":1}\n"
                     "{\"event_id\":\"e1\",\"type\":\"view\",\"user_id\":\"u1\",\"item_id\":\"a\"}\n"
                     "{\"event_id\":\"e3\",\"type\":\"bogus\",\"user_id\":\"u1\",\"item_id\":\"a\"}\n"
                     "{\"type\":\"view\",\"user_id\":\"u1\",\"item_id\":\"a\"}\n");
    run_import(&r, "--data", dir, "--format=ndjson", "--json", file, NULL);
    j = import_json(&r);
    ASSERT_EQ(jint(j, "records"), 5);
    ASSERT_EQ(jint(j, "events.imported"), 3);
    ASSERT_EQ(jint(j, "events.duplicates"), 1);
    ASSERT_EQ(jint(j, "events.skipped.unknown_event_type"), 1);
    json_decref(j);
    run_import(&r, "--data", dir, "--format=ndjson", file, NULL);
    ASSERT_EQ(r.status, 0);
    ASSERT_CONTAINS(r.out, "1 imported, 3 duplicates"); /* the event without an id, again */
    ASSERT_CONTAINS(r.out, "without an event_id");
    run_free(&r);
    rmrf(dir);
    remove(file);
}

TEST(usage_errors)
{
    char dir[256], file[300];
    tmpdir_make(dir);
    snprintf(file, sizeof file, "%s.csv", dir);
    write_file(file, "a,b\n1,2\n");
    run_t r;
    run_import(&r, "--data", dir, file, NULL);
    ASSERT_EQ(r.status, 2);
    ASSERT_CONTAINS(r.err, "needs --format");
    run_free(&r);
    run_import(&r, "--data", dir, "--format=csv", NULL);
    ASSERT_EQ(r.status, 2);
    ASSERT_CONTAINS(r.err, "needs a FILE");
    run_free(&r);
    run_import(&r, "--data", dir, "--format=csv", file, file, NULL);
    ASSERT_EQ(r.status, 2);
    run_free(&r);
    run_import(&r, "--data", dir, "--format=csv", "--map", "colour=a", "--const", "type=view", file, NULL);
    ASSERT_EQ(r.status, 2);
    ASSERT_CONTAINS(r.err, "no field colour");
    run_free(&r);
    run_import(&r, "--data", dir, "--format=csv", "--map", "item_id=a", file, NULL);
    ASSERT_EQ(r.status, 2);
    ASSERT_CONTAINS(r.err, "needs type");
    run_free(&r);
    run_import(&r, "--data", dir, "--format=bogus", file, NULL);
    ASSERT_EQ(r.status, 2);
    run_free(&r);
    run_import(&r, "--help", NULL);
    ASSERT_EQ(r.status, 0);
    ASSERT_CONTAINS(r.out, "online-retail");
    run_free(&r);
    /* Failures: exit 1. */
    run_import(&r, "--data", dir, "--format=csv", "--map", "item_id=c", "--const", "type=view", file, NULL);
    ASSERT_EQ(r.status, 1);
    ASSERT_CONTAINS(r.err, "no column \"c\"");
    run_free(&r);
    run_import(&r, "--data", dir, "--format=online-retail", file, NULL);
    ASSERT_EQ(r.status, 1);
    ASSERT_CONTAINS(r.err, "not an Online Retail file");
    run_free(&r);
    run_import(&r, "--data", dir, "--format=sequences", "/nonexistent/file", NULL);
    ASSERT_EQ(r.status, 1);
    ASSERT_CONTAINS(r.err, "cannot open /nonexistent/file");
    run_free(&r);
    rmrf(dir);
    remove(file);
}

TEST_MAIN(TEST_ENTRY(online_retail_counts_and_reimport), TEST_ENTRY(online_retail_log_replays_and_serves),
          TEST_ENTRY(lock_refuses_while_server_runs), TEST_ENTRY(sequences), TEST_ENTRY(csv_mapping),
          TEST_ENTRY(ndjson_kinds), TEST_ENTRY(usage_errors))
