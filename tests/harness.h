/* Test harness for integration tests: temporary data directories, starting the real
 * `aisle` binary on a free loopback port and stopping it by pid, and an HTTP client
 * (libcurl) that returns status, headers and body. */
#ifndef AISLE_HARNESS_H
#define AISLE_HARNESS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct {
    pid_t pid;
    int port;
    char dir[256];
    char logpath[300];
} server_t;

typedef struct {
    long status; /* 0 when the request failed at the transport level */
    char *body;
    size_t len;
    char *headers;
    size_t hlen;
} http_resp_t;

/* Creates a fresh directory under $TMPDIR (or /tmp); out gets its path. */
void tmpdir_make(char out[256]);
void rmrf(const char *dir);
/* The whole file, NUL-terminated (caller frees), its length in *len (may be NULL); NULL
 * when it cannot be read. */
char *file_read(const char *path, size_t *len);
int free_port(void);

/* A generated shop (`aisle gen`, seed 1, under dir/gen) imported into the data directory
 * dir: its catalog, then its events. */
void shop_make(const char *dir, uint32_t items, uint32_t users, uint64_t events);

/* Starts `aisle serve` on a free port over dir; extra args end with NULL. Its stderr
 * goes to <dir>.log. Does not wait for readiness. */
void server_start(server_t *s, const char *dir, ...);
/* Polls /readyz until 200 or timeout; fails the test if the process died. */
void server_wait_ready(server_t *s, int timeout_ms);
/* SIGTERM and wait; returns the exit status (or -1 when killed by a signal). */
int server_stop(server_t *s);
/* SIGKILL and reap. */
void server_kill9(server_t *s);

/* One request; body may be NULL. Caller frees r with http_free. */
void http(const server_t *s, const char *method, const char *path, const char *ctype, const char *body,
          size_t len, http_resp_t *r);
void http_free(http_resp_t *r);
/* Parses the body as JSON; fails the test when it is not. Caller decrefs. */
json_t *resp_json(const http_resp_t *r);
/* Convenience: a JSON request returning parsed JSON, asserting the status. */
json_t *http_json(const server_t *s, const char *method, const char *path, const char *body, long want_status);
/* Reads a dotted path ("error.code", "rejected.0.field") from a JSON document. */
json_t *jget(json_t *root, const char *path);
const char *jstr(json_t *root, const char *path);
long long jint(json_t *root, const char *path);

#endif
