#include "dbhosts.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

/* Counts the comma-separated entries of a non-empty list value (libpq's rule: "a,b" is two). */
static int entries(const char *v) {
  int n = 1;
  for (; *v; v++)
    if (*v == ',') n++;
  return n;
}

/* Copies entry i of list v into dst (bounded). Returns 0, or -1 when the entry does not fit. */
static int entry(const char *v, int i, char *dst, size_t n) {
  const char *end;
  size_t len;
  while (i-- > 0) v = strchr(v, ',') + 1;
  end = strchr(v, ',');
  len = end ? (size_t)(end - v) : strlen(v);
  if (len >= n) return -1;
  memcpy(dst, v, len);
  dst[len] = 0;
  return 0;
}

int dbh_parse(const char *conninfo, dbh_list *out, char *err, size_t errlen) {
  PQconninfoOption *opts, *o;
  char *perr = NULL;
  const char *host = "", *hostaddr = "", *port = "";
  int nh, na, np, i, rc = -1;
  memset(out, 0, sizeof *out);
  if (err && errlen) err[0] = 0;
  if (!(opts = PQconninfoParse(conninfo, &perr))) {
    snprintf(err, errlen, "not a libpq connection string (%s)", perr ? "syntax error" : "out of memory");
    PQfreemem(perr);
    return -1;
  }
  for (o = opts; o->keyword; o++) {
    if (!o->val) continue;
    if (strcmp(o->keyword, "host") == 0) host = o->val;
    else if (strcmp(o->keyword, "hostaddr") == 0) hostaddr = o->val;
    else if (strcmp(o->keyword, "port") == 0) port = o->val;
  }
  nh = *host ? entries(host) : 0;
  na = *hostaddr ? entries(hostaddr) : 0;
  np = *port ? entries(port) : 0;
  if (nh == 0 && na > 0) nh = na; /* hostaddr alone names the members */
  if (nh > DBH_MAX_MEMBERS) {
    snprintf(err, errlen, "names %d database hosts; expected at most %d", nh, DBH_MAX_MEMBERS);
  } else if (na != 0 && na != nh) {
    snprintf(err, errlen, "names %d hosts but %d hostaddr values; expected one hostaddr per host", nh, na);
  } else if (np > 1 && np != nh) {
    snprintf(err, errlen, "names %d hosts but %d ports; expected one port, or one per host", nh, np);
  } else {
    rc = 0;
    for (i = 0; i < nh && rc == 0; i++) {
      if ((*host && entry(host, i, out->m[i].host, sizeof out->m[i].host) != 0) ||
          (na && entry(hostaddr, i, out->m[i].hostaddr, sizeof out->m[i].hostaddr) != 0) ||
          (np && entry(port, np == 1 ? 0 : i, out->m[i].port, sizeof out->m[i].port) != 0)) {
        snprintf(err, errlen, "host %d: a name, address or port is too long (names up to %zu characters)", i + 1,
                 sizeof out->m[i].host - 1);
        rc = -1;
      }
    }
    if (rc == 0) out->n = nh;
  }
  PQconninfoFree(opts);
  return rc;
}

const char *dbh_name(const dbh_member *m) { return m->host[0] ? m->host : m->hostaddr; }

int dbh_index(const dbh_list *l, const char *host) {
  int i;
  if (!host) return -1;
  for (i = 0; i < l->n; i++)
    if (strcmp(dbh_name(&l->m[i]), host) == 0) return i;
  return -1;
}
