/* `aisle import` (see import.h): reading the input in chunks (Latin-1 to UTF-8, RFC 4180
 * CSV parsed in place), the writer that validates, drops duplicates, applies and appends
 * to the log, the Online Retail and sequences presets, generic CSV and NDJSON, the
 * summary and the command line. */
#include "import.h"

#include "../store/log.h"
#include "../store/state.h"
#include "../util/flags.h"
#include "../util/hash.h"
#include "../util/intern.h"
#include "../util/timeutil.h"
#include "batch.h"
#include "entity.h"
#include "event.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (8u << 20)         /* input bytes read at a time */
#define EVENT_BATCH 16384        /* events validated in one evt_parse_batch call */
#define HANDOFF_BYTES (8u << 20) /* framed records handed to the log at once */
#define CSV_MAX_FIELDS 256       /* columns past this are ignored */
#define DAY_MS 86400000LL

static const char *const format_names[] = {"online-retail", "sequences", "csv", "ndjson"};
static const char *const kind_names[] = {"events", "items", "users"};

/* ---- small helpers ------------------------------------------------------------------ */

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Counts one more record under why (a static string). The table holds every reason
 * Aisle can give; should it ever fill, the last entry takes the rest. */
static void count_reason(imp_reasons_t *r, const char *why)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->v[i].reason, why) == 0) {
            r->v[i].n++;
            return;
        }
    if (r->n == IMP_MAX_REASONS) {
        r->v[r->n - 1].n++;
        return;
    }
    r->v[r->n].reason = why;
    r->v[r->n].n = 1;
    r->n++;
}

static uint64_t reasons_total(const imp_reasons_t *r)
{
    uint64_t t = 0;
    for (size_t i = 0; i < r->n; i++)
        t += r->v[i].n;
    return t;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trims ASCII white space off both ends of s[0..*n). */
static const char *trim(const char *s, size_t *n)
{
    while (*n && is_space(*s))
        s++, (*n)--;
    while (*n && is_space(s[*n - 1]))
        (*n)--;
    return s;
}

/* Whether s[0..n) is a number in JSON's grammar, so that it can be written as is. */
static int is_json_number(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i >= n || s[i] < '0' || s[i] > '9')
        return 0;
    if (s[i] == '0')
        i++;
    else
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    if (i < n && s[i] == '.') {
        i++;
        size_t d = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t d = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return 0;
    }
    return i == n;
}

/* Parses a whole (trimmed) cell as a finite number. */
static int parse_double(const char *s, size_t n, double *out)
{
    char tmp[64];
    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *end;
    errno = 0;
    double v = strtod(tmp, &end);
    if (end != tmp + n || errno == ERANGE || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* Writes v as a JSON number: the shortest of %.15g and %.17g that reads back as v. */
static void put_double(buf_t *b, double v)
{
    char tmp[40];
    snprintf(tmp, sizeof tmp, "%.15g", v);
    if (strtod(tmp, NULL) != v)
        snprintf(tmp, sizeof tmp, "%.17g", v);
    buf_puts(b, tmp);
}

/* ---- progress bar ------------------------------------------------------------------- */

typedef struct {
    int on;
    const char *label;
    uint64_t total; /* 0: unknown */
    uint64_t last_ns;
    int drawn;
} prog_t;

static void prog_draw(prog_t *p, uint64_t done, uint64_t events, int force)
{
    if (!p->on)
        return;
    uint64_t now = time_mono_ns();
    if (!force && now - p->last_ns < 100000000ull)
        return;
    p->last_ns = now;
    if (p->total) {
        double f = done >= p->total ? 1.0 : (double)done / (double)p->total;
        char bar[31];
        int w = (int)(f * 30);
        memset(bar, '#', (size_t)w);
        memset(bar + w, '.', (size_t)(30 - w));
        bar[30] = '\0';
        fprintf(stderr, "\r%-8s [%s] %3d%%  %llu events", p->label, bar, (int)(f * 100),
                (unsigned long long)events);
    } else {
        fprintf(stderr, "\r%-8s %llu events", p->label, (unsigned long long)events);
    }
    fflush(stderr);
    p->drawn = 1;
}

static void prog_clear(prog_t *p)
{
    if (p->on && p->drawn)
        fputs("\r\033[K", stderr);
    p->drawn = 0;
}

/* ---- input: chunks of UTF-8 text ---------------------------------------------------- */

typedef struct {
    int fd;
    int latin1;
    buf_t text;   /* UTF-8 read and not yet consumed, from pos; ends with '\n' at EOF */
    size_t pos;
    int eof;
    uint64_t raw_read, size; /* bytes read from the input, its size (0 when unknown) */
    char *raw;
} src_t;

static int src_open(src_t *s, const char *path, int latin1, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    buf_init(&s->text);
    s->latin1 = latin1;
    s->fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0)
        return fail(err, errlen, "cannot open %s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(s->fd, &sb) == 0 && S_ISREG(sb.st_mode))
        s->size = (uint64_t)sb.st_size;
    s->raw = malloc(CHUNK);
    if (!s->raw)
        abort();
    return 0;
}

/* Input bytes dealt with, once the text before p is: for the progress bar (about right
 * for Latin-1, whose text is longer than its bytes). */
static uint64_t src_done(const src_t *s, const char *p)
{
    uint64_t left = (uint64_t)(s->text.len - (size_t)(p - s->text.data));
    return s->raw_read > left ? s->raw_read - left : 0;
}

static void src_close(src_t *s)
{
    if (s->fd > STDIN_FILENO)
        close(s->fd);
    free(s->raw);
    buf_free(&s->text);
}

/* Reads one more chunk after what is left unconsumed. 0, or -1 on a read error. */
static int src_fill(src_t *s, char *err, size_t errlen)
{
    if (s->pos) {
        memmove(s->text.data, s->text.data + s->pos, s->text.len - s->pos);
        s->text.len -= s->pos;
        s->pos = 0;
    }
    ssize_t r;
    do
        r = read(s->fd, s->raw, CHUNK);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return fail(err, errlen, "cannot read the input: %s", strerror(errno));
    size_t n = (size_t)r, off = 0;
    if (s->raw_read == 0 && !s->latin1 && n >= 3 && memcmp(s->raw, "\xEF\xBB\xBF", 3) == 0)
        off = 3; /* a UTF-8 byte order mark */
    s->raw_read += n;
    if (n == 0) {
        s->eof = 1;
        if (s->text.len && s->text.data[s->text.len - 1] != '\n')
            buf_append(&s->text, "\n", 1);
        return 0;
    }
    if (!s->latin1) {
        buf_append(&s->text, s->raw + off, n - off);
        return 0;
    }
    /* Latin-1 is the first 256 code points: bytes from 0x80 take two UTF-8 bytes. */
    buf_reserve(&s->text, 2 * n);
    unsigned char *o = (unsigned char *)s->text.data + s->text.len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s->raw[i];
        if (c < 0x80) {
            *o++ = c;
        } else {
            *o++ = (unsigned char)(0xC0 | (c >> 6));
            *o++ = (unsigned char)(0x80 | (c & 0x3F));
        }
    }
    s->text.len = (size_t)((char *)o - s->text.data);
    return 0;
}

/* ---- CSV (RFC 4180) ------------------------------------------------------------------- */

enum { CSV_START, CSV_PLAIN, CSV_QUOTED, CSV_QUOTE_IN_QUOTED };

/* Reads one record at *pp. With fields, unescapes the fields in place (the text only
 * shrinks: quotes are dropped), NUL-terminates them and points fields[] at them (the
 * first max). Returns 1 and moves *pp past the record with *nf its field count, or 0
 * when the record does not end before end (call again without fields to find out
 * before writing). A quote opens a quoted field only at its start; text after the
 * closing quote is kept; one '\r' before the newline is dropped. */
static int csv_record(char **pp, char *end, char delim, char **fields, size_t max, size_t *nf)
{
    char *p = *pp, *w = p, *fstart = p;
    size_t n = 0;
    int st = CSV_START;
    while (p < end) {
        char c = *p++;
        switch (st) {
        case CSV_START:
            if (c == '"') {
                st = CSV_QUOTED;
                break;
            }
            /* fall through */
        case CSV_PLAIN:
            if (c == delim || c == '\n') {
                if (fields) {
                    if (c == '\n' && w > fstart && w[-1] == '\r')
                        w--;
                    *w = '\0';
                    if (n < max)
                        fields[n] = fstart;
                }
                n++;
                fstart = ++w;
                if (c == '\n') {
                    *pp = p;
                    *nf = n;
                    return 1;
                }
                st = CSV_START;
                break;
            }
            st = CSV_PLAIN;
            if (fields)
                *w = c;
            w++;
            break;
        case CSV_QUOTED:
            if (c == '"') {
                st = CSV_QUOTE_IN_QUOTED;
                break;
            }
            if (fields)
                *w = c;
            w++;
            break;
        case CSV_QUOTE_IN_QUOTED:
            if (c == '"') { /* "" is a quote */
                if (fields)
                    *w = '"';
                w++;
                st = CSV_QUOTED;
                break;
            }
            st = CSV_PLAIN;
            p--; /* the closing quote's follower: read it as plain text */
            break;
        }
    }
    return 0;
}

/* ---- the writer: validation, duplicates, state and log ------------------------------- */

typedef struct {
    const imp_opts_t *o;
    imp_summary_t *sum;
    int64_t now_ms, end_ms;
    const char *user_prefix, *item_prefix;
    log_t *log;
    state_t *st;
    uint64_t replay_bad;
    buf_t framed;      /* records applied to st and not yet handed to the log */
    buf_t evq;         /* NDJSON of events waiting for validation */
    size_t nevq;
    buf_t scratch;
    intern_t *ensured; /* items the sequences preset made sure of */
    prog_t prog;
    uint64_t ticks; /* records read, to draw the progress bar now and then */
    src_t src;
} imp_t;

static int replay_rec(void *ud, uint8_t type, const void *payload, size_t len, uint64_t lsn)
{
    imp_t *im = ud;
    (void)lsn;
    if (st_apply(im->st, type, payload, len) != 0)
        im->replay_bad++;
    return 0;
}

static int open_store(imp_t *im, char *err, size_t errlen)
{
    const char *dir = im->o->data_dir;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return fail(err, errlen, "cannot create data directory %s: %s", dir, strerror(errno));
    char logdir[4200];
    snprintf(logdir, sizeof logdir, "%s/log", dir);
    /* Written without an fsync per batch: log_close fsyncs once at the end. */
    log_opts_t lo;
    log_opts_default(&lo);
    lo.fsync = LOG_FSYNC_NEVER;
    int rc = log_open(logdir, &lo, &im->log);
    if (rc == LOG_EBUSY) {
        im->log = NULL;
        return fail(err, errlen, "data directory %s is in use by another aisle process (stop the server first)",
                    dir);
    }
    if (rc != 0) {
        im->log = NULL;
        return fail(err, errlen, "cannot open the log in %s (see the message above)", logdir);
    }
    im->st = st_new();
    log_replay_stats_t rs;
    if (log_replay(im->log, replay_rec, im, &rs) != 0)
        return fail(err, errlen, "cannot replay the log in %s (see the message above)", logdir);
    im->sum->log_records_before = rs.records;
    im->sum->replay_seconds = rs.seconds;
    if (im->replay_bad)
        fprintf(stderr, "aisle: import: %llu records of the existing log could not be applied\n",
                (unsigned long long)im->replay_bad);
    if (log_start(im->log, NULL, NULL) != 0)
        return fail(err, errlen, "cannot start the log writer");
    return 0;
}

static void hand_off(imp_t *im, int force)
{
    if (im->log && im->framed.len && (force || im->framed.len >= HANDOFF_BYTES)) {
        log_append_framed(im->log, im->framed.data, im->framed.len);
        im->framed.len = 0;
    }
}

/* Frames a record into the pending batch and applies it, so that log order is apply order. */
static void write_record(imp_t *im, uint8_t type, const void *payload, size_t len)
{
    size_t at = im->framed.len;
    log_frame(&im->framed, type, payload, len);
    st_apply(im->st, type, im->framed.data + at + LOG_FRAME_HEADER, len);
}

/* Validates NDJSON events exactly as POST /v1/events does, then keeps the new ones. */
static void events_body(imp_t *im, const char *body, size_t len)
{
    evt_batch_t bat;
    val_error_t err;
    /* In line mode only a body of blank lines fails as a whole: nothing to do then. */
    if (evt_parse_batch(body, len, 1, SIZE_MAX, im->now_ms, &bat, &err) != 0) {
        evt_batch_free(&bat);
        return;
    }
    imp_summary_t *s = im->sum;
    for (size_t i = 0; i < bat.n; i++) {
        if (bat.err[i].code) {
            count_reason(&s->skipped, bat.err[i].code);
            continue;
        }
        const evt_t *e = &bat.ev[i];
        if (e->event_id.p && st_event_seen(im->st, e->event_id.p, e->event_id.n)) {
            s->duplicates++;
            continue;
        }
        if (!e->event_id.p)
            s->no_event_ids = 1;
        im->scratch.len = 0;
        evt_encode(e, &im->scratch);
        write_record(im, REC_EVENT, im->scratch.data, im->scratch.len);
        s->events++;
    }
    evt_batch_free(&bat);
    hand_off(im, 0);
}

static void flush_events(imp_t *im)
{
    if (im->nevq)
        events_body(im, im->evq.data, im->evq.len);
    im->evq.len = 0;
    im->nevq = 0;
}

/* Ends the event being built in evq; validates the queue when it is full. */
static void event_done(imp_t *im)
{
    buf_append(&im->evq, "}\n", 2);
    if (++im->nevq >= EVENT_BATCH)
        flush_events(im);
}

/* Validates an item or customer record (takes obj) as PUT /v1/items|users/{id} would
 * (id NULL: from obj, as the batch upserts) and writes it when new or changed. */
static void put_entity(imp_t *im, int is_item, json_t *obj, const char *id)
{
    imp_summary_t *s = im->sum;
    json_t *doc;
    val_error_t e;
    int rc = is_item ? ent_item_from_json(obj, id, im->now_ms, &doc, &e) : ent_user_from_json(obj, id, &doc, &e);
    json_decref(obj);
    if (rc != 0) {
        count_reason(is_item ? &s->items_rejected : &s->users_rejected, e.code);
        return;
    }
    json_t *idv = json_object_get(doc, is_item ? "item_id" : "user_id");
    const char *ids = json_string_value(idv);
    size_t idn = json_string_length(idv);
    uint32_t x = intern_get(is_item ? im->st->items : im->st->users, ids, idn);
    json_t *old = x == INTERN_NONE ? NULL : is_item ? st_item_doc(im->st, x) : st_user_doc(im->st, x);
    int had = old != NULL, same = old && json_equal(old, doc);
    json_decref(old);
    if (same) {
        is_item ? s->items_unchanged++ : s->users_unchanged++;
        json_decref(doc);
        return;
    }
    if (is_item)
        had ? s->items_updated++ : s->items_created++;
    else
        had ? s->users_updated++ : s->users_created++;
    im->scratch.len = 0;
    st_encode_doc(&im->scratch, ids, idn, doc);
    json_decref(doc);
    write_record(im, is_item ? REC_ITEM_PUT : REC_USER_PUT, im->scratch.data, im->scratch.len);
    hand_off(im, 0);
}

/* Makes sure the catalog has item id (once per run): an item it lacks is created with
 * this title; one it has is left as it is. */
static void ensure_item(imp_t *im, const char *id, size_t n, const char *title, size_t tn)
{
    int added;
    uint32_t k = intern_put(im->ensured, id, n, &added);
    if (!added)
        return;
    uint32_t x = intern_get(im->st->items, id, n);
    if (x != INTERN_NONE && im->st->item[x].doc) {
        im->sum->items_unchanged++;
        return;
    }
    json_t *obj = json_object();
    json_object_set_new(obj, "title", json_stringn(title, tn));
    put_entity(im, 1, obj, intern_str(im->ensured, k, NULL));
}

/* JSON object fields written straight into a buffer. */
static void jkey(buf_t *b, int *first, const char *key)
{
    buf_puts(b, *first ? "{" : ",");
    *first = 0;
    buf_put_json_str(b, key, strlen(key));
    buf_puts(b, ":");
}

static void jstr(buf_t *b, int *first, const char *key, const char *s, size_t n)
{
    jkey(b, first, key);
    buf_put_json_str(b, s, n);
}

/* A string field whose value is prefix followed by s. */
static void jstr2(buf_t *b, int *first, const char *key, const char *prefix, const char *s, size_t n)
{
    jkey(b, first, key);
    size_t pn = strlen(prefix);
    if (!pn) {
        buf_put_json_str(b, s, n);
        return;
    }
    char stack[512];
    char *t = pn + n <= sizeof stack ? stack : malloc(pn + n);
    if (!t)
        abort();
    memcpy(t, prefix, pn);
    memcpy(t + pn, s, n);
    buf_put_json_str(b, t, pn + n);
    if (t != stack)
        free(t);
}

/* ---- preset: UCI Online Retail -------------------------------------------------------- */

enum { OR_INVOICE, OR_STOCK, OR_DESC, OR_QTY, OR_PRICE, OR_CUSTOMER, OR_COUNTRY, OR__N };
static const char *const or_columns[OR__N] = {"InvoiceNo", "StockCode", "Description", "Quantity",
                                              "UnitPrice", "CustomerID", "Country"};

/* Stock codes that are not merchandise: postage, carriage, fees, discounts, manual
 * adjustments, samples, bad debt, commissions (as scripts/make-demo-data.py). */
static const char *const or_non_product[] = {"POST", "DOT", "M", "C2", "D", "S", "B", "CRUK", "PADS",
                                             "AMAZONFEE", "BANK CHARGES", NULL};

typedef struct {
    uint32_t inv, code, desc, cust, country; /* interned; INTERN_NONE when empty */
    uint32_t line;                           /* 1-based position within its invoice */
    int64_t qty;
    double price;
    const char *reason; /* why it gives no event; NULL for a sale */
} or_row_t;

typedef struct {
    int col[OR__N];
    int have_header;
    intern_t *invs, *codes, *descs, *custs, *countries;
    or_row_t *rows;
    size_t nrows, cap;
    uint32_t *inv_lines;  /* per invoice: lines seen so far */
    uint64_t *inv_key;    /* per invoice: its number, for the time order */
    uint32_t *inv_first;  /* per invoice: its first row */
    uint32_t inv_cap;
} or_t;

static const char OR_CANCELLATION[] = "cancellation";

static int or_is_product(const char *code)
{
    for (const char *const *p = or_non_product; *p; p++)
        if (strcmp(code, *p) == 0)
            return 0;
    if (strncmp(code, "GIFT_", 5) == 0) /* gift vouchers */
        return 0;
    for (; *code; code++)
        if (*code >= '0' && *code <= '9')
            return 1;
    return 0;
}

static uint32_t intern_cell(intern_t *t, const char *s, size_t n)
{
    return n ? intern_put(t, s, n, NULL) : INTERN_NONE;
}

static int or_header(imp_t *im, or_t *r, char **f, size_t nf, char *err, size_t errlen)
{
    for (int c = 0; c < OR__N; c++) {
        r->col[c] = -1;
        for (size_t i = 0; i < nf && i < CSV_MAX_FIELDS; i++) {
            size_t n = strlen(f[i]);
            const char *h = trim(f[i], &n);
            if (n == strlen(or_columns[c]) && strncasecmp(h, or_columns[c], n) == 0) {
                r->col[c] = (int)i;
                break;
            }
        }
        if (r->col[c] < 0)
            return fail(err, errlen,
                        "%s is not an Online Retail file: no %s column in its header (it needs InvoiceNo, "
                        "StockCode, Description, Quantity, UnitPrice, CustomerID, Country)",
                        im->o->path, or_columns[c]);
    }
    r->have_header = 1;
    return 0;
}

static int or_row(imp_t *im, or_t *r, char **f, size_t nf, char *err, size_t errlen)
{
    if (!r->have_header)
        return or_header(im, r, f, nf, err, errlen);
    if (nf == 1 && !f[0][strspn(f[0], " \t\r")])
        return 0; /* blank line */
    im->sum->records++;
    for (int c = 0; c < OR__N; c++)
        if ((size_t)r->col[c] >= nf || r->col[c] >= CSV_MAX_FIELDS) {
            count_reason(&im->sum->skipped, "malformed_line");
            return 0;
        }
    const char *v[OR__N];
    size_t n[OR__N];
    for (int c = 0; c < OR__N; c++) {
        n[c] = strlen(f[r->col[c]]);
        v[c] = trim(f[r->col[c]], &n[c]);
    }
    if (n[OR_INVOICE] == 0) {
        count_reason(&im->sum->skipped, "malformed_line");
        return 0;
    }
    /* Stock codes in upper case (85123a and 85123A are one product); descriptions with
     * runs of white space made one space; "17850.0" (a spreadsheet's export) is 17850. */
    char *code = (char *)v[OR_STOCK];
    for (size_t i = 0; i < n[OR_STOCK]; i++)
        if (code[i] >= 'a' && code[i] <= 'z')
            code[i] = (char)(code[i] - 'a' + 'A');
    char *desc = (char *)v[OR_DESC];
    size_t dn = 0;
    for (size_t i = 0; i < n[OR_DESC]; i++) {
        if (is_space(desc[i]) && (dn == 0 || desc[dn - 1] == ' '))
            continue;
        desc[dn++] = is_space(desc[i]) ? ' ' : desc[i];
    }
    if (dn && desc[dn - 1] == ' ')
        dn--;
    if (n[OR_CUSTOMER] > 2 && memcmp(v[OR_CUSTOMER] + n[OR_CUSTOMER] - 2, ".0", 2) == 0)
        n[OR_CUSTOMER] -= 2;

    if (r->nrows == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 4096;
        r->rows = realloc(r->rows, r->cap * sizeof *r->rows);
        if (!r->rows)
            abort();
    }
    or_row_t *row = &r->rows[r->nrows];
    int added;
    row->inv = intern_put(r->invs, v[OR_INVOICE], n[OR_INVOICE], &added);
    if (row->inv >= r->inv_cap) {
        r->inv_cap = r->inv_cap ? r->inv_cap * 2 : 1024;
        r->inv_lines = realloc(r->inv_lines, r->inv_cap * sizeof *r->inv_lines);
        r->inv_key = realloc(r->inv_key, r->inv_cap * sizeof *r->inv_key);
        r->inv_first = realloc(r->inv_first, r->inv_cap * sizeof *r->inv_first);
        if (!r->inv_lines || !r->inv_key || !r->inv_first)
            abort();
    }
    if (added) {
        /* The number after a letter prefix ("C536379"); numbers grow with time. */
        const char *d = v[OR_INVOICE];
        size_t dl = n[OR_INVOICE];
        while (dl && !(*d >= '0' && *d <= '9'))
            d++, dl--;
        uint64_t key = dl ? 0 : UINT64_MAX;
        for (size_t i = 0; i < dl && key != UINT64_MAX; i++)
            key = d[i] >= '0' && d[i] <= '9' && key < UINT64_MAX / 10 - 9 ? key * 10 + (uint64_t)(d[i] - '0')
                                                                        : UINT64_MAX;
        r->inv_lines[row->inv] = 0;
        r->inv_key[row->inv] = key;
        r->inv_first[row->inv] = (uint32_t)r->nrows;
    }
    row->line = ++r->inv_lines[row->inv];
    row->code = intern_cell(r->codes, v[OR_STOCK], n[OR_STOCK]);
    row->desc = intern_cell(r->descs, desc, dn);
    row->cust = intern_cell(r->custs, v[OR_CUSTOMER], n[OR_CUSTOMER]);
    row->country = intern_cell(r->countries, v[OR_COUNTRY], n[OR_COUNTRY]);
    double q = 0;
    int num_ok = parse_double(v[OR_QTY], n[OR_QTY], &q) == 0 && q == floor(q) && fabs(q) < 1e15 &&
                 parse_double(v[OR_PRICE], n[OR_PRICE], &row->price) == 0;
    row->qty = num_ok ? (int64_t)q : 0;
    if (v[OR_INVOICE][0] == 'C' || v[OR_INVOICE][0] == 'c')
        row->reason = OR_CANCELLATION;
    else if (!num_ok)
        row->reason = "invalid_number";
    else if (row->code == INTERN_NONE)
        row->reason = "no_item";
    else if (!or_is_product(code))
        row->reason = "non_product";
    else if (row->qty <= 0)
        row->reason = "quantity_not_positive";
    else if (row->price <= 0)
        row->reason = "price_not_positive";
    else
        row->reason = NULL;
    r->nrows++;
    return 0;
}

/* Counting "the most common value per key": (key, value, first row) triples sorted, then
 * runs counted; ties go to the value seen first. */
typedef struct {
    uint32_t key, first;
    uint64_t val;
} pair_t;

static int pair_cmp(const void *a, const void *b)
{
    const pair_t *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    if (x->val != y->val)
        return x->val < y->val ? -1 : 1;
    return x->first < y->first ? -1 : x->first > y->first;
}

/* out[key] = the most common val; has[key] = 1 for keys seen. */
static void pair_modes(pair_t *v, size_t n, uint64_t *out, uint8_t *has)
{
    qsort(v, n, sizeof *v, pair_cmp);
    size_t i = 0;
    while (i < n) {
        uint32_t key = v[i].key;
        size_t best = 0;
        uint32_t best_first = UINT32_MAX;
        uint64_t best_val = 0;
        while (i < n && v[i].key == key) {
            size_t j = i;
            while (j < n && v[j].key == key && v[j].val == v[i].val)
                j++;
            if (j - i > best || (j - i == best && v[i].first < best_first)) {
                best = j - i;
                best_first = v[i].first;
                best_val = v[i].val;
            }
            i = j;
        }
        out[key] = best_val;
        has[key] = 1;
    }
}

/* A set of 64-bit keys (open addressing; a stored key is key + 1, 0 marks a free slot). */
typedef struct {
    uint64_t *v;
    size_t mask, n;
} set64_t;

static int set64_put(set64_t *s, uint64_t key)
{
    if (2 * (s->n + 1) > s->mask + 1) {
        size_t cap = s->v ? 2 * (s->mask + 1) : 1024;
        uint64_t *nv = calloc(cap, sizeof *nv);
        if (!nv)
            abort();
        for (size_t i = 0; s->v && i <= s->mask; i++)
            if (s->v[i])
                for (size_t j = hash_mix(s->v[i]) & (cap - 1);; j = (j + 1) & (cap - 1))
                    if (!nv[j]) {
                        nv[j] = s->v[i];
                        break;
                    }
        free(s->v);
        s->v = nv;
        s->mask = cap - 1;
    }
    for (size_t j = hash_mix(key + 1) & s->mask;; j = (j + 1) & s->mask) {
        if (s->v[j] == key + 1)
            return 0;
        if (!s->v[j]) {
            s->v[j] = key + 1;
            s->n++;
            return 1;
        }
    }
}

static int set64_has(const set64_t *s, uint64_t key)
{
    if (!s->v)
        return 0;
    for (size_t j = hash_mix(key + 1) & s->mask;; j = (j + 1) & s->mask) {
        if (s->v[j] == key + 1)
            return 1;
        if (!s->v[j])
            return 0;
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        abort();
    return p;
}

/* Time: invoices in the order of their numbers (then of the file), spread evenly over
 * the period so that the last one is at its end. Fills rank[inv] and ts[inv]. */
static void or_times(const imp_t *im, const or_t *r, pair_t *pairs, uint64_t *rank, int64_t *ts)
{
    uint32_t ninv = intern_count(r->invs);
    for (uint32_t i = 0; i < ninv; i++) /* a pair's first row names its invoice */
        pairs[i] = (pair_t){0, r->inv_first[i], r->inv_key[i]};
    qsort(pairs, ninv, sizeof *pairs, pair_cmp);
    double step = ninv ? (double)im->o->days * (double)DAY_MS / ninv : 0;
    for (uint32_t k = 0; k < ninv; k++) {
        uint32_t inv = r->rows[pairs[k].first].inv;
        rank[inv] = k;
        ts[inv] = im->end_ms - (int64_t)((double)(ninv - 1 - k) * step);
    }
}

/* The catalog: every merchandise code with a sale; its title the most common description
 * and its price the most common unit price over its sales, in GBP. */
static void or_catalog(imp_t *im, const or_t *r, pair_t *pairs)
{
    uint32_t n = intern_count(r->codes);
    uint64_t *title = xcalloc(n, sizeof *title), *price = xcalloc(n, sizeof *price);
    uint8_t *has_title = xcalloc(n, 1), *sold = xcalloc(n, 1);
    size_t np = 0;
    for (size_t i = 0; i < r->nrows; i++) {
        const or_row_t *w = &r->rows[i];
        if (!w->reason && w->desc != INTERN_NONE)
            pairs[np++] = (pair_t){w->code, (uint32_t)i, w->desc};
    }
    pair_modes(pairs, np, title, has_title);
    np = 0;
    for (size_t i = 0; i < r->nrows; i++) {
        const or_row_t *w = &r->rows[i];
        if (w->reason)
            continue;
        uint64_t bits;
        memcpy(&bits, &w->price, sizeof bits);
        pairs[np++] = (pair_t){w->code, (uint32_t)i, bits};
    }
    pair_modes(pairs, np, price, sold); /* every sale has a price */
    buf_t id;
    buf_init(&id);
    for (uint32_t c = 0; c < n; c++) {
        if (!sold[c])
            continue;
        json_t *obj = json_object();
        if (has_title[c])
            json_object_set_new(obj, "title", json_string(intern_str(r->descs, (uint32_t)title[c], NULL)));
        double p;
        memcpy(&p, &price[c], sizeof p);
        json_object_set_new(obj, "price", json_real(p));
        json_object_set_new(obj, "currency", json_string("GBP"));
        id.len = 0;
        buf_puts(&id, im->item_prefix);
        buf_puts(&id, intern_str(r->codes, c, NULL));
        put_entity(im, 1, obj, id.data);
    }
    buf_free(&id);
    free(title);
    free(price);
    free(has_title);
    free(sold);
}

/* Customers: everyone with a sale, with the country seen most on their sales. */
static void or_customers(imp_t *im, const or_t *r, pair_t *pairs)
{
    uint32_t n = intern_count(r->custs);
    uint64_t *country = xcalloc(n, sizeof *country);
    uint8_t *buyer = xcalloc(n, 1), *has_country = xcalloc(n, 1);
    size_t np = 0;
    for (size_t i = 0; i < r->nrows; i++) {
        const or_row_t *w = &r->rows[i];
        if (w->reason || w->cust == INTERN_NONE)
            continue;
        buyer[w->cust] = 1;
        if (w->country != INTERN_NONE)
            pairs[np++] = (pair_t){w->cust, (uint32_t)i, w->country};
    }
    pair_modes(pairs, np, country, has_country);
    buf_t id;
    buf_init(&id);
    for (uint32_t c = 0; c < n; c++) {
        if (!buyer[c])
            continue;
        json_t *obj = json_object();
        if (has_country[c])
            json_object_set_new(obj, "country", json_string(intern_str(r->countries, (uint32_t)country[c], NULL)));
        id.len = 0;
        buf_puts(&id, im->user_prefix);
        buf_puts(&id, intern_str(r->custs, c, NULL));
        put_entity(im, 0, obj, id.data);
    }
    buf_free(&id);
    free(country);
    free(buyer);
    free(has_country);
}

/* One purchase per sale, invoice by invoice in time order (lines in file order), each
 * invoice an order at one time; the other lines counted by reason. A cancellation
 * "matches" when its customer bought that item before. */
static void or_events(imp_t *im, const or_t *r, const uint64_t *rank, const int64_t *ts)
{
    imp_summary_t *s = im->sum;
    buf_t *b = &im->evq, *t = &im->scratch;
    uint64_t *order = xcalloc(r->nrows, sizeof *order);
    for (size_t i = 0; i < r->nrows; i++)
        order[i] = rank[r->rows[i].inv] << 32 | (uint64_t)i;
    qsort(order, r->nrows, sizeof *order, cmp_u64);
    set64_t bought = {0};
    im->prog.label = "writing";
    im->prog.total = r->nrows;
    for (size_t k = 0; k < r->nrows; k++) {
        const or_row_t *w = &r->rows[order[k] & 0xffffffffu];
        uint64_t who = (uint64_t)w->code << 32 | w->cust;
        if (w->reason) {
            count_reason(&s->skipped, w->reason);
            if (w->reason == OR_CANCELLATION) {
                s->cancellations++;
                if (w->cust != INTERN_NONE && w->code != INTERN_NONE && set64_has(&bought, who))
                    s->cancellations_matched++;
            }
            continue;
        }
        if (w->cust != INTERN_NONE)
            set64_put(&bought, who);
        size_t invn, coden, custn;
        const char *inv = intern_str(r->invs, w->inv, &invn), *code = intern_str(r->codes, w->code, &coden);
        int first = 1;
        t->len = 0;
        buf_puts(t, "or-");
        buf_append(t, inv, invn);
        buf_printf(t, "-%u", w->line);
        jstr(b, &first, "event_id", t->data, t->len);
        jstr(b, &first, "type", "purchase", 8);
        if (w->cust != INTERN_NONE) {
            const char *cust = intern_str(r->custs, w->cust, &custn);
            jstr2(b, &first, "user_id", im->user_prefix, cust, custn);
        } else {
            jstr2(b, &first, "session_id", "inv-", inv, invn);
        }
        jstr2(b, &first, "item_id", im->item_prefix, code, coden);
        jkey(b, &first, "quantity");
        buf_printf(b, "%lld", (long long)w->qty);
        jkey(b, &first, "price");
        put_double(b, w->price);
        jstr(b, &first, "order_id", inv, invn);
        jkey(b, &first, "ts");
        buf_printf(b, "%lld", (long long)ts[w->inv]);
        event_done(im);
        if ((k & 1023) == 0)
            prog_draw(&im->prog, k, s->events + s->duplicates, 0);
    }
    flush_events(im);
    free(order);
    free(bought.v);
}

/* Items, then customers, then the purchases. */
static void or_emit(imp_t *im, const or_t *r)
{
    uint32_t ninv = intern_count(r->invs);
    pair_t *pairs = xcalloc(r->nrows, sizeof *pairs);
    uint64_t *rank = xcalloc(ninv, sizeof *rank);
    int64_t *ts = xcalloc(ninv, sizeof *ts);
    or_times(im, r, pairs, rank, ts);
    or_catalog(im, r, pairs);
    or_customers(im, r, pairs);
    or_events(im, r, rank, ts);
    free(pairs);
    free(rank);
    free(ts);
}

/* ---- reading loops ------------------------------------------------------------------- */

typedef int (*csv_row_fn)(imp_t *im, void *ud, char **f, size_t nf, char *err, size_t errlen);

/* Calls fn for every CSV record of the input, the header included. */
static int each_csv(imp_t *im, char delim, csv_row_fn fn, void *ud, char *err, size_t errlen)
{
    src_t *s = &im->src;
    char *fields[CSV_MAX_FIELDS];
    for (;;) {
        if (src_fill(s, err, errlen) != 0)
            return -1;
        char *p = s->text.data + s->pos, *end = s->text.data + s->text.len;
        for (;;) {
            char *q = p;
            size_t nf;
            if (!csv_record(&q, end, delim, NULL, 0, &nf))
                break;
            csv_record(&p, end, delim, fields, CSV_MAX_FIELDS, &nf);
            if (fn(im, ud, fields, nf < CSV_MAX_FIELDS ? nf : CSV_MAX_FIELDS, err, errlen) != 0)
                return -1;
            if ((++im->ticks & 255) == 0)
                prog_draw(&im->prog, src_done(s, p), im->sum->events + im->sum->duplicates, 0);
        }
        s->pos = (size_t)(p - s->text.data);
        prog_draw(&im->prog, src_done(s, s->text.data + s->pos), im->sum->events + im->sum->duplicates, 0);
        if (s->eof) {
            if (s->pos < s->text.len) { /* a quoted field never closed */
                im->sum->records++;
                count_reason(&im->sum->skipped, "malformed_line");
            }
            return 0;
        }
    }
}

typedef int (*line_fn)(imp_t *im, void *ud, char *line, size_t n);

/* Calls fn for every line (without its newline), or with whole chunks of complete lines
 * when chunks is set. */
static int each_line(imp_t *im, int chunks, line_fn fn, void *ud, char *err, size_t errlen)
{
    src_t *s = &im->src;
    for (;;) {
        if (src_fill(s, err, errlen) != 0)
            return -1;
        char *p = s->text.data + s->pos, *end = s->text.data + s->text.len;
        char *last = p < end ? memrchr(p, '\n', (size_t)(end - p)) : NULL;
        if (last) {
            if (chunks) {
                if (fn(im, ud, p, (size_t)(last + 1 - p)) != 0)
                    return -1;
            } else {
                while (p <= last) {
                    char *nl = memchr(p, '\n', (size_t)(last + 1 - p));
                    if (fn(im, ud, p, (size_t)(nl - p)) != 0)
                        return -1;
                    p = nl + 1;
                    if ((++im->ticks & 255) == 0)
                        prog_draw(&im->prog, src_done(s, p), im->sum->events + im->sum->duplicates, 0);
                }
            }
            s->pos = (size_t)(last + 1 - s->text.data);
        }
        prog_draw(&im->prog, src_done(s, s->text.data + s->pos), im->sum->events + im->sum->duplicates, 0);
        if (s->eof)
            return 0;
    }
}

static int or_row_cb(imp_t *im, void *ud, char **f, size_t nf, char *err, size_t errlen)
{
    return or_row(im, ud, f, nf, err, errlen);
}

static int run_online_retail(imp_t *im, char *err, size_t errlen)
{
    or_t r = {0};
    r.invs = intern_new();
    r.codes = intern_new();
    r.descs = intern_new();
    r.custs = intern_new();
    r.countries = intern_new();
    int rc = each_csv(im, im->o->delimiter, or_row_cb, &r, err, errlen);
    if (rc == 0 && !r.have_header)
        rc = fail(err, errlen, "%s is empty", im->o->path);
    if (rc == 0 && r.nrows >= UINT32_MAX)
        rc = fail(err, errlen, "%s has more lines than the importer takes (4 billion)", im->o->path);
    /* The store is opened once the file is read: a file that is not Online Retail
     * leaves the data directory alone. */
    if (rc == 0)
        rc = open_store(im, err, errlen);
    if (rc == 0)
        or_emit(im, &r);
    intern_free(r.invs);
    intern_free(r.codes);
    intern_free(r.descs);
    intern_free(r.custs);
    intern_free(r.countries);
    free(r.rows);
    free(r.inv_lines);
    free(r.inv_key);
    free(r.inv_first);
    return rc;
}

/* ---- preset: sequences ---------------------------------------------------------------- */

/* The white-space separated token at or after p: *t (NULL when there is none) and its
 * length *tn. Returns where the token ends. */
static const char *next_token(const char *p, const char *end, const char **t, size_t *tn)
{
    while (p < end && is_space(*p))
        p++;
    *t = p < end ? p : NULL;
    while (p < end && !is_space(*p))
        p++;
    *tn = *t ? (size_t)(p - *t) : 0;
    return p;
}

/* One line "USER ITEM ITEM ...": an event per item, oldest first, --gap apart, the last
 * one at --end; the catalog gets "Item <id>" for an item it lacks. */
static int seq_line(imp_t *im, void *ud, char *line, size_t n)
{
    (void)ud;
    imp_summary_t *s = im->sum;
    const char *end = line + n, *user, *item, *p;
    size_t un, tn, nitems = 0;
    const char *items = next_token(line, end, &user, &un);
    if (!user)
        return 0; /* blank line */
    s->records++;
    for (p = next_token(items, end, &item, &tn); item; p = next_token(p, end, &item, &tn))
        nitems++;
    if (nitems == 0) {
        count_reason(&s->skipped, "no_items");
        return 0;
    }
    const imp_opts_t *o = im->o;
    const char *type = evt_type_name(o->event_type);
    buf_t *b = &im->evq, *sc = &im->scratch;
    size_t k = 0;
    for (p = next_token(items, end, &item, &tn); item; p = next_token(p, end, &item, &tn), k++) {
        size_t pn = strlen(im->item_prefix), idn = pn + tn, need = idn + 5 + tn;
        char stack[600];
        char *id = need <= sizeof stack ? stack : malloc(need);
        if (!id)
            abort();
        memcpy(id, im->item_prefix, pn);
        memcpy(id + pn, item, tn);
        memcpy(id + idn, "Item ", 5);
        memcpy(id + idn + 5, item, tn);
        ensure_item(im, id, idn, id + idn, 5 + tn);
        if (id != stack)
            free(id);

        int first = 1;
        sc->len = 0;
        buf_puts(sc, "seq-");
        buf_append(sc, user, un);
        buf_printf(sc, "-%zu", k + 1);
        jstr(b, &first, "event_id", sc->data, sc->len);
        jstr(b, &first, "type", type, strlen(type));
        jstr2(b, &first, "user_id", im->user_prefix, user, un);
        jstr2(b, &first, "item_id", im->item_prefix, item, tn);
        jkey(b, &first, "ts");
        buf_printf(b, "%lld", (long long)(im->end_ms - (int64_t)(nitems - 1 - k) * o->gap_ms));
        event_done(im);
    }
    return 0;
}

/* ---- generic CSV ------------------------------------------------------------------------ */

typedef struct {
    int have_header;
    int col[IMP_MAX_MAP]; /* per mapping: its column, -1 for a constant */
} gcsv_t;

static const char *const event_fields[] = {"type",     "event_id", "user_id", "session_id", "item_id", "query",
                                           "quantity", "price",    "order_id", "ts",        "rec_id",  NULL};
static const char *const item_fields[] = {"item_id",  "title", "description", "brand",      "price",
                                          "currency", "categories", "tags",   "in_stock",   "created_at", NULL};
static const char *const user_fields[] = {"user_id", "age_band", "gender", "country", "loyalty_tier",
                                          "consent.personalization", "consent.analytics", NULL};

static int field_known(imp_kind_t kind, const char *f)
{
    const char *const *list = kind == IMP_EVENTS ? event_fields : kind == IMP_ITEMS ? item_fields : user_fields;
    for (; *list; list++)
        if (strcmp(*list, f) == 0)
            return 1;
    const char *free_map = kind == IMP_EVENTS ? "properties." : "attributes.";
    return strncmp(f, free_map, strlen(free_map)) == 0 && f[strlen(free_map)];
}

/* Checks the mapping against the format and kind; -1 with a message. */
static int check_mapping(const imp_opts_t *o, char *err, size_t errlen)
{
    if (o->format != IMP_CSV) {
        if (o->nmap)
            return fail(err, errlen, "--map, --const and --mapping are for --format=csv");
        return 0;
    }
    const char *need = o->kind == IMP_EVENTS ? "type" : o->kind == IMP_ITEMS ? "item_id" : "user_id";
    int have = 0;
    for (size_t i = 0; i < o->nmap; i++) {
        if (!field_known(o->kind, o->map[i].field))
            return fail(err, errlen, "--kind=%s has no field %s (see aisle import --help)", kind_names[o->kind],
                        o->map[i].field);
        for (size_t j = 0; j < i; j++)
            if (strcmp(o->map[j].field, o->map[i].field) == 0)
                return fail(err, errlen, "field %s is mapped twice", o->map[i].field);
        have |= strcmp(o->map[i].field, need) == 0;
    }
    if (!have)
        return fail(err, errlen, "a CSV of %s needs %s: --map %s=COLUMN%s", kind_names[o->kind], need, need,
                    o->kind == IMP_EVENTS ? " or --const type=purchase" : "");
    return 0;
}

/* A timestamp cell as the API takes it: digits are epoch milliseconds; RFC 3339 goes as
 * it is; "YYYY-MM-DD HH:MM[:SS]" and "M/D/YYYY H:MM[:SS]" (the full UCI file's
 * InvoiceDate) without a zone are read as UTC. Anything else goes as a string, which
 * validation rejects. */
static void put_ts(buf_t *b, const char *v, size_t n)
{
    size_t d = 0;
    while (d < n && v[d] >= '0' && v[d] <= '9')
        d++;
    if (d == n && n < 19) {
        buf_append(b, v, n);
        return;
    }
    int64_t ms;
    if (time_parse_rfc3339(v, n, &ms) == 0) {
        buf_put_json_str(b, v, n);
        return;
    }
    char tmp[64];
    if (n < 40) {
        int Y, M, D, h, m, sec = 0, used = 0;
        memcpy(tmp, v, n);
        tmp[n] = '\0';
        if ((sscanf(tmp, "%4d-%2d-%2d%*1[ T]%2d:%2d:%2d%n", &Y, &M, &D, &h, &m, &sec, &used) == 6 ||
             sscanf(tmp, "%4d-%2d-%2d%*1[ T]%2d:%2d%n", &Y, &M, &D, &h, &m, &used) == 5 ||
             sscanf(tmp, "%2d/%2d/%4d %2d:%2d:%2d%n", &M, &D, &Y, &h, &m, &sec, &used) == 6 ||
             sscanf(tmp, "%2d/%2d/%4d %2d:%2d%n", &M, &D, &Y, &h, &m, &used) == 5) &&
            (size_t)used == n && Y >= 0 && Y <= 9999 && M >= 0 && D >= 0 && h >= 0 && m >= 0 && sec >= 0 &&
            M < 100 && D < 100 && h < 100 && m < 100 && sec < 100) {
            char iso[32];
            snprintf(iso, sizeof iso, "%04d-%02d-%02dT%02d:%02d:%02dZ", Y, M, D, h, m, sec);
            if (time_parse_rfc3339(iso, strlen(iso), &ms) == 0) {
                buf_printf(b, "%lld", (long long)ms);
                return;
            }
        }
    }
    buf_put_json_str(b, v, n);
}

/* A numeric cell: a JSON number as it is; quantity "6.0" as 6; otherwise the text as a
 * string, so that validation says what is wrong with it. */
static void put_number(buf_t *b, const char *v, size_t n, int integer)
{
    double d;
    if (integer && parse_double(v, n, &d) == 0 && d == floor(d) && fabs(d) < 1e15) {
        buf_printf(b, "%lld", (long long)d);
        return;
    }
    if (is_json_number(v, n)) {
        buf_append(b, v, n);
        return;
    }
    if (parse_double(v, n, &d) == 0) {
        put_double(b, d);
        return;
    }
    buf_put_json_str(b, v, n);
}

static int gcsv_header(imp_t *im, gcsv_t *g, char **f, size_t nf, char *err, size_t errlen)
{
    const imp_opts_t *o = im->o;
    for (size_t i = 0; i < o->nmap; i++) {
        g->col[i] = -1;
        if (o->map[i].is_const)
            continue;
        for (size_t c = 0; c < nf; c++) {
            size_t n = strlen(f[c]);
            const char *h = trim(f[c], &n);
            if (n == strlen(o->map[i].source) && strncasecmp(h, o->map[i].source, n) == 0) {
                g->col[i] = (int)c;
                break;
            }
        }
        if (g->col[i] < 0) {
            buf_t cols;
            buf_init(&cols);
            for (size_t c = 0; c < nf && cols.len < 300; c++) {
                buf_puts(&cols, c ? ", " : "");
                buf_puts(&cols, f[c]);
            }
            fail(err, errlen, "%s has no column \"%s\" (for %s); its header has: %s", o->path, o->map[i].source,
                 o->map[i].field, cols.data ? cols.data : "");
            buf_free(&cols);
            return -1;
        }
    }
    g->have_header = 1;
    return 0;
}

/* The value of mapping i in this row, trimmed; n 0 when empty. */
static const char *gcsv_value(const imp_opts_t *o, const gcsv_t *g, size_t i, char **f, size_t nf, size_t *n)
{
    const char *v = o->map[i].is_const ? o->map[i].source : (size_t)g->col[i] < nf ? f[g->col[i]] : "";
    *n = strlen(v);
    return trim(v, n);
}

static void gcsv_event(imp_t *im, const gcsv_t *g, char **f, size_t nf)
{
    const imp_opts_t *o = im->o;
    buf_t *b = &im->evq, *props = &im->scratch;
    int first = 1, pfirst = 1;
    props->len = 0;
    for (size_t i = 0; i < o->nmap; i++) {
        size_t n;
        const char *v = gcsv_value(o, g, i, f, nf, &n);
        const char *field = o->map[i].field;
        if (!n)
            continue;
        if (strncmp(field, "properties.", 11) == 0) {
            jstr(props, &pfirst, field + 11, v, n);
            continue;
        }
        jkey(b, &first, field);
        if (strcmp(field, "quantity") == 0 || strcmp(field, "price") == 0)
            put_number(b, v, n, field[0] == 'q');
        else if (strcmp(field, "ts") == 0)
            put_ts(b, v, n);
        else
            buf_put_json_str(b, v, n);
    }
    if (!pfirst) {
        jkey(b, &first, "properties");
        buf_append(b, props->data, props->len);
        buf_puts(b, "}");
    }
    if (first)
        buf_puts(b, "{");
    event_done(im);
}

/* Splits a list cell ("Home/Kitchen", "red|sale") into an array of trimmed parts. */
static json_t *split_list(const char *v, size_t n, const char *seps)
{
    json_t *arr = json_array();
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && !strchr(seps, v[j]))
            j++;
        size_t pn = j - i;
        const char *p = trim(v + i, &pn);
        if (pn)
            json_array_append_new(arr, json_stringn(p, pn));
        i = j + 1;
    }
    return arr;
}

static json_t *cell_bool(const char *v, size_t n)
{
    static const char *const yes[] = {"true", "yes", "1", "y", "t", NULL};
    static const char *const no[] = {"false", "no", "0", "n", "f", NULL};
    for (int i = 0; yes[i]; i++)
        if (strlen(yes[i]) == n && strncasecmp(v, yes[i], n) == 0)
            return json_true();
    for (int i = 0; no[i]; i++)
        if (strlen(no[i]) == n && strncasecmp(v, no[i], n) == 0)
            return json_false();
    return json_stringn(v, n);
}

static void gcsv_entity(imp_t *im, const gcsv_t *g, char **f, size_t nf)
{
    const imp_opts_t *o = im->o;
    int is_item = o->kind == IMP_ITEMS;
    json_t *obj = json_object();
    for (size_t i = 0; i < o->nmap; i++) {
        size_t n;
        const char *v = gcsv_value(o, g, i, f, nf, &n);
        const char *field = o->map[i].field;
        if (!n)
            continue;
        json_t *val;
        double d;
        if (strcmp(field, "price") == 0)
            val = parse_double(v, n, &d) == 0 ? json_real(d) : json_stringn(v, n);
        else if (strcmp(field, "in_stock") == 0 || strncmp(field, "consent.", 8) == 0)
            val = cell_bool(v, n);
        else if (strcmp(field, "categories") == 0)
            val = split_list(v, n, "/>");
        else if (strcmp(field, "tags") == 0)
            val = split_list(v, n, ",|;");
        else if (strcmp(field, "created_at") == 0) {
            buf_t t;
            buf_init(&t);
            put_ts(&t, v, n);
            val = json_loadb(t.data, t.len, JSON_DECODE_ANY, NULL);
            buf_free(&t);
            if (!val)
                val = json_stringn(v, n);
        } else
            val = json_stringn(v, n);
        if (!val)
            continue; /* (cells are checked for UTF-8 before) */
        const char *dot = strchr(field, '.');
        if (dot) {
            char top[64];
            snprintf(top, sizeof top, "%.*s", (int)(dot - field), field);
            json_t *sub = json_object_get(obj, top);
            if (!sub) {
                sub = json_object();
                json_object_set_new(obj, top, sub);
            }
            json_object_set_new(sub, dot + 1, val);
        } else {
            json_object_set_new(obj, field, val);
        }
    }
    put_entity(im, is_item, obj, NULL);
}

static int gcsv_row(imp_t *im, void *ud, char **f, size_t nf, char *err, size_t errlen)
{
    gcsv_t *g = ud;
    if (!g->have_header)
        return gcsv_header(im, g, f, nf, err, errlen);
    if (nf == 1 && !f[0][strspn(f[0], " \t\r")])
        return 0;
    im->sum->records++;
    for (size_t i = 0; i < nf; i++) {
        /* jansson refuses invalid UTF-8; events are checked by their scanner. */
        if (im->o->kind != IMP_EVENTS && !val_utf8(f[i], strlen(f[i]))) {
            count_reason(im->o->kind == IMP_ITEMS ? &im->sum->items_rejected : &im->sum->users_rejected,
                         "invalid_utf8");
            return 0;
        }
    }
    if (im->o->kind == IMP_EVENTS)
        gcsv_event(im, g, f, nf);
    else
        gcsv_entity(im, g, f, nf);
    return 0;
}

/* ---- NDJSON ------------------------------------------------------------------------------ */

static int ndjson_chunk(imp_t *im, void *ud, char *p, size_t n)
{
    (void)ud;
    imp_summary_t *s = im->sum;
    if (im->o->kind == IMP_EVENTS) {
        uint64_t before = s->events + s->duplicates + reasons_total(&s->skipped);
        events_body(im, p, n);
        s->records += s->events + s->duplicates + reasons_total(&s->skipped) - before;
        return 0;
    }
    int is_item = im->o->kind == IMP_ITEMS;
    bat_t bat;
    val_error_t err;
    if (bat_parse(p, n, 1, SIZE_MAX, &bat, &err) != 0)
        return 0; /* blank lines only */
    for (size_t i = 0; i < bat.n; i++) {
        s->records++;
        if (!bat.v[i].val) {
            count_reason(is_item ? &s->items_rejected : &s->users_rejected, bat.v[i].err.code);
            continue;
        }
        put_entity(im, is_item, json_incref(bat.v[i].val), NULL);
    }
    bat_free(&bat);
    return 0;
}

/* ---- running ------------------------------------------------------------------------------ */

void imp_opts_default(imp_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->data_dir = "./data";
    o->format = IMP_CSV;
    o->kind = IMP_EVENTS;
    o->encoding = -1;
    o->delimiter = ',';
    o->days = 60;
    o->gap_ms = DAY_MS;
    o->event_type = EVT_PURCHASE;
}

int imp_map_add(imp_opts_t *o, const char *spec, int is_const, char *err, size_t errlen)
{
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || (!is_const && !eq[1]))
        return fail(err, errlen, "%s wants FIELD=%s, got '%s'", is_const ? "--const" : "--map",
                    is_const ? "VALUE" : "COLUMN", spec);
    if (o->nmap == IMP_MAX_MAP)
        return fail(err, errlen, "at most %d mapped fields", IMP_MAX_MAP);
    imp_map_t *m = &o->map[o->nmap];
    size_t fn = (size_t)(eq - spec);
    if (fn >= sizeof m->field || strlen(eq + 1) >= sizeof m->source)
        return fail(err, errlen, "mapping too long: '%.80s'", spec);
    memcpy(m->field, spec, fn);
    m->field[fn] = '\0';
    snprintf(m->source, sizeof m->source, "%s", eq + 1);
    m->is_const = is_const;
    o->nmap++;
    return 0;
}

int imp_run(const imp_opts_t *o, imp_summary_t *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    uint64_t t0 = time_mono_ns();
    imp_t im;
    memset(&im, 0, sizeof im);
    im.o = o;
    im.sum = s;
    im.now_ms = time_now_ms();
    im.end_ms = o->end_ms ? o->end_ms : im.now_ms;
    im.user_prefix = o->user_prefix ? o->user_prefix : o->format == IMP_SEQUENCES ? "u" : "";
    im.item_prefix = o->item_prefix ? o->item_prefix : o->format == IMP_SEQUENCES ? "i" : "";
    im.prog.on = o->progress;
    im.prog.label = o->format == IMP_ONLINE_RETAIL ? "reading" : "import";
    buf_init(&im.framed);
    buf_init(&im.evq);
    buf_init(&im.scratch);
    im.ensured = intern_new();
    int rc = -1, src_opened = 0;
    if (check_mapping(o, err, errlen) != 0)
        goto out;
    int latin1 = o->encoding >= 0 ? o->encoding : o->format == IMP_ONLINE_RETAIL;
    if (src_open(&im.src, o->path, latin1, err, errlen) != 0)
        goto out;
    src_opened = 1;
    im.prog.total = im.src.size;
    if (o->format != IMP_ONLINE_RETAIL && open_store(&im, err, errlen) != 0)
        goto out;
    switch (o->format) {
    case IMP_ONLINE_RETAIL:
        rc = run_online_retail(&im, err, errlen);
        break;
    case IMP_SEQUENCES:
        rc = each_line(&im, 0, seq_line, NULL, err, errlen);
        break;
    case IMP_CSV: {
        gcsv_t g;
        memset(&g, 0, sizeof g);
        rc = each_csv(&im, o->delimiter, gcsv_row, &g, err, errlen);
        if (rc == 0 && !g.have_header)
            rc = fail(err, errlen, "%s is empty (a CSV needs a header line)", o->path);
        break;
    }
    case IMP_NDJSON:
        rc = each_line(&im, 1, ndjson_chunk, NULL, err, errlen);
        break;
    }
    if (rc == 0)
        flush_events(&im);
out:
    prog_draw(&im.prog, im.prog.total, s->events + s->duplicates, 1);
    prog_clear(&im.prog);
    /* What was applied is a consistent prefix of the input: keep it even after a
     * failure (a second run skips it as duplicates). log_close writes and fsyncs. */
    if (im.log) {
        hand_off(&im, 1);
        log_close(im.log);
    }
    st_free(im.st);
    if (src_opened)
        src_close(&im.src);
    buf_free(&im.framed);
    buf_free(&im.evq);
    buf_free(&im.scratch);
    intern_free(im.ensured);
    s->seconds = (double)(time_mono_ns() - t0) / 1e9;
    return rc;
}

/* ---- summary ------------------------------------------------------------------------------- */

static double events_per_s(const imp_summary_t *s)
{
    return s->seconds > 0 ? (double)(s->events + s->duplicates) / s->seconds : 0;
}

static void reasons_json(buf_t *b, const imp_reasons_t *r)
{
    buf_puts(b, "{");
    for (size_t i = 0; i < r->n; i++) {
        buf_puts(b, i ? "," : "");
        buf_put_json_str(b, r->v[i].reason, strlen(r->v[i].reason));
        buf_printf(b, ":%llu", (unsigned long long)r->v[i].n);
    }
    buf_puts(b, "}");
}

void imp_summary_json(const imp_opts_t *o, const imp_summary_t *s, buf_t *b)
{
    buf_puts(b, "{\"format\":");
    buf_put_json_str(b, format_names[o->format], strlen(format_names[o->format]));
    if (o->format == IMP_CSV || o->format == IMP_NDJSON)
        buf_printf(b, ",\"kind\":\"%s\"", kind_names[o->kind]);
    buf_puts(b, ",\"file\":");
    buf_put_json_str(b, o->path, strlen(o->path));
    buf_puts(b, ",\"data\":");
    buf_put_json_str(b, o->data_dir, strlen(o->data_dir));
    buf_printf(b, ",\"records\":%llu,\"events\":{\"imported\":%llu,\"duplicates\":%llu,\"skipped\":",
               (unsigned long long)s->records, (unsigned long long)s->events, (unsigned long long)s->duplicates);
    reasons_json(b, &s->skipped);
    buf_printf(b, "},\"items\":{\"created\":%llu,\"updated\":%llu,\"unchanged\":%llu,\"rejected\":",
               (unsigned long long)s->items_created, (unsigned long long)s->items_updated,
               (unsigned long long)s->items_unchanged);
    reasons_json(b, &s->items_rejected);
    buf_printf(b, "},\"customers\":{\"created\":%llu,\"updated\":%llu,\"unchanged\":%llu,\"rejected\":",
               (unsigned long long)s->users_created, (unsigned long long)s->users_updated,
               (unsigned long long)s->users_unchanged);
    reasons_json(b, &s->users_rejected);
    buf_puts(b, "}");
    if (o->format == IMP_ONLINE_RETAIL)
        buf_printf(b, ",\"cancellations\":{\"lines\":%llu,\"matched\":%llu}", (unsigned long long)s->cancellations,
                   (unsigned long long)s->cancellations_matched);
    buf_printf(b, ",\"log_records_before\":%llu,\"seconds\":%.3f,\"replay_seconds\":%.3f,\"events_per_s\":%.0f}\n",
               (unsigned long long)s->log_records_before, s->seconds, s->replay_seconds, events_per_s(s));
}

static void reasons_text(buf_t *b, const char *label, const imp_reasons_t *r)
{
    if (!r->n)
        return;
    buf_printf(b, "  %-12s", label);
    for (size_t i = 0; i < r->n; i++)
        buf_printf(b, "%s%s %llu", i ? ", " : "", r->v[i].reason, (unsigned long long)r->v[i].n);
    buf_puts(b, "\n");
}

void imp_summary_text(const imp_opts_t *o, const imp_summary_t *s, buf_t *b)
{
    buf_printf(b, "aisle import: %s", format_names[o->format]);
    if (o->format == IMP_CSV || o->format == IMP_NDJSON)
        buf_printf(b, " (%s)", kind_names[o->kind]);
    buf_printf(b, " %s -> %s: %llu records in %.2f s", o->path, o->data_dir, (unsigned long long)s->records,
               s->seconds);
    if (s->events + s->duplicates)
        buf_printf(b, " (%.0f events/s)", events_per_s(s));
    buf_puts(b, "\n");
    buf_printf(b, "  %-12s%llu imported, %llu duplicates, %llu skipped\n", "events", (unsigned long long)s->events,
               (unsigned long long)s->duplicates, (unsigned long long)reasons_total(&s->skipped));
    buf_printf(b, "  %-12s%llu created, %llu updated, %llu unchanged, %llu rejected\n", "items",
               (unsigned long long)s->items_created, (unsigned long long)s->items_updated,
               (unsigned long long)s->items_unchanged, (unsigned long long)reasons_total(&s->items_rejected));
    buf_printf(b, "  %-12s%llu created, %llu updated, %llu unchanged, %llu rejected\n", "customers",
               (unsigned long long)s->users_created, (unsigned long long)s->users_updated,
               (unsigned long long)s->users_unchanged, (unsigned long long)reasons_total(&s->users_rejected));
    reasons_text(b, "skipped", &s->skipped);
    reasons_text(b, "items rej.", &s->items_rejected);
    reasons_text(b, "cust. rej.", &s->users_rejected);
    if (o->format == IMP_ONLINE_RETAIL && s->cancellations)
        buf_printf(b, "  %-12s%llu lines skipped, %llu of them cancel an earlier purchase by the same customer\n",
                   "cancelled", (unsigned long long)s->cancellations, (unsigned long long)s->cancellations_matched);
    if (s->log_records_before)
        buf_printf(b, "  %-12s%llu records already there, replayed in %.2f s\n", "log",
                   (unsigned long long)s->log_records_before, s->replay_seconds);
    if (s->no_event_ids)
        buf_printf(b, "  note: events without an event_id were imported; importing the file again would import "
                      "them again\n");
}

/* ---- command line -------------------------------------------------------------------------- */

static void imp_usage(FILE *f)
{
    fprintf(f,
            "Usage: aisle import --format=FORMAT [flags] FILE\n\n"
            "Loads FILE (\"-\" for stdin) into the data directory through the API's validation and\n"
            "log, while no server runs on it. Prints a summary: what was imported, duplicates, and\n"
            "what was skipped by reason. See docs/IMPORT.md.\n\n"
            "Formats:\n"
            "  online-retail    the UCI Online Retail CSV (Latin-1): items, customers (country) and\n"
            "                   purchases grouped by invoice; cancellations, lines with a quantity or\n"
            "                   price <= 0 and non-merchandise codes (postage, fees) are skipped\n"
            "  sequences        lines \"USER ITEM ITEM ...\" in time order: one event per item, and a\n"
            "                   catalog item \"Item <id>\" for each item the catalog lacks\n"
            "  csv              a CSV with a header line, mapped with --map/--const/--mapping\n"
            "  ndjson           one JSON record a line, as the API takes them\n\n"
            "Flags:\n"
            "  --data DIR           data directory (AISLE_DATA) [./data]\n"
            "  --format FORMAT      online-retail | sequences | csv | ndjson (required)\n"
            "  --kind KIND          csv, ndjson: events | items | users [events]\n"
            "  --map FIELD=COLUMN   csv: take FIELD from COLUMN (a header name); repeatable.\n"
            "                       events: type event_id user_id session_id item_id query quantity\n"
            "                       price order_id ts rec_id properties.NAME\n"
            "                       items: item_id title description brand price currency\n"
            "                       categories (split on / or >) tags (split on , | ;) in_stock\n"
            "                       created_at attributes.NAME\n"
            "                       users: user_id age_band gender country loyalty_tier\n"
            "                       consent.personalization consent.analytics attributes.NAME\n"
            "  --const FIELD=VALUE  csv: the same VALUE for every record; repeatable\n"
            "  --mapping FILE       csv: FIELD=COLUMN lines (and \"const FIELD=VALUE\"); # comments\n"
            "  --encoding ENC       utf8 | latin1 [latin1 for online-retail, else utf8]\n"
            "  --delimiter C        csv, online-retail: field separator, or \"tab\" [,]\n"
            "  --end TIME           online-retail, sequences: end of the synthetic timestamps,\n"
            "                       RFC 3339 [now]\n"
            "  --days N             online-retail: invoices spread evenly over N days [60]\n"
            "  --gap DURATION       sequences: time between a user's items [1d]\n"
            "  --event-type TYPE    sequences: view | click | add_to_cart | purchase ... [purchase]\n"
            "  --user-prefix P      online-retail, sequences: prepended to user ids [\"\" | u]\n"
            "  --item-prefix P      online-retail, sequences: prepended to item ids [\"\" | i]\n"
            "  --json               print the summary as JSON\n"
            "  --no-progress        no progress bar (it is drawn on stderr only when a terminal)\n"
            "  -h, --help           this help\n\n"
            "Exit status: 0 done (records skipped for a reason included), 1 failed, 2 bad usage.\n");
}

typedef struct {
    imp_opts_t o;
    int json, no_progress;
    int have_format;
} imp_cli_t;

static int load_mapping(imp_opts_t *o, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "aisle: cannot open mapping file %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[1024], err[300];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        size_t n = strlen(line);
        const char *p = trim(line, &n);
        ((char *)p)[n] = '\0';
        if (!n || *p == '#')
            continue;
        int is_const = 0;
        if (strncmp(p, "const ", 6) == 0)
            is_const = 1, p += 6;
        else if (strncmp(p, "map ", 4) == 0)
            p += 4;
        while (*p == ' ')
            p++;
        if (imp_map_add(o, p, is_const, err, sizeof err) != 0) {
            fprintf(stderr, "aisle: %s:%d: %s\n", path, lineno, err);
            rc = -1;
        }
    }
    fclose(f);
    return rc;
}

static int imp_set(imp_cli_t *c, const char *name, const char *val)
{
    imp_opts_t *o = &c->o;
    char err[300];
    if (strcmp(name, "data") == 0) {
        if (!*val) {
            fprintf(stderr, "aisle: --data wants a directory\n");
            return -1;
        }
        o->data_dir = val;
    } else if (strcmp(name, "format") == 0) {
        int k = -1;
        for (int i = 0; i < 4; i++)
            if (strcmp(val, format_names[i]) == 0)
                k = i;
        if (k < 0) {
            fprintf(stderr, "aisle: --format wants online-retail, sequences, csv or ndjson, got '%s'\n", val);
            return -1;
        }
        o->format = (imp_format_t)k;
        c->have_format = 1;
    } else if (strcmp(name, "kind") == 0) {
        int k = -1;
        for (int i = 0; i < 3; i++)
            if (strcmp(val, kind_names[i]) == 0)
                k = i;
        if (k < 0) {
            fprintf(stderr, "aisle: --kind wants events, items or users, got '%s'\n", val);
            return -1;
        }
        o->kind = (imp_kind_t)k;
    } else if (strcmp(name, "map") == 0 || strcmp(name, "const") == 0) {
        if (imp_map_add(o, val, name[0] == 'c', err, sizeof err) != 0) {
            fprintf(stderr, "aisle: %s\n", err);
            return -1;
        }
    } else if (strcmp(name, "mapping") == 0) {
        return load_mapping(o, val);
    } else if (strcmp(name, "encoding") == 0) {
        if (strcasecmp(val, "utf8") == 0 || strcasecmp(val, "utf-8") == 0)
            o->encoding = 0;
        else if (strcasecmp(val, "latin1") == 0 || strcasecmp(val, "latin-1") == 0 ||
                 strcasecmp(val, "iso-8859-1") == 0)
            o->encoding = 1;
        else {
            fprintf(stderr, "aisle: --encoding wants utf8 or latin1, got '%s'\n", val);
            return -1;
        }
    } else if (strcmp(name, "delimiter") == 0) {
        if (strcmp(val, "tab") == 0 || strcmp(val, "\\t") == 0)
            o->delimiter = '\t';
        else if (strlen(val) == 1 && val[0] != '"' && val[0] != '\n' && val[0] != '\r')
            o->delimiter = val[0];
        else {
            fprintf(stderr, "aisle: --delimiter wants one character or \"tab\", got '%s'\n", val);
            return -1;
        }
    } else if (strcmp(name, "end") == 0) {
        if (time_parse_rfc3339(val, strlen(val), &o->end_ms) != 0 || o->end_ms <= 0) {
            fprintf(stderr, "aisle: --end wants an RFC 3339 time such as 2026-11-01T00:00:00Z, got '%s'\n", val);
            return -1;
        }
    } else if (strcmp(name, "days") == 0) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(val, &end, 10);
        if (end == val || *end || errno || *val == '-' || v < 1 || v > 36500) {
            fprintf(stderr, "aisle: --days wants 1 to 36500, got '%s'\n", val);
            return -1;
        }
        o->days = (uint32_t)v;
    } else if (strcmp(name, "gap") == 0) {
        if (time_parse_duration(val, &o->gap_ms) != 0 || o->gap_ms > 3650 * DAY_MS) {
            fprintf(stderr, "aisle: --gap wants a duration such as 1d, 10m or 0, got '%s'\n", val);
            return -1;
        }
    } else if (strcmp(name, "event-type") == 0) {
        int t = evt_type_from_name(val);
        if (t < 0 || t == EVT_SEARCH) {
            fprintf(stderr, "aisle: --event-type wants view, click, add_to_cart, remove_from_cart or purchase, "
                            "got '%s'\n",
                    val);
            return -1;
        }
        o->event_type = t;
    } else if (strcmp(name, "user-prefix") == 0) {
        o->user_prefix = val;
    } else if (strcmp(name, "item-prefix") == 0) {
        o->item_prefix = val;
    } else if (strcmp(name, "json") == 0) {
        c->json = 1;
    } else if (strcmp(name, "no-progress") == 0) {
        c->no_progress = 1;
    } else {
        fprintf(stderr, "aisle: unknown flag --%s (see aisle import --help)\n", name);
        return -1;
    }
    return 0;
}

static int imp_flag(void *ud, const char *name, const char *val)
{
    return imp_set(ud, name, val);
}

static const char *const imp_switches[] = {"json", "no-progress", NULL};

static int is_imp_switch(const char *name)
{
    for (const char *const *p = imp_switches; *p; p++)
        if (strcmp(*p, name) == 0)
            return 1;
    return 0;
}

int imp_main(int argc, char **argv)
{
    imp_cli_t c;
    memset(&c, 0, sizeof c);
    imp_opts_default(&c.o);
    const char *env = getenv("AISLE_DATA");
    if (env && *env)
        c.o.data_dir = env;
    /* FILE is the one argument that is neither a flag nor a flag's value; the flags go
     * to flags_parse. */
    char **flags = malloc(((size_t)argc + 1) * sizeof *flags);
    if (!flags)
        abort();
    int nflags = 0, rc = 2;
    const char *file = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1]) {
            flags[nflags++] = argv[i];
            if (a[1] == '-' && a[2] && !strchr(a, '=') && !is_imp_switch(a + 2) && strcmp(a, "--help") != 0 &&
                i + 1 < argc)
                flags[nflags++] = argv[++i];
        } else if (!file) {
            file = a;
        } else {
            fprintf(stderr, "aisle: import takes one FILE, got '%s' and '%s' (see aisle import --help)\n", file, a);
            goto out;
        }
    }
    int fr = flags_parse(nflags, flags, "import", imp_switches, imp_flag, &c, imp_usage);
    if (fr) {
        rc = fr == 1 ? 0 : 2;
        goto out;
    }
    if (!c.have_format) {
        fprintf(stderr, "aisle: import needs --format (online-retail, sequences, csv or ndjson; see aisle import "
                        "--help)\n");
        goto out;
    }
    if (!file) {
        fprintf(stderr, "aisle: import needs a FILE (see aisle import --help)\n");
        goto out;
    }
    c.o.path = file;
    c.o.progress = !c.no_progress && isatty(STDERR_FILENO);
    char err[600];
    if (check_mapping(&c.o, err, sizeof err) != 0) {
        fprintf(stderr, "aisle: import: %s\n", err);
        goto out;
    }
    imp_summary_t s;
    if (imp_run(&c.o, &s, err, sizeof err) != 0) {
        fprintf(stderr, "aisle: import: %s\n", err);
        rc = 1;
        goto out;
    }
    buf_t b;
    buf_init(&b);
    if (c.json)
        imp_summary_json(&c.o, &s, &b);
    else
        imp_summary_text(&c.o, &s, &b);
    fwrite(b.data, 1, b.len, stdout);
    buf_free(&b);
    rc = 0;
out:
    free(flags);
    return rc;
}
