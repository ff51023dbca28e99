/* HTTP/1.x request parser: pure (no I/O, no allocation) so it can be unit tested and fuzzed. */
#ifndef LDR_HTTP_H
#define LDR_HTTP_H
#include <stddef.h>

#define HTTP_MAX_LINE 2048    /* request line; longer -> 414 */
#define HTTP_MAX_HEAD 8192    /* request line + headers + blank line; longer -> 431 */
#define HTTP_MAX_HEADERS 64   /* header fields; more -> 431 */
#define HTTP_MAX_BODY 16384   /* Content-Length above this -> 413 */
#define HTTP_MAX_REQ (HTTP_MAX_HEAD + HTTP_MAX_BODY)

/* The NodeBalancer's check path: the one request served without a Host header on HTTP/1.1. */
#define HTTP_HEALTH_PATH "/healthz"

typedef struct {
  const char *p;
  size_t n;
} http_str;

typedef struct {
  http_str method, path, query, body;
  http_str idempotency_key; /* Idempotency-Key value (OWS trimmed); p == NULL when absent */
  int minor;         /* HTTP/1.<minor>, 0 or 1 */
  int keep_alive;    /* client allows reuse of the connection */
  int has_length;    /* a Content-Length header was present */
  size_t total;      /* bytes of buf this request occupies (head + body) */
} http_req;

/* Parses one request at the start of buf.
 * Returns 0 when complete (req filled, pointers into buf), HTTP_NEED_MORE when buf holds only a
 * prefix of a valid request, or the HTTP status code to answer with (400, 411, 413, 414, 431, 501,
 * 505); the connection must be closed after an error because framing is lost. Strict where
 * leniency hides attacks or bugs: a bare LF or CR anywhere in the head is 400 as soon as it is
 * seen, only HTTP/1.0 and HTTP/1.1 are served (others 505), HTTP/1.1 needs exactly one Host (400),
 * and a repeated Idempotency-Key is 400. */
#define HTTP_NEED_MORE (-1)
int http_parse(const char *buf, size_t len, http_req *req);

int http_str_eq(http_str s, const char *lit);
const char *http_reason(int status);

#endif
