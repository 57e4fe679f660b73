/* Candidate for bench/http-libs.sh: GET /healthz -> {"status":"ok"} on libmicrohttpd, epoll thread
 * pool (THREADS, default 2), one persistent response, as MHD's own benchmark. Usage: mhd PORT [THREADS] */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char BODY[] = "{\"status\":\"ok\"}";
static struct MHD_Response *ok, *notfound;

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls) {
  (void)cls, (void)version, (void)upload, (void)upload_size;
  static int seen;
  if (*con_cls == NULL) { /* first call: headers only; answering now would close the connection */
    *con_cls = &seen;
    return MHD_YES;
  }
  if (strcmp(method, MHD_HTTP_METHOD_GET) == 0 && strcmp(url, "/healthz") == 0)
    return MHD_queue_response(c, MHD_HTTP_OK, ok);
  return MHD_queue_response(c, MHD_HTTP_NOT_FOUND, notfound);
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) return fprintf(stderr, "usage: %s PORT [THREADS]\n", argv[0]), 2;
  unsigned threads = argc == 3 ? (unsigned)atoi(argv[2]) : 2;
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ok = MHD_create_response_from_buffer(sizeof BODY - 1, (void *)BODY, MHD_RESPMEM_PERSISTENT);
  notfound = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  MHD_add_response_header(ok, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
  sigset_t sigs; /* blocked here so that MHD's threads inherit the mask; main waits below */
  sigemptyset(&sigs), sigaddset(&sigs, SIGTERM), sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TURBO, 0, NULL, NULL, handle,
                                          NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_THREAD_POOL_SIZE, threads,
                                          MHD_OPTION_CONNECTION_TIMEOUT, 65u, MHD_OPTION_END);
  if (!d) return perror("MHD_start_daemon"), 1;
  int sig;
  sigwait(&sigs, &sig);
  MHD_stop_daemon(d);
  MHD_destroy_response(ok), MHD_destroy_response(notfound);
  return 0;
}
