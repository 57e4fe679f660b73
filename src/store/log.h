/* The durable append-only event log, the embedded store's source of truth.
 * Everything that changes state is appended here before it is acknowledged; on start
 * the log is replayed to rebuild all in-memory state.
 *
 * Layout: DIR/<20-digit start LSN>.seg segment files, rotated by size, and DIR/LOCK (see
 * log_open). Each segment starts with a 16-byte header (magic, version); each record is
 * framed as [u32 len][u32 crc32c][u8 type][payload], len counting type + payload,
 * little endian.
 * An LSN counts record bytes from the start of the log (segment headers excluded); a
 * segment is named by the LSN of its first record, and a record's LSN is its end.
 *
 * Appends are buffered in memory and written by one writer thread; while it fsyncs,
 * new appends gather in a second buffer, so many concurrent requests share one
 * fsync (group commit). This interface is what a Kafka-backed log implements later. */
#ifndef AISLE_LOG_H
#define AISLE_LOG_H

#include "../util/buf.h"

#include <stddef.h>
#include <stdint.h>

typedef enum { LOG_FSYNC_ALWAYS, LOG_FSYNC_BATCH, LOG_FSYNC_NEVER } log_fsync_t;

typedef struct {
    log_fsync_t fsync;
    int batch_ms;           /* LOG_FSYNC_BATCH: fsync at most this often */
    uint64_t segment_bytes; /* rotate past this size */
} log_opts_t;

typedef struct {
    uint64_t records;
    uint64_t bytes;
    uint32_t segments;
    uint64_t truncated_bytes; /* torn or corrupt bytes cut off the tail */
    uint32_t corrupt_segments;
    double seconds;
} log_replay_stats_t;

typedef struct log log_t;

/* Called for each record in log order. Return nonzero to stop replay with an error. */
typedef int (*log_record_fn)(void *ud, uint8_t type, const void *payload, size_t len, uint64_t lsn);
/* Called from the writer thread whenever the acknowledgeable LSN advances: durable on
 * disk with fsync=always, written to the OS with batch/never. */
typedef void (*log_durable_fn)(void *ud, uint64_t lsn);

#define LOG_MAX_RECORD (64u << 20)

void log_opts_default(log_opts_t *o);
/* Parses "always", "never", "batch:MS". -1 on error. */
int log_parse_fsync(const char *s, log_opts_t *o);

/* Returned by log_open when the directory's lock is held. */
#define LOG_EBUSY (-2)

/* Opens (creating) the log directory and takes an exclusive lock on DIR/LOCK (flock,
 * not waiting), so that two processes (a server, an import) never write one log; the
 * lock goes with log_close or with the process. Returns 0, LOG_EBUSY when the lock is
 * held (by another process, or by an open log_t of this one; nothing is logged: the
 * caller says what is in use), or -1.
 * Caller owns *out; log_close frees it. */
int log_open(const char *dir, const log_opts_t *o, log_t **out);
/* Reads every record in order, truncating a torn or corrupt tail (reported in stats and
 * on the log). Must be called once, before log_start. */
int log_replay(log_t *l, log_record_fn fn, void *ud, log_replay_stats_t *st);
/* Reads every record of the log in DIR in order without opening it for writing: no lock,
 * no repair (a damaged tail is counted in st->truncated_bytes and skipped). For readers
 * such as `aisle eval`, also while a server runs. */
int log_scan(const char *dir, log_record_fn fn, void *ud, log_replay_stats_t *st);
/* Bytes in the segments of the log in DIR (0 when there are none). */
uint64_t log_disk_bytes(const char *dir);
/* Starts the writer thread; cb may be NULL. */
int log_start(log_t *l, log_durable_fn cb, void *ud);
/* Appends one record; thread-safe. Returns the record's LSN (its end position). */
uint64_t log_append(log_t *l, uint8_t type, const void *payload, size_t len);
/* Frames one record into out (header, checksum, type, payload) without touching the log,
 * so that a request can frame its records outside any lock ... */
void log_frame(buf_t *out, uint8_t type, const void *payload, size_t len);
/* ... and append them all in one step. Returns the LSN after the last record. */
uint64_t log_append_framed(log_t *l, const void *framed, size_t len);
#define LOG_FRAME_HEADER 9 /* bytes before a framed record's payload */
/* Highest acknowledgeable LSN. */
uint64_t log_durable(log_t *l);
/* Highest appended LSN. */
uint64_t log_end(log_t *l);
/* Blocks until everything appended so far is acknowledgeable. */
void log_wait(log_t *l, uint64_t lsn);
/* Bytes on disk and segment count. */
void log_size(log_t *l, uint64_t *bytes, uint32_t *segments);
/* Flushes, fsyncs, stops the writer, releases the lock and frees l. */
void log_close(log_t *l);

#endif
