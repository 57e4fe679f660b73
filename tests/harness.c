/* Harness implementation. Waiting is always on a condition with a deadline (the server
 * answering /readyz, the process exiting), never a fixed sleep. */
#include "harness.h"

#include "gen/gen.h"

#include "test.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void shop_make(const char *dir, uint32_t items, uint32_t users, uint64_t events)
{
    char gdir[300], cmd[4096], err[512];
    snprintf(gdir, sizeof gdir, "%s/gen", dir);
    gen_opts_t go;
    gen_opts_default(&go);
    go.out_dir = gdir;
    go.items = items;
    go.users = users;
    go.events = events;
    gen_stats_t gs;
    ASSERT(gen_run(&go, &gs, err, sizeof err) == 0);
    snprintf(cmd, sizeof cmd,
             "%s import --data %s --format=ndjson --kind=items %s/items.ndjson >/dev/null && "
             "%s import --data %s --format=ndjson --kind=events %s/events.ndjson >/dev/null",
             AISLE_BIN, dir, gdir, AISLE_BIN, dir, gdir);
    ASSERT(system(cmd) == 0);
}

void tmpdir_make(char out[256])
{
    const char *base = getenv("TMPDIR");
    snprintf(out, 256, "%s/aisle-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(out))
        FAIL("mkdtemp: %s", strerror(errno));
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void rmrf(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    /* And the log of a server that ran on it (server_start's): a failing test shows its
     * tail before it gets here, a passing one leaves nothing behind in /tmp. */
    char log[300];
    snprintf(log, sizeof log, "%s.log", dir);
    unlink(log);
}

char *file_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ASSERT(buf);
    ASSERT(fread(buf, 1, (size_t)n, f) == (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ASSERT(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

void server_start(server_t *s, const char *dir, ...)
{
    const char *argv[64];
    int n = 0;
    char listen[64], data[300];
    s->port = free_port();
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    snprintf(s->logpath, sizeof s->logpath, "%s.log", dir);
    snprintf(listen, sizeof listen, "127.0.0.1:%d", s->port);
    snprintf(data, sizeof data, "%s", dir);
    argv[n++] = AISLE_BIN;
    argv[n++] = "serve";
    argv[n++] = "--listen";
    argv[n++] = listen;
    argv[n++] = "--data";
    argv[n++] = data;
    va_list ap;
    va_start(ap, dir);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 62)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        /* A test that fails aborts: take the server down with it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(s->logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
        }
        setenv("LSAN_OPTIONS", "suppressions=" LSAN_SUPP ":print_suppressions=0", 1);
        execv(AISLE_BIN, (char *const *)argv);
        _exit(127);
    }
    s->pid = pid;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void dump_log(const server_t *s)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "tail -n 40 '%s' >&2", s->logpath);
    if (system(cmd) != 0)
        fprintf(stderr, "(no server log)\n");
}

void server_wait_ready(server_t *s, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            dump_log(s);
            FAIL("server exited before becoming ready (status %d)", st);
        }
        http_resp_t r;
        http(s, "GET", "/readyz", NULL, NULL, 0, &r);
        long status = r.status;
        http_free(&r);
        if (status == 200)
            return;
        if (now_ms() > deadline) {
            dump_log(s);
            FAIL("server not ready after %d ms", timeout_ms);
        }
        sleep_ms(20);
    }
}

int server_stop(server_t *s)
{
    int st;
    kill(s->pid, SIGTERM);
    long long deadline = now_ms() + 30000;
    while (waitpid(s->pid, &st, WNOHANG) != s->pid) {
        if (now_ms() > deadline) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &st, 0);
            dump_log(s);
            FAIL("server did not stop within 30 s of SIGTERM");
        }
        sleep_ms(10);
    }
    s->pid = 0;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        dump_log(s);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void server_kill9(server_t *s)
{
    int st;
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &st, 0);
    s->pid = 0;
}

typedef struct {
    char *p;
    size_t n;
} sink_t;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    sink_t *k = ud;
    size_t add = size * nmemb;
    char *np = realloc(k->p, k->n + add + 1);
    ASSERT(np);
    k->p = np;
    memcpy(k->p + k->n, ptr, add);
    k->n += add;
    k->p[k->n] = '\0';
    return add;
}

void http(const server_t *s, const char *method, const char *path, const char *ctype, const char *body,
          size_t len, http_resp_t *r)
{
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    ASSERT(c);
    char url[2048];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", s->port, path);
    sink_t b = {0}, h = {0};
    struct curl_slist *hdrs = NULL;
    char ct[200];
    if (ctype) {
        snprintf(ct, sizeof ct, "Content-Type: %s", ctype);
        hdrs = curl_slist_append(hdrs, ct);
    } else {
        hdrs = curl_slist_append(hdrs, "Content-Type:"); /* no default type */
    }
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    r->body = b.p ? b.p : calloc(1, 1);
    r->len = b.n;
    r->headers = h.p ? h.p : calloc(1, 1);
    r->hlen = h.n;
}

void http_free(http_resp_t *r)
{
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof *r);
}

json_t *resp_json(const http_resp_t *r)
{
    json_error_t je;
    json_t *j = json_loadb(r->body, r->len, 0, &je);
    if (!j)
        FAIL("response is not JSON (%s): %.500s", je.text, r->body);
    return j;
}

json_t *http_json(const server_t *s, const char *method, const char *path, const char *body, long want_status)
{
    http_resp_t r;
    http(s, method, path, body ? "application/json" : NULL, body, body ? strlen(body) : 0, &r);
    if (r.status != want_status)
        FAIL("%s %s: status %ld, want %ld; body: %.1000s", method, path, r.status, want_status, r.body);
    json_t *j = resp_json(&r);
    http_free(&r);
    return j;
}

json_t *jget(json_t *root, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *cur = root;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save)) {
        if (json_is_array(cur))
            cur = json_array_get(cur, (size_t)atoi(tok));
        else
            cur = json_object_get(cur, tok);
    }
    return cur;
}

const char *jstr(json_t *root, const char *path)
{
    json_t *v = jget(root, path);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

long long jint(json_t *root, const char *path)
{
    json_t *v = jget(root, path);
    if (!json_is_integer(v))
        FAIL("%s is not an integer", path);
    return json_integer_value(v);
}

/* libcurl's global state must be set up before threads use it. */
__attribute__((constructor)) static void harness_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}
