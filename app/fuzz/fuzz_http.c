/* libFuzzer target: the request parser and, for complete requests, the order body parser. Checks
 * the parser's own invariants so that logic errors fail as loudly as memory errors. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "order.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* A private copy, exactly sized, so ASan flags any read past the received bytes. */
  char *buf = malloc(size ? size : 1);
  http_req req;
  int rc;
  if (!buf) return 0;
  memcpy(buf, data, size);
  rc = http_parse(buf, size, &req);
  if (rc == 0) {
    order o;
    char err[160], esc[ORDER_ITEM_MAX * 6 + 1];
    if (req.total > size || req.total > HTTP_MAX_REQ || req.body.n > HTTP_MAX_BODY) abort();
    if (req.body.p + req.body.n != buf + req.total) abort();
    if (req.method.n == 0 || req.path.n == 0 || req.path.p[0] != '/') abort();
    if (req.idempotency_key.p && (req.idempotency_key.p < buf || req.idempotency_key.p + req.idempotency_key.n > buf + req.total)) abort();
    if (req.minor != 0 && req.minor != 1) abort();
    /* CRLF only: a complete request's head holds no bare LF. */
    {
      size_t i;
      for (i = 0; i < (size_t)(req.body.p - buf); i++)
        if (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r')) abort();
    }
    if (order_parse(req.body.p, req.body.n, &o, err, sizeof err) == 0) {
      if (o.quantity < 1 || o.quantity > ORDER_QTY_MAX || o.item[0] == 0) abort();
      if (json_escape(o.item, esc, sizeof esc) == 0) abort();
    } else if (err[0] == 0) abort();
  } else if (rc != HTTP_NEED_MORE && (rc < 400 || rc > 505)) {
    abort();
  }
  /* The body parser on its own, on arbitrary bytes. */
  {
    order o;
    char err[160];
    if (order_parse(buf, size, &o, err, sizeof err) != 0 && err[0] == 0) abort();
  }
  free(buf);
  return 0;
}
