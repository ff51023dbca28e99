import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LabHttpClient } from "../../lab/httpClient";
import { Host, Lab } from "../../lab/lab";
import { sleep, waitFor } from "../../lab/process";
import { baseConfig } from "../../lab/program/configs";
import { evaluateStack, type Evaluation } from "../../lab/program/evaluate";
import { LAB_REGIONS, labAddressPlan } from "../../lab/program/userData";
import { NodeBalancerStandIn } from "../../lab/standins/nodeBalancer";
import { FlipBackend } from "./support/flipBackend";

/**
 * The three stand-ins (NodeBalancer, Object Storage, sshd + remote command) on one set of booted
 * hosts, driven by real traffic between them: region A holds the primary stack's NodeBalancer and
 * its two app nodes, the third site (192.0.2.0/24) holds the client/operator and Object Storage.
 * One lab for all three keeps CI time down (each lab costs seconds of namespace setup).
 */

const NB_NAME = "primary-site-lb-nodebalancer";
/** Short checks so the test runs in seconds; the mapping is the same at the defaults. */
const CHECK = { interval: 2, timeout: 1, attempts: 2 };

let lab: Lab;
let program: Evaluation;
let client: LabHttpClient;
let nbHost: Host;
let apps: Host[];
let backends: FlipBackend[] = [];
let balancer: NodeBalancerStandIn | undefined;

beforeAll(async () => {
  program = await evaluateStack({
    stack: "primary",
    config: baseConfig("primary", {
      healthCheckInterval: String(CHECK.interval),
      healthCheckTimeout: String(CHECK.timeout),
      healthCheckAttempts: String(CHECK.attempts),
    }),
    addressPlan: labAddressPlan(),
  });
  lab = await Lab.create({ name: "hlsi" });
  lab.addRegion("A", LAB_REGIONS.A.cidr);
  lab.addRegion("W", "192.0.2.0/24");
  const nbAddress = String(program.byName(NB_NAME).state.ipv4);
  nbHost = await lab.addHost({ name: "nb-a", region: "A", address: nbAddress });
  apps = [];
  for (const node of program.ofType("linode:index/nodeBalancerNode:NodeBalancerNode")) {
    const [address] = String(node.inputs.address).split(":");
    apps.push(await lab.addHost({ name: String(node.inputs.label), region: "A", address }));
  }
  const operator = await lab.addHost({ name: "operator", region: "W", address: "192.0.2.10" });
  client = await LabHttpClient.start(operator);
});

afterAll(async () => {
  await balancer?.stop();
  for (const backend of backends) await backend.stop();
  await client?.stop();
  await lab?.destroy();
});

interface Outcome {
  backend?: string;
  status?: number;
  error?: string;
}

/** Requests through the NodeBalancer, one new connection each, until stopped. */
class Traffic {
  readonly outcomes: Outcome[] = [];
  private running = true;
  private readonly loop: Promise<void>;

  constructor(url: string) {
    this.loop = (async () => {
      while (this.running) {
        const answer = await client.tryRequest(url, { timeoutMs: 3000 });
        this.outcomes.push(
          "error" in answer
            ? { error: answer.error }
            : { status: answer.status, backend: answer.body.trim() },
        );
        await sleep(20);
      }
    })();
  }

  mark(): number {
    return this.outcomes.length;
  }

  since(mark: number): Outcome[] {
    return this.outcomes.slice(mark);
  }

  async stop(): Promise<Outcome[]> {
    this.running = false;
    await this.loop;
    return this.outcomes;
  }
}

function backendsOf(outcomes: Outcome[]): Set<string> {
  return new Set(outcomes.map((o) => o.backend ?? "?"));
}

async function waitForState(label: string, state: string, timeoutMs: number): Promise<number> {
  const started = Date.now();
  await waitFor(
    `${label} to be ${state}`,
    async () => ((await balancer!.serverStates())[label] === state ? true : undefined),
    timeoutMs,
    50,
  );
  return Date.now() - started;
}

describe("NodeBalancer stand-in", () => {
  it("balances real traffic, takes a failing node out after attempts x interval and brings it back", async () => {
    const port = Number(
      String(program.ofType("linode:index/nodeBalancerNode:NodeBalancerNode")[0].inputs.address).split(
        ":",
      )[1],
    );
    backends = apps.map((host) => FlipBackend.start(host, port));
    balancer = await NodeBalancerStandIn.start(nbHost, program.resources, NB_NAME);
    await waitFor(
      "both nodes UP",
      async () => {
        const states = await balancer!.serverStates();
        return Object.values(states).length === 2 && Object.values(states).every((s) => s === "UP")
          ? true
          : undefined;
      },
      15_000,
      100,
    );
    const url = `http://${nbHost.address}/`;
    const traffic = new Traffic(url);
    await sleep(1000);
    expect(backendsOf(traffic.since(0))).toEqual(new Set(["app-0", "app-1"]));

    backends[1].setHealthy(false);
    const downMs = await waitForState("app-1", "DOWN", 15_000);
    // The first failing check comes within one interval, then attempts-1 more intervals.
    expect(downMs).toBeGreaterThanOrEqual((CHECK.attempts - 1) * CHECK.interval * 1000 - 300);
    expect(downMs).toBeLessThanOrEqual((CHECK.attempts * CHECK.interval + CHECK.timeout) * 1000 + 500);
    let mark = traffic.mark();
    await sleep(1500);
    expect(backendsOf(traffic.since(mark))).toEqual(new Set(["app-0"]));

    backends[1].setHealthy(true);
    const upMs = await waitForState("app-1", "UP", 15_000);
    expect(upMs).toBeLessThanOrEqual((CHECK.attempts * CHECK.interval + CHECK.timeout) * 1000 + 500);
    mark = traffic.mark();
    await sleep(1000);
    expect(backendsOf(traffic.since(mark))).toEqual(new Set(["app-0", "app-1"]));

    const outcomes = await traffic.stop();
    expect(outcomes.length).toBeGreaterThan(50);
    expect(outcomes.filter((o) => o.status !== 200)).toEqual([]);
  });

  it("applies node modes at run time: drain, reject, backup, accept", async () => {
    const url = `http://${nbHost.address}/`;
    const through = async (n: number) => {
      const seen: string[] = [];
      for (let i = 0; i < n; i++) seen.push((await client.request(url)).body.trim());
      return new Set(seen);
    };
    await balancer!.setNodeMode("app-0", "drain");
    expect((await balancer!.serverStates())["app-0"]).toBe("DRAIN");
    expect(await through(6)).toEqual(new Set(["app-1"]));
    await balancer!.setNodeMode("app-0", "reject");
    expect((await balancer!.serverStates())["app-0"]).toBe("MAINT");
    expect(await through(6)).toEqual(new Set(["app-1"]));
    await balancer!.setNodeMode("app-0", "backup");
    expect((await balancer!.serverStates())["app-0"]).toBe("UP");
    expect(await through(6)).toEqual(new Set(["app-1"]));
    // A backup node takes traffic only when every accept node is down.
    backends[1].setHealthy(false);
    await waitForState("app-1", "DOWN", 15_000);
    expect(await through(6)).toEqual(new Set(["app-0"]));
    backends[1].setHealthy(true);
    await waitForState("app-1", "UP", 15_000);
    await balancer!.setNodeMode("app-0", "accept");
    expect(await through(6)).toEqual(new Set(["app-0", "app-1"]));
  });

  it("marks a node down on a live 5xx (passive check) before any active check fails", async () => {
    const url = `http://${nbHost.address}/`;
    backends[0].setFailing(true);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await client.request(url)).status);
    expect((await balancer!.serverStates())["app-0"]).toBe("DOWN");
    expect(statuses.filter((s) => s === 500)).toHaveLength(1);
    backends[0].setFailing(false);
    await waitForState("app-0", "UP", 15_000);
  });
});
