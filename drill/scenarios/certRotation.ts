import { X509Certificate } from "node:crypto";
import { database, witness, type LinodeRole } from "../../lab/faults";
import { labHostName } from "../../lab/world/hostNames";
import type { Member, World } from "../../lab/world/world";
import { linodeResourceNames } from "../../stacks/resourceNames";
import type { Scenario } from "../run";
import { rejoined } from "./common";

/**
 * A routine certificate rotation as an operator does it: certificateGeneration raised in each stack
 * and `pulumi up` of each, with the order client writing throughout. Every cluster member gets a new
 * key and certificate through its converge command, installed and reloaded in place. Proof that the
 * new identities are in use, not merely on disk: each daemon presents the certificate the program
 * issued, every member reaches all three etcd members with its new client certificate, and the
 * replica's replication connection, dropped on purpose, comes back over verify-full against the
 * primary's new certificate.
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

export const certRotation: Scenario = {
  name: "cert-rotation",
  description:
    "Certificate rotation: certificateGeneration raised and pulumi up run for each stack under client load; every member's TLS key and certificate are replaced and reloaded in place, with no failed write and no leader change",
  expects: ["decision", "firstWriteByName", "recovered"],
  leaderBefore: "primary",
  leaderAfter: "primary",
  maxLostAcknowledged: 0,
  noFailedWrites: true,
  async respond(ctx) {
    const before = new Map(MEMBERS.map((m) => [labHostName(m.role), issued(ctx.world, m.stack, m.role)]));
    const generation = (stack: Member) =>
      Number(ctx.world.configValue(stack, "certificateGeneration") ?? "1") + 1;
    ctx.mark("decision", "pulumi up -s primary, then -s dr, each with certificateGeneration raised");
    for (const stack of ["primary", "dr"] as const) {
      const started = Date.now();
      const next = generation(stack);
      const plan = await ctx.up(stack, { certificateGeneration: String(next) });
      const converged = plan.steps.filter((s) => s.name.endsWith("converge"));
      ctx.note(
        `pulumi up -s ${stack} (certificateGeneration=${next}) took ${((Date.now() - started) / 1000).toFixed(1)} s; it ran ${converged.map((s) => `${s.name} (${((s.endedAt - s.startedAt) / 1000).toFixed(1)} s)`).join(", ")}.`,
      );
      // What the install did on each member, with its own timestamps.
      for (const step of converged) {
        const lines = (step.output ?? "").split("\n").filter((l) => l.includes("linode-dr-tls-install:"));
        if (lines.length > 0) ctx.note(`${step.name}: ${lines.map((l) => l.trim()).join(" / ")}`);
      }
    }
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
      const health = await etcdHealthFrom(ctx.world, m.role);
      ctx.check(
        `${name} reaches every etcd member with its new client certificate`,
        health.ok,
        health.detail,
      );
    }
    // A fresh replication connection: the replica must verify the primary's new certificate.
    const primary = ctx.world.database("primary");
    const cutAt = await primary.psql("SELECT now()");
    await primary.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_replication");
    const reconnected = Date.now();
    await ctx.until(
      "the replica to reconnect over verify-full, to the primary's new certificate",
      async () => {
        const streams = await primary
          .psql(
            `SELECT count(*) FROM pg_stat_replication WHERE application_name = 'dr' AND state = 'streaming' AND backend_start > '${cutAt}'`,
          )
          .catch(() => "0");
        return streams === "1" ? true : undefined;
      },
    );
    ctx.check(
      "the replica reconnects to the primary's new certificate",
      true,
      `a new replication connection streams ${((Date.now() - reconnected) / 1000).toFixed(1)} s after the old one was terminated`,
    );
  },
  async recover(ctx) {
    await rejoined(ctx, "dr", "primary");
  },
};
