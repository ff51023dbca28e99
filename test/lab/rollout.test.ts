import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HostPostgres } from "../../lab/app/hosts";
import { HttpLoad, type LoadResult } from "../../lab/httpLoad";
import type { Host } from "../../lab/hosts/host";
import { Lab } from "../../lab/hosts/lab";
import { waitFor } from "../../lab/process";
import { runProgramCommand } from "../../lab/programCommands";
import { baseConfig } from "../../evaluation/configs";
import { evaluateStack, userDataOf, type Evaluation } from "../../evaluation/evaluate";
import { requestFrom } from "../../lab/hosts/curl";
import { LAB_ADDRESSES, LAB_REGIONS, labAddressPlan } from "../../lab/addressPlan";
import { bootFromUserData, startReleaseStore } from "../../lab/releaseStore";
import { NodeBalancerStandIn } from "../../lab/standins/nodeBalancer";
import type { ObjectStorageStandIn } from "../../lab/standins/objectStorage";
import { runRemoteCommand, startSshd, type Sshd } from "../../lab/standins/ssh";
import { convergeCommandLine } from "../../provisioning/converge";
import { FIRST_BOOT_DONE_PATH } from "../../provisioning/host";
import { packRelease, releaseEntries, releaseObjectKey, type Release } from "../../provisioning/release";
import { stackResourceNames } from "../../stacks/resourceNames";

/**
 * Day two in region A, booted from the program's own user data: a new release of the C service
 * rolls across the app Linodes one node at a time (the program's converge commands, run over real
 * SSH with pinned host keys, in the order their dependsOn chain gives) while clients write orders
 * by the NodeBalancer (stand-in configured from the program's NodeBalancer resources). Fast health
 * checks (interval 2 s, timeout 1 s, 2 attempts) keep the test short; the drain time follows them.
 */
const LAB = "rollout";
const names = stackResourceNames("primary");
const FAST_CHECKS = { healthCheckInterval: "2", healthCheckTimeout: "1", healthCheckAttempts: "2" };

let lab: Lab;
let program: Evaluation;
let store: ObjectStorageStandIn;
let nodeBalancer: NodeBalancerStandIn;
let operator: Host;
let apps: Host[];
let database: Host;
const sshds: Sshd[] = [];

/** What a new source tree makes the program publish: the same release with one file changed. */
function releaseWith(path: string, edit: (text: string) => string): Release {
  return packRelease(
    releaseEntries().map((entry) =>
      entry.path === path ? { ...entry, content: Buffer.from(edit(entry.content.toString("utf8"))) } : entry,
    ),
  );
}

async function publish(release: Release): Promise<void> {
  await store.putObject({
    bucket: String(program.byName(names.artifacts.bucket).inputs.label),
    key: releaseObjectKey(release.sha256),
    body: release.tar,
    contentType: "application/x-tar",
  });
}

/** Node states the NodeBalancer went through while `during` ran, sampled every 100 ms. */
async function watchNodeBalancer<T>(
  during: () => Promise<T>,
): Promise<{ value: T; seen: Map<string, Set<string>> }> {
  const seen = new Map<string, Set<string>>();
  let running = true;
  const sampler = (async () => {
    while (running) {
      for (const [label, state] of Object.entries(await nodeBalancer.serverStates())) {
        if (!seen.has(label)) seen.set(label, new Set());
        seen.get(label)?.add(state);
      }
      await sleep(100);
    }
  })();
  try {
    return { value: await during(), seen };
  } finally {
    running = false;
    await sampler;
  }
}

/** The app converge commands in dependsOn order; the chain stops at the first failure, as `up` does. */
async function rollOut(
  sha256: string,
): Promise<{ name: string; code: number; output: string; ms: number }[]> {
  const outcomes = [];
  for (let index = 0; index < apps.length; index++) {
    const resource = program.byName(names.app(index).converge);
    const started = Date.now();
    const result = await runProgramCommand(operator, resource, {
      create: convergeCommandLine("app", sha256),
    });
    outcomes.push({
      name: resource.name,
      code: result.code,
      output: `${result.stdout}${result.stderr}`,
      ms: Date.now() - started,
    });
    if (result.code !== 0) break;
  }
  return outcomes;
}

async function buildVersion(host: Host): Promise<string> {
  const metrics = await host.execOrThrow(["curl", "-sf", `http://${host.address}:8080/metrics`]);
  const match = /linode_dr_app_build_info\{version="([^"]*)"/.exec(metrics.stdout);
  if (!match) throw new Error(`no build_info in ${host.name}'s /metrics`);
  return match[1];
}

function failures(results: LoadResult[]): LoadResult[] {
  return results.filter((r) => r.status !== 201);
}

/** "<count> x <status> <detail>, from <first> to <last> ms after the load started", per kind. */
function summary(results: LoadResult[]): string {
  const start = results[0]?.atMs ?? 0;
  const kinds = new Map<string, { count: number; first: number; last: number }>();
  for (const r of failures(results)) {
    const key = `${r.status} ${r.detail.slice(0, 60)}`;
    const kind = kinds.get(key) ?? { count: 0, first: r.atMs - start, last: 0 };
    kind.count++;
    kind.last = r.atMs - start;
    kinds.set(key, kind);
  }
  return [...kinds].map(([key, k]) => `${k.count} x ${key} (${k.first}-${k.last} ms)`).join("; ");
}

beforeAll(async () => {
  program = await evaluateStack({
    stack: "primary",
    config: baseConfig("primary", FAST_CHECKS),
    addressPlan: labAddressPlan(),
  });
  lab = await Lab.create({ name: LAB });
  lab.addRegion("A", LAB_REGIONS.A.cidr);
  lab.addRegion("C", LAB_REGIONS.C.cidr);
  store = await startReleaseStore(lab, [program]);
  operator = await lab.addHost({ name: "operator", region: "C", address: LAB_ADDRESSES.client });
  const db = await lab.addHost({ name: "pg-a", region: "A", address: LAB_ADDRESSES.primaryDatabase });
  database = db;
  apps = [
    await lab.addHost({ name: "app-a0", region: "A", address: LAB_ADDRESSES.primaryApp(0) }),
    await lab.addHost({ name: "app-a1", region: "A", address: LAB_ADDRESSES.primaryApp(1) }),
  ];
  await new HostPostgres(db).host.simulatePackageInstall(15);
  const boots = await Promise.all([
    bootFromUserData(store, db, userDataOf(program.byName(names.database.linode))),
    ...apps.map((app, i) => bootFromUserData(store, app, userDataOf(program.byName(names.app(i).linode)))),
  ]);
  for (const boot of boots) expect(boot.code, `${boot.stdout}${boot.stderr}`).toBe(0);
  // systemd would start sshd at boot, with the host key cloud-init installed.
  for (const host of [db, ...apps]) sshds.push(await startSshd(host));
  const nbHost = await lab.addHost({ name: "nb-a", region: "A", address: LAB_ADDRESSES.primaryNodeBalancer });
  nodeBalancer = await NodeBalancerStandIn.start(nbHost, program.resources, names.loadBalancer.nodeBalancer);
}, 600_000);

afterAll(async () => {
  for (const sshd of sshds) await sshd.stop().catch(() => undefined);
  await nodeBalancer?.stop().catch(() => undefined);
  await store?.stop().catch(() => undefined);
  await lab?.destroy();
});

describe("first `pulumi up`: the converge commands find every Linode as first boot left it", () => {
  it("records a finished first boot on every Linode", async () => {
    for (const host of apps)
      expect(await host.readFile(FIRST_BOOT_DONE_PATH)).toMatch(/^release=[0-9a-f]{64} /);
  });

  it("changes nothing and drains nothing, over SSH with each Linode's pinned host key", async () => {
    // The database's first converge adds the one key user data never carries: the dr stack's
    // leadership key, limited to the leader gate. A second run changes nothing.
    const db = await runProgramCommand(operator, program.byName(names.database.converge));
    expect(db.code, db.stderr).toBe(0);
    expect(db.stderr).toMatch(/authorized keys updated \(2\)/);
    expect(await database.readFile("/root/.ssh/authorized_keys")).toMatch(
      /^restrict,command="\/usr\/local\/sbin\/linode-dr-leader-gate" ssh-ed25519 /m,
    );
    const again = await runProgramCommand(operator, program.byName(names.database.converge));
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/authorized keys unchanged \(2\)/);
    const outcomes = await rollOut(String(program.outputs.releaseSha256));
    for (const outcome of outcomes) {
      expect(outcome.code, outcome.output).toBe(0);
      expect(outcome.output).toMatch(
        /already deployed: code=source:\/opt\/linode-dr\/releases\/[0-9a-f]{64}\/app/,
      );
      expect(outcome.output).not.toMatch(/draining/);
    }
    await waitFor(
      "both nodes UP in the NodeBalancer",
      async () => {
        const states = await nodeBalancer.serverStates();
        return Object.values(states).every((s) => s === "UP") && Object.keys(states).length === 2
          ? states
          : undefined;
      },
      30_000,
      200,
    );
  });

  it("refuses a host that presents a key other than the pinned one", async () => {
    const resource = program.byName(names.app(1).converge);
    const connection = resource.inputs.connection as { host: string; user: string; privateKey: string };
    const otherHostKey = (program.byName(names.app(0).hostKey).state.publicKeyOpenssh as string).trim();
    const result = await runRemoteCommand(operator, { ...connection, hostKey: otherHostKey }, "true");
    expect(result.code).toBe(255);
    expect(result.stderr).toMatch(/Host key verification failed/);
  });
});

describe("a new release rolls one node at a time under client load", () => {
  it("deploys everywhere with zero failed requests", async () => {
    const next = releaseWith("app/Makefile", (text) => {
      const edited = text.replace(/^VERSION {2}\?= .*$/m, "VERSION  ?= rollout-2");
      expect(edited).not.toBe(text);
      return edited;
    });
    expect(next.sha256).not.toBe(program.outputs.releaseSha256);
    await publish(next);
    const load = await HttpLoad.start(operator, `http://${LAB_ADDRESSES.primaryNodeBalancer}/orders`, 4);
    const { value: outcomes, seen } = await watchNodeBalancer(() => rollOut(next.sha256));
    const results = await load.stop();

    // The drain is what kept requests whole: each node left the rotation while it was replaced.
    expect(seen.get("app-0")).toContain("DOWN");
    expect(seen.get("app-1")).toContain("DOWN");
    for (const outcome of outcomes) {
      expect(outcome.code, outcome.output).toBe(0);
      expect(outcome.output).toMatch(/draining: \/healthz answers 503/);
      expect(outcome.output).toMatch(
        new RegExp(`deployed: code=source:/opt/linode-dr/releases/${next.sha256}/app`),
      );
    }
    expect(outcomes.map((o) => o.name)).toEqual([names.app(0).converge, names.app(1).converge]);
    for (const app of apps) expect(await buildVersion(app)).toBe("rollout-2");
    console.log(
      `[rollout] ${results.length} requests during the rollout (${outcomes.map((o) => `${o.name} ${o.ms} ms`).join(", ")}), ` +
        `${failures(results).length} failed`,
    );
    expect(results.length).toBeGreaterThan(200);
    expect(failures(results).length, summary(results)).toBe(0);
  });

  it("stops at the first node whose new version fails, rolls it back, and fails no request", async () => {
    const broken = releaseWith("app/src/main.c", (text) => `${text}\nthis does not compile;\n`);
    await publish(broken);
    const load = await HttpLoad.start(operator, `http://${LAB_ADDRESSES.primaryNodeBalancer}/orders`, 4);
    const outcomes = await rollOut(broken.sha256);
    const results = await load.stop();

    expect(outcomes).toHaveLength(1);
    expect(outcomes[0].code).not.toBe(0);
    expect(outcomes[0].output).toMatch(/rolling back to the previous binary/);
    expect(outcomes[0].output).toMatch(/previous version restored and back in rotation/);
    for (const app of apps) expect(await buildVersion(app)).toBe("rollout-2");
    await waitFor(
      "node 0 back in rotation",
      async () => ((await nodeBalancer.serverStates())["app-0"] === "UP" ? true : undefined),
      30_000,
      200,
    );
    expect(failures(results).length, summary(results)).toBe(0);
  });
});

describe("first boot of a new app Linode", () => {
  let app: Host;

  it("rides out an Object Storage outage with bounded retries", async () => {
    app = await lab.addHost({ name: "app-a2", region: "A", address: LAB_ADDRESSES.primaryApp(2) });
    await store.setAvailable(false, "503");
    const booting = bootFromUserData(store, app, userDataOf(program.byName(names.app(1).linode)));
    try {
      await waitFor(
        "the first failed download",
        async () =>
          /failed \(attempt 1 of 8\)/.test(
            await app.readFile("/var/log/linode-dr-first-boot.log").catch(() => ""),
          )
            ? true
            : undefined,
        60_000,
        200,
      );
    } finally {
      await store.setAvailable(true);
    }
    const boot = await booting;
    expect(boot.code, `${boot.stdout}${boot.stderr}`).toBe(0);
    const log = await app.readFile("/var/log/linode-dr-first-boot.log");
    expect(log).toMatch(/download of https:\/\/\S+ failed \(attempt 1 of 8\); retrying in 2s/);
    expect(log).toMatch(/release [0-9a-f]{64} fetched and verified/);
  });

  it("leaves a marker and a log when it fails, and the converge command reports them", async () => {
    // First boot again, for a release that does not exist, with a short retry budget.
    await app.execOrThrow(["rm", "-f", FIRST_BOOT_DONE_PATH]);
    await app.execOrThrow([
      "sed",
      "-i",
      `s/^RELEASE_SHA256=.*/RELEASE_SHA256="${"f".repeat(64)}"/`,
      "/etc/linode-dr/release.env",
    ]);
    const failed = await app.exec(["/usr/local/sbin/linode-dr-first-boot", "linode-dr-app-install"], {
      env: { LINODE_DR_FETCH_ATTEMPTS: "2", LINODE_DR_FETCH_MAX_DELAY: "1" },
    });
    expect(failed.code).not.toBe(0);
    expect(await app.readFile("/var/lib/linode-dr/first-boot.failed")).toMatch(
      /^step=fetch exit=1 at=\S+ log=\/var\/log\/linode-dr-first-boot.log$/m,
    );
    const sshd = await startSshd(app);
    sshds.push(sshd);
    const resource = program.byName(names.app(1).converge);
    const connection = resource.inputs.connection as {
      host: string;
      user: string;
      privateKey: string;
      hostKey: string;
    };
    const result = await runRemoteCommand(
      operator,
      { ...connection, host: app.address },
      `${convergeCommandLine("app", String(program.outputs.releaseSha256)).split(" && ")[1]}`,
      { stdin: String(resource.inputs.stdin) },
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/first boot FAILED: step=fetch exit=1/);
    expect(result.stderr).toMatch(/download of \S+ failed 2 times/);
  });
});

describe("the NodeBalancer's per-client connection throttle (clientConnThrottle, default 20/s)", () => {
  it("refuses one address's flood of new connections while other clients are served", async () => {
    const flooder = await lab.addHost({ name: "flooder", region: "C", address: "192.0.2.66" });
    const burst = await flooder.execOrThrow([
      "bash",
      "-c",
      `for i in $(seq 80); do curl -s -o /dev/null -w '%{http_code}\\n' --max-time 2 http://${LAB_ADDRESSES.primaryNodeBalancer}/healthz || true; done`,
    ]);
    const codes = burst.stdout.trim().split("\n");
    const served = codes.filter((c) => c === "200").length;
    const refused = codes.filter((c) => c === "000").length;
    console.log(
      `[throttle] one address, 80 new connections back to back: ${served} served, ${refused} refused`,
    );
    expect(refused).toBeGreaterThan(0);
    expect(served).toBeGreaterThan(0);
    // Another address is not affected by the flood.
    const other = await requestFrom(operator, `http://${LAB_ADDRESSES.primaryNodeBalancer}/healthz`);
    expect(other.status).toBe(200);
  });
});
