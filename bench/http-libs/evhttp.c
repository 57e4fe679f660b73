/* Candidate for bench/http-libs.sh: GET /healthz -> {"status":"ok"} on libevent's evhttp, one
 * event_base + evhttp per thread (default 2) on SO_REUSEPORT listeners. Usage: evhttp PORT [THREADS] */
#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/buffer.h>
#include <event2/listener.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char BODY[] = "{\"status\":\"ok\"}";
static struct sockaddr_in sa = {.sin_family = AF_INET};

static void handle(struct evhttp_request *req, void *arg) {
  (void)arg;
  if (evhttp_request_get_command(req) != EVHTTP_REQ_GET || strcmp(evhttp_request_get_uri(req), "/healthz") != 0) {
    evhttp_send_error(req, HTTP_NOTFOUND, NULL);
    return;
  }
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
  evbuffer_add_reference(evhttp_request_get_output_buffer(req), BODY, sizeof BODY - 1, NULL, NULL);
  evhttp_send_reply(req, HTTP_OK, "OK", NULL);
}

static void *worker(void *arg) {
  struct event_base *base = arg;
  event_base_dispatch(base);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) return fprintf(stderr, "usage: %s PORT [THREADS]\n", argv[0]), 2;
  sa.sin_port = htons((uint16_t)atoi(argv[1]));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sigset_t sigs; /* blocked in every thread; main waits for them below */
  sigemptyset(&sigs), sigaddset(&sigs, SIGTERM), sigaddset(&sigs, SIGINT), sigaddset(&sigs, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  int threads = argc == 3 ? atoi(argv[2]) : 2;
  for (int i = 0; i < threads; i++) {
    struct event_base *base = event_base_new();
    struct evhttp *http = base ? evhttp_new(base) : NULL;
    struct evconnlistener *lev =
        http ? evconnlistener_new_bind(base, NULL, NULL,
                                       LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_FREE, -1,
                                       (struct sockaddr *)&sa, sizeof sa)
             : NULL;
    if (!lev || !evhttp_bind_listener(http, lev)) return perror("listen"), 1;
    evhttp_set_gencb(http, handle, NULL);
    pthread_t t;
    if (pthread_create(&t, NULL, worker, base) != 0) return perror("pthread_create"), 1;
  }
  int sig;
  do sigwait(&sigs, &sig);
  while (sig == SIGPIPE);
  return 0;
}
