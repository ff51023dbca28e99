import { setTimeout as sleep } from "node:timers/promises";
import { spawnSync } from "node:child_process";
import { connect, Socket } from "node:net";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  APP_DATABASE_CA_PATH,
  APP_ENV_PATH,
  APP_INSTALL_PATH,
  APP_SOURCE_DIR,
  renderAppUserData,
} from "../../provisioning/app";
import {
  AppProcess,
  APP_BINARY,
  freePort,
  LoopbackPostgres,
  loopbackConninfo,
  REPO,
  sh,
  startApp,
} from "../../lab/app/loopback";
import { http, runAppScenario } from "../../lab/app/healthScenario";
import { freshGet, rawRequest, SlowReaders, Slowloris } from "../../lab/app/rawHttp";
import { materializeRelease, materializeWriteFiles } from "../../lab/app/writeFiles";
import { fixtureHost } from "../../evaluation/fixtures/host";
import { makeServerPki } from "../../lab/tls";

/**
 * The C service against real PostgreSQL on loopback: a primary and a streaming hot standby, one
 * app on each, then the DR scenario (hang, stop, promote). Root is needed to run postgres as the
 * postgres user and to signal its processes.
 */

const APP_DB = { database: "orders", user: "orders_app", password: `s3cret:'q"uo\\te$` };
/** The name in the loopback member's certificate, which the installed service verifies. */
const MEMBER_NAME = "db-primary.loopback.example";

beforeAll(async () => {
  await sh(["make", "-C", path.join(REPO, "app"), "-s"]);
}, 300_000);

describe("linode-dr-app configuration", () => {
  it.each([
    [{ LINODE_DR_LISTEN_PORT: "80x" }, /LINODE_DR_LISTEN_PORT="80x" is invalid: expected a TCP port/],
    [{ LINODE_DR_LISTEN_PORT: "0" }, /LINODE_DR_LISTEN_PORT="0"/],
    [
      { LINODE_DR_DB_TIMEOUT_MS: "5" },
      /LINODE_DR_DB_TIMEOUT_MS="5" is invalid: expected milliseconds from 50/,
    ],
    [{ LINODE_DR_THREADS: "-1" }, /LINODE_DR_THREADS="-1"/],
    [
      { LINODE_DR_LEADER_WAIT_MS: "3s" },
      /LINODE_DR_LEADER_WAIT_MS="3s" is invalid: expected milliseconds from 0 to 60000/,
    ],
    [{ LINODE_DR_REGION: "a b" }, /LINODE_DR_REGION="a b"/],
    [
      { LINODE_DR_DRAIN_FILE: "run/drain" },
      /LINODE_DR_DRAIN_FILE="run\/drain" is invalid: expected an absolute path of at most 255 bytes/,
    ],
    [{ LINODE_DR_DRAIN_FILE: `/${"d".repeat(255)}` }, /LINODE_DR_DRAIN_FILE="\/d+" is invalid/],
    [
      { LINODE_DR_IDEMPOTENCY_TTL_HOURS: "0" },
      /LINODE_DR_IDEMPOTENCY_TTL_HOURS="0" is invalid: expected hours from 1 to 8760/,
    ],
    [
      { LINODE_DR_IDEMPOTENCY_PRUNE_INTERVAL_S: "1h" },
      /LINODE_DR_IDEMPOTENCY_PRUNE_INTERVAL_S="1h" is invalid: expected seconds from 1 to 86400/,
    ],
    [
      { LINODE_DR_DATABASE_URL: "" },
      /LINODE_DR_DATABASE_URL="" is invalid: expected a libpq connection string/,
    ],
    [
      { LINODE_DR_DATABASE_URL: "host='unterminated password=hunter2" },
      /LINODE_DR_DATABASE_URL="\(not shown\)"/,
    ],
    [
      { LINODE_DR_LISTEN_ADDR: "localhost" },
      /LINODE_DR_LISTEN_ADDR="localhost" is invalid: expected a numeric/,
    ],
  ] as Array<[Record<string, string>, RegExp]>)("exits 2 naming the variable for %j", (bad, message) => {
    const r = spawnSync(APP_BINARY, [], {
      env: { LINODE_DR_DATABASE_URL: "host=127.0.0.1 dbname=x", LINODE_DR_LISTEN_ADDR: "127.0.0.1", ...bad },
      encoding: "utf8",
      timeout: 10_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr + r.stdout).not.toContain("hunter2");
  });
});

interface PostResult {
  status: number;
  body: string;
  headers: Headers;
}

async function postOrder(url: string, body: string, key?: string, timeoutMs = 10_000): Promise<PostResult> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (key !== undefined) headers["idempotency-key"] = key;
  const res = await fetch(`${url}/orders`, {
    method: "POST",
    body,
    headers,
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

const idOf = (r: PostResult): number => (JSON.parse(r.body) as { id: number }).id;

const appEnvFor = (pg: LoopbackPostgres, extra: Record<string, string> = {}): Record<string, string> => ({
  LINODE_DR_DATABASE_URL: loopbackConninfo(pg.port, APP_DB),
  LINODE_DR_DB_TIMEOUT_MS: "2000",
  LINODE_DR_HEALTH_CACHE_MS: "1000",
  LINODE_DR_THREADS: "4",
  LINODE_DR_REGION: pg.name,
  ...extra,
});

describe("linode-dr-app drain mode, hostile clients, idempotent writes (loopback primary + standby)", () => {
  let primary: LoopbackPostgres | undefined;
  let standby: LoopbackPostgres | undefined;
  const apps: AppProcess[] = [];
  const tmp = mkdtempSync(path.join(tmpdir(), "ldr-app-drain-"));
  const countRows = async (pg: LoopbackPostgres, where: string) =>
    Number((await pg.psql(`SELECT count(*) FROM orders WHERE ${where}`, APP_DB.database)).trim());

  beforeAll(async () => {
    primary = await LoopbackPostgres.primary(APP_DB);
    standby = await LoopbackPostgres.standbyOf(primary);
  });

  afterAll(async () => {
    for (const app of apps) await app.stop();
    await primary?.resume();
    await standby?.destroy();
    await primary?.destroy();
    rmSync(tmp, { recursive: true, force: true });
  });

  it("drains: /healthz 503 'draining (db ok)' while the file exists, other endpoints keep working", async () => {
    const drainFile = path.join(tmp, "drain");
    writeFileSync(drainFile, "");
    // Started while the file exists: in drain mode from the first check.
    const app = await startApp(appEnvFor(primary!, { LINODE_DR_DRAIN_FILE: drainFile }));
    apps.push(app);
    expect(await http(`${app.url}/healthz`)).toMatchObject({ status: 503, body: "draining (db ok)\n" });
    const created = await http(`${app.url}/orders`, {
      method: "POST",
      body: '{"item":"drain","quantity":1}',
    });
    expect(created.status).toBe(201);
    const id = (JSON.parse(created.body) as { id: number }).id;
    expect((await http(`${app.url}/orders/${id}`)).status).toBe(200);
    expect((await http(`${app.url}/metrics`)).body).toMatch(/^linode_dr_app_draining 1$/m);

    unlinkSync(drainFile);
    const t0 = performance.now();
    let r = await http(`${app.url}/healthz`);
    while (r.status !== 200 && performance.now() - t0 < 3000) {
      await sleep(50);
      r = await http(`${app.url}/healthz`);
    }
    expect(r).toMatchObject({ status: 200, body: "OK\n" });
    expect(performance.now() - t0).toBeLessThan(1000);
    expect((await http(`${app.url}/metrics`)).body).toMatch(/^linode_dr_app_draining 0$/m);

    // The file's appearance shows within 1 s, and the reason carries the database verdict.
    writeFileSync(drainFile, "");
    const t1 = performance.now();
    r = await http(`${app.url}/healthz`);
    while (r.status === 200 && performance.now() - t1 < 3000) {
      await sleep(50);
      r = await http(`${app.url}/healthz`);
    }
    expect(performance.now() - t1).toBeLessThan(1000);
    expect(r).toMatchObject({ status: 503, body: "draining (db ok)\n" });
    await primary!.hang();
    try {
      let d = await http(`${app.url}/healthz`);
      const t2 = performance.now();
      while (d.body === "draining (db ok)\n" && performance.now() - t2 < 6000) {
        await sleep(100);
        d = await http(`${app.url}/healthz`);
      }
      expect(d).toMatchObject({ status: 503, body: "draining (db timeout)\n" });
    } finally {
      await primary!.resume();
    }
    unlinkSync(drainFile);
    expect(app.output()).toMatch(/event=drain_changed draining=1/);
    expect(await app.stop()).toBe(0);
  });

  it("answers protocol edges strictly and /orders errors in one JSON shape", async () => {
    const app = await startApp(appEnvFor(primary!));
    apps.push(app);
    const bareLf = await rawRequest(app.port, "GET /healthz HTTP/1.1\nHost: t\n\n", 5000);
    expect(bareLf.data).toMatch(/^HTTP\/1\.1 400 /);
    expect(bareLf.ms).toBeLessThan(1000); // at once, not the 10 s request timeout
    expect((await rawRequest(app.port, "GET /healthz HTTP/1.9\r\nHost: t\r\n\r\n")).data).toMatch(
      /^HTTP\/1\.1 505 /,
    );
    // HTTP/1.1 without Host is refused, except the health check: the NodeBalancer's check request
    // is not documented, and refusing it would take every node out of rotation.
    expect((await rawRequest(app.port, "GET /orders/1 HTTP/1.1\r\n\r\n")).data).toMatch(/^HTTP\/1\.1 400 /);
    expect((await rawRequest(app.port, "GET /healthz HTTP/1.1\r\n\r\n")).data).toMatch(/^HTTP\/1\.1 200 /);
    expect((await rawRequest(app.port, "GET /healthz HTTP/1.0\r\n\r\n")).data).toMatch(/^HTTP\/1\.1 200 /);
    const jsonError = /\r\nContent-Type: application\/json\r\n[\s\S]*\r\n\r\n\{"error":"[^"]+"\}\n$/;
    const longId = await rawRequest(
      app.port,
      `GET /orders/${"9".repeat(40)} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`,
    );
    expect(longId.data).toMatch(/^HTTP\/1\.1 404 /);
    expect(longId.data).toMatch(jsonError);
    const put = await rawRequest(
      app.port,
      "PUT /orders HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    expect(put.data).toMatch(/^HTTP\/1\.1 405 /);
    expect(put.data).toMatch(/\r\nAllow: POST\r\n/);
    expect(put.data).toMatch(jsonError);
    const chunked = await rawRequest(
      app.port,
      "POST /orders HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    expect(chunked.data).toMatch(/^HTTP\/1\.1 501 /);
    expect(chunked.data).toMatch(jsonError);
    const badKey = await postOrder(app.url, '{"item":"k","quantity":1}', "has space");
    expect(badKey.status).toBe(400);
    expect(JSON.parse(badKey.body)).toEqual({
      error: "Idempotency-Key: expected 1 to 255 visible ASCII characters",
    });
  });

  it("Idempotency-Key: a retry returns the original order, a different body is refused, one row each", async () => {
    const app = await startApp(appEnvFor(primary!));
    apps.push(app);
    const key = `key-${Date.now()}`;
    const first = await postOrder(app.url, '{"item":"idem-a","quantity":3}', key);
    expect(first.status).toBe(201);
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    const again = await postOrder(app.url, '{ "quantity": 3, "item": "idem-a" }', key);
    expect(again.status).toBe(201);
    expect(idOf(again)).toBe(idOf(first));
    expect(again.headers.get("location")).toBe(`/orders/${idOf(first)}`);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    const conflict = await postOrder(app.url, '{"item":"idem-a","quantity":4}', key);
    expect(conflict.status).toBe(422);
    expect(JSON.parse(conflict.body)).toEqual({
      error: `Idempotency-Key "${key}" was used with a different body (order ${idOf(first)})`,
    });
    expect(await countRows(primary!, "item = 'idem-a'")).toBe(1);

    // 20 concurrent requests with one new key: one order, every answer names it.
    const raceKey = `race-${Date.now()}`;
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => postOrder(app.url, '{"item":"idem-race","quantity":1}', raceKey)),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(201));
    expect(new Set(answers.map(idOf)).size).toBe(1);
    expect(await countRows(primary!, "item = 'idem-race'")).toBe(1);

    // Without a key nothing changes: two posts, two orders.
    expect((await postOrder(app.url, '{"item":"idem-none","quantity":1}')).status).toBe(201);
    expect((await postOrder(app.url, '{"item":"idem-none","quantity":1}')).status).toBe(201);
    expect(await countRows(primary!, "item = 'idem-none'")).toBe(2);
    expect((await http(`${app.url}/metrics`)).body).toMatch(
      /linode_dr_app_idempotent_requests_total\{outcome="replayed"\} (19|[2-9]\d)/,
    );
  });

  it("expired Idempotency-Keys are pruned by the service, fresh ones kept", async () => {
    const app = await startApp(
      appEnvFor(primary!, {
        LINODE_DR_IDEMPOTENCY_TTL_HOURS: "1",
        LINODE_DR_IDEMPOTENCY_PRUNE_INTERVAL_S: "1",
      }),
    );
    apps.push(app);
    const old = `old-${Date.now()}`;
    const fresh = `fresh-${Date.now()}`;
    expect((await postOrder(app.url, '{"item":"prune-old","quantity":1}', old)).status).toBe(201);
    expect((await postOrder(app.url, '{"item":"prune-fresh","quantity":1}', fresh)).status).toBe(201);
    await primary!.psql(
      `UPDATE idempotency_keys SET created_at = now() - interval '61 minutes' WHERE key = '${old}'`,
      APP_DB.database,
    );
    const keys = async () =>
      (
        await primary!.psql(
          `SELECT key FROM idempotency_keys WHERE key IN ('${old}', '${fresh}')`,
          APP_DB.database,
        )
      )
        .trim()
        .split("\n");
    let left = await keys();
    for (let i = 0; i < 40 && left.includes(old); i++) {
      await sleep(100);
      left = await keys();
    }
    expect(left).toEqual([fresh]);
    expect((await http(`${app.url}/metrics`)).body).toMatch(
      /^linode_dr_app_idempotency_keys_pruned_total [1-9]\d*$/m,
    );
  });

  it("a write whose outcome is unknown says so, and the retry with its key leaves one row", async () => {
    const app = await startApp(appEnvFor(primary!, { LINODE_DR_DB_TIMEOUT_MS: "1000" }));
    apps.push(app);
    // Warm the worker connections so the statement is sent before the database stops answering.
    for (let i = 0; i < 8; i++) await postOrder(app.url, '{"item":"warm","quantity":1}');
    const key = `unknown-${Date.now()}`;
    await primary!.hang();
    let first: PostResult;
    try {
      first = await postOrder(app.url, '{"item":"idem-unknown","quantity":1}', key);
    } finally {
      await primary!.resume();
    }
    expect(first.status).toBe(503);
    expect(first.headers.get("write-outcome")).toBe("unknown");
    expect(JSON.parse(first.body)).toEqual({ error: "outcome unknown", retry: "same Idempotency-Key" });
    let retry = await postOrder(app.url, '{"item":"idem-unknown","quantity":1}', key);
    for (let i = 0; i < 20 && retry.status !== 201; i++) {
      await sleep(250);
      retry = await postOrder(app.url, '{"item":"idem-unknown","quantity":1}', key);
    }
    expect(retry.status).toBe(201);
    expect(await countRows(primary!, "item = 'idem-unknown'")).toBe(1);
    expect(
      (
        await primary!.psql(`SELECT order_id FROM idempotency_keys WHERE key = '${key}'`, APP_DB.database)
      ).trim(),
    ).toBe(String(idOf(retry)));
  });

  it("a frozen database under 32 posting clients: /healthz says 503 db timeout within DB timeout + 1 s", async () => {
    const app = await startApp(appEnvFor(primary!, { LINODE_DR_THREADS: "4" }));
    apps.push(app);
    expect(await freshGet(app.port, "/healthz", 3000)).toMatchObject({ status: 200 });
    let posting = true;
    const posters = Array.from({ length: 32 }, async () => {
      while (posting)
        await postOrder(app.url, '{"item":"frozen","quantity":1}', undefined, 30_000).catch(() => undefined);
    });
    await sleep(500);
    await primary!.hang();
    const frozenAt = performance.now();
    const seen: Array<{ at: number; status: number; body: string; ms: number }> = [];
    try {
      while (performance.now() - frozenAt < 4500) {
        const r = await freshGet(app.port, "/healthz", 3000);
        seen.push({ at: performance.now() - frozenAt, ...r });
        if (r.status === 503) break;
        await sleep(100);
      }
    } finally {
      await primary!.resume();
      posting = false;
    }
    await Promise.all(posters);
    const first503 = seen.find((s) => s.status === 503);
    console.log(
      `[frozen] /healthz answers after SIGSTOP: ${JSON.stringify(seen.map((s) => [Math.round(s.at), s.status, Math.round(s.ms)]))}`,
    );
    expect(first503).toBeDefined();
    expect(first503!.body).toBe("db timeout\n");
    // DB timeout 2000 ms + one health period 1000 ms, plus this loop's 100 ms poll and the request.
    expect(first503!.at).toBeLessThan(3000 + 250);
    for (const s of seen) expect(s.ms).toBeLessThan(1000);
  });

  it("1,500 slowloris connections + 8 slow readers: a fresh /healthz is answered in time, truthfully", async () => {
    const app = await startApp(appEnvFor(primary!));
    apps.push(app);
    const loris = new Slowloris(app.port, 1500);
    const readers = new SlowReaders(app.port, 8, "/metrics", 400);
    const results: Array<{ status: number; body: string; ms: number }> = [];
    try {
      await loris.start();
      await readers.start();
      for (let i = 0; i < 10; i++) {
        const t0 = performance.now();
        results.push(await freshGet(app.port, "/healthz", 3000));
        await sleep(Math.max(0, 3000 - (performance.now() - t0)));
      }
    } finally {
      loris.stop();
      readers.stop();
    }
    console.log(
      `[attack] /healthz: ${JSON.stringify(results.map((r) => [r.status, Math.round(r.ms)]))} reconnects=${loris.reconnects}`,
    );
    const good = results.filter((r) => r.status === 200 && r.body === "OK\n" && r.ms < 1500);
    expect(good.length).toBeGreaterThanOrEqual(9);
    const metrics = await http(`${app.url}/metrics`);
    expect(metrics.body).toMatch(/^linode_dr_app_evicted_connections_total [1-9]\d*$/m);
    // The server is still well: a normal write succeeds after the attack.
    expect((await postOrder(app.url, '{"item":"after-attack","quantity":1}')).status).toBe(201);
  }, 90_000);

  it("out of file descriptors: the listener pauses, logs a bounded number of lines, and recovers", async () => {
    const app = await startApp(appEnvFor(primary!), APP_BINARY, ["prlimit", "--nofile=64:64", "--"]);
    apps.push(app);
    const socks = await Promise.all(
      Array.from(
        { length: 120 },
        () =>
          new Promise<Socket>((resolve) => {
            const s = connect({ host: "127.0.0.1", port: app.port }, () => resolve(s));
            s.on("error", () => resolve(s));
          }),
      ),
    );
    const pid = app.child.pid!;
    const cpu = () =>
      readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ").slice(11, 13).map(Number);
    const [u0, s0] = cpu();
    await sleep(3000);
    const [u1, s1] = cpu();
    const lines = app
      .output()
      .split("\n")
      .filter((l) => l.includes("event=accept_failed"));
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines.length).toBeLessThanOrEqual(2); // at most one per 10 s
    expect(lines[0]).toMatch(/errno=24 /);
    // Not spinning: under 30% of one core over 3 s (clock ticks of 10 ms).
    expect(u1 + s1 - (u0 + s0)).toBeLessThan(90);
    for (const s of socks) s.destroy();
    let r = await freshGet(app.port, "/healthz", 2000);
    for (let i = 0; i < 20 && r.status !== 200; i++) {
      await sleep(100);
      r = await freshGet(app.port, "/healthz", 2000);
    }
    expect(r).toMatchObject({ status: 200, body: "OK\n" });
    expect((await http(`${app.url}/metrics`)).body).toMatch(/^linode_dr_app_accept_errors_total [1-9]\d*$/m);
    expect(app.output()).toMatch(/event=fd_limit_low nofile=64 /);
  });

  it("a retry with the same Idempotency-Key after promoting the standby returns the original order", async () => {
    const p = primary!;
    const s = standby!;
    const appP = await startApp(appEnvFor(p));
    apps.push(appP);
    const key = `failover-${Date.now()}`;
    const first = await postOrder(appP.url, '{"item":"idem-failover","quantity":2}', key);
    expect(first.status).toBe(201);
    // Streaming replication carries the order and its key together.
    for (let i = 0; i < 50 && (await countRows(s, "item = 'idem-failover'")) === 0; i++) await sleep(100);
    await p.stop("fast"); // region A is cut
    await s.psql("SELECT pg_promote()");
    const appS = await startApp(appEnvFor(s));
    apps.push(appS);
    let retry = await postOrder(appS.url, '{"item":"idem-failover","quantity":2}', key);
    for (let i = 0; i < 40 && retry.status !== 201; i++) {
      await sleep(250);
      retry = await postOrder(appS.url, '{"item":"idem-failover","quantity":2}', key);
    }
    expect(retry.status).toBe(201);
    expect(idOf(retry)).toBe(idOf(first));
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(await countRows(s, "item = 'idem-failover'")).toBe(1);
    // The promoted region takes new keyed writes as usual.
    expect((await postOrder(appS.url, '{"item":"idem-after","quantity":1}', `${key}-2`)).status).toBe(201);
  });
});

describe("linode-dr-app against a loopback primary and hot standby", () => {
  let primary: LoopbackPostgres | undefined;
  let standby: LoopbackPostgres | undefined;
  const apps: AppProcess[] = [];

  const appEnv = (pg: LoopbackPostgres): Record<string, string> => ({
    LINODE_DR_DATABASE_URL: loopbackConninfo(pg.port, APP_DB),
    LINODE_DR_DB_TIMEOUT_MS: "2000",
    LINODE_DR_HEALTH_CACHE_MS: "1000",
    LINODE_DR_THREADS: "4",
    LINODE_DR_REGION: pg.name,
  });

  beforeAll(async () => {
    primary = await LoopbackPostgres.primary(APP_DB);
    standby = await LoopbackPostgres.standbyOf(primary);
  });

  afterAll(async () => {
    for (const app of apps) await app.stop();
    await standby?.destroy();
    await primary?.destroy();
  });

  it("answers /healthz within the check timeout through hang, stop and promotion", async () => {
    const p = primary!;
    const s = standby!;
    const appP = await startApp(appEnv(p));
    apps.push(appP);
    const appS = await startApp(appEnv(s));
    apps.push(appS);

    const report = await runAppScenario({
      primaryAppUrl: appP.url,
      standbyAppUrl: appS.url,
      hangPrimaryDb: () => p.hang(),
      resumePrimaryDb: () => p.resume(),
      stopPrimaryDb: () => p.stop("fast"),
      startPrimaryDb: () => p.start(),
      promoteStandby: async () => {
        await s.psql("SELECT pg_promote()");
      },
      checkTimeoutMs: 3000,
      log: (line) => console.log(`[scenario] ${line}`),
    });
    console.log(`[scenario] report ${JSON.stringify(report)}`);
    expect(report.hungHealthzMaxMs).toBeLessThan(3000);
    expect(report.stoppedHealthzMaxMs).toBeLessThan(3000);

    const metrics = await http(`${appP.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(/linode_dr_app_requests_total\{endpoint="healthz",code="503"\} [1-9]/);
    expect(metrics.body).toMatch(/linode_dr_app_requests_total\{endpoint="orders_create",code="201"\} [1-9]/);
    expect(metrics.body).toMatch(/linode_dr_app_errors_total\{kind="db_timeout"\} [1-9]/);
    expect(metrics.body).toMatch(/linode_dr_app_healthy\{region="primary"\} 1/);
    expect(metrics.body).toMatch(/linode_dr_app_db_query_duration_seconds_count\{query="health"\} [1-9]/);
    expect(appP.output()).toMatch(
      /event=health_changed region=primary from="OK" to="db (timeout|unreachable)"/,
    );
    expect(appP.output()).not.toContain(APP_DB.password);

    // Graceful stop: SIGTERM exits 0.
    expect(await appP.stop()).toBe(0);
    expect(await appS.stop()).toBe(0);
    expect(appP.output()).toMatch(/event=stopped rc=0/);
  });

  it("installs and starts from the release, configured by the rendered user data, without systemd, idempotently", async () => {
    const p = primary!;
    const root = mkdtempSync(path.join(tmpdir(), "ldr-app-install-"));
    // As / is on a host: the service user reads the database CAs under its etc/.
    chmodSync(root, 0o755);
    const port = await freePort();
    // As on Linode: the member serves TLS under its name, the app verifies it (verify-full) against
    // the CAs its user data carries and binds the password exchange to the channel.
    const pki = makeServerPki([MEMBER_NAME]);
    await p.enableTls(pki.server);
    const userData = renderAppUserData(
      {
        listenPort: port,
        region: "us-mia",
        database: {
          members: [{ serverName: MEMBER_NAME, address: "127.0.0.1" }],
          port: p.port,
          name: APP_DB.database,
          user: APP_DB.user,
          password: APP_DB.password,
          caCertPem: pki.caCertPem,
        },
        dbTimeoutMs: 2000,
        healthCacheMs: 500,
      },
      fixtureHost(),
    );
    materializeWriteFiles(userData, root);
    materializeRelease(root);
    // The env file listens on 0.0.0.0 and names the CA file under /etc; the test keeps to loopback
    // and to its own root.
    const envPath = path.join(root, APP_ENV_PATH);
    writeFileSync(
      envPath,
      readFileSync(envPath, "utf8")
        .replace('LINODE_DR_LISTEN_ADDR="0.0.0.0"', 'LINODE_DR_LISTEN_ADDR="127.0.0.1"')
        .replace(
          `sslrootcert='${APP_DATABASE_CA_PATH}'`,
          `sslrootcert='${path.join(root, APP_DATABASE_CA_PATH)}'`,
        ),
      { mode: 0o600 },
    );
    const env = {
      ...process.env,
      LINODE_DR_APP_SRC_DIR: path.join(root, APP_SOURCE_DIR),
      LINODE_DR_APP_ETC_DIR: path.join(root, "etc/linode-dr"),
      LINODE_DR_APP_BIN: path.join(root, "usr/local/bin/linode-dr-app"),
      LINODE_DR_APP_UNIT_DIR: path.join(root, "etc/systemd/system"),
      LINODE_DR_APP_RUN_DIR: path.join(root, "run"),
      LINODE_DR_APP_LOG: path.join(root, "var/log/linode-dr-app.log"),
      LINODE_DR_APP_USER: "nobody",
    };
    const pidFile = path.join(root, "run/app.pid");
    const script = path.join(root, APP_INSTALL_PATH);
    const pids: number[] = [];
    try {
      for (let round = 0; round < 2; round++) {
        const r = spawnSync(script, [], { env, encoding: "utf8", timeout: 240_000 });
        expect(r.status, r.stderr).toBe(0);
        expect(r.stderr).toMatch(/installed \S+linode-dr-app sha256=[0-9a-f]{64}/);
        expect(r.stderr).toMatch(/started linode-dr-app in the background pid=\d+/);
        const pid = Number(readFileSync(pidFile, "utf8").trim());
        pids.push(pid);
        expect(readFileSync(`/proc/${pid}/status`, "utf8")).toMatch(/^Uid:\s+65534\s/m);
        // The unit's LimitNOFILE applies without systemd too (the default 1024 would hit EMFILE).
        expect(readFileSync(`/proc/${pid}/limits`, "utf8")).toMatch(/^Max open files\s+4096\s+4096\s/m);
        let last = { status: 0, body: "" };
        for (let i = 0; i < 50 && last.status !== 200; i++) {
          last = await http(`http://127.0.0.1:${port}/healthz`).catch(() => ({ status: 0, body: "", ms: 0 }));
          if (last.status !== 200) await sleep(200);
        }
        expect(
          last,
          readFileSync(path.join(root, "var/log/linode-dr-app.log"), "utf8").slice(-1500),
        ).toMatchObject({
          status: 200,
          body: "OK\n",
        });
      }
      expect(pids[1]).not.toBe(pids[0]);
      expect(existsSync(`/proc/${pids[0]}`)).toBe(false);
      expect(readFileSync(path.join(root, "var/log/linode-dr-app.log"), "utf8")).toMatch(
        /event=start version=\S+ region=us-mia/,
      );
    } finally {
      for (const pid of pids) {
        try {
          process.kill(pid, "SIGTERM");
        } catch {
          // already gone
        }
      }
      for (let i = 0; i < 50 && pids.some((pid) => existsSync(`/proc/${pid}`)); i++) await sleep(100);
      rmSync(root, { recursive: true, force: true });
    }
  });
});
