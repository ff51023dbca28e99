/*
 * libhealthz: time-bounded database health for C services behind a load balancer.
 *
 * A load balancer marks a backend down when its health check does not answer within a timeout
 * (Linode NodeBalancer: 3 s by default). A check that itself hangs on a hung database is worse than
 * useless, so everything here has a hard deadline:
 *
 *   - hz_check() answers from a cache while the last result is younger than cache_ms; when it is
 *     older, exactly one caller runs the probe ("single flight") and concurrent callers wait for
 *     that result at most timeout_ms, then report HZ_TIMEOUT. A flood of checks therefore costs
 *     the database at most one query per cache_ms.
 *   - hz_pg_exec() runs one statement with a client-side deadline (non-blocking connect,
 *     PQsendQueryParams + poll) and a server-side statement_timeout. On a missed deadline the
 *     connection is dropped and a cancel request is sent from a detached helper thread, so the
 *     caller never waits for a stopped server.
 *
 * Thread safety: an hz_checker may be shared by any number of threads. A PGconn (and the hz_pg
 * probe context that owns one) must be used by one thread at a time, as with libpq itself.
 * Link with: healthz.c -lpq -lpthread.
 */
#ifndef LDR_HEALTHZ_H
#define LDR_HEALTHZ_H
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
  HZ_OK = 0,       /* reachable and writable (primary) */
  HZ_READONLY,     /* reachable but in recovery (hot standby) or a read-only transaction */
  HZ_UNREACHABLE,  /* cannot connect, or the connection broke */
  HZ_TIMEOUT,      /* no answer before the deadline */
  HZ_ERROR         /* the server answered with an error (bad SQL, permissions, ...) */
} hz_status;

/* Short, stable, one-line text for a status: "OK", "db read-only (standby)", "db unreachable",
 * "db timeout", "db error". Suitable as an HTTP response body. */
const char *hz_status_reason(hz_status st);

/* Monotonic clock in milliseconds (CLOCK_MONOTONIC). */
int64_t hz_now_ms(void);

typedef struct {
  hz_status status;
  int64_t checked_ms;  /* hz_now_ms() when the probe finished */
  int latency_ms;      /* how long the probe took */
  char detail[192];    /* one line for logs, e.g. the libpq error message */
} hz_result;

/* A probe performs one check and must return within timeout_ms. It may write a one-line detail.
 * hz_check() reports an overrunning probe as HZ_TIMEOUT. */
typedef hz_status (*hz_probe_fn)(void *ctx, int timeout_ms, char *detail, size_t detail_len);

typedef struct hz_checker hz_checker;

/* timeout_ms: 1..600000; cache_ms: 0..600000 (0 disables caching). Returns NULL on bad
 * arguments or out of memory. ctx is passed to probe and is not owned. */
hz_checker *hz_checker_new(hz_probe_fn probe, void *ctx, int timeout_ms, int cache_ms);
void hz_checker_free(hz_checker *c);

/* Fills *out with a result at most cache_ms old (or a fresh one) and returns its status. Blocks
 * for at most about timeout_ms. */
hz_status hz_check(hz_checker *c, hz_result *out);

/* Starts a prober thread that refreshes the result every max(cache_ms, 100) ms, so that request
 * threads never probe: they read the verdict with hz_latest(). Returns 0, or -1 if the thread
 * cannot start. hz_checker_free() stops it (waiting at most about timeout_ms for a running probe). */
int hz_checker_start(hz_checker *c);

/* Never blocks on a probe: fills *out with the latest verdict. While the prober is stuck (a probe
 * overrunning), a verdict older than the refresh period + timeout_ms is reported as HZ_TIMEOUT, and
 * before the first probe finishes the answer is HZ_TIMEOUT as well, so the answer is never staler
 * than one period + one timeout. */
hz_status hz_latest(hz_checker *c, hz_result *out);

/* Runs sql with params ($1..$n as text) on *conn, connecting first if *conn is NULL, all within
 * timeout_ms (also applied as statement_timeout to new connections). A multi-host conninfo
 * (host=a,b ...) is tried member by member, each with a share of the deadline, and a statement
 * refused as read-only (the session's member was demoted) is sent once more on a new connection.
 * Returns:
 *   HZ_OK         *res holds the result (PGRES_TUPLES_OK or PGRES_COMMAND_OK)
 *   HZ_READONLY   server refused a write (SQLSTATE 25006); *res holds the error result. With
 *                 several members and target_session_attrs=read-write: no member would take
 *                 writes, each answered (read-only, or refused) and one said read-only (*res
 *                 is NULL); a member that did not answer in time makes it HZ_TIMEOUT
 *   HZ_ERROR      any other server error; *res holds it (inspect PG_DIAG_SQLSTATE)
 *   HZ_TIMEOUT    deadline or statement_timeout hit
 *   HZ_UNREACHABLE connect failed or the connection broke
 * On HZ_TIMEOUT and HZ_UNREACHABLE *conn is closed and set to NULL so the next call reconnects.
 * The caller must PQclear(*res) when it is non-NULL. err receives a one-line message on failure. */
hz_status hz_pg_exec(PGconn **conn, const char *conninfo, const char *sql, int nparams,
                     const char *const *params, int timeout_ms, PGresult **res, char *err,
                     size_t errlen);

/* As hz_pg_exec; *unknown is set to 1 when the statement reached the server but no answer came
 * back (deadline passed or connection lost while waiting): a write may then have committed or not.
 * It is 0 whenever the outcome is known (including every server error: the statement failed).
 * With several members, a statement that was not sent because no member takes writes while they
 * all answer (a switchover's gap) is tried again every 100 ms for up to leader_wait_ms (0: never),
 * each attempt bounded by timeout_ms. */
hz_status hz_pg_exec_ex(PGconn **conn, const char *conninfo, const char *sql, int nparams,
                        const char *const *params, int timeout_ms, int leader_wait_ms, PGresult **res,
                        char *err, size_t errlen, int *unknown);

/* Ready-made probe for PostgreSQL: in recovery or read-only? (pg_is_in_recovery(),
 * transaction_read_only) over one persistent connection;
 * with several members, one in recovery is left for a new connection to the leader.
 * Use hz_checker_new(hz_pg_probe, hz_pg_new(conninfo), ...). */
typedef struct hz_pg hz_pg;
hz_pg *hz_pg_new(const char *conninfo);
void hz_pg_free(hz_pg *p);
hz_status hz_pg_probe(void *hz_pg_ctx, int timeout_ms, char *detail, size_t detail_len);

/* The member the probe's session is on (PQhost), or NULL while it has none. Only from the thread
 * that runs the probe, between probes. */
const char *hz_pg_host(const hz_pg *p);

#endif
