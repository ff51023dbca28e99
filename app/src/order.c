#include "order.h"

#include <stdio.h>
#include <string.h>

typedef struct {
  const char *s;
  size_t n, i;
} cur;

static void ws(cur *c) {
  while (c->i < c->n && strchr(" \t\r\n", c->s[c->i]) && c->s[c->i]) c->i++;
}

static int hex4(cur *c, unsigned *v) {
  size_t k;
  *v = 0;
  if (c->n - c->i < 4) return -1;
  for (k = 0; k < 4; k++) {
    char h = c->s[c->i++];
    unsigned d = (h >= '0' && h <= '9') ? (unsigned)(h - '0')
                 : (h >= 'a' && h <= 'f') ? (unsigned)(h - 'a' + 10)
                 : (h >= 'A' && h <= 'F') ? (unsigned)(h - 'A' + 10) : 16u;
    if (d > 15) return -1;
    *v = *v << 4 | d;
  }
  return 0;
}

/* Length of the UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates, <= U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n) {
  if (p[0] < 0x80) return 1;
  if (p[0] >= 0xc2 && p[0] <= 0xdf) return n >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
  if (p[0] >= 0xe0 && p[0] <= 0xef) {
    if (n < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80) return 0;
    if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f)) return 0;
    return 3;
  }
  if (p[0] >= 0xf0 && p[0] <= 0xf4) {
    if (n < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80) return 0;
    if ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f)) return 0;
    return 4;
  }
  return 0;
}

static size_t put_utf8(unsigned cp, char *o) {
  if (cp < 0x80) { o[0] = (char)cp; return 1; }
  if (cp < 0x800) { o[0] = (char)(0xc0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
  if (cp < 0x10000) {
    o[0] = (char)(0xe0 | cp >> 12); o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (char)(0xf0 | cp >> 18); o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
  o[2] = (char)(0x80 | (cp >> 6 & 0x3f)); o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* Parses a JSON string at the cursor (opening quote included) into out (cap bytes incl. NUL), or
 * only validates it when out is NULL.
 * Returns 0, -1 for malformed JSON, -2 if the decoded string exceeds cap-1 bytes, -3 if it holds a
 * control character (valid JSON, but not an acceptable value here). */
static int jstring(cur *c, char *out, size_t cap, size_t *outn) {
  size_t o = 0;
  int ctl = 0;
  if (c->i >= c->n || c->s[c->i] != '"') return -1;
  c->i++;
  while (c->i < c->n) {
    unsigned char ch = (unsigned char)c->s[c->i];
    char tmp[4];
    size_t k;
    if (ch == '"') {
      c->i++;
      if (out) out[o] = 0;
      *outn = o;
      return ctl ? -3 : 0;
    }
    if (ch < 0x20) return -1;
    if (ch == '\\') {
      unsigned cp;
      if (++c->i >= c->n) return -1;
      switch (c->s[c->i++]) {
        case '"': cp = '"'; break;
        case '\\': cp = '\\'; break;
        case '/': cp = '/'; break;
        case 'b': cp = 8; break;
        case 'f': cp = 12; break;
        case 'n': cp = 10; break;
        case 'r': cp = 13; break;
        case 't': cp = 9; break;
        case 'u':
          if (hex4(c, &cp)) return -1;
          if (cp >= 0xdc00 && cp <= 0xdfff) return -1;
          if (cp >= 0xd800 && cp <= 0xdbff) {
            unsigned lo;
            if (c->n - c->i < 6 || c->s[c->i] != '\\' || c->s[c->i + 1] != 'u') return -1;
            c->i += 2;
            if (hex4(c, &lo) || lo < 0xdc00 || lo > 0xdfff) return -1;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          }
          break;
        default: return -1;
      }
      if (cp < 0x20 || cp == 0x7f) ctl = 1;
      k = put_utf8(cp, tmp);
    } else {
      k = utf8_len((const unsigned char *)c->s + c->i, c->n - c->i);
      if (k == 0) return -1;
      if (ch == 0x7f) ctl = 1;
      memcpy(tmp, c->s + c->i, k);
      c->i += k;
    }
    if (out) {
      if (o + k >= cap) return -2;
      memcpy(out + o, tmp, k);
    }
    o += k;
  }
  return -1;
}

/* Skips any JSON value so that an unexpected type can be reported precisely; depth-bounded. */
static int skip_value(cur *c, int depth) {
  size_t dummy;
  if (depth > 32) return -1;
  ws(c);
  if (c->i >= c->n) return -1;
  switch (c->s[c->i]) {
    case '"': return jstring(c, NULL, 0, &dummy) == -1 ? -1 : 0;
    case '{': case '[': {
      char close = c->s[c->i] == '{' ? '}' : ']';
      c->i++;
      ws(c);
      if (c->i < c->n && c->s[c->i] == close) { c->i++; return 0; }
      for (;;) {
        if (close == '}') {
          ws(c);
          if (jstring(c, NULL, 0, &dummy) == -1) return -1;
          ws(c);
          if (c->i >= c->n || c->s[c->i++] != ':') return -1;
        }
        if (skip_value(c, depth + 1)) return -1;
        ws(c);
        if (c->i >= c->n) return -1;
        if (c->s[c->i] == close) { c->i++; return 0; }
        if (c->s[c->i++] != ',') return -1;
      }
    }
    default: {
      size_t st = c->i;
      while (c->i < c->n && strchr("+-.0123456789eEtruefalsn", c->s[c->i]) && c->s[c->i]) c->i++;
      return c->i == st ? -1 : 0;
    }
  }
}

static int fail(char *err, size_t errlen, const char *msg) {
  snprintf(err, errlen, "%s", msg);
  return -1;
}

int order_parse(const char *s, size_t n, order *o, char *err, size_t errlen) {
  cur c = {s, n, 0};
  int have_item = 0, have_qty = 0;
  memset(o, 0, sizeof *o);
  ws(&c);
  if (c.i >= n || s[c.i] != '{') return fail(err, errlen, "body: expected a JSON object like {\"item\":\"x\",\"quantity\":1}");
  c.i++;
  ws(&c);
  if (c.i < n && s[c.i] == '}') c.i++;
  else for (;;) {
    char key[32];
    size_t kn;
    int r;
    ws(&c);
    r = jstring(&c, key, sizeof key, &kn);
    if (r == -1) return fail(err, errlen, "body: malformed JSON (expected a member name in double quotes)");
    ws(&c);
    if (c.i >= n || s[c.i++] != ':') return fail(err, errlen, "body: malformed JSON (expected ':' after a member name)");
    ws(&c);
    if (r == 0 && strcmp(key, "item") == 0) {
      size_t len;
      if (have_item) return fail(err, errlen, "item: given more than once; expected exactly one");
      if (c.i >= n || s[c.i] != '"') {
        if (skip_value(&c, 0)) return fail(err, errlen, "body: malformed JSON in the value of item");
        return fail(err, errlen, "item: expected a string");
      }
      r = jstring(&c, o->item, sizeof o->item, &len);
      if (r == -1) return fail(err, errlen, "item: malformed JSON string or invalid UTF-8");
      if (r == -2) return fail(err, errlen, "item: too long; expected at most 200 bytes");
      if (r == -3) return fail(err, errlen, "item: expected no control characters");
      if (len == 0) return fail(err, errlen, "item: expected a non-empty string");
      have_item = 1;
    } else if (r == 0 && strcmp(key, "quantity") == 0) {
      size_t st = c.i;
      long v = 0;
      if (have_qty) return fail(err, errlen, "quantity: given more than once; expected exactly one");
      if (skip_value(&c, 0)) return fail(err, errlen, "body: malformed JSON in the value of quantity");
      if (c.i - st > 7 || s[st] == '0') return fail(err, errlen, "quantity: expected an integer from 1 to 1000000");
      for (; st < c.i; st++) {
        if (s[st] < '0' || s[st] > '9') return fail(err, errlen, "quantity: expected an integer from 1 to 1000000");
        v = v * 10 + (s[st] - '0');
      }
      if (v < 1 || v > ORDER_QTY_MAX) return fail(err, errlen, "quantity: expected an integer from 1 to 1000000");
      o->quantity = v;
      have_qty = 1;
    } else {
      if (r == 0) {
        snprintf(err, errlen, "%s: unknown member; expected only \"item\" and \"quantity\"", key);
        return -1;
      }
      return fail(err, errlen, "body: unknown member; expected only \"item\" and \"quantity\"");
    }
    ws(&c);
    if (c.i < n && s[c.i] == ',') { c.i++; continue; }
    if (c.i < n && s[c.i] == '}') { c.i++; break; }
    return fail(err, errlen, "body: malformed JSON (expected ',' or '}')");
  }
  ws(&c);
  if (c.i != n) return fail(err, errlen, "body: unexpected data after the JSON object");
  if (!have_item) return fail(err, errlen, "item: missing; expected a non-empty string");
  if (!have_qty) return fail(err, errlen, "quantity: missing; expected an integer from 1 to 1000000");
  return 0;
}

size_t json_escape(const char *s, char *out, size_t cap) {
  size_t o = 0;
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    char e[8];
    size_t k = 1;
    e[0] = (char)ch;
    if (ch == '"' || ch == '\\') { e[0] = '\\'; e[1] = (char)ch; k = 2; }
    else if (ch < 0x20 || ch == 0x7f) k = (size_t)snprintf(e, sizeof e, "\\u%04x", ch);
    if (o + k >= cap) return 0;
    memcpy(out + o, e, k);
    o += k;
  }
  out[o] = 0;
  return o;
}
