import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { LabHttpClient } from "../../lab/httpClient";
import { Host } from "../../lab/hosts/host";
import { Lab } from "../../lab/hosts/lab";
import { setTimeout as sleep } from "node:timers/promises";
import { waitFor } from "../../lab/process";
import { baseConfig } from "../../evaluation/configs";
import { evaluateStack, type Evaluation } from "../../evaluation/evaluate";
import { LAB_REGIONS, labAddressPlan } from "../../lab/addressPlan";
import type { RecordedResource } from "../../evaluation/mocks";
import { NodeBalancerStandIn } from "../../lab/standins/nodeBalancer";
import { ObjectStorageStandIn } from "../../lab/standins/objectStorage";
import { runRemoteCommand, startSshd, type Sshd, type SshTarget } from "../../lab/standins/ssh";
import { FlipBackend } from "../../lab/app/flipBackend";
import { RESOURCE_TYPE } from "../../components/resourceTypes";
import { stackResourceNames } from "../../stacks/resourceNames";

/**
 * The three stand-ins (NodeBalancer, Object Storage, sshd + remote command) on one set of booted
 * hosts, driven by real traffic between them: region A holds the primary stack's NodeBalancer and
 * its two app nodes, the third site (192.0.2.0/24) holds the client/operator and Object Storage.
 * One lab for all three keeps CI time down (each lab costs seconds of namespace setup).
 */

const NB_NAME = stackResourceNames("primary").loadBalancer.nodeBalancer;
/** Short checks so the test runs in seconds; the mapping is the same at the defaults. */
const CHECK = { interval: 2, timeout: 1, attempts: 2 };

let lab: Lab;
let program: Evaluation;
let client: LabHttpClient;
let nbHost: Host;
let apps: Host[];
let backends: FlipBackend[] = [];
let balancer: NodeBalancerStandIn | undefined;
let objHost: Host;
let storage: ObjectStorageStandIn | undefined;
let sshd: Sshd | undefined;

beforeAll(async () => {
  program = await evaluateStack({
    stack: "primary",
    config: baseConfig("primary", {
      healthCheckInterval: String(CHECK.interval),
      healthCheckTimeout: String(CHECK.timeout),
      healthCheckAttempts: String(CHECK.attempts),
      // The traffic here opens a connection per request from one address; the throttle would
      // (rightly) refuse most of them. Its effect has a test of its own.
      clientConnThrottle: "0",
    }),
    addressPlan: labAddressPlan(),
  });
  lab = await Lab.create({ name: "hlsi" });
  lab.addRegion("A", LAB_REGIONS.A.cidr);
  lab.addRegion("W", "192.0.2.0/24");
  const nbAddress = String(program.byName(NB_NAME).state.ipv4);
  nbHost = await lab.addHost({ name: "nb-a", region: "A", address: nbAddress });
  apps = [];
  for (const node of program.ofType(RESOURCE_TYPE.nodeBalancerNode)) {
    const [address] = String(node.inputs.address).split(":");
    apps.push(await lab.addHost({ name: String(node.inputs.label), region: "A", address }));
  }
  const operator = await lab.addHost({ name: "operator", region: "W", address: "192.0.2.10" });
  objHost = await lab.addHost({ name: "obj", region: "W", address: "192.0.2.50" });
  client = await LabHttpClient.start(operator);
});

afterAll(async () => {
  // A test that failed midway leaves its traffic running: stop it before the client goes.
  for (const traffic of running) await traffic.stop();
  await sshd?.stop();
  await storage?.stop();
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

const running = new Set<Traffic>();

/** Requests through the NodeBalancer, one new connection each, until stopped. */
class Traffic {
  readonly outcomes: Outcome[] = [];
  private running = true;
  private readonly loop: Promise<void>;

  constructor(url: string) {
    running.add(this);
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
    running.delete(this);
    await this.loop;
    return this.outcomes;
  }
}

/** What to read when a node is missing: the balancer's view and each backend's own log. */
async function diagnosis(): Promise<string> {
  const logs = apps.map((host) => {
    const file = path.join(host.lab.stateDir, `backend-${host.name}.log`);
    const text = existsSync(file) ? readFileSync(file, "utf8").trim() : "(no log)";
    return `${host.name}: ${text.slice(-500) || "(empty log)"}`;
  });
  return [`states: ${JSON.stringify(await balancer?.serverStates())}`, ...logs].join("\n");
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
      String(program.ofType(RESOURCE_TYPE.nodeBalancerNode)[0].inputs.address).split(":")[1],
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
    expect(backendsOf(traffic.since(0)), await diagnosis()).toEqual(new Set(["app-0", "app-1"]));

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
    expect((await balancer!.serverStates())["app-0"], await diagnosis()).toBe("DRAIN");
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

/** What the mocks will record for the artifact bucket, its keys and a release artifact. */
function objectStorageResources(): RecordedResource[] {
  const bucket = (label: string) => ({
    type: RESOURCE_TYPE.objectStorageBucket,
    name: `${label}-bucket`,
    id: `us-iad-1:${label}`,
    inputs: { label, region: "us-iad", acl: "private" },
    state: {
      label,
      region: "us-iad",
      cluster: "us-iad-1",
      hostname: `${label}.us-iad-1.linodeobjects.com`,
      s3Endpoint: "us-iad-1.linodeobjects.com",
    },
  });
  const key = (label: string, bucketName: string, accessKey: string, secretKey: string) => ({
    type: RESOURCE_TYPE.objectStorageKey,
    name: `${label}-key`,
    id: "3001",
    inputs: { label, bucketAccesses: [{ bucketName, region: "us-iad", permissions: "read_only" }] },
    state: { accessKey, secretKey },
  });
  return [
    bucket("linode-dr-artifacts"),
    bucket("unrelated"),
    key("deploy", "linode-dr-artifacts", "DEPLOYKEY0000000", "deploy/secret+with=chars"),
    key("other", "unrelated", "OTHERKEY00000000", "other-secret"),
    {
      type: RESOURCE_TYPE.objectStorageObject,
      name: "release",
      id: "linode-dr-artifacts/releases/app-1.tar.gz",
      inputs: {
        bucket: "linode-dr-artifacts",
        region: "us-iad",
        key: "releases/app-1.tar.gz",
        contentBase64: Buffer.from("release one\n").toString("base64"),
        contentType: "application/gzip",
        acl: "private",
      },
      state: {},
    },
  ];
}

const ARTIFACT = "https://linode-dr-artifacts.us-iad-1.linodeobjects.com";

/** The product's download command (curl 7.88 on Debian 12), run on `host`. */
async function curl(host: Host, url: string, user?: string, extra: string[] = []) {
  const auth = user === undefined ? [] : ["--aws-sigv4", "aws:amz:us-iad-1:s3", "--user", user];
  return host.exec(["curl", "--silent", "--show-error", "--fail", ...auth, ...extra, url], {
    timeoutMs: 15_000,
  });
}

/** Status and body without --fail, to see the S3 error. */
async function curlStatus(host: Host, url: string, user?: string): Promise<{ status: string; body: string }> {
  const auth = user === undefined ? [] : ["--aws-sigv4", "aws:amz:us-iad-1:s3", "--user", user];
  const r = await host.exec(["curl", "--silent", "--write-out", "\\n%{http_code}", ...auth, url], {
    timeoutMs: 15_000,
  });
  const lines = r.stdout.trimEnd().split("\n");
  return { status: lines.at(-1) ?? "", body: lines.slice(0, -1).join("\n") };
}

describe("Object Storage stand-in", () => {
  const DEPLOY = "DEPLOYKEY0000000:deploy/secret+with=chars";

  it("serves a program object to the product's exact curl --aws-sigv4 command, and nothing unsigned", async () => {
    storage = await ObjectStorageStandIn.start(objHost, objectStorageResources(), { address: "192.0.2.60" });
    const app = apps[0];
    await storage.trustAndResolve(app);

    const ok = await curl(app, `${ARTIFACT}/releases/app-1.tar.gz`, DEPLOY);
    expect(ok.stderr).toBe("");
    expect(ok.stdout).toBe("release one\n");
    const head = await curl(app, `${ARTIFACT}/releases/app-1.tar.gz`, DEPLOY, ["--head"]);
    expect(head.stdout).toMatch(/content-length: 12/i);

    const wrongSecret = await curlStatus(
      app,
      `${ARTIFACT}/releases/app-1.tar.gz`,
      "DEPLOYKEY0000000:not-the-secret",
    );
    expect(wrongSecret.status).toBe("403");
    expect(wrongSecret.body).toContain("<Code>SignatureDoesNotMatch</Code>");
    const unsigned = await curlStatus(app, `${ARTIFACT}/releases/app-1.tar.gz`);
    expect(unsigned.status).toBe("403");
    expect(unsigned.body).toContain("<Code>AccessDenied</Code>");
    const otherKey = await curlStatus(
      app,
      `${ARTIFACT}/releases/app-1.tar.gz`,
      "OTHERKEY00000000:other-secret",
    );
    expect(otherKey.status).toBe("403");
    expect(otherKey.body).toContain("<Code>AccessDenied</Code>");
    const unknownKey = await curlStatus(app, `${ARTIFACT}/releases/app-1.tar.gz`, "NOSUCHKEY:x");
    expect(unknownKey.body).toContain("<Code>InvalidAccessKeyId</Code>");
    const missing = await curlStatus(app, `${ARTIFACT}/releases/app-2.tar.gz`, DEPLOY);
    expect(missing.status).toBe("404");
    expect(missing.body).toContain("<Code>NoSuchKey</Code>");
    expect((await curl(app, `${ARTIFACT}/releases/app-1.tar.gz`, DEPLOY)).code).toBe(0);
    // --fail turns every refusal into curl's exit 22, which is what the product's scripts see.
    expect((await curl(app, `${ARTIFACT}/releases/app-1.tar.gz`, "DEPLOYKEY0000000:nope")).code).toBe(22);
  });

  it("is trusted only where trustAndResolve ran", async () => {
    const untrusted = await client.host.exec(
      [
        "curl",
        "--silent",
        "--fail",
        "--resolve",
        `linode-dr-artifacts.us-iad-1.linodeobjects.com:443:${storage!.address}`,
        `${ARTIFACT}/releases/app-1.tar.gz`,
      ],
      { timeoutMs: 15_000 },
    );
    expect(untrusted.code).toBe(60);
  });

  it("goes away and comes back (failure injection) and publishes objects at run time", async () => {
    const app = apps[0];
    await storage!.setAvailable(false);
    expect((await curl(app, `${ARTIFACT}/releases/app-1.tar.gz`, DEPLOY)).code).toBe(7);
    await storage!.setAvailable(false, "503");
    expect((await curlStatus(app, `${ARTIFACT}/releases/app-1.tar.gz`, DEPLOY)).status).toBe("503");
    await storage!.setAvailable(true);
    await storage!.putObject({
      bucket: "linode-dr-artifacts",
      key: "releases/app-2.tar.gz",
      body: "release two\n",
    });
    await storage!.putObject({
      bucket: "linode-dr-artifacts",
      key: "releases/app-1.tar.gz",
      body: "release one, rebuilt\n",
    });
    expect((await curl(app, `${ARTIFACT}/releases/app-2.tar.gz`, DEPLOY)).stdout).toBe("release two\n");
    expect((await curl(app, `${ARTIFACT}/releases/app-1.tar.gz`, DEPLOY)).stdout).toBe(
      "release one, rebuilt\n",
    );
  });
});

interface KeyPair {
  privateKey: string;
  publicKey: string;
}

function ed25519(comment: string): KeyPair {
  const dir = mkdtempSync(path.join(tmpdir(), "linode-dr-keygen-"));
  try {
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path.join(dir, "k")]);
    return {
      privateKey: readFileSync(path.join(dir, "k"), "utf8"),
      publicKey: readFileSync(path.join(dir, "k.pub"), "utf8").trim(),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The SSH pieces of the program's user data: host key, root's key, no passwords. */
function sshUserData(hostKey: KeyPair, operator: KeyPair): string {
  return `#cloud-config\n${stringify({
    ssh_pwauth: false,
    disable_root: false,
    ssh_keys: { ed25519_private: hostKey.privateKey, ed25519_public: hostKey.publicKey },
    write_files: [
      { path: "/root/.ssh/authorized_keys", permissions: "0600", content: `${operator.publicKey}\n` },
      {
        path: "/etc/ssh/sshd_config.d/50-linode-dr.conf",
        permissions: "0644",
        content:
          "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n",
      },
    ],
  })}`;
}

const hostKey = ed25519("host");
const operatorKey = ed25519("operator");

describe("sshd and remote commands", () => {
  it("runs a command over OpenSSH with the host key pinned, and refuses everything else", async () => {
    const target = apps[1];
    await target.provision(sshUserData(hostKey, operatorKey));
    expect((await target.readFile("/etc/ssh/ssh_host_ed25519_key.pub")).trim()).toBe(hostKey.publicKey);
    sshd = await startSshd(target);
    const pinned: SshTarget = {
      host: target.address,
      user: "root",
      privateKey: operatorKey.privateKey,
      hostKey: hostKey.publicKey,
    };

    const ok = await runRemoteCommand(client.host, pinned, "hostname; cat; exit 3", {
      stdin: "from the operator\n",
    });
    expect(ok).toEqual({ code: 3, stdout: `${target.name}\nfrom the operator\n`, stderr: "" });

    const otherHostKey = await runRemoteCommand(
      client.host,
      { ...pinned, hostKey: ed25519("impostor").publicKey },
      "true",
    );
    expect(otherHostKey.code).toBe(255);
    expect(otherHostKey.stderr).toMatch(/Host key verification failed/);

    const unknownClient = await runRemoteCommand(
      client.host,
      { ...pinned, privateKey: ed25519("stranger").privateKey },
      "true",
    );
    expect(unknownClient.code).toBe(255);
    expect(unknownClient.stderr).toMatch(/Permission denied \(publickey\)/);

    // The server offers no password method, so ssh gives up at once instead of prompting.
    const password = await runRemoteCommand(client.host, pinned, "true", {
      sshOptions: ["PreferredAuthentications=password", "PasswordAuthentication=yes", "BatchMode=no"],
      timeoutMs: 15_000,
    });
    expect(password.code).toBe(255);
    expect(password.stderr).toMatch(/Permission denied \(publickey\)/);
  });
});

describe("the stand-ins together", () => {
  it("a command over SSH fetches the artifact from Object Storage on a node the NodeBalancer serves", async () => {
    const node = apps[1];
    await storage!.trustAndResolve(node);
    const pinned: SshTarget = {
      host: node.address,
      user: "root",
      privateKey: operatorKey.privateKey,
      hostKey: hostKey.publicKey,
    };
    const fetched = await runRemoteCommand(
      client.host,
      pinned,
      `curl --fail --silent --show-error --aws-sigv4 "aws:amz:us-iad-1:s3" --user "DEPLOYKEY0000000:deploy/secret+with=chars" ${ARTIFACT}/releases/app-2.tar.gz`,
    );
    expect(fetched).toEqual({ code: 0, stdout: "release two\n", stderr: "" });
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add((await client.request(`http://${nbHost.address}/`)).body.trim());
    expect(seen).toEqual(new Set(["app-0", "app-1"]));
  });
});
