/* HTTP/1.1 server: one epoll thread owns idle and partially read connections and every response
 * the client has not yet taken; a fixed pool of workers runs complete requests and writes without
 * blocking. A slow client therefore never holds a worker. */
#ifndef LDR_SERVER_H
#define LDR_SERVER_H
#include <stddef.h>

#include "http.h"

#ifndef SRV_MAX_CONNS
#define SRV_MAX_CONNS 1024 /* at capacity the connection waiting longest on its client is evicted */
#endif
#ifndef SRV_REQUEST_MS
#define SRV_REQUEST_MS 10000 /* a request must arrive completely within this after its 1st byte */
#endif
#ifndef SRV_IDLE_MS
#define SRV_IDLE_MS 15000 /* keep-alive connections idle longer than this are closed */
#endif
#ifndef SRV_WRITE_MS
#define SRV_WRITE_MS 10000 /* a response must be taken by the client within this */
#endif
#ifndef SRV_QUEUE_MS
#define SRV_QUEUE_MS 5000 /* a request that waited longer for a worker is answered 503, not run */
#endif
#define SRV_ACCEPT_PAUSE_MS 100   /* listener pause after EMFILE/ENFILE/ENOMEM */
#define SRV_ERRLOG_MS 10000       /* at most one accept error line per this period */
#ifndef SRV_LINGER_MS
#define SRV_LINGER_MS 2000 /* after an error, drain the client's unread input this long */
#endif
#define SRV_MAX_KEEPALIVE 10000
#define SRV_BODY_CAP 65536

typedef struct {
  int status;
  const char *ctype;
  const char *allow;  /* Allow header for 405 */
  char extra[96];     /* extra header lines, each ending in \r\n */
  char *body;
  size_t len, cap;
} srv_resp;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void srv_printf(srv_resp *r, const char *fmt, ...);

typedef struct {
  void *(*worker_init)(int idx);
  void (*worker_free)(void *ctx);
  void (*handle)(void *ctx, const http_req *req, srv_resp *r);
  void (*rejected)(int status); /* a request answered by the server itself (400, 408, 413, ...) */
  /* Optional, called on the event-loop thread for each complete request before it would be queued
   * for a worker: returns 1 after filling r (the answer is sent from the loop), 0 to let a worker
   * handle it. Must never block: it is what keeps /healthz independent of the worker queue. */
  int (*fast)(const http_req *req, srv_resp *r);
} srv_app;

/* Runs until srv_stop(); returns 0 after in-flight requests finished, -1 on setup failure. */
int srv_run(int listen_fd, int threads, const srv_app *app);
/* Async-signal-safe. */
void srv_stop(void);
int srv_open_connections(void);
/* Connections closed to make room at capacity, since start. */
unsigned long srv_evictions(void);
/* Accept errors (EMFILE, ...) since start. */
unsigned long srv_accept_errors(void);

#endif
