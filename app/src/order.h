/* Strict parser for the POST /orders body and JSON string escaping for responses. */
#ifndef LDR_ORDER_H
#define LDR_ORDER_H
#include <stddef.h>

#define ORDER_ITEM_MAX 200      /* bytes of UTF-8 after unescaping */
#define ORDER_QTY_MAX 1000000

typedef struct {
  char item[ORDER_ITEM_MAX + 1]; /* NUL-terminated, valid UTF-8, no control characters */
  long quantity;                 /* 1..ORDER_QTY_MAX */
} order;

/* Accepts exactly one JSON object with the members "item" (string) and "quantity" (integer).
 * Returns 0 on success; otherwise -1 with a one-line message naming the field and what was
 * expected written to err. */
int order_parse(const char *s, size_t n, order *o, char *err, size_t errlen);

/* Writes s as a JSON string body (without quotes) into out; returns bytes written, or 0 if out
 * is too small. */
size_t json_escape(const char *s, char *out, size_t cap);

#endif
