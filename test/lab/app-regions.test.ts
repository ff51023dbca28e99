import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { APP_BINARY_PATH, APP_LOG_FILE, installedSha256s } from "../../lab/app/hosts";
import { runOrThrow, sleep } from "../../lab/process";
import { appRegionsProgram, AppRegionsLab, type AppRegionsProgram } from "../../lab/app/regions";
import { runAppHealthScenario, type HttpResult } from "../../lab/app/healthScenario";

/**
 * Issue 4: the C service on the project's lab hosts against real PostgreSQL, in both regions.
 * Everything on the hosts comes from the Pulumi program's user data (databases streaming over TLS,
 * app hosts compiling the embedded sources with the real install script under cloud-init), and
 * every HTTP request leaves from a witness host outside both regions, hitting the node address and
 * check path the program gives its NodeBalancers.
 */

const LAB_NAME = "appregions";
/** Poll period for the failover measurement: fine enough that it adds at most 0.1 s to the figure. */
const FAILOVER_POLL_MS = 100;
const READ_ONLY = "db read-only (standby)\n";

let program: AppRegionsProgram;
let regions: AppRegionsLab | undefined;
let installLogs: { appA: string; appB: string };
let scenarioOrderId: number | undefined;

const log = (line: string) => console.log(`[app-regions] ${line}`);

function lab(): AppRegionsLab {
  if (!regions) throw new Error("the lab was not built; see beforeAll's error");
  return regions;
}

async function createOrder(baseUrl: string, item: string, idempotencyKey?: string): Promise<number> {
  const created = await lab().client.request(`${baseUrl}/orders`, {
    method: "POST",
    body: JSON.stringify({ item, quantity: 1 }),
    ...(idempotencyKey ? { headers: { "idempotency-key": idempotencyKey } } : {}),
  });
  expect(created.status, `POST ${baseUrl}/orders: ${created.body}`).toBe(201);
  const id = (JSON.parse(created.body) as { id: number }).id;
  expect(Number.isInteger(id) && id > 0, created.body).toBe(true);
  return id;
}

interface HealthyAt {
  /** performance.now() when the first 200 arrived. */
  at: number;
  polls: number;
  slowestMs: number;
  /** Every non-200 answer seen before it, with how often. */
  before: Map<string, number>;
}

/**
 * Polls /healthz on a fixed 100 ms schedule from `start` until it answers 200, as a user or the
 * NodeBalancer's next check would see it. Every answer must arrive within the check timeout.
 */
async function pollUntilHealthy(
  url: string,
  start: number,
  boundMs: number,
  giveUpMs: number,
  abandoned: () => boolean,
): Promise<HealthyAt> {
  const before = new Map<string, number>();
  let slowestMs = 0;
  for (let polls = 1; ; polls++) {
    const answer: HttpResult = await lab().http(url, { timeoutMs: boundMs + 2000 });
    slowestMs = Math.max(slowestMs, answer.ms);
    if (answer.ms >= boundMs) {
      throw new Error(
        `${url} took ${answer.ms.toFixed(0)} ms (check timeout ${boundMs} ms): ${answer.status}`,
      );
    }
    if (answer.status === 200) return { at: performance.now(), polls, slowestMs, before };
    const key = `${answer.status} ${answer.body.trim()}`;
    before.set(key, (before.get(key) ?? 0) + 1);
    const now = performance.now();
    if (abandoned()) throw new Error(`${url}: polling abandoned after ${polls} answers`);
    if (now - start > giveUpMs) {
      throw new Error(
        `${url} not healthy ${giveUpMs} ms after the cut; answers: ${JSON.stringify([...before])}`,
      );
    }
    await sleep(Math.max(0, start + polls * FAILOVER_POLL_MS - now));
  }
}

beforeAll(async () => {
  const t0 = performance.now();
  program = await appRegionsProgram();
  regions = await AppRegionsLab.create(LAB_NAME, program);
  installLogs = await regions.provisionAll();
  await regions.waitForStreaming();
  log(
    `lab built and provisioned from the program's user data in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
});

afterAll(async () => {
  const current = regions;
  regions = undefined;
  if (!current) return;
  const { appsStoppedGracefully } = await current.destroy();
  log(`apps stopped (SIGTERM honoured): ${JSON.stringify(Object.fromEntries(appsStoppedGracefully))}`);
});

describe("linode-dr-app in regions A and B on lab hosts, provisioned by the program's user data", () => {
  it("sends requests only to documentation-range addresses, from the witness host", async () => {
    // Loopback is outside the lab's address plan; the relay must refuse it before connecting.
    const refused = await lab().client.tryRequest("http://127.0.0.1:9/healthz");
    expect(refused).toMatchObject({ error: expect.stringMatching(/outside the documentation ranges/) });
    // The relay lives in the witness's network namespace, outside both regions.
    const netns = await runOrThrow(["ip", "netns", "identify", String(lab().client.pid)]);
    expect(netns.stdout.trim()).toBe(lab().witness.netns);
    expect(lab().witness.address).toBe("192.0.2.10");
  });

  it("both regions built the service inside the host and run the same binary", async () => {
    const { appA, appB } = lab();
    for (const [host, text] of [
      [appA, installLogs.appA],
      [appB, installLogs.appB],
    ] as const) {
      // Compiled on the host from the sources cloud-init wrote, not copied from this machine.
      expect(text).toMatch(/linode-dr-app-install: building from \/opt\/linode-dr\/current\/app$/m);
      expect(text).toMatch(/started linode-dr-app in the background pid=\d+ \(no systemd\)/);
      const logged = installedSha256s(text);
      expect(logged, `install log of ${host.name}`).toHaveLength(1);
      const onDisk = await host.execOrThrow(["sha256sum", APP_BINARY_PATH]);
      expect(onDisk.stdout.split(" ")[0]).toBe(logged[0]);
      const pid = lab().pidOfApp(host);
      expect(text).toContain(`pid=${pid} `);
      // Runs as the unprivileged service user the script creates, as the systemd unit would.
      const status = await host.execOrThrow(["cat", `/proc/${pid}/status`]);
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status.stdout)?.[1]);
      expect(uid).toBeGreaterThan(0);
      expect((await host.execOrThrow(["id", "-u", "linode-dr-app"])).stdout.trim()).toBe(String(uid));
    }
    const [shaA] = installedSha256s(installLogs.appA);
    const [shaB] = installedSha256s(installLogs.appB);
    log(`binary sha256: region A ${shaA}, region B ${shaB}`);
    expect(shaB).toBe(shaA);
    expect(await appA.readFile(APP_LOG_FILE)).toMatch(/event=start version=\S+ region=us-ord /);
    expect(await appB.readFile(APP_LOG_FILE)).toMatch(/event=start version=\S+ region=us-sea /);
  });

  it("answers the NodeBalancer's checks across regions: the standby refuses, a hung database gives 503 in time", async () => {
    const regions = lab();
    // The figure the scenario holds every answer to is the program's, not a constant of this test.
    expect(program.primaryCheck.checkTimeoutMs).toBe(3000);
    expect(program.drCheck.checkTimeoutMs).toBe(program.primaryCheck.checkTimeoutMs);
    expect(program.drCheck.checkPath).toBe("/healthz");
    const report = await runAppHealthScenario({
      primaryAppUrl: regions.appUrl("primary"),
      standbyAppUrl: regions.appUrl("dr"),
      // In Patroni's maintenance mode: this is the app's scenario, not a failover.
      hangPrimaryDb: async () => {
        await regions.dbA.pause();
        const pids = await regions.dbA.hang();
        log(`SIGSTOP postgres pids ${pids.join(" ")} on ${regions.pgA.name} (Patroni paused)`);
      },
      resumePrimaryDb: async () => {
        await regions.dbA.resume();
        await regions.dbA.unpause();
      },
      checkTimeoutMs: program.primaryCheck.checkTimeoutMs,
      http: regions.http,
      log: (line) => log(`scenario: ${line}`),
    });
    log(`scenario report ${JSON.stringify(report)}`);
    scenarioOrderId = report.replicatedOrderId;
    expect(report.hungHealthzMaxMs).toBeLessThan(program.primaryCheck.checkTimeoutMs);

    const metrics = await regions.http(`${regions.appUrl("primary")}/metrics`);
    expect(metrics.body).toMatch(/linode_dr_app_errors_total\{kind="db_timeout"\} [1-9]/);
    expect(await regions.appA.readFile(APP_LOG_FILE)).toMatch(
      /event=health_changed region=us-ord from="OK" to="db (timeout|unreachable)"/,
    );
  });

  it("fails over by quorum when region A is cut: B leads on its own, A fences itself, the flag's command finds B leading", async () => {
    const regions = lab();
    const bound = program.drCheck.checkTimeoutMs;
    const primaryUrl = regions.appUrl("primary");
    const drUrl = regions.appUrl("dr");
    // The scenario restarted the primary; the replica must be streaming again before the disaster.
    await regions.waitForStreaming();
    // Written with a key: a client that never saw the answer will retry it after the failover.
    const retryKey = `failover-retry-${Date.now()}`;
    const lastOrder = await createOrder(primaryUrl, "written-before-the-cut", retryKey);
    let replicated = await lab().http(`${drUrl}/orders/${lastOrder}`);
    for (
      const deadline = performance.now() + 15_000;
      replicated.status !== 200 && performance.now() < deadline;
    ) {
      await sleep(100);
      replicated = await lab().http(`${drUrl}/orders/${lastOrder}`);
    }
    expect(replicated.status, `order ${lastOrder} on the DR app before the cut: ${replicated.body}`).toBe(
      200,
    );
    const before = await lab().http(regions.checkUrl("dr"));
    expect(`${before.status} ${before.body}`).toBe(`503 ${READ_ONLY}`);

    let promotionFailed = false;
    const cutAt = performance.now();
    await regions.lab.cutRegion("A");
    // Region A's own view, from inside the cut region: its database must fence itself (demote when
    // it cannot renew its lease) and its app's check turn red, so its NodeBalancer stops serving.
    const fenced = regions.waitForRegionARed(cutAt, 60_000);
    // Polling starts with the cut: B and the witness are a majority, so Patroni promotes B on its
    // own, before anyone runs the flag's command.
    const polling = pollUntilHealthy(
      regions.checkUrl("dr"),
      cutAt,
      bound,
      60_000,
      () => promotionFailed,
    ).then(
      (value) => ({ value }),
      (error: Error) => ({ error }),
    );
    const healthy = await polling;
    if ("error" in healthy) throw healthy.error;
    // The flag: `failover true` runs the leader command, which finds B leading and does nothing.
    const promoteAt = performance.now();
    const promotion = await regions
      .runPromotion()
      .catch((error: Error) => ({ code: -1, stdout: "", stderr: error.message }));
    const promoteDone = performance.now();
    promotionFailed = promotion.code !== 0;
    expect(promotion.code, promotion.stdout + promotion.stderr).toBe(0);
    expect(promotion.stdout).toMatch(/^found: leader=dr /m);
    expect(promotion.stdout).toMatch(/^(nothing to do|done): dr is the leader and accepts writes$/m);
    const red = await fenced;
    const ttlMs = 10_000;
    // Fenced within the lease after the cut, and red within one health-cache period after that.
    expect(red.redAfterMs).toBeLessThan(ttlMs + 1000 + bound);
    expect(red.writeAnswer).toMatch(/^503 /);
    // Refused, not lost: it is nowhere, and never will be (the fenced region is rewound on return).
    expect(
      await regions.dbB.psql("SELECT count(*) FROM orders WHERE item = 'written-in-fenced-region'", "app"),
    ).toBe("0");

    const cutToHealthyMs = healthy.value.at - cutAt;
    const promoteToHealthyMs = healthy.value.at - promoteAt;
    const promotedToHealthyMs = healthy.value.at - promoteDone;
    // Automatic failover at the defaults: B takes writes within 15 s of the cut (its app reports
    // it at most one 1 s health-cache period later).
    expect(cutToHealthyMs).toBeLessThan(15_000 + 1000 + FAILOVER_POLL_MS);
    // The app reuses a /healthz verdict for LINODE_DR_HEALTH_CACHE_MS, so a "standby" verdict taken
    // just before promotion finished may be served that much longer, but no longer than that.
    // Until promotion the DR app said "standby" and nothing else: never unreachable or timed out,
    // although its region lost the primary it was streaming from.
    expect([...healthy.value.before.keys()]).toEqual([`503 ${READ_ONLY.trim()}`]);

    // The cut is real for users too: region A's app is out of reach from the witness.
    const isolated = await regions.client.tryRequest(`${primaryUrl}/healthz`, { timeoutMs: 1000 });
    expect("error" in isolated, JSON.stringify(isolated)).toBe(true);

    // The client's retry of the write it sent to region A, now against the promoted region: the
    // key replicated with the order, so it gets the original answer, not a duplicate.
    const retried = await lab().client.request(`${drUrl}/orders`, {
      method: "POST",
      body: JSON.stringify({ item: "written-before-the-cut", quantity: 1 }),
      headers: { "idempotency-key": retryKey },
    });
    expect(`${retried.status} ${retried.body}`).toBe(`201 {"id":${lastOrder}}\n`);
    expect(retried.headers["idempotent-replayed"]).toBe("true");

    const written = await createOrder(drUrl, "written-after-failover");
    expect((await lab().http(`${drUrl}/orders/${written}`)).status).toBe(200);
    for (const id of [scenarioOrderId, lastOrder]) {
      if (id === undefined) continue;
      const kept = await lab().http(`${drUrl}/orders/${id}`);
      expect(kept.status, `order ${id} written in region A, read in region B after failover`).toBe(200);
    }
    const metrics = await lab().http(`${drUrl}/metrics`);
    expect(metrics.body).toMatch(/linode_dr_app_healthy\{region="us-sea"\} 1/);

    log(
      [
        "failover report",
        `  cut -> DR /healthz 200 (automatic failover by quorum): ${cutToHealthyMs.toFixed(0)} ms`,
        `  cut -> region A's /healthz red (fenced): ${red.redAfterMs.toFixed(0)} ms; a write in A then: ${red.writeAnswer}`,
        `  flag: ${String(program.promotion.inputs.create)} over SSH (pinned host key) on ${String((program.promotion.inputs.connection as { host: string }).host)}: ${(promoteDone - promoteAt).toFixed(0)} ms (${promoteToHealthyMs.toFixed(0)} / ${promotedToHealthyMs.toFixed(0)} ms relative to DR healthy)`,
        `  polls: ${healthy.value.polls} every ${FAILOVER_POLL_MS} ms, slowest answer ${healthy.value.slowestMs.toFixed(1)} ms, before 200: ${JSON.stringify(Object.fromEntries(healthy.value.before))}`,
        `  after failover: POST /orders 201 (id ${written}), orders ${scenarioOrderId} and ${lastOrder} from region A readable`,
      ].join("\n"),
    );
  });
});
