#include "http.h"

#include <string.h>

static int is_tchar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

static int ieq(const char *a, size_t n, const char *lit) {
  size_t i;
  if (strlen(lit) != n) return 0;
  for (i = 0; i < n; i++)
    if (lower((unsigned char)a[i]) != lit[i]) return 0;
  return 1;
}

int http_str_eq(http_str s, const char *lit) { return strlen(lit) == s.n && memcmp(s.p, lit, s.n) == 0; }

/* Connection is a comma-separated token list; only "close" and "keep-alive" matter. */
static void parse_connection(const char *v, size_t n, int *ka) {
  size_t i = 0;
  while (i < n) {
    size_t s, e;
    while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
    s = i;
    while (i < n && v[i] != ',') i++;
    e = i;
    while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t')) e--;
    if (ieq(v + s, e - s, "close")) *ka = 0;
    else if (ieq(v + s, e - s, "keep-alive") && *ka < 0) *ka = 1;
  }
}

static int str_is(http_str s, const char *lit) {
  size_t n = strlen(lit);
  return s.n == n && memcmp(s.p, lit, n) == 0;
}

static int health_probe(const http_req *req) {
  return (str_is(req->method, "GET") || str_is(req->method, "HEAD")) && str_is(req->path, HTTP_HEALTH_PATH);
}

int http_parse(const char *buf, size_t len, http_req *req) {
  size_t i = 0, end, lim = len < HTTP_MAX_HEAD ? len : HTTP_MAX_HEAD, nhdr = 0, clen = 0;
  const char *eoh = NULL;
  int have_clen = 0, ka = -1, close = 0, hosts = 0;

  memset(req, 0, sizeof *req);
  /* Line endings are CRLF only: a bare LF (or CR) means a client or proxy that frames requests
   * differently from us, the root of request smuggling, and it would otherwise wait for a CRLFCRLF
   * that never comes. */
  for (i = 0; i < lim; i++) {
    if (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r')) return 400;
    if (buf[i] == '\r' && i + 1 < len && buf[i + 1] != '\n') return 400;
    if (i >= 3 && buf[i] == '\n' && buf[i - 2] == '\n') break; /* end of head: the body is free-form */
  }
  i = 0;
  /* Locate the end of the head first: nothing is interpreted until it is all here. */
  for (end = 0; end + 3 < lim; end++)
    if (buf[end] == '\r' && buf[end + 1] == '\n' && buf[end + 2] == '\r' && buf[end + 3] == '\n') {
      eoh = buf + end;
      break;
    }
  if (!eoh) {
    const char *nl = memchr(buf, '\n', len < HTTP_MAX_LINE ? len : HTTP_MAX_LINE);
    if (!nl && len >= HTTP_MAX_LINE) return 414;
    if (len >= HTTP_MAX_HEAD) return 431;
    /* Fail early on garbage instead of waiting for a head that will never be valid. */
    for (i = 0; i < len && i < 16 && buf[i] != ' '; i++)
      if (!is_tchar((unsigned char)buf[i])) return 400;
    return HTTP_NEED_MORE;
  }
  end += 2; /* end now indexes the CRLF that terminates the last header line (or request line) */

  /* request-line = method SP request-target SP HTTP-version CRLF */
  req->method.p = buf;
  while (i < end && is_tchar((unsigned char)buf[i])) i++;
  if (i == 0 || i > 16 || i >= end || buf[i] != ' ') return 400;
  req->method.n = i++;
  if (i >= end || buf[i] != '/') return 400;
  req->path.p = buf + i;
  while (i < end && buf[i] > 0x20 && buf[i] < 0x7f && buf[i] != '?') i++;
  req->path.n = (size_t)(buf + i - req->path.p);
  if (i < end && buf[i] == '?') {
    req->query.p = buf + ++i;
    while (i < end && buf[i] > 0x20 && buf[i] < 0x7f) i++;
    req->query.n = (size_t)(buf + i - req->query.p);
  }
  if (i >= HTTP_MAX_LINE) return 414;
  if (i + 10 > end || buf[i] != ' ' || memcmp(buf + i + 1, "HTTP/", 5) != 0) return 400;
  i += 6;
  if (buf[i] < '0' || buf[i] > '9' || buf[i + 1] != '.' || buf[i + 2] < '0' || buf[i + 2] > '9' ||
      buf[i + 3] != '\r' || buf[i + 4] != '\n')
    return 400;
  if (buf[i] != '1' || buf[i + 2] > '1') return 505;
  req->minor = buf[i + 2] - '0';
  i += 5;

  /* header-field = field-name ":" OWS field-value OWS CRLF */
  while (i < end) {
    size_t ns = i, nn, vs, ve;
    if (++nhdr > HTTP_MAX_HEADERS) return 431;
    while (i < end && is_tchar((unsigned char)buf[i])) i++;
    if (i == ns || i >= end || buf[i] != ':') return 400; /* also rejects obs-fold and "name :" */
    nn = i - ns;
    vs = i + 1;
    while (vs < end && (buf[vs] == ' ' || buf[vs] == '\t')) vs++;
    for (ve = vs; ve < end && buf[ve] != '\r'; ve++)
      if (((unsigned char)buf[ve] < 0x20 && buf[ve] != '\t') || buf[ve] == 0x7f) return 400;
    if (ve >= end || buf[ve + 1] != '\n') return 400;
    i = ve + 2;
    while (ve > vs && (buf[ve - 1] == ' ' || buf[ve - 1] == '\t')) ve--;
    if (ieq(buf + ns, nn, "content-length")) {
      size_t k, v = 0;
      if (ve == vs) return 400;
      for (k = vs; k < ve; k++) {
        if (buf[k] < '0' || buf[k] > '9') return 400;
        if (v > HTTP_MAX_BODY) return 413; /* stop before the value can overflow */
        v = v * 10 + (size_t)(buf[k] - '0');
      }
      if (have_clen && v != clen) return 400; /* conflicting lengths: a smuggling vector */
      have_clen = 1;
      clen = v;
    } else if (ieq(buf + ns, nn, "transfer-encoding")) {
      return 501; /* chunked bodies are not supported; clients must send Content-Length */
    } else if (ieq(buf + ns, nn, "host")) {
      hosts++;
    } else if (ieq(buf + ns, nn, "idempotency-key")) {
      if (req->idempotency_key.p) return 400; /* which one would be honoured is ambiguous */
      req->idempotency_key.p = buf + vs;
      req->idempotency_key.n = ve - vs;
    } else if (ieq(buf + ns, nn, "connection")) {
      parse_connection(buf + vs, ve - vs, &ka);
      if (ka == 0) close = 1;
    }
  }
  if (clen > HTTP_MAX_BODY) return 413;
  /* RFC 9112 3.2: exactly one Host on HTTP/1.1. One exception: a Host-less GET or HEAD of the
   * health path, because the NodeBalancer's check request is not documented and a strict answer
   * to it would take every node out of rotation. Two Hosts are refused everywhere. */
  if (hosts > 1 || (req->minor == 1 && hosts == 0 && !health_probe(req))) return 400;
  req->keep_alive = close ? 0 : req->minor >= 1 ? 1 : ka == 1;
  req->total = end + 2 + clen;
  if (len < req->total) return HTTP_NEED_MORE;
  req->body.p = buf + end + 2;
  req->body.n = clen;
  req->has_length = have_clen;
  return 0;
}

const char *http_reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}
