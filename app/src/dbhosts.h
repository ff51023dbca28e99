/*
 * The database members a libpq connection string names.
 *
 * libpq takes comma-separated lists in host=, hostaddr= and port= (a multi-host connection
 * string) and tries the members in order. In non-blocking mode it does not enforce connect_timeout,
 * so a member that never answers would hold the whole attempt: the service instead tries each
 * member itself, with its own share of the deadline, which needs the lists split the way libpq
 * reads them. By the service's convention the first member is its own region's database; the
 * others are remote.
 */
#ifndef LDR_DBHOSTS_H
#define LDR_DBHOSTS_H
#include <stddef.h>

#define DBH_MAX_MEMBERS 8

typedef struct {
  char host[256];    /* name: TLS verification (verify-full) checks the certificate against it */
  char hostaddr[64]; /* numeric address to connect to, or empty: resolve host */
  char port[8];      /* or empty: libpq's default */
} dbh_member;

typedef struct {
  int n; /* members named; 0 when the string names no host (libpq's defaults apply) */
  dbh_member m[DBH_MAX_MEMBERS];
} dbh_list;

/* Splits conninfo's host, hostaddr and port lists as libpq pairs them: hostaddr has no entry or
 * one per host, port none, one for every host, or one per host. Returns 0, or -1 with err saying
 * what is wrong and what was expected (the connection string itself is never copied into err: it
 * holds the password). */
int dbh_parse(const char *conninfo, dbh_list *out, char *err, size_t errlen);

/* The member's name as PQhost reports it: its host, or its address when it has no host. */
const char *dbh_name(const dbh_member *m);

/* The index of the member named host (as PQhost reports it), or -1. */
int dbh_index(const dbh_list *l, const char *host);

#endif
