/* Unit tests: request parser, order JSON, health checker (fake probe), bounded libpq connect
 * (no database needed), and the server over real loopback sockets. Exit status = failures. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dbhosts.h"
#include "healthz.h"
#include "http.h"
#include "order.h"
#include "server.h"

static int failures, checks;
#define CHECK(cond, ...)                                              \
  do {                                                                \
    checks++;                                                         \
    if (!(cond)) {                                                    \
      failures++;                                                     \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                   \
      fputc('\n', stderr);                                            \
    }                                                                 \
  } while (0)

static int parse(const char *s, http_req *r) { return http_parse(s, strlen(s), r); }

static void test_parser(void) {
  http_req r;
  static char big[HTTP_MAX_REQ + 64];
  const char *ok = "POST /orders?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
  size_t i, n = strlen(ok);
  int rc;
  CHECK(parse(ok, &r) == 0, "valid POST");
  CHECK(http_str_eq(r.method, "POST") && http_str_eq(r.path, "/orders") && http_str_eq(r.query, "x=1"), "fields");
  CHECK(http_str_eq(r.body, "hello") && r.total == n && r.keep_alive && r.has_length && r.minor == 1, "body/total");
  for (i = 0; i < n; i++) CHECK(http_parse(ok, i, &r) == HTTP_NEED_MORE, "prefix %zu must need more", i);
  CHECK(parse("GET / HTTP/1.0\r\n\r\n", &r) == 0 && !r.keep_alive && !r.has_length, "1.0 closes by default");
  CHECK(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r) == 0 && r.keep_alive, "1.0 keep-alive");
  CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n", &r) == 0 && !r.keep_alive, "1.1 close");
  CHECK(parse("GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n", &r) == 0 && r.total == 28, "pipelined first");
  CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\nX:\r\n\r\n", &r) == 0, "empty header value allowed");
  CHECK(parse("GET / HTTP/2.0\r\n\r\n", &r) == 505, "HTTP/2 over 1.x framing");
  CHECK(parse("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &r) == 501, "chunked");
  CHECK(parse("POST / HTTP/1.1\r\nContent-Length: 16385\r\n\r\n", &r) == 413, "body too large");
  CHECK(parse("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", &r) == 413, "overflowing length");
  CHECK(parse("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", &r) == 400, "conflicting length");
  CHECK(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab", &r) == 0, "repeated equal length");
  CHECK(parse("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", &r) == 400, "negative length");
  CHECK(parse("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", &r) == 400, "length with space");
  CHECK(parse("GET / HTTP/1.1\r\n folded\r\n\r\n", &r) == 400, "obs-fold");
  CHECK(parse("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", &r) == 400, "space in header name");
  CHECK(parse("GET / HTTP/1.1\r\nHost : x\r\n\r\n", &r) == 400, "space before colon");
  CHECK(parse("GET / HTTP/1.1\r\nA: b\nc\r\n\r\n", &r) == 400, "bare LF in value");
  CHECK(parse("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", &r) == 400, "bare CR in value");
  CHECK(parse("GET  / HTTP/1.1\r\n\r\n", &r) == 400, "double space");
  CHECK(parse("GET x HTTP/1.1\r\n\r\n", &r) == 400, "target not origin-form");
  CHECK(parse("GET / HTTP/1.1 \r\n\r\n", &r) == 400, "trailing space in request line");
  CHECK(parse("GET / FTP/1.1\r\n\r\n", &r) == 400, "protocol name");
  CHECK(parse("G\x01T / HTTP/1.1\r\n", &r) == 400, "garbage method rejected before the head is complete");
  CHECK(parse("\r\n\r\n", &r) == 400, "empty request line");
  /* Strictness (issue 8): each of these used to be served or to wait for a timeout. */
  CHECK(parse("GET / HTTP/1.1\n", &r) == 400, "bare LF ends the request line: 400 at once, not 408 later");
  CHECK(parse("GET / HTTP/1.1\r\nHost: a\n", &r) == 400, "bare LF after a header");
  CHECK(parse("GET / HTTP/1.1\rX", &r) == 400, "bare CR");
  CHECK(parse("GET / HTTP/1.9\r\nHost: a\r\n\r\n", &r) == 505, "HTTP/1.9 unsupported");
  CHECK(parse("GET / HTTP/1.1\r\n\r\n", &r) == 400, "HTTP/1.1 without Host");
  CHECK(parse("POST /orders HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &r) == 400, "orders without Host");
  CHECK(parse("GET /healthz HTTP/1.1\r\n\r\n", &r) == 0, "health check without Host (NodeBalancer)");
  CHECK(parse("HEAD /healthz HTTP/1.1\r\n\r\n", &r) == 0, "HEAD health check without Host");
  CHECK(parse("GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", &r) == 400, "health check, two Hosts");
  CHECK(parse("GET /healthzx HTTP/1.1\r\n\r\n", &r) == 400, "not the health path without Host");
  CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", &r) == 400, "two Hosts");
  CHECK(parse("GET / HTTP/1.0\r\n\r\n", &r) == 0, "HTTP/1.0 needs no Host");
  CHECK(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\na\n", &r) == 0, "LF in the body is data");
  CHECK(parse("POST / HTTP/1.1\r\nHost: a\r\nIdempotency-Key:  k-1 \r\n\r\n", &r) == 0 && http_str_eq(r.idempotency_key, "k-1"), "idempotency key");
  CHECK(parse("POST / HTTP/1.1\r\nHost: a\r\n\r\n", &r) == 0 && r.idempotency_key.p == NULL, "no idempotency key");
  CHECK(parse("POST / HTTP/1.1\r\nHost: a\r\nIdempotency-Key: a\r\nidempotency-key: b\r\n\r\n", &r) == 400, "two keys");
  memset(big, 'a', sizeof big);
  memcpy(big, "GET /", 5);
  CHECK(http_parse(big, HTTP_MAX_LINE + 10, &r) == 414, "long request line without end");
  memcpy(big + 3000, " HTTP/1.1\r\n\r\n", 13);
  CHECK(http_parse(big, 3013, &r) == 414, "long complete request line");
  memset(big, 'a', sizeof big);
  memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
  CHECK(http_parse(big, HTTP_MAX_HEAD, &r) == 431, "huge header");
  {
    char many[4096];
    size_t o = (size_t)snprintf(many, sizeof many, "GET / HTTP/1.1\r\n");
    for (i = 0; i < 70; i++) o += (size_t)snprintf(many + o, sizeof many - o, "H%zu: v\r\n", i);
    snprintf(many + o, sizeof many - o, "\r\n");
    CHECK(parse(many, &r) == 431, "too many headers");
  }
  rc = parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nab", &r);
  CHECK(rc == HTTP_NEED_MORE && r.total == 50, "body incomplete: rc=%d total=%zu", rc, r.total);
}

static void test_order(void) {
  order o;
  char err[160], out[64];
  struct {
    const char *in, *err_prefix;
  } bad[] = {
      {"", "body:"},
      {"[]", "body:"},
      {"{}", "item: missing"},
      {"{\"item\":\"a\"}", "quantity: missing"},
      {"{\"quantity\":1}", "item: missing"},
      {"{\"item\":5,\"quantity\":1}", "item: expected a string"},
      {"{\"item\":\"\",\"quantity\":1}", "item: expected a non-empty"},
      {"{\"item\":\"a\\u0001\",\"quantity\":1}", "item: expected no control"},
      {"{\"item\":\"a\",\"quantity\":0}", "quantity:"},
      {"{\"item\":\"a\",\"quantity\":1000001}", "quantity:"},
      {"{\"item\":\"a\",\"quantity\":-1}", "quantity:"},
      {"{\"item\":\"a\",\"quantity\":1.5}", "quantity:"},
      {"{\"item\":\"a\",\"quantity\":01}", "quantity:"},
      {"{\"item\":\"a\",\"quantity\":\"2\"}", "quantity:"},
      {"{\"item\":\"a\",\"quantity\":true}", "quantity:"},
      {"{\"item\":\"a\",\"quantity\":[1]}", "quantity:"},
      {"{\"item\":\"a\",\"quantity\":1,\"price\":3}", "price: unknown member"},
      {"{\"item\":\"a\",\"item\":\"b\",\"quantity\":1}", "item: given more than once"},
      {"{\"item\":\"a\",\"quantity\":1} x", "body: unexpected data"},
      {"{\"item\":\"a\",\"quantity\":1", "body: malformed"},
      {"{\"item\":\"a\" \"quantity\":1}", "body: malformed"},
      {"{\"item\":\"\xff\",\"quantity\":1}", "item: malformed"},
      {"{\"item\":\"\xc0\xaf\",\"quantity\":1}", "item: malformed"},
      {"{\"item\":\"\\ud800\",\"quantity\":1}", "item: malformed"},
      {"{\"item\":\"a\",\"quantity\":{\"a\":[1,{\"b\":\"c\"}]}}", "quantity:"},
  };
  size_t i;
  CHECK(order_parse("{\"item\":\"x\",\"quantity\":2}", 25, &o, err, sizeof err) == 0 && strcmp(o.item, "x") == 0 && o.quantity == 2, "%s", err);
  {
    const char *in = " { \"quantity\" : 1000000 ,\n \"item\" : \"caf\\u00e9 \\ud83d\\ude00 \xc3\xa9\\\"\" } ";
    CHECK(order_parse(in, strlen(in), &o, err, sizeof err) == 0, "%s", err);
  }
  CHECK(strcmp(o.item, "caf\xc3\xa9 \xf0\x9f\x98\x80 \xc3\xa9\"") == 0 && o.quantity == 1000000, "decoded %s", o.item);
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = 0;
    CHECK(order_parse(bad[i].in, strlen(bad[i].in), &o, err, sizeof err) == -1 && strncmp(err, bad[i].err_prefix, strlen(bad[i].err_prefix)) == 0,
          "input %s gave \"%s\", want prefix \"%s\"", bad[i].in, err, bad[i].err_prefix);
  }
  {
    char body[400];
    snprintf(body, sizeof body, "{\"item\":\"%0201d\",\"quantity\":1}", 0);
    CHECK(order_parse(body, strlen(body), &o, err, sizeof err) == -1 && strstr(err, "too long"), "%s", err);
  }
  CHECK(json_escape("a\"b\\c\n\x01", out, sizeof out) > 0 && strcmp(out, "a\\\"b\\\\c\\u000a\\u0001") == 0, "%s", out);
  CHECK(json_escape("abcdef", out, 4) == 0, "too small");
}

/* ---- health checker with a scripted probe ---- */
static atomic_int probe_calls;
static int probe_sleep_ms;
static hz_status probe_answer;

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static hz_status fake_probe(void *ctx, int timeout_ms, char *detail, size_t len) {
  (void)ctx;
  (void)timeout_ms;
  atomic_fetch_add(&probe_calls, 1);
  sleep_ms(probe_sleep_ms);
  snprintf(detail, len, "scripted");
  return probe_answer;
}

static void *check_thread(void *arg) {
  hz_result r;
  int64_t t0 = hz_now_ms();
  hz_check(arg, &r);
  r.latency_ms = (int)(hz_now_ms() - t0);
  {
    hz_result *out = malloc(sizeof *out);
    if (out) *out = r;
    return out;
  }
}

static void test_checker(void) {
  hz_checker *c;
  hz_result r;
  pthread_t th[8];
  int i, n_timeout = 0, n_fast = 0;
  CHECK(hz_checker_new(fake_probe, NULL, 0, 10) == NULL, "timeout 0 rejected");
  CHECK(hz_checker_new(fake_probe, NULL, 10, -1) == NULL, "negative cache rejected");
  CHECK(hz_checker_new(NULL, NULL, 10, 10) == NULL, "NULL probe rejected");
  CHECK(strcmp(hz_status_reason(HZ_READONLY), "db read-only (standby)") == 0 && strcmp(hz_status_reason(HZ_UNREACHABLE), "db unreachable") == 0 &&
            strcmp(hz_status_reason(HZ_TIMEOUT), "db timeout") == 0 && strcmp(hz_status_reason(HZ_OK), "OK") == 0,
        "reasons");

  /* Cached within cache_ms, refreshed after it. */
  c = hz_checker_new(fake_probe, NULL, 200, 150);
  probe_answer = HZ_OK;
  probe_sleep_ms = 0;
  atomic_store(&probe_calls, 0);
  for (i = 0; i < 50; i++) CHECK(hz_check(c, &r) == HZ_OK, "ok");
  CHECK(atomic_load(&probe_calls) == 1, "50 checks, %d probes", atomic_load(&probe_calls));
  probe_answer = HZ_READONLY;
  sleep_ms(200);
  CHECK(hz_check(c, &r) == HZ_READONLY && strcmp(r.detail, "scripted") == 0, "refreshed after expiry");
  CHECK(atomic_load(&probe_calls) == 2, "probes %d", atomic_load(&probe_calls));

  /* Single flight: concurrent callers share one probe. */
  sleep_ms(200);
  probe_answer = HZ_UNREACHABLE;
  probe_sleep_ms = 50;
  atomic_store(&probe_calls, 0);
  for (i = 0; i < 8; i++) pthread_create(&th[i], NULL, check_thread, c);
  for (i = 0; i < 8; i++) {
    void *res;
    pthread_join(th[i], &res);
    CHECK(res && ((hz_result *)res)->status == HZ_UNREACHABLE, "thread %d", i);
    free(res);
  }
  CHECK(atomic_load(&probe_calls) == 1, "8 concurrent checks, %d probes", atomic_load(&probe_calls));

  /* A probe that overruns: nobody waits much longer than timeout_ms. */
  sleep_ms(200);
  probe_answer = HZ_OK;
  probe_sleep_ms = 600;
  for (i = 0; i < 8; i++) pthread_create(&th[i], NULL, check_thread, c);
  for (i = 0; i < 8; i++) {
    void *res;
    pthread_join(th[i], &res);
    if (res) {
      hz_result *hr = res;
      if (hr->status == HZ_TIMEOUT) n_timeout++;
      if (hr->latency_ms < 200 + 150) n_fast++; /* waiters: bounded by timeout_ms, not by the probe */
    }
    free(res);
  }
  CHECK(n_timeout == 8, "all 8 report timeout (%d)", n_timeout);
  CHECK(n_fast >= 7, "only the probing thread may exceed the bound (%d fast)", n_fast);
  hz_checker_free(c);

  /* The prober keeps the verdict fresh; hz_latest() never waits for a probe, and a probe that hangs
   * turns the verdict into HZ_TIMEOUT within one period (100 ms) + timeout_ms (200 ms). */
  c = hz_checker_new(fake_probe, NULL, 200, 100);
  probe_answer = HZ_OK;
  probe_sleep_ms = 0;
  CHECK(hz_latest(c, &r) == HZ_TIMEOUT && strstr(r.detail, "no probe finished"), "no verdict before the first probe: %s", r.detail);
  CHECK(hz_checker_start(c) == 0, "prober starts");
  sleep_ms(150);
  CHECK(hz_latest(c, &r) == HZ_OK, "fresh verdict from the prober");
  probe_sleep_ms = 1500;
  {
    int64_t t0 = hz_now_ms(), slowest = 0;
    hz_status st = HZ_OK;
    while (st == HZ_OK && hz_now_ms() - t0 < 2000) {
      int64_t t1 = hz_now_ms();
      st = hz_latest(c, &r);
      if (hz_now_ms() - t1 > slowest) slowest = hz_now_ms() - t1;
      sleep_ms(5);
    }
    CHECK(st == HZ_TIMEOUT, "hung probe reported as timeout (%d: %s)", (int)st, r.detail);
    CHECK(hz_now_ms() - t0 <= 100 + 200 + 100, "within period + timeout: %lld ms", (long long)(hz_now_ms() - t0));
    CHECK(slowest < 20, "hz_latest never waits for the probe (slowest %lld ms)", (long long)slowest);
  }
  probe_sleep_ms = 0;
  hz_checker_free(c); /* joins the prober after its running probe */

  /* cache_ms = 0: every call probes. */
  c = hz_checker_new(fake_probe, NULL, 100, 0);
  probe_sleep_ms = 0;
  atomic_store(&probe_calls, 0);
  for (i = 0; i < 5; i++) hz_check(c, &r);
  CHECK(atomic_load(&probe_calls) == 5, "uncached probes %d", atomic_load(&probe_calls));
  hz_checker_free(c);
}

/* ---- bounded libpq without a database ---- */
static int listen_loopback(int *port) {
  struct sockaddr_in a;
  socklen_t al = sizeof a;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 1024) || getsockname(fd, (struct sockaddr *)&a, &al)) return -1;
  *port = ntohs(a.sin_port);
  return fd;
}

static void test_pg_bounds(void) {
  char ci[128], err[256];
  PGconn *conn = NULL;
  PGresult *res = NULL;
  int port, fd = listen_loopback(&port);
  int64_t t0;
  hz_status st;
  hz_pg *p;
  hz_checker *c;
  hz_result r;
  CHECK(fd >= 0, "listen");
  /* A server that accepts TCP but never speaks (like a stopped postmaster). */
  snprintf(ci, sizeof ci, "host=127.0.0.1 port=%d user=x dbname=x connect_timeout=30", port);
  t0 = hz_now_ms();
  st = hz_pg_exec(&conn, ci, "SELECT 1", 0, NULL, 300, &res, err, sizeof err);
  CHECK(st == HZ_TIMEOUT && conn == NULL && res == NULL, "silent server: %d %s", (int)st, err);
  CHECK(hz_now_ms() - t0 < 600, "bounded: %lld ms", (long long)(hz_now_ms() - t0));
  /* Nobody listening: refused at once. */
  close(fd);
  t0 = hz_now_ms();
  st = hz_pg_exec(&conn, ci, "SELECT 1", 0, NULL, 300, &res, err, sizeof err);
  CHECK(st == HZ_UNREACHABLE && conn == NULL && strstr(err, "connect:"), "refused: %d %s", (int)st, err);
  CHECK(hz_now_ms() - t0 < 300, "refused quickly");
  p = hz_pg_new(ci);
  c = hz_checker_new(hz_pg_probe, p, 300, 1000);
  CHECK(hz_check(c, &r) == HZ_UNREACHABLE && strlen(r.detail) > 0, "pg probe unreachable: %s", r.detail);
  hz_checker_free(c);
  hz_pg_free(p);
}

static void test_dbhosts(void) {
  dbh_list l;
  char err[200];
  CHECK(dbh_parse("dbname=app user=app", &l, err, sizeof err) == 0 && l.n == 0, "no host: %s", err);
  CHECK(dbh_parse("host=10.0.0.2 port=5432", &l, err, sizeof err) == 0 && l.n == 1 && strcmp(l.m[0].port, "5432") == 0,
        "one host");
  CHECK(dbh_parse("host=db-a.example,db-b.example hostaddr=198.51.100.10,203.0.113.20 port=5432 password='a,b'", &l, err,
                  sizeof err) == 0 &&
            l.n == 2 && strcmp(l.m[1].host, "db-b.example") == 0 && strcmp(l.m[1].hostaddr, "203.0.113.20") == 0 &&
            strcmp(l.m[0].port, "5432") == 0 && strcmp(l.m[1].port, "5432") == 0,
        "two members, one port for both: %s", err);
  CHECK(dbh_parse("host=a,b port=1,2", &l, err, sizeof err) == 0 && strcmp(l.m[1].port, "2") == 0, "a port each");
  CHECK(dbh_parse("hostaddr=192.0.2.1,192.0.2.2", &l, err, sizeof err) == 0 && l.n == 2 && dbh_index(&l, "192.0.2.2") == 1,
        "addresses alone name the members");
  CHECK(dbh_index(&l, "192.0.2.9") == -1 && dbh_index(&l, NULL) == -1, "unknown member");
  CHECK(dbh_parse("host=a,b hostaddr=192.0.2.1", &l, err, sizeof err) != 0 && strstr(err, "2 hosts but 1 hostaddr"),
        "unpaired hostaddr: %s", err);
  CHECK(dbh_parse("host=a,b,c port=1,2", &l, err, sizeof err) != 0 && strstr(err, "3 hosts but 2 ports"), "ports: %s", err);
  CHECK(dbh_parse("host=a,b,c,d,e,f,g,h,i", &l, err, sizeof err) != 0 && strstr(err, "at most 8"), "too many: %s", err);
  CHECK(dbh_parse("host='unterminated password=secret", &l, err, sizeof err) != 0 && !strstr(err, "secret"),
        "syntax error never echoes the string: %s", err);
}

/* A multi-host string: a member that never answers costs its share of the deadline, not all of it,
 * and the error names each member. */
static void test_pg_members(void) {
  char ci[200], err[400];
  PGconn *conn = NULL;
  PGresult *res = NULL;
  int silent_port, refused_port, silent = listen_loopback(&silent_port), refused = listen_loopback(&refused_port);
  int64_t t0;
  hz_status st;
  CHECK(silent >= 0 && refused >= 0, "listen");
  close(refused);
  snprintf(ci, sizeof ci, "host=silent.example,refused.example hostaddr=127.0.0.1,127.0.0.1 port=%d,%d user=x dbname=x",
           silent_port, refused_port);
  t0 = hz_now_ms();
  st = hz_pg_exec(&conn, ci, "SELECT 1", 0, NULL, 600, &res, err, sizeof err);
  CHECK(st == HZ_TIMEOUT && conn == NULL, "silent then refused: a member did not answer in time: %d %s", (int)st, err);
  CHECK(hz_now_ms() - t0 >= 250 && hz_now_ms() - t0 < 500, "the silent member had half the deadline: %lld ms",
        (long long)(hz_now_ms() - t0));
  CHECK(strstr(err, "silent.example: connect: deadline passed") && strstr(err, "; refused.example: connect:"),
        "each member's error: %s", err);
  close(silent);
}

/* ---- server over loopback ---- */
static atomic_int t_hold;
static void t_handle(void *ctx, const http_req *req, srv_resp *r) {
  (void)ctx;
  r->status = 200;
  if (http_str_eq(req->path, "/big")) { /* a response no socket buffer takes at once in bulk */
    memset(r->body, 'b', 60000);
    r->len = 60000;
    return;
  }
  if (http_str_eq(req->path, "/sleep")) sleep_ms(1000); /* a worker busy on a slow database */
  if (http_str_eq(req->path, "/hold"))
    while (atomic_load(&t_hold)) sleep_ms(5); /* every worker busy until the test lets go */
  srv_printf(r, "%.*s %.*s %zu\n", (int)req->method.n, req->method.p, (int)req->path.n, req->path.p, req->body.n);
}
static atomic_int t_rejected;
static void t_rejected_fn(int status) {
  (void)status;
  atomic_fetch_add(&t_rejected, 1);
}
static int t_fast(const http_req *req, srv_resp *r) {
  if (!http_str_eq(req->path, "/fast")) return 0;
  r->status = 200;
  srv_printf(r, "fast\n");
  return 1;
}
static const srv_app t_app = {NULL, NULL, t_handle, t_rejected_fn, t_fast};
static int srv_port, srv_rc = -99;

static void *srv_thread(void *arg) {
  srv_rc = srv_run(*(int *)arg, 2, &t_app);
  return NULL;
}

static int dial(void) {
  struct sockaddr_in a;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)srv_port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Reads until the peer closes, the buffer is full, or ms pass. Returns bytes; *closed set on EOF. */
static size_t recv_for(int fd, char *buf, size_t cap, int ms, int *closed) {
  size_t n = 0;
  int64_t deadline = hz_now_ms() + ms;
  *closed = 0;
  while (n + 1 < cap) {
    struct pollfd p = {fd, POLLIN, 0};
    int64_t left = deadline - hz_now_ms();
    ssize_t k;
    if (left <= 0 || poll(&p, 1, (int)left) <= 0) break;
    k = recv(fd, buf + n, cap - 1 - n, 0);
    if (k <= 0) {
      *closed = 1;
      break;
    }
    n += (size_t)k;
  }
  buf[n] = 0;
  return n;
}

static int count(const char *hay, const char *needle) {
  int k = 0;
  for (; (hay = strstr(hay, needle)) != NULL; hay++) k++;
  return k;
}

static void send_str(int fd, const char *s) {
  if (send(fd, s, strlen(s), MSG_NOSIGNAL) < 0) perror("send");
}

static int dial_small_rcvbuf(void) {
  struct sockaddr_in a;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), small = 4096;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)srv_port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Asks GET path on a new connection; returns ms until the full answer, or -1. */
static int64_t timed_get(const char *path, char *buf, size_t cap) {
  char req[128];
  int closed, fd = dial();
  int64_t t0 = hz_now_ms();
  if (fd < 0) return -1;
  snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", path);
  send_str(fd, req);
  recv_for(fd, buf, cap, 3000, &closed);
  close(fd);
  return strncmp(buf, "HTTP/1.1 200 ", 13) == 0 ? hz_now_ms() - t0 : -1;
}

/* Issue 8: clients that never read, slowloris beyond the connection cap, and busy workers must not
 * delay a fresh, well-behaved request. The server under test has 2 workers and a cap of 64. */
static void test_server_hostile(void) {
  char buf[8192];
  int slow[3], loris[SRV_MAX_CONNS + 8], i, k, sleepers[4];
  int64_t ms;
  static char pipeline[400 * 32];
  size_t o = 0;

  /* Three clients pipeline 400 requests for 60 kB each and never read: with two workers, a worker
   * blocked writing to them would leave none for anyone else. */
  for (k = 0; k < 400; k++) o += (size_t)snprintf(pipeline + o, sizeof pipeline - o, "GET /big HTTP/1.1\r\nHost: a\r\n\r\n");
  for (i = 0; i < 3; i++) {
    slow[i] = dial_small_rcvbuf();
    send_str(slow[i], pipeline);
  }
  sleep_ms(300);
  ms = timed_get("/x", buf, sizeof buf);
  CHECK(ms >= 0 && ms < 300, "fresh request beside 3 non-reading clients: %lld ms: %.60s", (long long)ms, buf);
  /* Their pending output is bounded by the write timeout: the connections are closed after it. */
  sleep_ms(SRV_WRITE_MS + 600);
  CHECK(srv_open_connections() == 0, "non-reading clients closed after the write timeout (%d open)", srv_open_connections());
  for (i = 0; i < 3; i++) close(slow[i]);

  /* Both workers busy (4 requests of 1 s each): the fast path is answered by the loop at once. */
  for (i = 0; i < 4; i++) {
    sleepers[i] = dial();
    send_str(sleepers[i], "GET /sleep HTTP/1.1\r\nHost: a\r\n\r\n");
  }
  sleep_ms(100);
  ms = timed_get("/fast", buf, sizeof buf);
  CHECK(ms >= 0 && ms < 100 && strstr(buf, "fast\n"), "fast path while workers are busy: %lld ms", (long long)ms);
  for (i = 0; i < 4; i++) close(sleepers[i]);
  sleep_ms(2100);

  /* Slowloris beyond the cap: the connections that waited longest are evicted, so a fresh client
   * is always admitted and answered. */
  {
    unsigned long ev0 = srv_evictions();
    int evicted_first = 0, closed;
    for (i = 0; i < SRV_MAX_CONNS + 8; i++) {
      loris[i] = dial();
      send_str(loris[i], "GET / HTTP/1.1\r\nX-Slow: ");
    }
    sleep_ms(100);
    ms = timed_get("/x", buf, sizeof buf);
    CHECK(ms >= 0 && ms < 300, "fresh request beside %d slowloris connections: %lld ms: %.60s", SRV_MAX_CONNS + 8, (long long)ms, buf);
    CHECK(srv_evictions() - ev0 >= 9, "evictions %lu", srv_evictions() - ev0);
    recv_for(loris[0], buf, sizeof buf, 200, &closed);
    evicted_first = closed && strncmp(buf, "HTTP/1.1 408 ", 13) == 0 && strstr(buf, "at capacity");
    CHECK(evicted_first, "the oldest slowloris connection is the one evicted, told 408: %.80s", buf);
    for (i = 0; i < SRV_MAX_CONNS + 8; i++) close(loris[i]);
  }
  sleep_ms(SRV_LINGER_MS + 300);

  /* Every connection is with a worker (none can be evicted): the newcomer's 503 must arrive, with
   * a clean close rather than a reset that would discard it. */
  {
    int closed, extra;
    unsigned long ev0 = srv_evictions();
    atomic_store(&t_hold, 1);
    for (i = 0; i < SRV_MAX_CONNS; i++) {
      loris[i] = dial();
      send_str(loris[i], "GET /hold HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    }
    sleep_ms(200);
    extra = dial();
    send_str(extra, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
    recv_for(extra, buf, sizeof buf, 1000, &closed);
    CHECK(strncmp(buf, "HTTP/1.1 503 ", 13) == 0 && strstr(buf, "{\"error\":\"server at capacity\"}") && closed,
          "at capacity with nothing evictable: %.80s", buf);
    CHECK(srv_evictions() == ev0, "nothing was evicted (%lu)", srv_evictions() - ev0);
    close(extra);
    atomic_store(&t_hold, 0);
    for (i = 0; i < SRV_MAX_CONNS; i++) {
      recv_for(loris[i], buf, sizeof buf, 2000, &closed);
      CHECK(strstr(buf, "GET /hold 0"), "held request %d answered after release: %.40s", i, buf);
      close(loris[i]);
    }
  }
  sleep_ms(SRV_LINGER_MS + 100);

  /* A request that waited in the queue longer than SRV_QUEUE_MS (both workers stuck) is refused
   * explicitly instead of run after its client has given up. */
  {
    int held[2], late, closed;
    atomic_store(&t_hold, 1);
    for (i = 0; i < 2; i++) {
      held[i] = dial();
      send_str(held[i], "GET /hold HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    }
    sleep_ms(100);
    late = dial();
    send_str(late, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
    sleep_ms(SRV_QUEUE_MS + 200);
    atomic_store(&t_hold, 0);
    recv_for(late, buf, sizeof buf, 1000, &closed);
    CHECK(strncmp(buf, "HTTP/1.1 503 ", 13) == 0 && strstr(buf, "Retry-After: 1\r\n") && strstr(buf, "was not run") && closed,
          "stale queued request refused: %.120s", buf);
    CHECK(!strstr(buf, "POST /x"), "and not run");
    close(late);
    for (i = 0; i < 2; i++) {
      recv_for(held[i], buf, sizeof buf, 1000, &closed);
      CHECK(strstr(buf, "GET /hold 0"), "requests already with a worker still answered: %.40s", buf);
      close(held[i]);
    }
  }
  sleep_ms(SRV_LINGER_MS + 100);
}

static void test_server(void) {
  pthread_t th;
  char buf[8192];
  int lfd = listen_loopback(&srv_port), fd, closed;
  int64_t t0;
  CHECK(lfd >= 0, "listen");
  pthread_create(&th, NULL, srv_thread, &lfd);

  fd = dial();
  send_str(fd, "GET /x HTTP/1.1\r\nHost: a\r\n\r\nPOST /y HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcHEAD /z HTTP/1.1\r\nHost: a\r\n\r\n");
  recv_for(fd, buf, sizeof buf, 500, &closed);
  CHECK(count(buf, "HTTP/1.1 200 OK") == 3 && strstr(buf, "GET /x 0\n") && strstr(buf, "POST /y 3\n") && !strstr(buf, "HEAD /z"), "pipelined: %s", buf);
  CHECK(!closed, "keep-alive stays open");
  send_str(fd, "GET /again HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  recv_for(fd, buf, sizeof buf, 1000, &closed);
  CHECK(strstr(buf, "GET /again 0") && strstr(buf, "Connection: close") && closed, "close honoured: %s", buf);
  close(fd);

  fd = dial();
  send_str(fd, "POST / HTTP/1.1\r\nContent-Length: 100000\r\n\r\n");
  recv_for(fd, buf, sizeof buf, 1000, &closed);
  CHECK(strncmp(buf, "HTTP/1.1 413 ", 13) == 0 && closed, "413: %s", buf);
  close(fd);

  fd = dial();
  {
    static char huge[HTTP_MAX_HEAD + 100];
    memset(huge, 'a', sizeof huge - 1);
    memcpy(huge, "GET / HTTP/1.1\r\nX: ", 19);
    send_str(fd, huge);
  }
  recv_for(fd, buf, sizeof buf, 1000, &closed);
  CHECK(strncmp(buf, "HTTP/1.1 431 ", 13) == 0 && closed, "431: %.40s", buf);
  close(fd);

  fd = dial();
  send_str(fd, "BLAH\x01 / HTTP/1.1\r\n\r\n");
  recv_for(fd, buf, sizeof buf, 1000, &closed);
  CHECK(strncmp(buf, "HTTP/1.1 400 ", 13) == 0 && closed, "400: %s", buf);
  close(fd);

  /* Slowloris: a head that never completes gets 408 after SRV_REQUEST_MS, not a worker. */
  fd = dial();
  t0 = hz_now_ms();
  send_str(fd, "GET / HTTP/1.1\r\nX-Slow: ");
  recv_for(fd, buf, sizeof buf, 3000, &closed);
  CHECK(strncmp(buf, "HTTP/1.1 408 ", 13) == 0 && closed, "408: %s", buf);
  CHECK(hz_now_ms() - t0 < SRV_REQUEST_MS + 600, "408 after %lld ms", (long long)(hz_now_ms() - t0));
  close(fd);

  /* Idle keep-alive connections are closed after SRV_IDLE_MS. */
  fd = dial();
  t0 = hz_now_ms();
  recv_for(fd, buf, sizeof buf, SRV_IDLE_MS + 1500, &closed);
  CHECK(closed && buf[0] == 0 && hz_now_ms() - t0 >= SRV_IDLE_MS - 50, "idle close after %lld ms", (long long)(hz_now_ms() - t0));
  close(fd);

  /* A client that half-closes right after its request still gets the answer. */
  fd = dial();
  send_str(fd, "GET /half HTTP/1.1\r\nHost: a\r\n\r\n");
  shutdown(fd, SHUT_WR);
  recv_for(fd, buf, sizeof buf, 1000, &closed);
  CHECK(strstr(buf, "GET /half 0") && closed, "half-close: %s", buf);
  close(fd);

  CHECK(atomic_load(&t_rejected) == 4, "rejected count %d", atomic_load(&t_rejected));

  /* Bare LF: 400 at once instead of a 408 after the request timeout; errors are JSON. */
  fd = dial();
  t0 = hz_now_ms();
  send_str(fd, "GET / HTTP/1.1\nHost: a\n\n");
  recv_for(fd, buf, sizeof buf, 2000, &closed);
  CHECK(strncmp(buf, "HTTP/1.1 400 ", 13) == 0 && strstr(buf, "application/json") && strstr(buf, "{\"error\":\"Bad Request\"}"), "bare LF: %s", buf);
  CHECK(hz_now_ms() - t0 < 300, "bare LF answered in %lld ms", (long long)(hz_now_ms() - t0));
  close(fd);

  test_server_hostile();
  /* Graceful stop with a connection still open. */
  fd = dial();
  srv_stop();
  pthread_join(th, NULL);
  CHECK(srv_rc == 0, "srv_run returned %d", srv_rc);
  close(fd);
}

int main(void) {
  test_parser();
  test_order();
  test_checker();
  test_pg_bounds();
  test_dbhosts();
  test_pg_members();
  test_server();
  printf("%d checks, %d failures\n", checks, failures);
  return failures ? 1 : 0;
}
