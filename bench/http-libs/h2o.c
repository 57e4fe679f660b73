/* Candidate for bench/http-libs.sh: GET /healthz -> {"status":"ok"} on libh2o-evloop (aisle's library), one
 * h2o_evloop_t + h2o_context_t per thread (default 2) on SO_REUSEPORT listeners. Usage: h2o PORT [THREADS] */
#define H2O_USE_LIBUV 0
#include <arpa/inet.h>
#include <h2o.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

static const char BODY[] = "{\"status\":\"ok\"}";
static h2o_globalconf_t config;

static int handle(h2o_handler_t *self, h2o_req_t *req) {
  (void)self;
  if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) ||
      !h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/healthz"))) {
    h2o_send_error_404(req, "Not Found", "not found", 0);
    return 0;
  }
  req->res.status = 200;
  req->res.reason = "OK";
  req->res.content_length = sizeof BODY - 1;
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
  h2o_send_inline(req, BODY, sizeof BODY - 1);
  return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err) {
  h2o_socket_t *sock;
  if (err || (sock = h2o_evloop_socket_accept(listener)) == NULL) return;
  int one = 1;
  setsockopt(h2o_socket_get_fd(sock), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  h2o_accept(listener->data, sock);
}

static void *worker(void *arg) {
  h2o_context_t *ctx = arg;
  for (;;) h2o_evloop_run(ctx->loop, INT32_MAX);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) return fprintf(stderr, "usage: %s PORT [THREADS]\n", argv[0]), 2;
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sigset_t sigs; /* blocked in every thread; main waits for them below */
  sigemptyset(&sigs), sigaddset(&sigs, SIGTERM), sigaddset(&sigs, SIGINT), sigaddset(&sigs, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  h2o_config_init(&config);
  h2o_hostconf_t *host = h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
  h2o_create_handler(h2o_config_register_path(host, "/", 0), sizeof(h2o_handler_t))->on_req = handle;
  int threads = argc == 3 ? atoi(argv[2]) : 2, one = 1;
  for (int i = 0; i < threads; i++) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, SOMAXCONN) != 0)
      return perror("listen"), 1;
    h2o_context_t *ctx = calloc(1, sizeof *ctx);
    h2o_accept_ctx_t *accept_ctx = calloc(1, sizeof *accept_ctx);
    h2o_context_init(ctx, h2o_evloop_create(), &config);
    accept_ctx->ctx = ctx, accept_ctx->hosts = config.hosts;
    h2o_socket_t *listener = h2o_evloop_socket_create(ctx->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    listener->data = accept_ctx;
    h2o_socket_read_start(listener, on_accept);
    pthread_t t;
    if (pthread_create(&t, NULL, worker, ctx) != 0) return perror("pthread_create"), 1;
  }
  int sig;
  do sigwait(&sigs, &sig);
  while (sig == SIGPIPE);
  return 0;
}
