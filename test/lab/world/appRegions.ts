import { setTimeout as sleep } from "node:timers/promises";
import { expect, it } from "vitest";
import { runAppHealthScenario, type HttpResult } from "../../../lab/app/healthScenario";
import {
  APP_BINARY_PATH,
  APP_LOG_FILE,
  appPid,
  CLOUD_INIT_OUTPUT,
  installedSha256s,
} from "../../../lab/app/hosts";
import { app, database, processFreeze, regionCut, type Injected } from "../../../lab/faults";
import { requestFrom } from "../../../lab/hosts/curl";
import type { LabHttpClient } from "../../../lab/httpClient";
import { runOrThrow, waitFor } from "../../../lab/process";
import type { Member, World } from "../../../lab/world/world";
import { databaseServerName } from "../../../stacks/names";
import { log } from "./harness";

/**
 * The C service in both regions, as the program's user data installs it, seen from the third site
 * where users and the NodeBalancers' checks come from: the health check tells the truth about the
 * database behind it, through a hang and through a failover by quorum.
 */

/** Each region's member as the apps name it (this region's first in their connection string). */
const memberName = (world: World, member: Member): string =>
  databaseServerName(member, world.drConfig.appName, world.drConfig.domain);
/** Poll period for the failover measurement: fine enough that it adds at most 0.1 s to the figure. */
const POLL_MS = 100;

/** What a region's NodeBalancer checks, as the program declared it: its first node and the check. */
function balancerCheck(world: World, member: Member): { base: string; path: string; timeoutMs: number } {
  const config = world.balancers.get(world.regionOf(member) as "A" | "B")!.model.configs[0];
  const node = config.nodes.find((n) => n.label.endsWith("-0")) ?? config.nodes[0];
  return {
    base: `http://${node.address}:${node.port}`,
    path: config.checkPath,
    timeoutMs: config.checkTimeout * 1000,
  };
}

export function appRegionSpecs(world: () => World, client: () => LabHttpClient): void {
  const http = (
    url: string,
    init?: { timeoutMs?: number; method?: string; body?: string },
  ): Promise<HttpResult> => client().request(url, init);

  it("sends requests only to documentation-range addresses, from the users' site", async () => {
    // Loopback is outside the lab's address plan; the relay must refuse it before connecting.
    const refused = await client().tryRequest("http://127.0.0.1:9/healthz");
    expect(refused).toMatchObject({ error: expect.stringMatching(/outside the documentation ranges/) });
    // The relay lives in the client's network namespace, outside both regions.
    const netns = await runOrThrow(["ip", "netns", "identify", String(client().pid)]);
    expect(netns.stdout.trim()).toBe(world().client.netns);
    expect(world().regionOf("witness")).toBe(world().client.region);
  });

  it("both regions built the service inside the host from the release and run the same binary", async () => {
    const shas: string[] = [];
    for (const site of ["primary", "dr"] as const) {
      const host = world().hostOf(app(site, 0));
      const text = await host.readFile(CLOUD_INIT_OUTPUT);
      // Compiled on the host from the release's sources, not copied from this machine.
      expect(text).toMatch(/linode-dr-app-install: building from \/opt\/linode-dr\/current\/app$/m);
      expect(text).toMatch(/started linode-dr-app in the background pid=\d+ \(no systemd\)/);
      const logged = installedSha256s(text);
      expect(logged, `install log of ${host.name}`).toHaveLength(1);
      const onDisk = await host.execOrThrow(["sha256sum", APP_BINARY_PATH]);
      expect(onDisk.stdout.split(" ")[0]).toBe(logged[0]);
      const pid = await appPid(host);
      expect(text).toContain(`pid=${pid} `);
      // Runs as the unprivileged service user the script creates, as the systemd unit would.
      const status = await host.execOrThrow(["cat", `/proc/${pid}/status`]);
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status.stdout)?.[1]);
      expect(uid).toBeGreaterThan(0);
      expect((await host.execOrThrow(["id", "-u", "linode-dr-app"])).stdout.trim()).toBe(String(uid));
      shas.push(logged[0]);
    }
    expect(shas[1]).toBe(shas[0]);
    expect(await world().hostOf(app("primary", 0)).readFile(APP_LOG_FILE)).toMatch(
      /event=start version=\S+ region=us-ord /,
    );
    expect(await world().hostOf(app("dr", 0)).readFile(APP_LOG_FILE)).toMatch(
      /event=start version=\S+ region=us-sea /,
    );
  });

  it("answers the NodeBalancer's checks across regions: both write through the leader, the standby's region remotely; a hung database gives 503 in time", async () => {
    const primary = balancerCheck(world(), "primary");
    const dr = balancerCheck(world(), "dr");
    // The figure every answer is held to is the program's, not a constant of this test.
    expect(primary.timeoutMs).toBe(3000);
    expect(dr.timeoutMs).toBe(primary.timeoutMs);
    expect(dr.path).toBe("/healthz");
    const db = world().database("primary");
    let frozen: Injected | undefined;
    const report = await runAppHealthScenario({
      primaryAppUrl: primary.base,
      standbyAppUrl: dr.base,
      bothMembers: { primaryMember: memberName(world(), "primary") },
      // In Patroni's maintenance mode: this is the app's scenario, not a failover.
      hangPrimaryDb: async () => {
        await db.pause();
        frozen = await processFreeze(database("primary"), "postgres").inject(world());
      },
      resumePrimaryDb: async () => {
        await frozen?.heal();
        await db.unpause();
      },
      checkTimeoutMs: primary.timeoutMs,
      http,
      log: (line) => log(`health: ${line}`),
    });
    log(`health report ${JSON.stringify(report)}`);
    expect(report.hungHealthzMaxMs).toBeLessThan(primary.timeoutMs);
    const metrics = await http(`${primary.base}/metrics`);
    expect(metrics.body).toMatch(/linode_dr_app_errors_total\{kind="db_timeout"\} [1-9]/);
    expect(await world().hostOf(app("primary", 0)).readFile(APP_LOG_FILE)).toMatch(
      /event=health_changed region=us-ord from="OK" to="db (timeout|unreachable)"/,
    );
  });

  it("fails over by quorum when region A is cut: B leads on its own, A fences itself and stores nothing, the flag finds B leading, a keyed retry gets the original order", async () => {
    const primary = balancerCheck(world(), "primary");
    const dr = balancerCheck(world(), "dr");
    const bound = dr.timeoutMs;
    const retryKey = `failover-retry-${Date.now()}`;
    const created = await client().request(`${primary.base}/orders`, {
      method: "POST",
      body: JSON.stringify({ item: "written-before-the-cut", quantity: 1 }),
      headers: { "idempotency-key": retryKey },
    });
    expect(created.status, created.body).toBe(201);
    const lastOrder = (JSON.parse(created.body) as { id: number }).id;
    await waitFor(
      `order ${lastOrder} replicated to region B`,
      async () => ((await http(`${dr.base}/orders/${lastOrder}`)).status === 200 ? true : undefined),
      15_000,
    );
    const [nameA, nameB] = [memberName(world(), "primary"), memberName(world(), "dr")];
    // B's apps write through A's member while it leads.
    expect(
      `${(await http(`${dr.base}${dr.path}`)).status} ${(await http(`${dr.base}${dr.path}`)).body}`,
    ).toBe(`200 OK leader=${nameA} remote\n`);

    const cutAt = performance.now();
    const cut = await regionCut("primary").inject(world());
    try {
      // Region A seen from inside (the cut hides it from users): its database must fence itself and
      // its app's check turn red, so its NodeBalancer stops serving.
      const inA = world().hostOf(app("primary", 0));
      const fenced = waitFor(
        "region A's app to report its fenced database",
        async () =>
          (await requestFrom(inA, `${primary.base}${primary.path}`)).status === 503
            ? performance.now()
            : undefined,
        60_000,
        POLL_MS,
      );
      // B and the witness are a majority: Patroni promotes B before anyone runs the flag's command.
      const before = new Map<string, number>();
      let healthyAt: number | undefined;
      let lastNamedA = cutAt;
      for (let polls = 1; healthyAt === undefined; polls++) {
        const answer = await http(`${dr.base}${dr.path}`, { timeoutMs: bound + 2000 });
        expect(answer.ms, `a check took ${answer.ms.toFixed(0)} ms`).toBeLessThan(bound);
        const said = `${answer.status} ${answer.body.trim()}`;
        if (said === `200 OK leader=${nameB} local`) healthyAt = performance.now();
        else {
          if (said === `200 OK leader=${nameA} remote`) lastNamedA = performance.now();
          before.set(said, (before.get(said) ?? 0) + 1);
        }
        expect(performance.now() - cutAt, JSON.stringify([...before])).toBeLessThan(60_000);
        await sleep(Math.max(0, cutAt + polls * POLL_MS - performance.now()));
      }
      // Automatic failover at the defaults: B takes writes within 15 s of the cut, its app reports
      // it at most one 1 s health-cache period later. Before, it said A led only while its last
      // verdict was younger than a period and a probe's bound (A's member then stopped answering),
      // and then that no leader was reachable: its own member a standby, A's silent.
      expect(healthyAt - cutAt).toBeLessThan(15_000 + 1000 + POLL_MS);
      const healthCacheMs = 1000;
      expect(lastNamedA - cutAt).toBeLessThan(healthCacheMs + dr.timeoutMs / 2 + 2 * POLL_MS);
      for (const said of before.keys())
        expect(said).toMatch(
          new RegExp(
            `^(503 db (timeout|read-only \\(standby\\)|unreachable)|200 OK leader=${nameA.replace(/\./g, "\\.")} remote)$`,
          ),
        );

      const redAt = await fenced;
      expect(redAt - cutAt).toBeLessThan(world().drConfig.leadership.ttlSeconds * 1000 + 1000 + bound);
      const write = await requestFrom(inA, `${primary.base}/orders`, {
        method: "POST",
        json: { item: "written-in-fenced-region", quantity: 1 },
      });
      expect(write.status, write.body).toBe(503);
      expect(
        await world()
          .database("dr")
          .psql("SELECT count(*) FROM orders WHERE item = 'written-in-fenced-region'", world().appDatabase),
      ).toBe("0");

      // The flag: `failover true` runs the leader command, which finds B leading and does nothing.
      const flag = await world().runLeaderCommand({ failover: "true" });
      expect(flag.code, flag.stdout + flag.stderr).toBe(0);
      expect(flag.stdout).toMatch(/^found: leader=dr /m);
      expect(flag.stdout).toMatch(/^(nothing to do|done): dr is the leader and accepts writes$/m);

      // The client's retry of the write it sent to region A, now against region B: the key
      // replicated with the order, so it gets the original answer, not a duplicate.
      const retried = await client().request(`${dr.base}/orders`, {
        method: "POST",
        body: JSON.stringify({ item: "written-before-the-cut", quantity: 1 }),
        headers: { "idempotency-key": retryKey },
      });
      expect(`${retried.status} ${retried.body}`).toBe(`201 {"id":${lastOrder}}\n`);
      expect(retried.headers["idempotent-replayed"]).toBe("true");
      expect((await http(`${dr.base}/metrics`)).body).toMatch(/linode_dr_app_healthy\{region="us-sea"\} 1/);
      log(
        `failover by quorum: B healthy ${(healthyAt - cutAt).toFixed(0)} ms after the cut, A red after ${(redAt - cutAt).toFixed(0)} ms`,
      );
    } finally {
      // Leave the world as the runbook would: the flag applied, region A back as a replica.
      await world().setFailover(true, {}, log);
      await cut.heal();
    }
    await waitFor(
      "region A to rejoin as a replica of B",
      async () =>
        (await world()
          .database("dr")
          .psql(
            "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'primary' AND state = 'streaming'",
          )) === "1"
          ? true
          : undefined,
      240_000,
      500,
    );
  });
}
