#define _POSIX_C_SOURCE 200809L
#include "healthz.h"

#include "dbhosts.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *hz_status_reason(hz_status st) {
  switch (st) {
    case HZ_OK: return "OK";
    case HZ_READONLY: return "db read-only (standby)";
    case HZ_UNREACHABLE: return "db unreachable";
    case HZ_TIMEOUT: return "db timeout";
    default: return "db error";
  }
}

int64_t hz_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct hz_checker {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  hz_probe_fn probe;
  void *ctx;
  int timeout_ms, cache_ms, probing, have, prober_on, stopping;
  uint64_t gen;
  int64_t created_ms;
  hz_result last;
  pthread_t prober;
};

static int period_ms(const hz_checker *c) { return c->cache_ms > 100 ? c->cache_ms : 100; }

hz_checker *hz_checker_new(hz_probe_fn probe, void *ctx, int timeout_ms, int cache_ms) {
  hz_checker *c;
  pthread_condattr_t ca;
  if (!probe || timeout_ms < 1 || timeout_ms > 600000 || cache_ms < 0 || cache_ms > 600000) return NULL;
  if (!(c = calloc(1, sizeof *c))) return NULL;
  c->probe = probe;
  c->ctx = ctx;
  c->timeout_ms = timeout_ms;
  c->cache_ms = cache_ms;
  c->created_ms = hz_now_ms();
  pthread_mutex_init(&c->mu, NULL);
  /* Waits use the monotonic clock so that wall-clock jumps (NTP) cannot stretch the bound. */
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&c->cv, &ca);
  pthread_condattr_destroy(&ca);
  return c;
}

void hz_checker_free(hz_checker *c) {
  if (!c) return;
  if (c->prober_on) {
    pthread_mutex_lock(&c->mu);
    c->stopping = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->prober, NULL);
  }
  pthread_cond_destroy(&c->cv);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

static hz_status check(hz_checker *c, hz_result *out, int force) {
  int64_t start = hz_now_ms();
  hz_result r;
  memset(&r, 0, sizeof r);
  pthread_mutex_lock(&c->mu);
  if (!force && c->have && c->cache_ms > 0 && start - c->last.checked_ms <= c->cache_ms) {
    *out = c->last;
    pthread_mutex_unlock(&c->mu);
    return out->status;
  }
  if (c->probing) {
    uint64_t gen = c->gen;
    int64_t deadline = start + c->timeout_ms;
    struct timespec ts = {(time_t)(deadline / 1000), (long)(deadline % 1000) * 1000000L};
    while (c->gen == gen)
      if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT) break;
    if (c->gen == gen) {
      r.status = HZ_TIMEOUT;
      r.checked_ms = hz_now_ms();
      r.latency_ms = (int)(r.checked_ms - start);
      snprintf(r.detail, sizeof r.detail, "waited %d ms for a running probe", r.latency_ms);
      *out = r;
    } else {
      *out = c->last;
    }
    pthread_mutex_unlock(&c->mu);
    return out->status;
  }
  c->probing = 1;
  pthread_mutex_unlock(&c->mu);

  r.status = c->probe(c->ctx, c->timeout_ms, r.detail, sizeof r.detail);
  r.checked_ms = hz_now_ms();
  r.latency_ms = (int)(r.checked_ms - start);
  if (r.latency_ms > c->timeout_ms + 100 && r.status != HZ_TIMEOUT) {
    r.status = HZ_TIMEOUT;
    snprintf(r.detail, sizeof r.detail, "probe overran its %d ms bound (%d ms)", c->timeout_ms, r.latency_ms);
  }

  pthread_mutex_lock(&c->mu);
  c->last = r;
  c->have = 1;
  c->probing = 0;
  c->gen++;
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
  *out = r;
  return r.status;
}

hz_status hz_check(hz_checker *c, hz_result *out) { return check(c, out, 0); }

static void *prober_main(void *arg) {
  hz_checker *c = arg;
  pthread_mutex_lock(&c->mu);
  while (!c->stopping) {
    int64_t next = c->last.checked_ms + period_ms(c);
    struct timespec ts = {(time_t)(next / 1000), (long)(next % 1000) * 1000000L};
    hz_result r;
    if (c->have && hz_now_ms() < next) {
      pthread_cond_timedwait(&c->cv, &c->mu, &ts); /* woken early by a result or by stopping */
      continue;
    }
    pthread_mutex_unlock(&c->mu);
    check(c, &r, 1);
    pthread_mutex_lock(&c->mu);
  }
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

int hz_checker_start(hz_checker *c) {
  if (c->prober_on) return 0;
  if (pthread_create(&c->prober, NULL, prober_main, c) != 0) return -1;
  c->prober_on = 1;
  return 0;
}

hz_status hz_latest(hz_checker *c, hz_result *out) {
  int64_t now = hz_now_ms(), bound;
  pthread_mutex_lock(&c->mu);
  bound = period_ms(c) + c->timeout_ms;
  if (c->have && now - c->last.checked_ms <= bound) *out = c->last;
  else {
    memset(out, 0, sizeof *out);
    out->status = HZ_TIMEOUT;
    out->checked_ms = now;
    if (c->have) snprintf(out->detail, sizeof out->detail, "verdict is %lld ms old (bound %lld ms): probe overrunning", (long long)(now - c->last.checked_ms), (long long)bound);
    else snprintf(out->detail, sizeof out->detail, "no probe finished in the %lld ms since start", (long long)(now - c->created_ms));
  }
  pthread_mutex_unlock(&c->mu);
  return out->status;
}

/* ---- PostgreSQL ---- */

static void one_line(char *dst, size_t n, const char *prefix, const char *msg) {
  size_t i;
  snprintf(dst, n, "%s%s", prefix, msg ? msg : "");
  for (i = 0; dst[i]; i++)
    if (dst[i] == '\n' || dst[i] == '\r' || dst[i] == '\t') dst[i] = ' ';
  while (i > 0 && dst[i - 1] == ' ') dst[--i] = 0;
}

/* 1 ready, 0 deadline passed, -1 error */
static int wait_io(int fd, short ev, int64_t deadline) {
  for (;;) {
    struct pollfd p = {fd, ev, 0};
    int64_t left = deadline - hz_now_ms();
    int r;
    if (left <= 0) return 0;
    r = poll(&p, 1, (int)left);
    if (r > 0) return 1;
    if (r == 0) return 0;
    if (errno != EINTR) return -1;
  }
}

static atomic_int cancellers;

static void *cancel_main(void *arg) {
  char buf[256];
  PQcancel((PGcancel *)arg, buf, (int)sizeof buf);
  PQfreeCancel((PGcancel *)arg);
  atomic_fetch_sub(&cancellers, 1);
  return NULL;
}

/* PQcancel in libpq 15 blocks until the postmaster answers, which a stopped server never does:
 * it runs on a detached thread (at most 4 at once) while the caller moves on. The server's own
 * statement_timeout ends the query if the cancel cannot be sent. */
static void abandon(PGconn *conn) {
  PGcancel *cn = NULL;
  pthread_t t;
  pthread_attr_t a;
  if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) == PQTRANS_ACTIVE) cn = PQgetCancel(conn);
  PQfinish(conn);
  if (!cn) return;
  if (atomic_fetch_add(&cancellers, 1) >= 4) {
    atomic_fetch_sub(&cancellers, 1);
    PQfreeCancel(cn);
    return;
  }
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  if (pthread_create(&t, &a, cancel_main, cn) != 0) {
    atomic_fetch_sub(&cancellers, 1);
    PQfreeCancel(cn);
  }
  pthread_attr_destroy(&a);
}

static hz_status fail(PGconn **conn, hz_status st, char *err, size_t errlen, const char *what, const char *msg) {
  one_line(err, errlen, what, msg);
  if (*conn) abandon(*conn);
  *conn = NULL;
  return st;
}

/* Connects to the server conninfo names, or with m, to that one member of a multi-host string:
 * its host, hostaddr and port override the lists (keywords after dbname win in libpq). */
static hz_status connect_one(PGconn **conn, const char *conninfo, const dbh_member *m, int timeout_ms,
                             int64_t deadline, char *err, size_t errlen) {
  char opts[64];
  const char *k[7], *v[7];
  int n = 0;
  PostgresPollingStatusType ps = PGRES_POLLING_WRITING;
  snprintf(opts, sizeof opts, "-c statement_timeout=%d", timeout_ms);
  k[n] = "dbname", v[n++] = conninfo;
  if (m) {
    k[n] = "host", v[n++] = m->host;
    k[n] = "hostaddr", v[n++] = m->hostaddr;
    k[n] = "port", v[n++] = m->port;
  }
  k[n] = "options", v[n++] = opts;
  k[n] = "fallback_application_name", v[n++] = "linode-dr-app";
  k[n] = NULL, v[n] = NULL;
  *conn = PQconnectStartParams(k, v, 1);
  if (!*conn) return fail(conn, HZ_UNREACHABLE, err, errlen, "connect: ", "out of memory");
  if (PQstatus(*conn) == CONNECTION_BAD) return fail(conn, HZ_UNREACHABLE, err, errlen, "connect: ", PQerrorMessage(*conn));
  while (ps != PGRES_POLLING_OK) {
    int w;
    if (ps == PGRES_POLLING_FAILED) return fail(conn, HZ_UNREACHABLE, err, errlen, "connect: ", PQerrorMessage(*conn));
    w = wait_io(PQsocket(*conn), ps == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline);
    if (w == 0) return fail(conn, HZ_TIMEOUT, err, errlen, "connect: ", "deadline passed");
    if (w < 0) return fail(conn, HZ_UNREACHABLE, err, errlen, "connect: poll: ", strerror(errno));
    ps = PQconnectPoll(*conn);
  }
  if (PQsetnonblocking(*conn, 1) != 0) return fail(conn, HZ_UNREACHABLE, err, errlen, "connect: ", PQerrorMessage(*conn));
  return HZ_OK;
}

/* A multi-host string's members are tried in order, each with an equal share of what is left of
 * the deadline: a member that never answers (a lost region) costs its share, not the whole
 * attempt, and a member that refuses at once (down, or read-only under target_session_attrs)
 * leaves the rest to the next. */
static hz_status pg_connect(PGconn **conn, const char *conninfo, int timeout_ms, int64_t deadline,
                            char *err, size_t errlen) {
  dbh_list l;
  char one[192];
  size_t used = 0;
  int i, read_only = 0, timed_out = 0;
  hz_status st = HZ_UNREACHABLE;
  if (dbh_parse(conninfo, &l, one, sizeof one) != 0) return fail(conn, HZ_UNREACHABLE, err, errlen, "connection string: ", one);
  if (l.n <= 1) return connect_one(conn, conninfo, NULL, timeout_ms, deadline, err, errlen);
  if (err && errlen) err[0] = 0;
  for (i = 0; i < l.n; i++) {
    int64_t now = hz_now_ms(), share = (deadline - now) / (l.n - i);
    if (share <= 0) break;
    st = connect_one(conn, conninfo, &l.m[i], timeout_ms, now + share, one, sizeof one);
    if (st == HZ_OK) return HZ_OK;
    /* libpq's words when target_session_attrs=read-write turns a member away ("session is
     * read-only"). */
    if (st == HZ_UNREACHABLE && strstr(one, "read-only")) read_only++;
    else if (st == HZ_TIMEOUT) timed_out = 1;
    if (err && used + 1 < errlen) {
      int w = snprintf(err + used, errlen - used, "%s%s: %s", used ? "; " : "", dbh_name(&l.m[i]), one);
      used = w < 0 ? used : (size_t)w >= errlen - used ? errlen - 1 : used + (size_t)w;
    }
  }
  /* Every member answered and none takes writes: the cluster has no leader this region can see
   * (fenced). A member that did not answer in time makes it a timeout, as with one member. */
  if (read_only == l.n) return HZ_READONLY;
  if (timed_out || hz_now_ms() >= deadline) return HZ_TIMEOUT;
  return read_only ? HZ_READONLY : st;
}

/* Waits until a result can be fetched without blocking. */
static hz_status await_result(PGconn **conn, int64_t deadline, char *err, size_t errlen) {
  while (PQisBusy(*conn)) {
    int w = wait_io(PQsocket(*conn), POLLIN, deadline);
    if (w == 0) return fail(conn, HZ_TIMEOUT, err, errlen, "query: ", "deadline passed");
    if (w < 0 || !PQconsumeInput(*conn)) return fail(conn, HZ_UNREACHABLE, err, errlen, "query: ", PQerrorMessage(*conn));
  }
  return HZ_OK;
}

hz_status hz_pg_exec(PGconn **conn, const char *conninfo, const char *sql, int nparams,
                     const char *const *params, int timeout_ms, PGresult **res, char *err,
                     size_t errlen) {
  int unknown;
  return hz_pg_exec_ex(conn, conninfo, sql, nparams, params, timeout_ms, 0, res, err, errlen, &unknown);
}

/* How often a statement that found no writable member asks again, within its deadline. */
#define LEADER_POLL_MS 100

/* Leaves a session on a member that no longer takes writes, so the next attempt connects anew. */
static void drop_session(PGconn **conn, PGresult **res) {
  PQclear(*res);
  *res = NULL;
  if (*conn) abandon(*conn);
  *conn = NULL;
}

/* 1 when conninfo names more than one member. */
static int several_members(const char *conninfo) {
  dbh_list l;
  char e[128];
  return dbh_parse(conninfo, &l, e, sizeof e) == 0 && l.n > 1;
}

static hz_status exec_once(PGconn **conn, const char *conninfo, const char *sql, int nparams,
                           const char *const *params, int timeout_ms, int64_t deadline, PGresult **res,
                           char *err, size_t errlen, int *unknown);

hz_status hz_pg_exec_ex(PGconn **conn, const char *conninfo, const char *sql, int nparams,
                        const char *const *params, int timeout_ms, int leader_wait_ms, PGresult **res,
                        char *err, size_t errlen, int *unknown) {
  int64_t start = hz_now_ms(), deadline = start + timeout_ms, wait_until = start + leader_wait_ms;
  hz_status st = exec_once(conn, conninfo, sql, nparams, params, timeout_ms, deadline, res, err, errlen, unknown);
  int several = st == HZ_OK || st == HZ_ERROR || st == HZ_TIMEOUT ? 0 : several_members(conninfo);
  /* SQLSTATE 25006 means nothing was written. With several members the session is on one demoted
   * since it connected (a switchover, a failover): a new connection finds the leader, within the
   * same deadline. With one member there is nowhere else to go and the session is kept. */
  if (st == HZ_READONLY && *res && several) {
    drop_session(conn, res);
    st = exec_once(conn, conninfo, sql, nparams, params, timeout_ms, deadline, res, err, errlen, unknown);
  }
  /* A switchover leaves a moment with no writable member (the old leader demoted, the new one not
   * yet promoted). While the members answer and none takes writes, and nothing was sent, the
   * statement asks again for up to leader_wait_ms (each attempt within its own timeout) instead of
   * failing: a NodeBalancer with passive checks takes a node out on a single 5xx. A member that
   * does not answer (HZ_TIMEOUT: a lost region, a dead host) ends the wait at once. */
  while (several && !*unknown && !*res && (st == HZ_READONLY || st == HZ_UNREACHABLE) &&
         hz_now_ms() + LEADER_POLL_MS < wait_until) {
    struct timespec pause = {0, LEADER_POLL_MS * 1000000L};
    nanosleep(&pause, NULL);
    st = exec_once(conn, conninfo, sql, nparams, params, timeout_ms, hz_now_ms() + timeout_ms, res, err, errlen,
                   unknown);
  }
  return st;
}

static hz_status exec_once(PGconn **conn, const char *conninfo, const char *sql, int nparams,
                           const char *const *params, int timeout_ms, int64_t deadline, PGresult **res,
                           char *err, size_t errlen, int *unknown) {
  hz_status st;
  PGresult *r, *extra;
  const char *state;
  int f;
  *res = NULL;
  *unknown = 0;
  if (err && errlen) err[0] = 0;
  if (*conn) {
    /* An idle session has nothing to say; readable data or EOF means the server ended it (restart,
     * failover, idle kill). Reconnecting now, within the same deadline, spares the caller an error. */
    struct pollfd p = {PQsocket(*conn), POLLIN, 0};
    if (PQstatus(*conn) != CONNECTION_OK || poll(&p, 1, 0) != 0) {
      abandon(*conn);
      *conn = NULL;
    }
  }
  if (!*conn && (st = pg_connect(conn, conninfo, timeout_ms, deadline, err, errlen)) != HZ_OK) return st;
  if (!PQsendQueryParams(*conn, sql, nparams, NULL, params, NULL, NULL, 0))
    return fail(conn, HZ_UNREACHABLE, err, errlen, "send: ", PQerrorMessage(*conn));
  /* From here until a result arrives, a failure leaves the statement's fate unknown: part of it may
   * have reached the server. */
  *unknown = 1;
  while ((f = PQflush(*conn)) == 1) {
    int w = wait_io(PQsocket(*conn), POLLOUT | POLLIN, deadline);
    if (w == 0) return fail(conn, HZ_TIMEOUT, err, errlen, "send: ", "deadline passed");
    if (w < 0 || !PQconsumeInput(*conn)) return fail(conn, HZ_UNREACHABLE, err, errlen, "send: ", PQerrorMessage(*conn));
  }
  if (f < 0) return fail(conn, HZ_UNREACHABLE, err, errlen, "send: ", PQerrorMessage(*conn));
  if ((st = await_result(conn, deadline, err, errlen)) != HZ_OK) return st;
  r = PQgetResult(*conn);
  /* Drain to the terminating NULL so the connection is ready for the next statement. The implicit
   * transaction commits at the protocol's Sync, after the statement's own result was sent, so the
   * outcome is known only here, and an error reported then (a failed commit) wins. */
  for (;;) {
    if ((st = await_result(conn, deadline, err, errlen)) != HZ_OK) {
      PQclear(r);
      return st;
    }
    if (!(extra = PQgetResult(*conn))) break;
    if (PQresultStatus(extra) == PGRES_FATAL_ERROR && r && PQresultStatus(r) != PGRES_FATAL_ERROR) {
      PQclear(r);
      r = extra;
    } else PQclear(extra);
  }
  if (r) *unknown = 0;
  if (!r) return fail(conn, HZ_UNREACHABLE, err, errlen, "query: ", PQerrorMessage(*conn));
  if (PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK) {
    *res = r;
    return HZ_OK;
  }
  one_line(err, errlen, "", PQresultErrorMessage(r));
  state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  if (!state) state = "";
  if (strcmp(state, "25006") == 0) st = HZ_READONLY;
  else if (strcmp(state, "57014") == 0) st = HZ_TIMEOUT;
  else if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 || PQstatus(*conn) != CONNECTION_OK) {
    /* Admin shutdown, crash recovery, lost connection: the session is gone or going. */
    PQclear(r);
    abandon(*conn);
    *conn = NULL;
    return HZ_UNREACHABLE;
  } else st = HZ_ERROR;
  *res = r;
  return st;
}

struct hz_pg {
  PGconn *conn;
  char conninfo[];
};

hz_pg *hz_pg_new(const char *conninfo) {
  size_t n = strlen(conninfo);
  hz_pg *p = calloc(1, sizeof *p + n + 1);
  if (p) memcpy(p->conninfo, conninfo, n + 1);
  return p;
}

const char *hz_pg_host(const hz_pg *p) {
  return p->conn && PQstatus(p->conn) == CONNECTION_OK ? PQhost(p->conn) : NULL;
}

void hz_pg_free(hz_pg *p) {
  if (!p) return;
  if (p->conn) PQfinish(p->conn);
  free(p);
}

/* Writable as libpq's target_session_attrs=read-write judges it: not in recovery, and not made
 * read-only by default_transaction_read_only (a setting a reload changes in open sessions too). */
static const char writable_sql[] = "SELECT pg_is_in_recovery() OR current_setting('transaction_read_only')::bool";

hz_status hz_pg_probe(void *ctx, int timeout_ms, char *detail, size_t detail_len) {
  hz_pg *p = ctx;
  PGresult *r = NULL;
  int64_t deadline = hz_now_ms() + timeout_ms;
  int unknown;
  hz_status st = exec_once(&p->conn, p->conninfo, writable_sql, 0, NULL, timeout_ms, deadline, &r,
                           detail, detail_len, &unknown);
  /* As for a write: a member in recovery is not where this service writes when another may lead. */
  if (st == HZ_OK && PQntuples(r) == 1 && PQnfields(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0 &&
      several_members(p->conninfo)) {
    drop_session(&p->conn, &r);
    st = exec_once(&p->conn, p->conninfo, writable_sql, 0, NULL, timeout_ms, deadline, &r, detail,
                   detail_len, &unknown);
  }
  if (st == HZ_OK) {
    if (PQntuples(r) != 1 || PQnfields(r) != 1) {
      st = HZ_ERROR;
      one_line(detail, detail_len, "", "unexpected result shape from the read-only check");
    } else if (strcmp(PQgetvalue(r, 0, 0), "t") == 0) {
      st = HZ_READONLY;
      one_line(detail, detail_len, "", "in recovery or read-only");
    }
  }
  PQclear(r);
  return st;
}
