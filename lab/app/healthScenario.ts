import { setTimeout as sleep } from "node:timers/promises";
import assert from "node:assert/strict";

/**
 * The C service's disaster-recovery contract, as one scenario that any environment can drive:
 * the loopback test passes callbacks that signal local PostgreSQL processes, and the lab passes
 * callbacks that act on its region hosts. Failures throw with a message saying what broke.
 */

export interface AppHealthTarget {
  /** Base URL of the app whose database is the primary, e.g. http://127.0.0.1:8080 */
  primaryAppUrl: string;
  /** Base URL of the app whose database is a streaming hot standby of that primary. */
  standbyAppUrl: string;
  /** SIGSTOP the primary's postmaster and all its backends (the database hangs, sockets stay open). */
  hangPrimaryDb(): Promise<void>;
  /** SIGCONT what hangPrimaryDb stopped. */
  resumePrimaryDb(): Promise<void>;
  /**
   * Absent where Patroni owns the database process (a stopped leader is Patroni's to restart, or
   * to replace by a failover); the stop phase is then skipped. app-loopback covers it on plain
   * PostgreSQL.
   */
  stopPrimaryDb?(): Promise<void>;
  startPrimaryDb?(): Promise<void>;
  /**
   * Set when each app is given both members (the program's apps): the standby's app then writes
   * through the primary, so it answers 200 naming the primary's member as a remote leader, and its
   * writes land on the primary. Absent: each app has only its own database (the standby's refuses).
   */
  bothMembers?: { primaryMember: string };
  /** The NodeBalancer's check timeout; every /healthz must answer within it. Default 3000. */
  checkTimeoutMs?: number;
  log?: (line: string) => void;
  /**
   * How requests reach the apps. Default: fetch from this process. Lab hosts are not reachable
   * from the machine's own network namespace, so the lab passes a client running inside one.
   */
  http?: HttpFunction;
}

export interface AppScenarioTarget extends AppHealthTarget {
  /** SELECT pg_promote() on the standby. */
  promoteStandby(): Promise<void>;
}

export interface HttpResult {
  status: number;
  body: string;
  ms: number;
}

export interface HttpRequestInit {
  method?: string;
  body?: string;
  timeoutMs?: number;
}

export type HttpFunction = (url: string, init?: HttpRequestInit) => Promise<HttpResult>;

export interface AppHealthReport {
  /** Slowest /healthz answer while the database hung / was stopped. */
  hungHealthzMaxMs: number;
  /** Absent when the stop phase was skipped. */
  stoppedHealthzMaxMs?: number;
  hungPostMs: number;
  /** From SIGSTOP until /healthz first said 503. */
  hangDetectedAfterMs: number;
  recoveredAfterResumeMs: number;
  recoveredAfterRestartMs?: number;
  /** The order written through the primary's app and read back through the standby's. */
  replicatedOrderId: number;
}

export interface AppScenarioReport extends AppHealthReport {
  standbyHealthyAfterPromoteMs: number;
}

export async function http(url: string, init: HttpRequestInit = {}): Promise<HttpResult> {
  const t0 = performance.now();
  const res = await fetch(url, {
    method: init.method ?? "GET",
    body: init.body,
    headers: init.body === undefined ? {} : { "content-type": "application/json" },
    signal: AbortSignal.timeout(init.timeoutMs ?? 10_000),
  });
  const body = await res.text();
  return { status: res.status, body, ms: performance.now() - t0 };
}

/** Polls until check(result) holds; every attempt must itself answer within maxMs. */
async function until(
  what: string,
  fetcher: () => Promise<HttpResult>,
  check: (r: HttpResult) => boolean,
  withinMs: number,
  maxMs: number,
): Promise<{ result: HttpResult; afterMs: number; slowestMs: number }> {
  const t0 = performance.now();
  let last: HttpResult | undefined;
  let slowest = 0;
  for (;;) {
    last = await fetcher();
    slowest = Math.max(slowest, last.ms);
    assert.ok(
      last.ms < maxMs,
      `${what}: a request took ${last.ms.toFixed(0)} ms (bound ${maxMs} ms); got ${last.status} ${last.body.trim()}`,
    );
    if (check(last)) return { result: last, afterMs: performance.now() - t0, slowestMs: slowest };
    if (performance.now() - t0 > withinMs) {
      assert.fail(
        `${what}: not reached within ${withinMs} ms; last answer ${last.status} "${last.body.trim()}"`,
      );
    }
    await sleep(200);
  }
}

/**
 * Everything short of promotion: the primary's app healthy, the standby's refusing (or, given both
 * members, writing through the primary), replicated reads, and bounded 503s while the primary's
 * database hangs and while it is stopped.
 */
export async function runAppHealthScenario(t: AppHealthTarget): Promise<AppHealthReport> {
  const bound = t.checkTimeoutMs ?? 3000;
  const log = t.log ?? (() => undefined);
  const request = t.http ?? http;
  const P = t.primaryAppUrl;
  const S = t.standbyAppUrl;
  const healthz = (base: string) => () => request(`${base}/healthz`, { timeoutMs: bound + 2000 });
  const post = (base: string, item: string) =>
    request(`${base}/orders`, {
      method: "POST",
      body: JSON.stringify({ item, quantity: 2 }),
      timeoutMs: bound + 2000,
    });

  const both = t.bothMembers;
  log(both ? "both apps healthy, writing through the primary" : "primary app healthy, standby app refuses");
  await until(
    "primary /healthz 200",
    healthz(P),
    (r) => r.status === 200 && r.body === (both ? `OK leader=${both.primaryMember} local\n` : "OK\n"),
    15_000,
    bound,
  );
  await until(
    both ? "standby /healthz 200 through the remote leader" : "standby /healthz 503 read-only",
    healthz(S),
    both
      ? (r) => r.status === 200 && r.body === `OK leader=${both.primaryMember} remote\n`
      : (r) => r.status === 503 && r.body === "db read-only (standby)\n",
    15_000,
    bound,
  );

  log(
    both
      ? "orders: write on both sides, through the primary's member; read back on both"
      : "orders: write on the primary, read it back on both sides, refused on the standby",
  );
  const created = await post(P, "scenario-widget");
  assert.equal(created.status, 201, `POST /orders on primary: ${created.status} ${created.body}`);
  const id = (JSON.parse(created.body) as { id: number }).id;
  assert.ok(Number.isInteger(id) && id > 0, `POST /orders returned ${created.body}`);
  const got = await request(`${P}/orders/${id}`);
  assert.equal(got.status, 200, `GET /orders/${id} on primary: ${got.body}`);
  assert.equal((JSON.parse(got.body) as { item: string }).item, "scenario-widget");
  await until(
    `standby GET /orders/${id} (replicated)`,
    () => request(`${S}/orders/${id}`),
    (r) => r.status === 200,
    15_000,
    bound,
  );
  if (both) {
    const remote = await post(S, "written-through-the-remote-leader");
    assert.equal(remote.status, 201, `POST /orders on the standby's app: ${remote.status} ${remote.body}`);
    const remoteId = (JSON.parse(remote.body) as { id: number }).id;
    const onPrimary = await request(`${P}/orders/${remoteId}`);
    assert.equal(onPrimary.status, 200, `the remote write, read on the primary: ${onPrimary.body}`);
  } else {
    const refused = await post(S, "must-not-land");
    assert.equal(refused.status, 503, `POST /orders on standby: ${refused.status} ${refused.body}`);
    assert.match(refused.body, /db read-only \(standby\)/);
  }
  const missing = await request(`${P}/orders/999999999`);
  assert.equal(missing.status, 404, `GET of a missing order: ${missing.status}`);

  log("database hangs (SIGSTOP): /healthz must still answer 503 within the bound");
  const report: Partial<AppHealthReport> = { replicatedOrderId: id };
  await t.hangPrimaryDb();
  try {
    const hung = await until(
      "primary /healthz 503 while hung",
      healthz(P),
      (r) => r.status === 503,
      10_000,
      bound,
    );
    assert.match(hung.result.body, /^db (timeout|unreachable)\n$/);
    report.hangDetectedAfterMs = hung.afterMs;
    // Several more checks while hung: each bounded, cached or not.
    let slowest = hung.slowestMs;
    for (let i = 0; i < 8; i++) {
      const r = await healthz(P)();
      assert.equal(r.status, 503, `healthz while hung: ${r.status} ${r.body}`);
      assert.ok(r.ms < bound, `healthz while hung took ${r.ms.toFixed(0)} ms`);
      slowest = Math.max(slowest, r.ms);
      await sleep(300);
    }
    report.hungHealthzMaxMs = slowest;
    const hp = await post(P, "during-hang");
    assert.equal(hp.status, 503, `POST while hung: ${hp.status} ${hp.body}`);
    assert.ok(hp.ms < bound, `POST while hung took ${hp.ms.toFixed(0)} ms`);
    report.hungPostMs = hp.ms;
  } finally {
    await t.resumePrimaryDb();
  }
  const back = await until(
    "primary /healthz 200 after SIGCONT",
    healthz(P),
    (r) => r.status === 200,
    15_000,
    bound,
  );
  report.recoveredAfterResumeMs = back.afterMs;

  if (!t.stopPrimaryDb || !t.startPrimaryDb) {
    log("database stop: skipped (Patroni owns the process)");
    return report as AppHealthReport;
  }
  const { stopPrimaryDb, startPrimaryDb } = t;
  log("database stopped: 503 db unreachable within the bound, 200 after restart");
  await stopPrimaryDb();
  try {
    const down = await until(
      "primary /healthz 503 while stopped",
      healthz(P),
      (r) => r.status === 503 && r.body === "db unreachable\n",
      10_000,
      bound,
    );
    report.stoppedHealthzMaxMs = down.slowestMs;
    const dp = await post(P, "while-down");
    assert.equal(dp.status, 503, `POST while stopped: ${dp.status} ${dp.body}`);
  } finally {
    await startPrimaryDb();
  }
  const restarted = await until(
    "primary /healthz 200 after restart",
    healthz(P),
    (r) => r.status === 200,
    20_000,
    bound,
  );
  report.recoveredAfterRestartMs = restarted.afterMs;
  const after = await post(P, "after-restart");
  assert.equal(after.status, 201, `POST after restart: ${after.status} ${after.body}`);

  return report as AppHealthReport;
}

/** The health scenario, then promotion: the standby's app turns healthy and takes writes. */
export async function runAppScenario(t: AppScenarioTarget): Promise<AppScenarioReport> {
  const report = await runAppHealthScenario(t);
  const bound = t.checkTimeoutMs ?? 3000;
  const log = t.log ?? (() => undefined);
  const request = t.http ?? http;
  const S = t.standbyAppUrl;
  log("promote the standby: its app turns healthy and takes writes");
  await t.promoteStandby();
  const promoted = await until(
    "standby /healthz 200 after pg_promote()",
    () => request(`${S}/healthz`, { timeoutMs: bound + 2000 }),
    (r) => r.status === 200,
    20_000,
    bound,
  );

  const onDr = await request(`${S}/orders`, {
    method: "POST",
    body: JSON.stringify({ item: "written-in-dr", quantity: 2 }),
    timeoutMs: bound + 2000,
  });
  assert.equal(onDr.status, 201, `POST on the promoted side: ${onDr.status} ${onDr.body}`);

  return { ...report, standbyHealthyAfterPromoteMs: promoted.afterMs };
}
