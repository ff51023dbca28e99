/* linode-dr-app: the sample application whose health decides which region serves traffic. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dbhosts.h"
#include "healthz.h"
#include "log.h"
#include "order.h"
#include "server.h"

#ifndef APP_VERSION
#define APP_VERSION "dev"
#endif

static struct {
  const char *addr, *port_s, *conninfo, *region, *drain_file;
  int port, timeout_ms, leader_wait_ms, cache_ms, threads, idem_ttl_h, prune_s;
} cfg;

static hz_checker *checker;
static hz_pg *probe_ctx;
/* The members LINODE_DR_DATABASE_URL names (the first is this region's own), and which one the
 * health probe last found leading: -1 while none. */
static dbh_list members;
static atomic_int leader_member = -1;
static atomic_int schema_ready, healthy, last_status = -1;
static int64_t started_ms;

/* ---- drain: a file whose presence takes the node out of the load balancer's rotation ---- */
static atomic_int drain_on = -1;
static atomic_llong drain_checked_ms = -1000000;

/* The stat() is repeated at most every min(cache, 500 ms), so a flood of checks costs one syscall
 * per period and a new file is seen well within a second. Returns 1 while draining. */
static int drain_refresh(int force) {
  int64_t now = hz_now_ms(), period = cfg.cache_ms < 500 ? cfg.cache_ms : 500;
  struct stat sb;
  int on, prev;
  if (!force && now - atomic_load(&drain_checked_ms) < period) return atomic_load(&drain_on) == 1;
  atomic_store(&drain_checked_ms, now);
  on = stat(cfg.drain_file, &sb) == 0;
  prev = atomic_exchange(&drain_on, on);
  if (prev != on) {
    char qd[300];
    log_ev("INFO", "drain_changed", "draining=%d file=\"%s\"", on, log_q(qd, sizeof qd, cfg.drain_file));
  }
  return on;
}

/* ---- metrics: fixed label sets so every series is a plain atomic counter ---- */
enum { EP_HEALTHZ, EP_METRICS, EP_ORDERS_CREATE, EP_ORDERS_GET, EP_OTHER, EP_INVALID, EP_N };
static const char *const ep_names[EP_N] = {"healthz", "metrics", "orders_create", "orders_get", "other", "invalid"};
static const int codes[] = {200, 201, 400, 404, 405, 408, 409, 411, 413, 414, 415, 422, 431, 500, 501, 503, 505};
#define NCODES (sizeof codes / sizeof codes[0])
static atomic_ulong requests[EP_N][NCODES + 1];
enum { Q_HEALTH, Q_SCHEMA, Q_INSERT, Q_SELECT, Q_PRUNE, Q_N };
static const char *const q_names[Q_N] = {"health", "schema", "orders_insert", "orders_select", "idempotency_prune"};
static atomic_ulong idem_replays, idem_conflicts, unknown_outcomes, idem_pruned;
static const int buckets_ms[] = {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000};
#define NBUCKETS (sizeof buckets_ms / sizeof buckets_ms[0])
static atomic_ulong q_bucket[Q_N][NBUCKETS], q_count[Q_N], q_sum_us[Q_N];
static const char *const err_names[] = {"ok", "db_readonly", "db_unreachable", "db_timeout", "db_error"};
static atomic_ulong errors[5];

static void count_request(int ep, int status) {
  size_t i = 0;
  while (i < NCODES && codes[i] != status) i++;
  atomic_fetch_add(&requests[ep][i], 1);
}

static void observe(int q, int64_t us, hz_status st) {
  size_t i;
  for (i = 0; i < NBUCKETS; i++)
    if (us <= (int64_t)buckets_ms[i] * 1000) atomic_fetch_add(&q_bucket[q][i], 1);
  atomic_fetch_add(&q_count[q], 1);
  atomic_fetch_add(&q_sum_us[q], (unsigned long)(us > 0 ? us : 0));
  if (st != HZ_OK) atomic_fetch_add(&errors[st], 1);
}

static void render_metrics(srv_resp *r) {
  size_t e, i, q;
  srv_printf(r, "# HELP linode_dr_app_requests_total HTTP requests by endpoint and status code.\n"
                "# TYPE linode_dr_app_requests_total counter\n");
  for (e = 0; e < EP_N; e++)
    for (i = 0; i <= NCODES; i++) {
      unsigned long v = atomic_load(&requests[e][i]);
      if (v) srv_printf(r, "linode_dr_app_requests_total{endpoint=\"%s\",code=\"%d\"} %lu\n", ep_names[e], i < NCODES ? codes[i] : 0, v);
    }
  srv_printf(r, "# HELP linode_dr_app_errors_total Failed database operations by kind.\n"
                "# TYPE linode_dr_app_errors_total counter\n");
  for (i = 1; i < 5; i++) srv_printf(r, "linode_dr_app_errors_total{kind=\"%s\"} %lu\n", err_names[i], atomic_load(&errors[i]));
  srv_printf(r, "# HELP linode_dr_app_healthy 1 when the service can write: its database leads, or with several members, some member does.\n"
                "# TYPE linode_dr_app_healthy gauge\nlinode_dr_app_healthy{region=\"%s\"} %d\n", cfg.region, atomic_load(&healthy));
  {
    int m = atomic_load(&leader_member);
    srv_printf(r, "# HELP linode_dr_app_database_leader_remote 1 when writes go to another region's member, 0 to this region's, -1 while no leader is reachable.\n"
                  "# TYPE linode_dr_app_database_leader_remote gauge\nlinode_dr_app_database_leader_remote %d\n", m < 0 ? -1 : m > 0);
    if (m >= 0)
      srv_printf(r, "# HELP linode_dr_app_database_leader_info The member the health probe found leading.\n"
                    "# TYPE linode_dr_app_database_leader_info gauge\nlinode_dr_app_database_leader_info{host=\"%s\"} 1\n",
                 dbh_name(&members.m[m]));
  }
  srv_printf(r, "# HELP linode_dr_app_draining 1 while the drain file exists (/healthz answers 503 draining).\n"
                "# TYPE linode_dr_app_draining gauge\nlinode_dr_app_draining %d\n", drain_refresh(0));
  srv_printf(r, "# HELP linode_dr_app_db_query_duration_seconds Database round trips, including connect.\n"
                "# TYPE linode_dr_app_db_query_duration_seconds histogram\n");
  for (q = 0; q < Q_N; q++) {
    for (i = 0; i < NBUCKETS; i++)
      srv_printf(r, "linode_dr_app_db_query_duration_seconds_bucket{query=\"%s\",le=\"%g\"} %lu\n", q_names[q], buckets_ms[i] / 1000.0, atomic_load(&q_bucket[q][i]));
    srv_printf(r, "linode_dr_app_db_query_duration_seconds_bucket{query=\"%s\",le=\"+Inf\"} %lu\n", q_names[q], atomic_load(&q_count[q]));
    srv_printf(r, "linode_dr_app_db_query_duration_seconds_sum{query=\"%s\"} %.6f\n", q_names[q], (double)atomic_load(&q_sum_us[q]) / 1e6);
    srv_printf(r, "linode_dr_app_db_query_duration_seconds_count{query=\"%s\"} %lu\n", q_names[q], atomic_load(&q_count[q]));
  }
  srv_printf(r, "# HELP linode_dr_app_open_connections Client connections currently open.\n"
                "# TYPE linode_dr_app_open_connections gauge\nlinode_dr_app_open_connections %d\n", srv_open_connections());
  srv_printf(r, "# HELP linode_dr_app_evicted_connections_total Connections closed to make room at the connection cap.\n"
                "# TYPE linode_dr_app_evicted_connections_total counter\nlinode_dr_app_evicted_connections_total %lu\n", srv_evictions());
  srv_printf(r, "# HELP linode_dr_app_accept_errors_total accept() failures (EMFILE, ENFILE, ENOMEM, ...).\n"
                "# TYPE linode_dr_app_accept_errors_total counter\nlinode_dr_app_accept_errors_total %lu\n", srv_accept_errors());
  srv_printf(r, "# HELP linode_dr_app_idempotent_requests_total POST /orders with an Idempotency-Key, by outcome.\n"
                "# TYPE linode_dr_app_idempotent_requests_total counter\n"
                "linode_dr_app_idempotent_requests_total{outcome=\"replayed\"} %lu\n"
                "linode_dr_app_idempotent_requests_total{outcome=\"conflict\"} %lu\n",
             atomic_load(&idem_replays), atomic_load(&idem_conflicts));
  srv_printf(r, "# HELP linode_dr_app_write_outcome_unknown_total Writes answered 503 outcome unknown.\n"
                "# TYPE linode_dr_app_write_outcome_unknown_total counter\nlinode_dr_app_write_outcome_unknown_total %lu\n",
             atomic_load(&unknown_outcomes));
  srv_printf(r, "# HELP linode_dr_app_idempotency_keys_pruned_total Expired Idempotency-Keys deleted.\n"
                "# TYPE linode_dr_app_idempotency_keys_pruned_total counter\nlinode_dr_app_idempotency_keys_pruned_total %lu\n",
             atomic_load(&idem_pruned));
  srv_printf(r, "# HELP linode_dr_app_uptime_seconds Seconds since the process started.\n"
                "# TYPE linode_dr_app_uptime_seconds gauge\nlinode_dr_app_uptime_seconds %.3f\n", (double)(hz_now_ms() - started_ms) / 1000.0);
  srv_printf(r, "# HELP linode_dr_app_build_info Build and deployment labels.\n"
                "# TYPE linode_dr_app_build_info gauge\nlinode_dr_app_build_info{version=\"%s\",region=\"%s\"} 1\n", APP_VERSION, cfg.region);
}

/* ---- database ---- */
static hz_status db_exec_ex(PGconn **conn, int q, const char *sql, int n, const char *const *p, PGresult **res, int *unknown) {
  char err[256], qd[256];
  int64_t t0 = hz_now_ms();
  hz_status st = hz_pg_exec_ex(conn, cfg.conninfo, sql, n, p, cfg.timeout_ms, cfg.leader_wait_ms, res, err, sizeof err, unknown);
  observe(q, (hz_now_ms() - t0) * 1000, st);
  if (st != HZ_OK && st != HZ_READONLY)
    log_ev("WARN", "db_failed", "query=%s status=\"%s\" detail=\"%s\"", q_names[q], hz_status_reason(st), log_q(qd, sizeof qd, err));
  return st;
}

static hz_status db_exec(PGconn **conn, int q, const char *sql, int n, const char *const *p, PGresult **res) {
  int unknown;
  return db_exec_ex(conn, q, sql, n, p, res, &unknown);
}

static hz_status ensure_schema(PGconn **conn) {
  PGresult *res = NULL;
  hz_status st;
  if (atomic_load(&schema_ready)) return HZ_OK;
  /* One statement, one transaction. The keys live in the orders' database, so physical
   * replication carries them to the standby with the orders they name. The advisory lock
   * serialises creators: CREATE TABLE IF NOT EXISTS run by two sessions at once (two app nodes
   * whose first write arrives together) fails in one of them with a unique violation. */
  st = db_exec(conn, Q_SCHEMA,
               "DO $$BEGIN "
               "PERFORM pg_advisory_xact_lock(7318407502365311); "
               "CREATE TABLE IF NOT EXISTS orders (id bigserial PRIMARY KEY, item text NOT NULL, "
               "quantity integer NOT NULL CHECK (quantity > 0), region text NOT NULL DEFAULT '', "
               "created_at timestamptz NOT NULL DEFAULT now()); "
               "CREATE TABLE IF NOT EXISTS idempotency_keys (key text PRIMARY KEY, "
               "order_id bigint NOT NULL REFERENCES orders (id), created_at timestamptz NOT NULL DEFAULT now()); "
               "CREATE INDEX IF NOT EXISTS idempotency_keys_created_at ON idempotency_keys (created_at); "
               "END$$",
               0, NULL, &res);
  PQclear(res);
  if (st == HZ_OK && !atomic_exchange(&schema_ready, 1)) log_ev("INFO", "schema_ready", "tables=orders,idempotency_keys");
  return st;
}

static hz_status probe(void *ctx, int timeout_ms, char *detail, size_t len) {
  int64_t t0 = hz_now_ms();
  hz_status st = hz_pg_probe(ctx, timeout_ms, detail, len);
  int prev, leader = st == HZ_OK ? dbh_index(&members, hz_pg_host(ctx)) : -1;
  if (atomic_exchange(&leader_member, leader) != leader && leader >= 0 && members.n > 1)
    log_ev("INFO", "leader_member", "host=%s where=%s", dbh_name(&members.m[leader]),
           leader == 0 ? "local" : "remote");
  observe(Q_HEALTH, (hz_now_ms() - t0) * 1000, st == HZ_READONLY ? HZ_OK : st);
  atomic_store(&healthy, st == HZ_OK);
  prev = atomic_exchange(&last_status, (int)st);
  if (prev != (int)st) {
    char qd[256];
    log_ev(st == HZ_OK ? "INFO" : "WARN", "health_changed", "region=%s from=\"%s\" to=\"%s\" detail=\"%s\"", cfg.region,
           prev < 0 ? "unknown" : hz_status_reason((hz_status)prev), hz_status_reason(st), log_q(qd, sizeof qd, detail));
  }
  return st;
}

/* ---- handlers ---- */
typedef struct {
  PGconn *conn;
} wctx;

static void *worker_init(int idx) {
  (void)idx;
  return calloc(1, sizeof(wctx));
}

static void worker_free(void *p) {
  wctx *w = p;
  if (w && w->conn) PQfinish(w->conn);
  free(w);
}

static void json_error(srv_resp *r, int status, const char *msg) {
  char esc[512];
  r->status = status;
  r->ctype = "application/json";
  srv_printf(r, "{\"error\":\"%s\"}\n", json_escape(msg, esc, sizeof esc) ? esc : "error");
}

static void db_error(srv_resp *r, hz_status st) {
  json_error(r, st == HZ_ERROR ? 500 : 503, st == HZ_ERROR ? "db error" : hz_status_reason(st));
}

/* The statement was sent and no answer came: the row may be committed. Said explicitly, with the
 * way to find out safely, so that a client never takes a committed order for a failed one. */
static void outcome_unknown(srv_resp *r, int keyed) {
  atomic_fetch_add(&unknown_outcomes, 1);
  r->status = 503;
  r->ctype = "application/json";
  snprintf(r->extra, sizeof r->extra, "Write-Outcome: unknown\r\nRetry-After: 1\r\n");
  srv_printf(r, "{\"error\":\"outcome unknown\",\"retry\":\"%s\"}\n",
             keyed ? "same Idempotency-Key" : "not safe without an Idempotency-Key: the order may exist");
}

/* Insert the order and its key in one statement (one transaction), unless the key is known: then
 * return the order it names and whether that order matches this request. */
static const char insert_keyed_sql[] =
    "WITH prior AS (SELECT o.id, (o.item = $1 AND o.quantity = $2::integer) AS same "
    "FROM idempotency_keys k JOIN orders o ON o.id = k.order_id WHERE k.key = $4), "
    "ins AS (INSERT INTO orders (item, quantity, region) SELECT $1, $2::integer, $3 "
    "WHERE NOT EXISTS (SELECT 1 FROM prior) RETURNING id), "
    "kin AS (INSERT INTO idempotency_keys (key, order_id) SELECT $4, id FROM ins) "
    "SELECT id, true, true FROM ins UNION ALL SELECT id, same, false FROM prior";

static int valid_key(http_str k) {
  size_t i;
  if (k.n < 1 || k.n > 255) return 0;
  for (i = 0; i < k.n; i++)
    if ((unsigned char)k.p[i] < 0x21 || (unsigned char)k.p[i] > 0x7e) return 0;
  return 1;
}

static void create_order(wctx *w, const http_req *req, srv_resp *r) {
  order o;
  char err[160], qty[16], key[256], esc[256 * 6 + 1];
  const char *params[4];
  PGresult *res = NULL;
  hz_status st;
  int keyed = req->idempotency_key.p != NULL, unknown = 0, attempt;
  if (keyed && !valid_key(req->idempotency_key)) {
    json_error(r, 400, "Idempotency-Key: expected 1 to 255 visible ASCII characters");
    return;
  }
  if (!req->has_length) {
    json_error(r, 411, "body: Content-Length header required");
    return;
  }
  if (order_parse(req->body.p, req->body.n, &o, err, sizeof err) != 0) {
    json_error(r, 400, err);
    return;
  }
  if ((st = ensure_schema(&w->conn)) != HZ_OK) {
    db_error(r, st);
    return;
  }
  snprintf(qty, sizeof qty, "%ld", o.quantity);
  params[0] = o.item;
  params[1] = qty;
  params[2] = cfg.region;
  if (!keyed) {
    st = db_exec_ex(&w->conn, Q_INSERT, "INSERT INTO orders (item, quantity, region) VALUES ($1, $2, $3) RETURNING id", 3, params, &res, &unknown);
  } else {
    memcpy(key, req->idempotency_key.p, req->idempotency_key.n);
    key[req->idempotency_key.n] = 0;
    params[3] = key;
    /* Two requests with one new key race to insert it; the loser's whole statement is rolled back
     * (unique violation) and one more attempt finds the winner's order. */
    for (attempt = 0; attempt < 2; attempt++) {
      const char *state;
      PQclear(res);
      res = NULL;
      st = db_exec_ex(&w->conn, Q_INSERT, insert_keyed_sql, 4, params, &res, &unknown);
      state = st == HZ_ERROR && res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
      if (!state || strcmp(state, "23505") != 0) break;
    }
    if (st == HZ_ERROR && attempt == 2) {
      PQclear(res);
      r->status = 409;
      r->ctype = "application/json";
      srv_printf(r, "{\"error\":\"Idempotency-Key \\\"%s\\\" is in use by a concurrent request; retry\"}\n",
                 json_escape(key, esc, sizeof esc) ? esc : "?");
      return;
    }
  }
  if (st == HZ_OK && PQntuples(res) == 1 && PQnfields(res) >= 1) {
    const char *id = PQgetvalue(res, 0, 0);
    int replay = keyed && strcmp(PQgetvalue(res, 0, 2), "f") == 0;
    if (keyed && strcmp(PQgetvalue(res, 0, 1), "t") != 0) {
      atomic_fetch_add(&idem_conflicts, 1);
      r->status = 422;
      r->ctype = "application/json";
      srv_printf(r, "{\"error\":\"Idempotency-Key \\\"%s\\\" was used with a different body (order %s)\"}\n",
                 json_escape(key, esc, sizeof esc) ? esc : "?", id);
    } else {
      if (replay) atomic_fetch_add(&idem_replays, 1);
      r->status = 201;
      r->ctype = "application/json";
      snprintf(r->extra, sizeof r->extra, "Location: /orders/%s\r\n%s", id, replay ? "Idempotent-Replayed: true\r\n" : "");
      srv_printf(r, "{\"id\":%s}\n", id);
    }
  } else if (unknown) outcome_unknown(r, keyed);
  else db_error(r, st == HZ_OK ? HZ_ERROR : st);
  PQclear(res);
}

static void get_order(wctx *w, const char *id, srv_resp *r) {
  PGresult *res = NULL;
  hz_status st;
  char item[ORDER_ITEM_MAX * 6 + 1];
  if (!atomic_load(&schema_ready)) ensure_schema(&w->conn); /* fails harmlessly on a standby */
  st = db_exec(&w->conn, Q_SELECT,
               "SELECT id, item, quantity, region, to_char(created_at AT TIME ZONE 'UTC', "
               "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM orders WHERE id = $1",
               1, &id, &res);
  if (st == HZ_ERROR && strcmp(PQresultErrorField(res, PG_DIAG_SQLSTATE) ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : "", "42P01") == 0)
    json_error(r, 404, "order not found"); /* no table yet: no orders yet */
  else if (st != HZ_OK) db_error(r, st);
  else if (PQntuples(res) == 0) json_error(r, 404, "order not found");
  else if (!json_escape(PQgetvalue(res, 0, 1), item, sizeof item)) db_error(r, HZ_ERROR);
  else {
    r->status = 200;
    r->ctype = "application/json";
    srv_printf(r, "{\"id\":%s,\"item\":\"%s\",\"quantity\":%s,\"region\":\"%s\",\"created_at\":\"%s\"}\n", PQgetvalue(res, 0, 0), item,
               PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4));
  }
  PQclear(res);
}

/* Answered from the prober's latest verdict: never waits for the database or for a worker. */
static void healthz(const http_req *req, srv_resp *r) {
  hz_result hr;
  hz_status st;
  if (!http_str_eq(req->method, "GET") && !http_str_eq(req->method, "HEAD")) {
    r->status = 405;
    r->allow = "GET, HEAD";
    srv_printf(r, "method not allowed; allowed: %s\n", r->allow);
    return;
  }
  st = hz_latest(checker, &hr);
  if (drain_refresh(0)) {
    r->status = 503;
    srv_printf(r, "draining (%s)\n", st == HZ_OK ? "db ok" : hz_status_reason(st));
  } else if (st == HZ_OK && members.n > 1) {
    /* Writable through some leader: 200, saying where it is, since a remote leader costs a WAN
     * round trip per statement. */
    int m = atomic_load(&leader_member);
    r->status = 200;
    if (m >= 0) srv_printf(r, "OK leader=%s %s\n", dbh_name(&members.m[m]), m == 0 ? "local" : "remote");
    else srv_printf(r, "OK\n");
  } else {
    r->status = st == HZ_OK ? 200 : 503;
    srv_printf(r, "%s\n", hz_status_reason(st));
  }
}

static int fast(const http_req *req, srv_resp *r) {
  if (!http_str_eq(req->path, HTTP_HEALTH_PATH)) return 0;
  healthz(req, r);
  count_request(EP_HEALTHZ, r->status);
  return 1;
}

static void method_not_allowed(srv_resp *r, const char *allow) {
  char msg[64];
  snprintf(msg, sizeof msg, "method not allowed; allowed: %s", allow);
  json_error(r, 405, msg);
  r->allow = allow;
}

static void handle(void *ctx, const http_req *req, srv_resp *r) {
  wctx *w = ctx;
  int get = http_str_eq(req->method, "GET") || http_str_eq(req->method, "HEAD");
  int ep = EP_OTHER;
  char id[20];
  if (fast(req, r)) return;
  if (http_str_eq(req->path, "/metrics")) {
    ep = EP_METRICS;
    if (!get) {
      r->status = 405;
      r->allow = "GET, HEAD";
      srv_printf(r, "method not allowed; allowed: %s\n", r->allow);
    } else {
      r->status = 200;
      r->ctype = "text/plain; version=0.0.4; charset=utf-8";
      render_metrics(r);
    }
  } else if (http_str_eq(req->path, "/orders")) {
    ep = EP_ORDERS_CREATE;
    if (!http_str_eq(req->method, "POST")) method_not_allowed(r, "POST");
    else if (w) create_order(w, req, r);
  } else if (req->path.n >= 8 && memcmp(req->path.p, "/orders/", 8) == 0) {
    size_t i, n = req->path.n - 8;
    ep = EP_ORDERS_GET;
    for (i = 0; i < n && req->path.p[8 + i] >= '0' && req->path.p[8 + i] <= '9'; i++) {}
    if (!get) method_not_allowed(r, "GET, HEAD");
    else if (n == 0 || i != n || req->path.p[8] == '0' || n > 18) json_error(r, 404, "order not found");
    else if (w) {
      memcpy(id, req->path.p + 8, n);
      id[n] = 0;
      get_order(w, id, r);
    }
  } else {
    r->status = 404;
    srv_printf(r, "not found\n");
  }
  count_request(ep, r->status);
}

/* ---- expired Idempotency-Keys: deleted off the request path, in bounded batches ---- */
static pthread_mutex_t prune_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t prune_cv;
static int prune_stop;
#define PRUNE_BATCH 500
#define PRUNE_BATCHES 20 /* per round: at most 10 000 keys, then the next round continues */

static void prune_round(PGconn **conn) {
  char ttl[16];
  const char *p[1] = {ttl};
  int b;
  snprintf(ttl, sizeof ttl, "%d", cfg.idem_ttl_h);
  for (b = 0; b < PRUNE_BATCHES; b++) {
    PGresult *res = NULL;
    long n;
    hz_status st = db_exec(conn, Q_PRUNE,
                           "DELETE FROM idempotency_keys WHERE key IN (SELECT key FROM idempotency_keys "
                           "WHERE created_at < now() - make_interval(hours => $1::integer) ORDER BY created_at LIMIT 500)",
                           1, p, &res);
    n = st == HZ_OK ? strtol(PQcmdTuples(res), NULL, 10) : 0;
    PQclear(res);
    if (n > 0) atomic_fetch_add(&idem_pruned, (unsigned long)n);
    if (n < PRUNE_BATCH) break;
  }
}

static void *pruner_main(void *arg) {
  PGconn *conn = NULL;
  (void)arg;
  pthread_mutex_lock(&prune_mu);
  while (!prune_stop) {
    int64_t next = hz_now_ms() + (int64_t)cfg.prune_s * 1000;
    struct timespec ts = {(time_t)(next / 1000), (long)(next % 1000) * 1000000L};
    while (!prune_stop && hz_now_ms() < next)
      if (pthread_cond_timedwait(&prune_cv, &prune_mu, &ts) == ETIMEDOUT) break;
    if (prune_stop) break;
    pthread_mutex_unlock(&prune_mu);
    /* A standby refuses the DELETE (read-only) quietly; its keys are the primary's, pruned there. */
    if (atomic_load(&schema_ready)) prune_round(&conn);
    pthread_mutex_lock(&prune_mu);
  }
  pthread_mutex_unlock(&prune_mu);
  if (conn) PQfinish(conn);
  return NULL;
}

static void rejected(int status) { count_request(EP_INVALID, status); }

/* ---- configuration ---- */
static void die_cfg(const char *var, const char *val, const char *expected) {
  log_ev("ERROR", "bad_config", "variable=%s value=\"%s\" expected=\"%s\"", var, val, expected);
  fprintf(stderr, "linode-dr-app: %s=\"%s\" is invalid: expected %s\n", var, val, expected);
  exit(2);
}

static int env_int(const char *var, int def, int lo, int hi, const char *expected) {
  const char *v = getenv(var);
  char *end;
  long x;
  if (!v || !*v) return def;
  errno = 0;
  x = strtol(v, &end, 10);
  if (errno || *end || end == v || x < lo || x > hi || v[0] == '+' || v[0] == ' ') die_cfg(var, v, expected);
  return (int)x;
}

static void load_config(void) {
  const char *v;
  char *err = NULL;
  PQconninfoOption *opts;
  size_t i;
  cfg.addr = getenv("LINODE_DR_LISTEN_ADDR");
  if (!cfg.addr || !*cfg.addr) cfg.addr = "0.0.0.0";
  cfg.port = env_int("LINODE_DR_LISTEN_PORT", 8080, 1, 65535, "a TCP port number from 1 to 65535");
  cfg.timeout_ms = env_int("LINODE_DR_DB_TIMEOUT_MS", 2000, 50, 60000, "milliseconds from 50 to 60000 (keep it below the load balancer's check timeout)");
  cfg.cache_ms = env_int("LINODE_DR_HEALTH_CACHE_MS", 1000, 0, 60000, "milliseconds from 0 to 60000");
  cfg.leader_wait_ms = env_int("LINODE_DR_LEADER_WAIT_MS", 3000, 0, 60000, "milliseconds from 0 to 60000 (how long a write waits for a leader while none takes writes)");
  cfg.threads = env_int("LINODE_DR_THREADS", 8, 1, 256, "a number of worker threads from 1 to 256");
  cfg.region = getenv("LINODE_DR_REGION");
  if (!cfg.region || !*cfg.region) cfg.region = "local";
  for (i = 0; cfg.region[i]; i++)
    if (i >= 63 || !(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", cfg.region[i])))
      die_cfg("LINODE_DR_REGION", cfg.region, "1 to 63 characters from A-Z a-z 0-9 . _ -");
  cfg.idem_ttl_h = env_int("LINODE_DR_IDEMPOTENCY_TTL_HOURS", 24, 1, 8760, "hours from 1 to 8760");
  cfg.prune_s = env_int("LINODE_DR_IDEMPOTENCY_PRUNE_INTERVAL_S", 60, 1, 86400, "seconds from 1 to 86400");
  cfg.drain_file = getenv("LINODE_DR_DRAIN_FILE");
  if (!cfg.drain_file || !*cfg.drain_file) cfg.drain_file = "/run/linode-dr/drain";
  if (cfg.drain_file[0] != '/' || strlen(cfg.drain_file) > 255)
    die_cfg("LINODE_DR_DRAIN_FILE", cfg.drain_file, "an absolute path of at most 255 bytes");
  v = getenv("LINODE_DR_DATABASE_URL");
  if (!v || !*v) die_cfg("LINODE_DR_DATABASE_URL", v ? v : "", "a libpq connection string, e.g. host=10.0.0.2 dbname=app user=app");
  if (!(opts = PQconninfoParse(v, &err))) {
    char msg[300];
    snprintf(msg, sizeof msg, "a valid libpq connection string (%s)", err ? err : "out of memory");
    for (i = 0; msg[i]; i++)
      if (msg[i] == '\n') msg[i] = ' ';
    PQfreemem(err);
    /* The value is not echoed: it normally contains the database password. */
    die_cfg("LINODE_DR_DATABASE_URL", "(not shown)", msg);
  }
  PQconninfoFree(opts);
  {
    char msg[300], why[200];
    if (dbh_parse(v, &members, why, sizeof why) != 0) {
      snprintf(msg, sizeof msg, "a libpq connection string whose host, hostaddr and port lists pair up: it %s", why);
      die_cfg("LINODE_DR_DATABASE_URL", "(not shown)", msg);
    }
  }
  cfg.conninfo = v;
}

static int open_listener(void) {
  struct addrinfo hints, *ai = NULL;
  char port[8];
  int fd, one = 1, rc;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
  snprintf(port, sizeof port, "%d", cfg.port);
  if ((rc = getaddrinfo(cfg.addr, port, &hints, &ai)) != 0) die_cfg("LINODE_DR_LISTEN_ADDR", cfg.addr, "a numeric IPv4 or IPv6 address such as 0.0.0.0 or ::");
  fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
    log_ev("ERROR", "listen_failed", "addr=%s port=%d errno=%d msg=\"%s\"", cfg.addr, cfg.port, errno, strerror(errno));
    fprintf(stderr, "linode-dr-app: cannot listen on %s port %d (LINODE_DR_LISTEN_ADDR/LINODE_DR_LISTEN_PORT): %s\n", cfg.addr, cfg.port, strerror(errno));
    exit(1);
  }
  freeaddrinfo(ai);
  return fd;
}

static void on_signal(int sig) {
  (void)sig;
  srv_stop();
}

int main(void) {
  struct sigaction sa;
  srv_app app = {worker_init, worker_free, handle, rejected, fast};
  PGconn *boot = NULL;
  pthread_t pruner;
  pthread_condattr_t ca;
  struct rlimit nofile;
  int lfd, rc, pruner_on;
  started_ms = hz_now_ms();
  load_config();
  lfd = open_listener();
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  probe_ctx = hz_pg_new(cfg.conninfo);
  checker = probe_ctx ? hz_checker_new(probe, probe_ctx, cfg.timeout_ms, cfg.cache_ms) : NULL;
  if (!checker) {
    log_ev("ERROR", "start_failed", "reason=\"out of memory\"");
    return 1;
  }
  if (getrlimit(RLIMIT_NOFILE, &nofile) != 0) nofile.rlim_cur = 0;
  log_ev("INFO", "start", "version=%s region=%s addr=%s port=%d threads=%d db_timeout_ms=%d leader_wait_ms=%d health_cache_ms=%d idempotency_ttl_h=%d database_members=%d nofile=%llu",
         APP_VERSION, cfg.region, cfg.addr, cfg.port, cfg.threads, cfg.timeout_ms, cfg.leader_wait_ms, cfg.cache_ms, cfg.idem_ttl_h, members.n,
         (unsigned long long)nofile.rlim_cur);
  /* Connections, DB sessions, cancel helpers and the process's own files all need descriptors. */
  if (nofile.rlim_cur < (rlim_t)SRV_MAX_CONNS + 64 + 2 * (rlim_t)cfg.threads)
    log_ev("WARN", "fd_limit_low", "nofile=%llu wanted=%d detail=\"accept pauses on EMFILE before the connection cap; set LimitNOFILE or ulimit -n\"",
           (unsigned long long)nofile.rlim_cur, SRV_MAX_CONNS + 64 + 2 * cfg.threads);
  drain_refresh(1); /* started while the file exists: in drain mode from the first check */
  /* Best effort: a database that is down or a standby now gets the schema on first use. */
  ensure_schema(&boot);
  if (boot) PQfinish(boot);
  {
    /* A verdict before the first request, so that a node that just started answers with the
     * database's state rather than "no probe finished yet"; bounded by the DB timeout. */
    hz_result first;
    hz_check(checker, &first);
  }
  if (hz_checker_start(checker) != 0) {
    log_ev("ERROR", "start_failed", "reason=\"cannot start the health prober thread\"");
    return 1;
  }
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&prune_cv, &ca);
  pthread_condattr_destroy(&ca);
  pruner_on = pthread_create(&pruner, NULL, pruner_main, NULL) == 0;
  rc = srv_run(lfd, cfg.threads, &app);
  if (pruner_on) {
    pthread_mutex_lock(&prune_mu);
    prune_stop = 1;
    pthread_cond_signal(&prune_cv);
    pthread_mutex_unlock(&prune_mu);
    pthread_join(pruner, NULL);
  }
  hz_checker_free(checker);
  hz_pg_free(probe_ctx);
  log_ev("INFO", "stopped", "rc=%d", rc);
  return rc == 0 ? 0 : 1;
}
