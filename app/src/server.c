#define _GNU_SOURCE
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "healthz.h"
#include "log.h"

typedef struct conn {
  struct conn *prev, *next;
  int fd, close_me, lingering, peer_closed;
  unsigned nreq;
  int64_t deadline;
  size_t len;
  char buf[HTTP_MAX_REQ];
} conn;

static int wake_fd = -1;
static volatile sig_atomic_t stop_flag;
static atomic_int open_conns, draining;

static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cv = PTHREAD_COND_INITIALIZER;
static conn *q_ring[SRV_MAX_CONNS];
static size_t q_head, q_count;
static int q_closed;
static conn *returned; /* worker -> loop hand-back, guarded by q_mu */

void srv_stop(void) {
  uint64_t one = 1;
  stop_flag = 1;
  if (wake_fd >= 0 && write(wake_fd, &one, sizeof one) < 0) return;
}

int srv_open_connections(void) { return atomic_load(&open_conns); }

void srv_printf(srv_resp *r, const char *fmt, ...) {
  va_list ap;
  int n;
  if (r->len >= r->cap) return;
  va_start(ap, fmt);
  n = vsnprintf(r->body + r->len, r->cap - r->len, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  r->len = r->len + (size_t)n < r->cap ? r->len + (size_t)n : r->cap - 1;
}

static void wake(void) {
  uint64_t one = 1;
  if (write(wake_fd, &one, sizeof one) < 0) return; /* counter saturated: loop is awake anyway */
}

/* Writes all of iov before deadline on a non-blocking socket. */
static int write_all(int fd, struct iovec *iov, int n, int64_t deadline) {
  while (n > 0) {
    ssize_t w = writev(fd, iov, n);
    if (w < 0) {
      struct pollfd p = {fd, POLLOUT, 0};
      int64_t left = deadline - hz_now_ms();
      if (errno == EINTR) continue;
      if (errno != EAGAIN || left <= 0 || poll(&p, 1, (int)left) <= 0) return -1;
      continue;
    }
    while (n > 0 && (size_t)w >= iov->iov_len) {
      w -= (ssize_t)iov->iov_len;
      iov++;
      n--;
    }
    if (n > 0) {
      iov->iov_base = (char *)iov->iov_base + w;
      iov->iov_len -= (size_t)w;
    }
  }
  return 0;
}

static int send_resp(int fd, const srv_resp *r, int head_only, int keep) {
  char h[512];
  struct iovec iov[2];
  int n = snprintf(h, sizeof h,
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
                   "Connection: %s\r\n%s%s%s%s\r\n",
                   r->status, http_reason(r->status), r->ctype ? r->ctype : "text/plain; charset=utf-8", r->len,
                   keep ? "keep-alive" : "close", r->allow ? "Allow: " : "", r->allow ? r->allow : "",
                   r->allow ? "\r\n" : "", r->extra);
  if (n < 0 || (size_t)n >= sizeof h) return -1;
  iov[0].iov_base = h;
  iov[0].iov_len = (size_t)n;
  iov[1].iov_base = r->body;
  iov[1].iov_len = head_only ? 0 : r->len;
  return write_all(fd, iov, 2, hz_now_ms() + SRV_WRITE_MS);
}

/* Answers from the loop thread itself; the response is small, so the socket buffer takes it. */
static void send_error(const srv_app *app, conn *c, int status) {
  char body[64];
  srv_resp r;
  memset(&r, 0, sizeof r);
  r.status = status;
  r.body = body;
  r.len = (size_t)snprintf(body, sizeof body, "%s\n", http_reason(status));
  r.cap = sizeof body;
  if (app->rejected) app->rejected(status);
  send_resp(c->fd, &r, 0, 0);
}

typedef struct {
  const srv_app *app;
  int idx;
  pthread_t th;
} worker;

static void *worker_main(void *arg) {
  worker *w = arg;
  void *ctx = w->app->worker_init ? w->app->worker_init(w->idx) : NULL;
  srv_resp r;
  memset(&r, 0, sizeof r);
  r.body = malloc(SRV_BODY_CAP);
  r.cap = r.body ? SRV_BODY_CAP : 0; /* srv_printf writes nothing when cap is 0 */
  for (;;) {
    conn *c;
    http_req req;
    int pr;
    pthread_mutex_lock(&q_mu);
    while (q_count == 0 && !q_closed) pthread_cond_wait(&q_cv, &q_mu);
    if (q_count == 0) {
      pthread_mutex_unlock(&q_mu);
      break;
    }
    c = q_ring[q_head];
    q_head = (q_head + 1) % SRV_MAX_CONNS;
    q_count--;
    pthread_mutex_unlock(&q_mu);

    /* Serve every complete (pipelined) request already buffered, then hand the connection back. */
    while ((pr = http_parse(c->buf, c->len, &req)) == 0) {
      int keep, head = http_str_eq(req.method, "HEAD");
      r.status = 500;
      r.ctype = NULL;
      r.allow = NULL;
      r.extra[0] = 0;
      r.len = 0;
      if (r.body) w->app->handle(ctx, &req, &r);
      keep = req.keep_alive && !c->peer_closed && !atomic_load(&draining) && ++c->nreq < SRV_MAX_KEEPALIVE;
      if (send_resp(c->fd, &r, head, keep) != 0) keep = 0;
      memmove(c->buf, c->buf + req.total, c->len - req.total);
      c->len -= req.total;
      if (!keep) {
        c->close_me = 1;
        break;
      }
    }
    if (pr > 0 && !c->close_me) {
      send_error(w->app, c, pr);
      c->close_me = 1;
    }
    pthread_mutex_lock(&q_mu);
    c->next = returned;
    returned = c;
    pthread_mutex_unlock(&q_mu);
    wake();
  }
  if (w->app->worker_free) w->app->worker_free(ctx);
  free(r.body);
  return NULL;
}

/* ---- loop-owned connections ---- */
static conn *owned;
static int epfd = -1;

static void own(conn *c) {
  struct epoll_event ev;
  c->prev = NULL;
  c->next = owned;
  if (owned) owned->prev = c;
  owned = c;
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.ptr = c;
  epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
}

static void disown(conn *c) {
  if (c->prev) c->prev->next = c->next;
  else owned = c->next;
  if (c->next) c->next->prev = c->prev;
  epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
}

static void destroy(conn *c) {
  disown(c);
  close(c->fd);
  free(c);
  atomic_fetch_sub(&open_conns, 1);
}

/* Half-close and read what the client still sends, so that our last response is not lost to a
 * TCP reset caused by closing a socket with unread data. */
static void linger_close(conn *c) {
  if (atomic_load(&draining)) {
    destroy(c);
    return;
  }
  shutdown(c->fd, SHUT_WR);
  c->lingering = 1;
  c->deadline = hz_now_ms() + SRV_LINGER_MS;
}

static void on_readable(const srv_app *app, conn *c) {
  int64_t now = hz_now_ms();
  http_req req;
  int pr;
  for (;;) {
    char sink[4096];
    ssize_t n;
    if (c->lingering) n = read(c->fd, sink, sizeof sink);
    else if (c->len < sizeof c->buf) n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
    else break;
    if (n == 0 && !c->lingering && c->len > 0) {
      c->peer_closed = 1; /* half-closed after sending: still answer what was sent */
      break;
    }
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      destroy(c);
      return;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (c->lingering) continue;
    if (c->len == 0) c->deadline = now + SRV_REQUEST_MS;
    c->len += (size_t)n;
  }
  if (c->lingering) return;
  pr = http_parse(c->buf, c->len, &req);
  if (pr == HTTP_NEED_MORE && c->peer_closed) {
    destroy(c);
    return;
  }
  if (pr == HTTP_NEED_MORE) return;
  if (pr > 0) {
    send_error(app, c, pr);
    linger_close(c);
    return;
  }
  disown(c);
  pthread_mutex_lock(&q_mu);
  q_ring[(q_head + q_count) % SRV_MAX_CONNS] = c; /* cannot overflow: one slot per connection */
  q_count++;
  pthread_cond_signal(&q_cv);
  pthread_mutex_unlock(&q_mu);
}

static void on_accept(const srv_app *app, int lfd) {
  for (;;) {
    int one = 1, fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    conn *c;
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN) log_ev("WARN", "accept_failed", "errno=%d msg=\"%s\"", errno, strerror(errno));
      return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (atomic_load(&open_conns) >= SRV_MAX_CONNS || !(c = calloc(1, sizeof *c))) {
      static const char busy[] =
          "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 13\r\nConnection: close\r\n\r\ntoo many conn";
      if (app->rejected) app->rejected(503);
      if (send(fd, busy, sizeof busy - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) { /* closing anyway */ }
      close(fd);
      continue;
    }
    c->fd = fd;
    c->deadline = hz_now_ms() + SRV_IDLE_MS;
    atomic_fetch_add(&open_conns, 1);
    own(c);
  }
}

static void sweep(const srv_app *app) {
  int64_t now = hz_now_ms();
  conn *c = owned, *next;
  for (; c; c = next) {
    next = c->next;
    if (c->deadline > now) continue;
    if (c->lingering || c->len == 0) destroy(c);
    else {
      send_error(app, c, 408); /* slow or stalled client (slowloris) */
      linger_close(c);
    }
  }
}

int srv_run(int lfd, int threads, const srv_app *app) {
  struct epoll_event ev, evs[64];
  worker *ws;
  int i, started = 0, lfd_open = 1;
  int64_t last_sweep = 0;
  signal(SIGPIPE, SIG_IGN);
  /* on_accept drains the backlog until EAGAIN, which needs a non-blocking listener. */
  if (fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK) != 0) return -1;
  if ((epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 || (wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) return -1;
  ev.events = EPOLLIN;
  ev.data.ptr = &lfd;
  epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
  ev.data.ptr = &wake_fd;
  epoll_ctl(epfd, EPOLL_CTL_ADD, wake_fd, &ev);
  if (!(ws = calloc((size_t)threads, sizeof *ws))) return -1;
  for (i = 0; i < threads; i++) {
    ws[i].app = app;
    ws[i].idx = i;
    if (pthread_create(&ws[i].th, NULL, worker_main, &ws[i]) != 0) break;
    started++;
  }
  if (started < threads) {
    log_ev("ERROR", "thread_start_failed", "started=%d wanted=%d", started, threads);
    stop_flag = 1;
  }
  for (;;) {
    int n, k;
    int64_t now;
    if (stop_flag && !atomic_load(&draining)) {
      /* Stop accepting, drop idle connections; busy ones come back from workers and close. */
      atomic_store(&draining, 1);
      epoll_ctl(epfd, EPOLL_CTL_DEL, lfd, NULL);
      close(lfd);
      lfd_open = 0;
      while (owned) destroy(owned);
      log_ev("INFO", "draining", "in_flight=%d", atomic_load(&open_conns));
    }
    if (atomic_load(&draining) && atomic_load(&open_conns) == 0) break;
    n = epoll_wait(epfd, evs, 64, 200);
    for (k = 0; k < n; k++) {
      if (evs[k].data.ptr == &lfd) on_accept(app, lfd);
      else if (evs[k].data.ptr == &wake_fd) {
        uint64_t v;
        conn *c, *nx;
        if (read(wake_fd, &v, sizeof v) < 0) { /* spurious: nothing to drain */ }
        pthread_mutex_lock(&q_mu);
        c = returned;
        returned = NULL;
        pthread_mutex_unlock(&q_mu);
        for (; c; c = nx) {
          nx = c->next;
          own(c);
          c->deadline = hz_now_ms() + (c->len ? SRV_REQUEST_MS : SRV_IDLE_MS);
          if (c->close_me || atomic_load(&draining)) linger_close(c);
        }
      } else on_readable(app, evs[k].data.ptr);
    }
    now = hz_now_ms();
    if (now - last_sweep >= 200) {
      sweep(app);
      last_sweep = now;
    }
  }
  pthread_mutex_lock(&q_mu);
  q_closed = 1;
  pthread_cond_broadcast(&q_cv);
  pthread_mutex_unlock(&q_mu);
  for (i = 0; i < started; i++) pthread_join(ws[i].th, NULL);
  free(ws);
  if (lfd_open) close(lfd);
  close(epfd);
  close(wake_fd);
  wake_fd = -1;
  return started < threads ? -1 : 0;
}
