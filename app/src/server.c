#define _GNU_SOURCE
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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
  uint32_t events; /* what epoll currently watches for this fd */
  unsigned nreq;
  int64_t deadline, queued_at;
  char *out;       /* response bytes the client has not taken yet (at most one response) */
  size_t out_len, out_off;
  size_t len;
  char buf[HTTP_MAX_REQ];
} conn;

static int wake_fd = -1;
static volatile sig_atomic_t stop_flag;
static atomic_int open_conns, draining;
static atomic_ulong evictions, accept_errors;

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
unsigned long srv_evictions(void) { return atomic_load(&evictions); }
unsigned long srv_accept_errors(void) { return atomic_load(&accept_errors); }

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

/* Writes what the socket takes now and keeps the rest in c->out for the event loop, so neither a
 * worker nor the loop ever waits for a client. Returns 0 when all was sent, 1 when output is
 * pending, -1 when the connection is broken. */
static int send_now(conn *c, struct iovec *iov, int n) {
  size_t rest = 0, o = 0;
  int i;
  while (n > 0) {
    ssize_t w = writev(c->fd, iov, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      return -1;
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
  if (n == 0) return 0;
  for (i = 0; i < n; i++) rest += iov[i].iov_len;
  /* The only pending output is this one response: callers stop serving a connection as soon as
   * anything is pending, which is the per-connection output cap. */
  if (!(c->out = malloc(rest))) return -1;
  for (i = 0; i < n; i++) {
    memcpy(c->out + o, iov[i].iov_base, iov[i].iov_len);
    o += iov[i].iov_len;
  }
  c->out_len = rest;
  c->out_off = 0;
  return 1;
}

static int send_resp(conn *c, const srv_resp *r, int head_only, int keep) {
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
  return send_now(c, iov, 2);
}

/* An answer from the server itself, in the same JSON shape as the application's errors. */
static int send_error(const srv_app *app, conn *c, int status) {
  char body[96];
  srv_resp r;
  memset(&r, 0, sizeof r);
  r.status = status;
  r.ctype = "application/json";
  r.body = body;
  r.len = (size_t)snprintf(body, sizeof body, "{\"error\":\"%s\"}\n", http_reason(status));
  r.cap = sizeof body;
  if (app->rejected) app->rejected(status);
  return send_resp(c, &r, 0, 0);
}

typedef struct {
  const srv_app *app;
  int idx;
  pthread_t th;
} worker;

static void reset_resp(srv_resp *r) {
  r->status = 500;
  r->ctype = NULL;
  r->allow = NULL;
  r->extra[0] = 0;
  r->len = 0;
}

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
    int pr = HTTP_NEED_MORE;
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

    /* Every worker was busy for longer than a client waits (a database hanging under load): the
     * client has likely given up and may have retried, so running the request now could only
     * produce work nobody reads, or a write its client believes failed. Refuse it, explicitly. */
    if (hz_now_ms() - c->queued_at > SRV_QUEUE_MS && http_parse(c->buf, c->len, &req) == 0) {
      reset_resp(&r);
      r.status = 503;
      r.ctype = "application/json";
      snprintf(r.extra, sizeof r.extra, "Retry-After: 1\r\n");
      srv_printf(&r, "{\"error\":\"busy: the request waited over %d ms for a worker and was not run\"}\n", SRV_QUEUE_MS);
      if (w->app->rejected) w->app->rejected(503);
      send_resp(c, &r, http_str_eq(req.method, "HEAD"), 0);
      c->close_me = 1;
    }
    /* Serve the complete (pipelined) requests already buffered until a response cannot be sent at
     * once, then hand the connection back: the loop delivers pending output. */
    while (!c->close_me && !c->out && (pr = http_parse(c->buf, c->len, &req)) == 0) {
      int keep, head = http_str_eq(req.method, "HEAD"), sent;
      reset_resp(&r);
      if (r.body) w->app->handle(ctx, &req, &r);
      keep = req.keep_alive && !c->peer_closed && !atomic_load(&draining) && ++c->nreq < SRV_MAX_KEEPALIVE;
      sent = send_resp(c, &r, head, keep);
      memmove(c->buf, c->buf + req.total, c->len - req.total);
      c->len -= req.total;
      if (sent < 0 || !keep) {
        c->close_me = 1;
        break;
      }
    }
    if (pr > 0 && !c->close_me && !c->out) {
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

/* ---- loop-owned connections ----
 * Kept newest first: a connection enters at the head when it starts waiting on its client
 * (accepted, or handed back by a worker), so the tail is the one that has waited longest and is
 * the first evicted at capacity. */
static conn *owned, *owned_tail;
static int epfd = -1;
static srv_resp loop_resp;
static char loop_body[4096];

static void watch(conn *c, uint32_t events) {
  struct epoll_event ev;
  if (c->events == events) return;
  ev.events = events;
  ev.data.ptr = c;
  epoll_ctl(epfd, c->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev);
  c->events = events;
}

static void own(conn *c) {
  c->prev = NULL;
  c->next = owned;
  if (owned) owned->prev = c;
  else owned_tail = c;
  owned = c;
  c->events = 0;
  watch(c, c->out ? EPOLLOUT : EPOLLIN | EPOLLRDHUP);
}

/* The connection starts waiting on its client again (it just completed a response): it becomes
 * the newest, so an active keep-alive client is not the first evicted. */
static void touch(conn *c) {
  if (owned == c) return;
  c->prev->next = c->next;
  if (c->next) c->next->prev = c->prev;
  else owned_tail = c->prev;
  c->prev = NULL;
  c->next = owned;
  owned->prev = c;
  owned = c;
}

static void disown(conn *c) {
  if (c->prev) c->prev->next = c->next;
  else owned = c->next;
  if (c->next) c->next->prev = c->prev;
  else owned_tail = c->prev;
  epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
  c->events = 0;
}

static void destroy(conn *c) {
  disown(c);
  close(c->fd);
  free(c->out);
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
  watch(c, EPOLLIN | EPOLLRDHUP);
}

static void wait_output(conn *c) {
  c->deadline = hz_now_ms() + SRV_WRITE_MS;
  watch(c, EPOLLOUT);
}

/* Deadline for a connection that has just finished a response: the next request must complete
 * within SRV_REQUEST_MS if it has begun, else the connection may idle SRV_IDLE_MS. */
static void rearm(conn *c) { c->deadline = hz_now_ms() + (c->len ? SRV_REQUEST_MS : SRV_IDLE_MS); }

static void dispatch(conn *c) {
  disown(c);
  c->queued_at = hz_now_ms();
  pthread_mutex_lock(&q_mu);
  q_ring[(q_head + q_count) % SRV_MAX_CONNS] = c; /* cannot overflow: one slot per connection */
  q_count++;
  pthread_cond_signal(&q_cv);
  pthread_mutex_unlock(&q_mu);
}

/* Acts on whatever the connection has buffered; precondition: loop-owned, no pending output. */
static void advance(const srv_app *app, conn *c) {
  for (;;) {
    http_req req;
    int pr = http_parse(c->buf, c->len, &req), sent, keep;
    if (pr == HTTP_NEED_MORE) {
      if (c->peer_closed) destroy(c);
      else watch(c, EPOLLIN | EPOLLRDHUP);
      return;
    }
    if (pr > 0) {
      c->close_me = 1;
      sent = send_error(app, c, pr);
      if (sent < 0) destroy(c);
      else if (sent > 0) wait_output(c);
      else linger_close(c);
      return;
    }
    reset_resp(&loop_resp);
    if (!app->fast || !app->fast(&req, &loop_resp)) {
      dispatch(c);
      return;
    }
    keep = req.keep_alive && !c->peer_closed && !atomic_load(&draining) && ++c->nreq < SRV_MAX_KEEPALIVE;
    sent = send_resp(c, &loop_resp, http_str_eq(req.method, "HEAD"), keep);
    memmove(c->buf, c->buf + req.total, c->len - req.total);
    c->len -= req.total;
    if (sent < 0) {
      destroy(c);
      return;
    }
    if (!keep) c->close_me = 1;
    if (sent > 0) {
      wait_output(c);
      return;
    }
    if (c->close_me) {
      linger_close(c);
      return;
    }
    rearm(c);
    touch(c);
  }
}

static void on_writable(const srv_app *app, conn *c) {
  while (c->out_off < c->out_len) {
    ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) return;
    if (w <= 0) {
      destroy(c);
      return;
    }
    c->out_off += (size_t)w;
  }
  free(c->out);
  c->out = NULL;
  c->out_len = c->out_off = 0;
  if (c->close_me || atomic_load(&draining)) {
    linger_close(c);
    return;
  }
  rearm(c);
  touch(c);
  advance(app, c);
}

static void on_readable(const srv_app *app, conn *c) {
  int64_t now = hz_now_ms();
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
  advance(app, c);
}

/* An answer for a connection about to be closed; one non-blocking send, nothing kept. */
static void send_canned(int fd, int status, const char *body) {
  char m[256];
  int n = snprintf(m, sizeof m,
                   "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n\r\n%s",
                   status, http_reason(status), strlen(body), body);
  if (n > 0 && (size_t)n < sizeof m && send(fd, m, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) { /* closing anyway */ }
}

/* Reads and discards what the client has sent, at most 64 KiB so a fast sender cannot hold the
 * loop: unread input at close() turns the close into a reset that discards our last answer. */
static void discard_input(int fd) {
  char sink[4096];
  int i;
  for (i = 0; i < 16 && recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0; i++) {}
}

/* Makes room for a new connection by closing the one that has waited longest on its client: an
 * idle keep-alive connection, a request arriving too slowly, or a response not being read. A fresh
 * client that sends its request at once is the last candidate: every connection that arrived
 * before it would go first. */
static int evict_one(const srv_app *app) {
  conn *c = owned_tail;
  char peek;
  int sent_some;
  if (!c) return 0;
  sent_some = c->len > 0 || recv(c->fd, &peek, 1, MSG_DONTWAIT | MSG_PEEK) > 0;
  discard_input(c->fd);
  if (!c->lingering && !c->out && sent_some) {
    /* Best effort: the client is told why; the slot is freed now either way. A 4xx, because the
     * client was too slow: a 5xx would make the NodeBalancer's passive check (checkPassive) take
     * a healthy node out of rotation because of an attacker. */
    if (app->rejected) app->rejected(408);
    send_canned(c->fd, 408, "{\"error\":\"request too slow while the server is at capacity\"}\n");
    shutdown(c->fd, SHUT_WR);
  }
  destroy(c);
  atomic_fetch_add(&evictions, 1);
  return 1;
}

/* Nothing evictable (every connection is in a worker): the 503 is sent, the client's first bytes
 * are read and the write side shut before close, so the answer arrives instead of a reset. */
static void refuse(const srv_app *app, int fd) {
  if (app->rejected) app->rejected(503);
  send_canned(fd, 503, "{\"error\":\"server at capacity\"}\n");
  shutdown(fd, SHUT_WR);
  discard_input(fd);
  close(fd);
}

static int64_t accept_paused_until, last_errlog;
static unsigned long errs_since_log;

/* Out of descriptors or memory: accept() would fail again at once, so the listener leaves epoll for
 * a short pause instead of spinning, and the condition is logged at most once per SRV_ERRLOG_MS. */
static void accept_failed(int lfd, int err) {
  int64_t now = hz_now_ms();
  atomic_fetch_add(&accept_errors, 1);
  errs_since_log++;
  if (now - last_errlog >= SRV_ERRLOG_MS || last_errlog == 0) {
    log_ev("WARN", "accept_failed", "errno=%d msg=\"%s\" occurrences=%lu pause_ms=%d open_connections=%d", err, strerror(err),
           errs_since_log, SRV_ACCEPT_PAUSE_MS, atomic_load(&open_conns));
    errs_since_log = 0;
    last_errlog = now;
  }
  if (!accept_paused_until) epoll_ctl(epfd, EPOLL_CTL_DEL, lfd, NULL);
  accept_paused_until = now + SRV_ACCEPT_PAUSE_MS;
}

static void on_accept(const srv_app *app, int lfd) {
  for (;;) {
    int one = 1, fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    conn *c;
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN) accept_failed(lfd, errno);
      return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (atomic_load(&open_conns) >= SRV_MAX_CONNS && !evict_one(app)) {
      refuse(app, fd);
      continue;
    }
    if (!(c = calloc(1, sizeof *c))) {
      refuse(app, fd);
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
    if (c->lingering || c->out || c->len == 0) destroy(c); /* done, not reading, or idle */
    else {
      int sent;
      c->close_me = 1;
      sent = send_error(app, c, 408); /* slow or stalled client (slowloris) */
      if (sent < 0) destroy(c);
      else if (sent > 0) wait_output(c);
      else linger_close(c);
    }
  }
}

int srv_run(int lfd, int threads, const srv_app *app) {
  struct epoll_event ev, evs[64];
  worker *ws;
  int i, started = 0, lfd_open = 1, accept_ready;
  int64_t last_sweep = 0;
  signal(SIGPIPE, SIG_IGN);
  loop_resp.body = loop_body;
  loop_resp.cap = sizeof loop_body;
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
      if (!accept_paused_until) epoll_ctl(epfd, EPOLL_CTL_DEL, lfd, NULL);
      close(lfd);
      lfd_open = 0;
      while (owned) destroy(owned);
      log_ev("INFO", "draining", "in_flight=%d", atomic_load(&open_conns));
    }
    if (atomic_load(&draining) && atomic_load(&open_conns) == 0) break;
    if (accept_paused_until && lfd_open && hz_now_ms() >= accept_paused_until) {
      ev.events = EPOLLIN;
      ev.data.ptr = &lfd;
      epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
      accept_paused_until = 0;
    }
    n = epoll_wait(epfd, evs, 64, accept_paused_until ? SRV_ACCEPT_PAUSE_MS / 2 : 200);
    accept_ready = 0;
    for (k = 0; k < n; k++) {
      if (evs[k].data.ptr == &lfd) accept_ready = 1;
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
          if (atomic_load(&draining) && c->out) destroy(c);
          else if (c->out) wait_output(c);
          else if (c->close_me || atomic_load(&draining)) linger_close(c);
          else {
            rearm(c);
            advance(app, c);
          }
        }
      } else {
        conn *c = evs[k].data.ptr;
        if (c->out) on_writable(app, c);
        else on_readable(app, c);
      }
    }
    /* After the batch: an eviction frees a connection that may have had an event in it. */
    if (accept_ready && lfd_open && !accept_paused_until) on_accept(app, lfd);
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
