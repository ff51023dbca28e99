import { X509Certificate } from "node:crypto";
import { database, witness, type LinodeRole } from "../../lab/faults";
import { ETCD_METRICS_PORT } from "../../provisioning/consensus";
import { labHostName } from "../../lab/world/hostNames";
import type { Member, World } from "../../lab/world/world";
import { linodeResourceNames } from "../../stacks/resourceNames";
import type { Scenario } from "../run";
import { applyOperatorStep, rejoined, type OperatorStep } from "./common";

/**
 * A whole rotation as an operator does it: both stacks' CAs rolled in the steps the CA guard
 * accepts (stacks/caGuard.ts), and every member's key and certificate replaced on the way, with
 * the order client writing throughout. Everything reaches the running members through their
 * converge commands and is reloaded in place (etcd restarted one member at a time for a new
 * bundle). Proof that the new identities are in use, not merely on disk: each daemon presents the
 * certificate the program issued, each member's bundle holds only the new CAs, each database
 * reaches all three etcd members with its new client certificate (the witness votes with its new
 * one and is refused as a client), and the replica's replication
 * connection, dropped on purpose, comes back over verify-full against the primary's new one.
 */

interface Listener {
  what: string;
  port: number;
  starttls?: string;
}

const ETCD: Listener[] = [
  { what: "etcd clients", port: 2379 },
  { what: "etcd peers", port: 2380 },
];
const DATABASE: Listener[] = [
  ...ETCD,
  { what: "PostgreSQL", port: 5432, starttls: "postgres" },
  { what: "Patroni REST API", port: 8008 },
];

const MEMBERS: { role: LinodeRole; stack: Member; listeners: Listener[] }[] = [
  { role: database("primary"), stack: "primary", listeners: DATABASE },
  { role: database("dr"), stack: "dr", listeners: DATABASE },
  { role: witness, stack: "dr", listeners: ETCD },
];

/** The sha256 fingerprint as openssl prints it (AA:BB:...). */
function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/** The certificate the last applied update of `stack` issued for `role`. */
function issued(world: World, stack: Member, role: LinodeRole): string {
  const name = linodeResourceNames(role).certificate;
  if (!name) throw new Error(`${labHostName(role)} has no certificate in the program`);
  return fingerprint(String(world.stacks[stack].byName(name).state.certPem));
}

/** What each daemon of the member presents now, asked inside its host with its own client certificate. */
async function presented(
  world: World,
  role: LinodeRole,
  listeners: Listener[],
): Promise<Map<string, string>> {
  const host = world.hostOf(role);
  const seen = new Map<string, string>();
  for (const l of listeners) {
    const starttls = l.starttls ? ` -starttls ${l.starttls}` : "";
    const r = await host.exec(
      [
        "bash",
        "-c",
        `timeout 5 openssl s_client -connect 127.0.0.1:${l.port}${starttls} -cert /etc/linode-dr/tls/server.crt -key /etc/linode-dr/tls/server.key </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256`,
      ],
      { timeoutMs: 10_000 },
    );
    seen.set(l.what, r.stdout.trim().replace(/^sha256 Fingerprint=/i, ""));
  }
  return seen;
}

/** Every etcd member healthy as seen from `role` with its current client certificate. */
async function etcdHealthFrom(world: World, role: LinodeRole): Promise<{ ok: boolean; detail: string }> {
  const r = await world
    .hostOf(role)
    .exec(
      [
        "bash",
        "-c",
        'set -euo pipefail; source /opt/linode-dr/current/scripts/lib/consensus.sh; load_consensus; etcdctl_at "$(etcd_endpoints)" endpoint health -w json',
      ],
      { timeoutMs: 30_000 },
    );
  // etcdctl 3.4 prints the plain report on stderr; JSON comes on stdout.
  let healthy = 0;
  try {
    healthy = (JSON.parse(r.stdout) as { health: boolean }[]).filter((e) => e.health).length;
  } catch {
    healthy = 0;
  }
  return {
    ok: r.code === 0 && healthy === 3,
    detail: `${healthy} of 3 members healthy${r.code === 0 ? "" : `: ${r.stderr.trim().split("\n").slice(-2).join(" | ")}`}`,
  };
}

/**
 * The witness's member sees a leader and a live peer stream to both databases (its etcd's own
 * metrics, on loopback), and the client port refuses its certificate (its issuer is a peer's only).
 */
async function witnessEtcdView(world: World): Promise<{ ok: boolean; detail: string }> {
  const host = world.hostOf(witness);
  const metrics = await host.exec(
    ["curl", "-sS", "--max-time", "5", `http://127.0.0.1:${ETCD_METRICS_PORT}/metrics`],
    {
      timeoutMs: 10_000,
    },
  );
  const leader = /^etcd_server_has_leader 1$/m.test(metrics.stdout);
  const streams = metrics.stdout
    .split("\n")
    .filter((l) => /^etcd_network_active_peers\{.*\} 1$/.test(l)).length;
  const asClient = await host.exec(
    [
      "bash",
      "-c",
      'set -euo pipefail; source /opt/linode-dr/current/scripts/lib/consensus.sh; load_consensus; etcdctl_at "$(etcd_endpoints others)" endpoint status',
    ],
    { timeoutMs: 30_000 },
  );
  return {
    ok: leader && streams === 2 && asClient.code !== 0,
    detail: `${leader ? "has a leader" : "no leader"}, live peer streams to ${streams} of 2 databases, the databases' client ports ${asClient.code !== 0 ? "refuse" : "ADMIT"} its certificate`,
  };
}

/** How many certificates a PEM bundle holds. */
function certificateCount(pem: string): number {
  return (pem.match(/-----BEGIN CERTIFICATE-----/g) ?? []).length;
}

/** A stack's CA generations as its next update reads them (config certificateAuthorities). */
function caGenerationsOf(world: World, stack: Member): number[] {
  return (world.configValue(stack, "certificateAuthorities") ?? "1").split(",").map(Number);
}

/**
 * The operator's whole CA roll of both stacks, each step a `pulumi up` the CA guard accepts: trust
 * the new CAs everywhere, sign with them (new keys too), retire the old ones. Returns the plan.
 */
function rollSteps(world: World): OperatorStep[] {
  const old = { primary: caGenerationsOf(world, "primary"), dr: caGenerationsOf(world, "dr") };
  for (const stack of ["primary", "dr"] as const)
    if (old[stack].length !== 1)
      throw new Error(
        `cert-rotation starts from one CA per stack; stack ${stack} lists ${old[stack].join(",")} (a roll left half done)`,
      );
  const [p, d] = [old.primary[0], old.dr[0]];
  const [np, nd] = [p + 1, d + 1];
  const keys = (stack: Member) =>
    String(Number(world.configValue(stack, "certificateGeneration") ?? "1") + 1);
  return [
    { stack: "primary", config: { certificateAuthorities: `${p},${np}` }, why: "trust a new primary CA" },
    {
      stack: "dr",
      config: { certificateAuthorities: `${d},${nd}` },
      why: "trust a new dr CA and the primary's",
    },
    { stack: "primary", config: {}, why: "trust the dr stack's new CA" },
    {
      stack: "primary",
      config: { certificateAuthorities: `${np},${p}`, certificateGeneration: keys("primary") },
      why: "sign with the new CA: new key and certificate",
    },
    {
      stack: "dr",
      config: { certificateAuthorities: `${nd},${d}`, certificateGeneration: keys("dr") },
      why: "sign with the new CA: new keys and certificates",
    },
    { stack: "primary", config: { certificateAuthorities: `${np}` }, why: "retire the old primary CA" },
    {
      stack: "dr",
      config: { certificateAuthorities: `${nd}` },
      why: "retire the old dr CA, stop trusting the old primary CA",
    },
    { stack: "primary", config: {}, why: "stop trusting the old dr CA" },
  ];
}

export const certRotation: Scenario = {
  name: "cert-rotation",
  description:
    "Certificate and CA rotation: both stacks' CAs rolled (trust the new CA, sign with it, retire the old) with new keys and certificates for every member, each step a pulumi up under client load; installed and reloaded in place, with no failed write and no leader change",
  expects: ["decision", "firstWriteByName", "recovered"],
  leaderBefore: "primary",
  leaderAfter: "primary",
  maxLostAcknowledged: 0,
  noFailedWrites: true,
  async respond(ctx) {
    const before = new Map(MEMBERS.map((m) => [labHostName(m.role), issued(ctx.world, m.stack, m.role)]));
    const steps = rollSteps(ctx.world);
    ctx.mark("decision", `the CA roll begins: ${steps.length} updates`);
    const started = Date.now();
    for (const [i, step] of steps.entries())
      await applyOperatorStep(ctx, i, step, (converged) => {
        const restarted = converged
          .filter((s) => (s.output ?? "").includes("restarting etcd to load the new CA bundle"))
          .map((s) => s.name.replace(/-converge$/, ""));
        return restarted.length ? `; etcd restarted on ${restarted.join(", ")}` : "";
      });
    ctx.note(`The roll took ${((Date.now() - started) / 1000).toFixed(1)} s in all.`);
    for (const m of MEMBERS) {
      const name = labHostName(m.role);
      const want = issued(ctx.world, m.stack, m.role);
      const seen = await presented(ctx.world, m.role, m.listeners);
      const wrong = [...seen].filter(([, got]) => got !== want);
      ctx.check(
        `${name} presents its new certificate`,
        want !== before.get(name) && wrong.length === 0,
        want === before.get(name)
          ? "the program issued no new certificate"
          : wrong.length === 0
            ? `${[...seen.keys()].join(", ")} present ${want.slice(0, 23)}...`
            : wrong.map(([what, got]) => `${what} presents ${got || "nothing"}`).join("; "),
      );
      const bundle = await ctx.world.hostOf(m.role).readFile("/etc/linode-dr/tls/ca.crt");
      ctx.check(
        `${name} trusts only the new CAs`,
        certificateCount(bundle) === 3,
        `its bundle holds ${certificateCount(bundle)} CA certificates (the new ones of the primary stack, the dr stack and the witness expected)`,
      );
      if (m.role === witness) {
        const view = await witnessEtcdView(ctx.world);
        ctx.check("the witness votes with its new certificate and is no etcd client", view.ok, view.detail);
      } else {
        const health = await etcdHealthFrom(ctx.world, m.role);
        ctx.check(
          `${name} reaches every etcd member with its new client certificate`,
          health.ok,
          health.detail,
        );
      }
    }
    // A fresh replication connection: the replica must verify the primary's new certificate.
    const ms = await ctx.world.replicationReconnects("primary", "dr").catch((error: Error) => error);
    ctx.check(
      "the replica reconnects to the primary's new certificate",
      typeof ms === "number",
      typeof ms === "number"
        ? `a new replication connection streams ${(ms / 1000).toFixed(1)} s after the old one was terminated`
        : ms.message,
    );
  },
  async recover(ctx) {
    await rejoined(ctx, "dr", "primary");
  },
};
