import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http } from "../../lab/app/healthScenario";
import { type AppProcess, LoopbackPostgres, REPO, sh, startApp } from "../../lab/app/loopback";
import { waitFor } from "../../lab/process";

/**
 * The C service given both database members (libpq multi-host, target_session_attrs=read-write),
 * against real PostgreSQL on loopback: region A's app lists its own member first, region B's app
 * its own (the standby) first. Writes reach whichever member leads; a demoted member's session is
 * left for the leader without a failed write; with no member writable, nothing is stored and both
 * say 503. Demotion is emulated by making a server read-only (what a demoted member answers: SQLSTATE
 * 25006 to a write, "read-only" to target_session_attrs); Patroni's restart of a demoted server is
 * the broken-connection path the single-member tests cover.
 */

const APP_DB = { database: "orders", user: "orders_app", password: "members-secret" };
const NAME_A = "db-primary.app.lab.example";
const NAME_B = "db-dr.app.lab.example";

function membersConninfo(
  first: { name: string; pg: LoopbackPostgres },
  second: { name: string; pg: LoopbackPostgres },
) {
  return [
    `host=${first.name},${second.name}`,
    "hostaddr=127.0.0.1,127.0.0.1",
    `port=${first.pg.port},${second.pg.port}`,
    `dbname=${APP_DB.database} user=${APP_DB.user} password=${APP_DB.password}`,
    "target_session_attrs=read-write",
  ].join(" ");
}

async function order(app: AppProcess, item: string) {
  const t0 = performance.now();
  const r = await http(`${app.url}/orders`, { method: "POST", body: JSON.stringify({ item, quantity: 1 }) });
  return { ...r, ms: performance.now() - t0 };
}

async function setReadOnly(pg: LoopbackPostgres, on: boolean): Promise<void> {
  await pg.psql(`ALTER SYSTEM SET default_transaction_read_only = ${on ? "on" : "off"}`);
  await pg.psql("SELECT pg_reload_conf()");
}

describe("linode-dr-app with both members: writes reach the leader wherever it is (loopback)", () => {
  let a: LoopbackPostgres | undefined;
  let b: LoopbackPostgres | undefined;
  let appA: AppProcess;
  let appB: AppProcess;
  const itemsOn = async (pg: LoopbackPostgres, prefix: string) =>
    (await pg.psql(`SELECT item FROM orders WHERE item LIKE '${prefix}%' ORDER BY id`, APP_DB.database))
      .split("\n")
      .filter(Boolean);

  beforeAll(async () => {
    await sh(["make", "-C", path.join(REPO, "app"), "-s"]);
    a = await LoopbackPostgres.primary(APP_DB);
    b = await LoopbackPostgres.standbyOf(a);
    const env = (conninfo: string, region: string) => ({
      LINODE_DR_DATABASE_URL: conninfo,
      LINODE_DR_DB_TIMEOUT_MS: "1500",
      LINODE_DR_HEALTH_CACHE_MS: "200",
      LINODE_DR_THREADS: "2",
      LINODE_DR_REGION: region,
    });
    appA = await startApp(env(membersConninfo({ name: NAME_A, pg: a }, { name: NAME_B, pg: b }), "region-a"));
    appB = await startApp(env(membersConninfo({ name: NAME_B, pg: b }, { name: NAME_A, pg: a }), "region-b"));
  }, 300_000);

  afterAll(async () => {
    await appA?.stop();
    await appB?.stop();
    await b?.destroy();
    await a?.destroy();
  });

  it("both regions' apps write to A's leader; B's says the leader is remote", async () => {
    expect(await http(`${appA.url}/healthz`)).toMatchObject({
      status: 200,
      body: `OK leader=${NAME_A} local\n`,
    });
    expect(await http(`${appB.url}/healthz`)).toMatchObject({
      status: 200,
      body: `OK leader=${NAME_A} remote\n`,
    });
    expect((await order(appA, "before-a")).status).toBe(201);
    expect((await order(appB, "before-b")).status).toBe(201);
    expect(await itemsOn(a!, "before-")).toEqual(["before-a", "before-b"]);
    expect((await http(`${appB.url}/metrics`)).body).toMatch(/^linode_dr_app_database_leader_remote 1$/m);
    expect((await http(`${appB.url}/metrics`)).body).toContain(
      `linode_dr_app_database_leader_info{host="${NAME_A}"} 1`,
    );
    expect((await http(`${appA.url}/metrics`)).body).toMatch(/^linode_dr_app_database_leader_remote 0$/m);
  });

  it("after a switchover (A demoted, B promoted) the next write of each app succeeds, on B, without a failed request", async () => {
    await setReadOnly(a!, true);
    await b!.psql("SELECT pg_promote(true, 30)");
    // Each app's sessions are still on A: the first write after the switch is refused read-only
    // there and sent again to B within the same request.
    const afterA = await order(appA, "after-a");
    const afterB = await order(appB, "after-b");
    expect(afterA.status, afterA.body).toBe(201);
    expect(afterB.status, afterB.body).toBe(201);
    expect(afterA.ms).toBeLessThan(1500);
    expect(await itemsOn(b!, "after-")).toEqual(["after-a", "after-b"]);
    // No write was acknowledged by the demoted member.
    expect(await itemsOn(a!, "after-")).toEqual([]);
    await waitFor(
      "both health checks name B as leader",
      async () => {
        const [ha, hb] = [await http(`${appA.url}/healthz`), await http(`${appB.url}/healthz`)];
        return ha.body === `OK leader=${NAME_B} remote\n` && hb.body === `OK leader=${NAME_B} local\n`
          ? true
          : undefined;
      },
      5_000,
    );
    expect(appA.output()).toMatch(
      new RegExp(`event=leader_member host=${NAME_B.replace(/\./g, "\\.")} where=remote`),
    );
  });

  it("with no member writable (both fenced) nothing is stored and both apps answer 503 read-only", async () => {
    await setReadOnly(b!, true);
    await waitFor(
      "both health checks refuse",
      async () => {
        const [ha, hb] = [await http(`${appA.url}/healthz`), await http(`${appB.url}/healthz`)];
        return ha.status === 503 && hb.status === 503 ? [ha, hb] : undefined;
      },
      5_000,
    );
    expect(await http(`${appA.url}/healthz`)).toMatchObject({
      status: 503,
      body: "db read-only (standby)\n",
    });
    const refused = await order(appB, "fenced-b");
    expect(refused.status).toBe(503);
    expect(refused.body).toContain("db read-only (standby)");
    expect(await itemsOn(b!, "fenced-")).toEqual([]);
    expect((await http(`${appA.url}/metrics`)).body).toMatch(/^linode_dr_app_database_leader_remote -1$/m);
  });

  it("a write sent while no member takes writes waits for the next leader within its bound, instead of failing", async () => {
    // Both members read-only (the moment of a switchover between demotion and promotion); A takes
    // writes again 400 ms after the write was sent.
    const pending = order(appB, "during-the-gap");
    await new Promise((resolve) => setTimeout(resolve, 400));
    await setReadOnly(a!, false);
    const during = await pending;
    expect(during.status, during.body).toBe(201);
    expect(during.ms).toBeGreaterThan(400);
    expect(during.ms).toBeLessThan(1500);
    expect(await itemsOn(a!, "during-")).toEqual(["during-the-gap"]);
  });
});
