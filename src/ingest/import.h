/* `aisle import`: loads a file into a data directory through the same validation and the
 * same durable log as the HTTP API, while no server runs on it (the log's directory lock
 * makes sure). Presets for the UCI Online Retail CSV and for sequence files
 * (`USER ITEM ITEM ...`), and generic CSV/NDJSON with a column mapping. docs/IMPORT.md
 * describes the command for users.
 *
 * How: replay the log into a state_t (to know the event_ids, items and customers already
 * there), turn each input record into the API's JSON, validate it with evt_parse_batch /
 * ent_item_from_json / ent_user_from_json, drop duplicate event_ids and unchanged items
 * and customers, apply what is new with st_apply and append it, framed, to the log in
 * large batches; log_close fsyncs. Importing the same file twice writes nothing the
 * second time when the events carry an event_id (the presets make deterministic ones). */
#ifndef AISLE_IMPORT_H
#define AISLE_IMPORT_H

#include "../util/buf.h"

#include <stddef.h>
#include <stdint.h>

typedef enum { IMP_ONLINE_RETAIL, IMP_SEQUENCES, IMP_CSV, IMP_NDJSON } imp_format_t;
typedef enum { IMP_EVENTS, IMP_ITEMS, IMP_USERS } imp_kind_t;

#define IMP_MAX_MAP 64
#define IMP_MAX_REASONS 32

/* One mapped field of the generic CSV import: FIELD=COLUMN, or FIELD=VALUE for all rows. */
typedef struct {
    char field[64];   /* "user_id", "properties.color", "attributes.size", "consent.analytics" */
    char source[256]; /* column name (a header cell), or the constant */
    int is_const;
} imp_map_t;

typedef struct {
    const char *data_dir; /* not owned; the log lives in data_dir/log */
    const char *path;     /* not owned; "-" reads stdin */
    imp_format_t format;
    imp_kind_t kind;      /* csv, ndjson: what the records are */
    int encoding;         /* 0 UTF-8, 1 Latin-1; -1: the format's default (Latin-1 for online-retail) */
    char delimiter;       /* csv */
    imp_map_t map[IMP_MAX_MAP];
    size_t nmap;
    int64_t end_ms;       /* online-retail, sequences: synthetic timestamps end here; 0: now */
    uint32_t days;        /* online-retail: invoices spread over this many days */
    int64_t gap_ms;       /* sequences: time between a user's consecutive items */
    int event_type;       /* sequences: an evt_type_t */
    const char *user_prefix, *item_prefix; /* sequences: prepended to the file's ids */
    int progress;         /* draw a progress bar on stderr */
} imp_opts_t;

typedef struct {
    const char *reason; /* a static string: a preset's reason or a validation code */
    uint64_t n;
} imp_count_t;

typedef struct {
    imp_count_t v[IMP_MAX_REASONS];
    size_t n;
} imp_reasons_t;

typedef struct {
    uint64_t records; /* input records read: lines or CSV rows, header and blank lines excluded */
    uint64_t events, duplicates;
    imp_reasons_t skipped; /* input records that gave no event (or entity), by reason */
    uint64_t items_created, items_updated, items_unchanged;
    imp_reasons_t items_rejected;
    uint64_t users_created, users_updated, users_unchanged;
    imp_reasons_t users_rejected;
    uint64_t cancellations, cancellations_matched; /* online-retail */
    int no_event_ids; /* events were imported without an event_id (a re-import duplicates them) */
    uint64_t log_records_before; /* records replayed from the existing log */
    double replay_seconds, seconds;
} imp_summary_t;

/* Defaults: CSV of events, the format's encoding, ',' delimiter, end now, 60 days, a gap
 * of one day, purchase events, prefixes "u" and "i", no progress bar. */
void imp_opts_default(imp_opts_t *o);
/* Adds "FIELD=COLUMN" (is_const 0) or "FIELD=VALUE" (1) to o's mapping. -1 with a message
 * in err when malformed or when the table is full; imp_run checks the fields against the
 * kind. */
int imp_map_add(imp_opts_t *o, const char *spec, int is_const, char *err, size_t errlen);
/* Runs the import. Returns 0 (records skipped for a reason are not a failure), or -1 with
 * a message for a person in err: unreadable input, a CSV without the columns needed,
 * a data directory in use by another aisle process, a log that cannot be written. */
int imp_run(const imp_opts_t *o, imp_summary_t *s, char *err, size_t errlen);
/* The summary as one JSON object (--json), or as lines for a person. */
void imp_summary_json(const imp_opts_t *o, const imp_summary_t *s, buf_t *out);
void imp_summary_text(const imp_opts_t *o, const imp_summary_t *s, buf_t *out);
/* `aisle import [flags] FILE`: argv holds what follows "import". Returns the process exit
 * status: 0 done, 1 the import failed, 2 bad usage. */
int imp_main(int argc, char **argv);

#endif
