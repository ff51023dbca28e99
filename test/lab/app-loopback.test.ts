import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  APP_ENV_PATH,
  APP_INSTALL_PATH,
  APP_SOURCE_DIR,
  buildConninfo,
  renderAppUserData,
} from "../../provisioning/app";
import {
  AppProcess,
  APP_BINARY,
  freePort,
  LoopbackPostgres,
  REPO,
  sh,
  startApp,
} from "./support/appLoopback";
import { http, runAppScenario } from "./support/appScenario";
import { materializeWriteFiles } from "./support/writeFiles";

/**
 * The C service against real PostgreSQL on loopback: a primary and a streaming hot standby, one
 * app on each, then the DR scenario (hang, stop, promote). Root is needed to run postgres as the
 * postgres user and to signal its processes.
 */

const APP_DB = { database: "orders", user: "orders_app", password: `s3cret 'q"uo\\te$` };

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
    [{ LINODE_DR_REGION: "a b" }, /LINODE_DR_REGION="a b"/],
    [
      { LINODE_DR_DRAIN_FILE: "run/drain" },
      /LINODE_DR_DRAIN_FILE="run\/drain" is invalid: expected an absolute path of at most 255 bytes/,
    ],
    [{ LINODE_DR_DRAIN_FILE: `/${"d".repeat(255)}` }, /LINODE_DR_DRAIN_FILE="\/d+" is invalid/],
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const appEnvFor = (pg: LoopbackPostgres, extra: Record<string, string> = {}): Record<string, string> => ({
  LINODE_DR_DATABASE_URL: buildConninfo({
    host: "127.0.0.1",
    port: pg.port,
    name: APP_DB.database,
    user: APP_DB.user,
    password: APP_DB.password,
  }),
  LINODE_DR_DB_TIMEOUT_MS: "2000",
  LINODE_DR_HEALTH_CACHE_MS: "1000",
  LINODE_DR_THREADS: "4",
  LINODE_DR_REGION: pg.name,
  ...extra,
});

describe("linode-dr-app drain mode and hostile clients (loopback primary + standby)", () => {
  let primary: LoopbackPostgres | undefined;
  const apps: AppProcess[] = [];
  const tmp = mkdtempSync(path.join(tmpdir(), "ldr-app-drain-"));

  beforeAll(async () => {
    primary = await LoopbackPostgres.primary(APP_DB);
  });

  afterAll(async () => {
    for (const app of apps) await app.stop();
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
});

describe("linode-dr-app against a loopback primary and hot standby", () => {
  let primary: LoopbackPostgres | undefined;
  let standby: LoopbackPostgres | undefined;
  const apps: AppProcess[] = [];

  const appEnv = (pg: LoopbackPostgres): Record<string, string> => ({
    LINODE_DR_DATABASE_URL: buildConninfo({
      host: "127.0.0.1",
      port: pg.port,
      name: APP_DB.database,
      user: APP_DB.user,
      password: APP_DB.password,
    }),
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

  it("installs and starts from the rendered user data without systemd, idempotently", async () => {
    const p = primary!;
    const root = mkdtempSync(path.join(tmpdir(), "ldr-app-install-"));
    const port = await freePort();
    const userData = renderAppUserData({
      listenPort: port,
      region: "install-test",
      database: {
        host: "127.0.0.1",
        port: p.port,
        name: APP_DB.database,
        user: APP_DB.user,
        password: APP_DB.password,
      },
      dbTimeoutMs: 2000,
      healthCacheMs: 500,
    });
    materializeWriteFiles(userData, root);
    // The env file listens on 0.0.0.0; the test keeps to loopback.
    const envPath = path.join(root, APP_ENV_PATH);
    writeFileSync(
      envPath,
      readFileSync(envPath, "utf8").replace(
        'LINODE_DR_LISTEN_ADDR="0.0.0.0"',
        'LINODE_DR_LISTEN_ADDR="127.0.0.1"',
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
        let last = { status: 0, body: "" };
        for (let i = 0; i < 50 && last.status !== 200; i++) {
          last = await http(`http://127.0.0.1:${port}/healthz`).catch(() => ({ status: 0, body: "", ms: 0 }));
          if (last.status !== 200) await new Promise((res) => setTimeout(res, 200));
        }
        expect(last).toMatchObject({ status: 200, body: "OK\n" });
      }
      expect(pids[1]).not.toBe(pids[0]);
      expect(existsSync(`/proc/${pids[0]}`)).toBe(false);
      expect(readFileSync(path.join(root, "var/log/linode-dr-app.log"), "utf8")).toMatch(
        /event=start version=\S+ region=install-test/,
      );
    } finally {
      for (const pid of pids) {
        try {
          process.kill(pid, "SIGTERM");
        } catch {
          // already gone
        }
      }
      for (let i = 0; i < 50 && pids.some((pid) => existsSync(`/proc/${pid}`)); i++)
        await new Promise((res) => setTimeout(res, 100));
      rmSync(root, { recursive: true, force: true });
    }
  });
});
