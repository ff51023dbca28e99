import { isIPv4 } from "node:net";

/**
 * The consensus layer's settings, shared by the database and witness user data: who the three
 * members are (etcd on all three, Patroni on the two databases), how they find each other (DNS
 * names from their certificates, resolved through a managed /etc/hosts block), and the timing
 * knobs. Rendered as /etc/linode-dr/consensus.conf, read by linode-dr-etcd-member,
 * linode-dr-db-provision and linode-dr-leader. docs/consensus.md explains the choices.
 */

export type MemberName = "primary" | "dr" | "witness";
export const MEMBER_NAMES: readonly MemberName[] = ["primary", "dr", "witness"];

/** ipv4 absent = not known yet at first boot (linode-dr-converge delivers it later). */
export interface ClusterMember {
  name: MemberName;
  serverName: string;
  ipv4?: string;
}

export interface ConsensusSettings {
  /** Patroni scope and etcd cluster token, e.g. "linode-dr-app". */
  scope: string;
  self: MemberName;
  /** All three. */
  members: ClusterMember[];
  /** true only for the primary's database at bring-up: it founds the etcd cluster and the PostgreSQL cluster; others join. */
  founder: boolean;
  etcd: { heartbeatMs: number; electionMs: number };
  patroni: {
    ttl: number;
    loopWait: number;
    retryTimeout: number;
    maximumLagOnFailover: number;
    synchronousMode: boolean;
    automaticFailover: boolean;
  };
  restApi: { username: string; password: string };
  /** How long a joining member waits for the founder to admit it (bring-up order; firewall opens later). */
  joinTimeoutSeconds: number;
}

/** The defaults the program passes; docs/consensus.md gives the reasoning. */
export const CONSENSUS_DEFAULTS = {
  etcd: { heartbeatMs: 150, electionMs: 1500 },
  patroni: {
    ttl: 10,
    loopWait: 2,
    retryTimeout: 4,
    maximumLagOnFailover: 16 * 1024 * 1024,
    synchronousMode: false,
    automaticFailover: true,
  },
  joinTimeoutSeconds: 1800,
} as const;

export const CONSENSUS_SETTINGS_PATH = "/etc/linode-dr/consensus.conf";
export const REST_PASSWORD_PATH = "/etc/linode-dr/patroni-rest-password";
export const LEADER_PATH = "/usr/local/sbin/linode-dr-leader";
export const ETCD_MEMBER_PATH = "/usr/local/sbin/linode-dr-etcd-member";
/** Bounds the flag's command; Patroni needs at most ttl + a switchover, far less than this. */
export const LEADER_TIMEOUT_SECONDS = 300;

export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;
export const PATRONI_REST_PORT = 8008;
export const POSTGRES_PORT = 5432;

const SCOPE = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const DNS_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const REST_USER = /^[A-Za-z0-9_.-]{1,64}$/;
/** Printable ASCII without spaces: survives YAML double quotes, the passfile and a one-line file. */
export const PASSWORD = /^[\x21-\x7e]{8,256}$/;

export class ConsensusInputError extends Error {}

function shown(value: unknown): string {
  return typeof value === "string" ? `"${value}"` : (JSON.stringify(value) ?? String(value));
}

function redacted(value: unknown): string {
  return typeof value === "string" ? `a string of ${value.length} characters` : String(typeof value);
}

function fail(owner: string, field: string, value: unknown, expected: string): never {
  throw new ConsensusInputError(`${owner}.${field}: received ${shown(value)}; expected ${expected}`);
}

function integer(owner: string, field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    fail(owner, field, value, `an integer from ${min} to ${max}`);
  }
  return value;
}

function bool(owner: string, field: string, value: unknown): boolean {
  if (typeof value !== "boolean") fail(owner, field, value, "true or false");
  return value;
}

/**
 * Validates the settings for a host of `kind`; `owner` prefixes field names in errors
 * ("DatabaseUserDataInput", "WitnessUserDataInput"). Secrets are never echoed.
 */
export function validateConsensus(owner: string, c: ConsensusSettings, kind: "database" | "witness"): void {
  const o = `${owner}.consensus`;
  if (typeof c !== "object" || c === null) fail(owner, "consensus", c, "the consensus settings object");
  if (typeof c.scope !== "string" || !SCOPE.test(c.scope))
    fail(o, "scope", c.scope, `a lowercase name matching ${SCOPE} (Patroni scope and etcd cluster token)`);
  const allowedSelf = kind === "witness" ? ["witness"] : ["primary", "dr"];
  if (!allowedSelf.includes(c.self as string))
    fail(o, "self", c.self, allowedSelf.map((s) => `"${s}"`).join(" or ") + ` (a ${kind} host)`);
  if (!Array.isArray(c.members) || c.members.length !== 3)
    fail(
      o,
      "members",
      Array.isArray(c.members) ? `${c.members.length} members` : c.members,
      "the three members primary, dr and witness",
    );
  const seen = new Set<string>();
  c.members.forEach((m, i) => {
    if (!MEMBER_NAMES.includes(m?.name) || seen.has(m.name))
      fail(o, `members[${i}].name`, m?.name, `each of "primary", "dr", "witness" exactly once`);
    seen.add(m.name);
    if (typeof m.serverName !== "string" || !DNS_NAME.test(m.serverName))
      fail(o, `members[${i}].serverName`, m.serverName, "a DNS name, the one in that member's certificate");
    if (m.ipv4 !== undefined && (typeof m.ipv4 !== "string" || !isIPv4(m.ipv4)))
      fail(o, `members[${i}].ipv4`, m.ipv4, "an IPv4 literal, or absent while unknown");
  });
  const names = new Set(c.members.map((m) => m.serverName.toLowerCase()));
  if (names.size !== 3)
    fail(
      o,
      "members",
      c.members.map((m) => m.serverName),
      "three distinct serverNames",
    );
  bool(o, "founder", c.founder);
  if (c.founder && c.self !== "primary")
    fail(o, "founder", c.founder, `false for "${c.self}" (only the primary's database founds the cluster)`);
  if (typeof c.etcd !== "object" || c.etcd === null) fail(o, "etcd", c.etcd, "{ heartbeatMs, electionMs }");
  const hb = integer(o, "etcd.heartbeatMs", c.etcd.heartbeatMs, 10, 10_000);
  integer(o, "etcd.electionMs", c.etcd.electionMs, 5 * hb, 50_000);
  const p = c.patroni;
  if (typeof p !== "object" || p === null) fail(o, "patroni", p, "the Patroni settings object");
  const ttl = integer(o, "patroni.ttl", p.ttl, 5, 3600);
  const loopWait = integer(o, "patroni.loopWait", p.loopWait, 1, 3600);
  const retry = integer(o, "patroni.retryTimeout", p.retryTimeout, 1, 3600);
  if (loopWait + 2 * retry > ttl)
    fail(
      o,
      "patroni.ttl",
      ttl,
      `at least loopWait + 2 × retryTimeout = ${loopWait + 2 * retry} (Patroni's rule: a leader must be able to retry a failed lease renewal before the lease expires)`,
    );
  integer(o, "patroni.maximumLagOnFailover", p.maximumLagOnFailover, 0, Number.MAX_SAFE_INTEGER);
  bool(o, "patroni.synchronousMode", p.synchronousMode);
  bool(o, "patroni.automaticFailover", p.automaticFailover);
  if (typeof c.restApi !== "object" || c.restApi === null)
    fail(o, "restApi", c.restApi, "{ username, password }");
  if (typeof c.restApi.username !== "string" || !REST_USER.test(c.restApi.username))
    fail(o, "restApi.username", c.restApi.username, `a user name matching ${REST_USER}`);
  if (typeof c.restApi.password !== "string" || !PASSWORD.test(c.restApi.password))
    throw new ConsensusInputError(
      `${o}.restApi.password: received ${redacted(c.restApi.password)}; expected 8 to 256 printable ASCII characters without spaces`,
    );
  integer(o, "joinTimeoutSeconds", c.joinTimeoutSeconds, 1, 86_400);
}

/** /etc/linode-dr/consensus.conf (no secrets: the REST password has its own 0600 file). */
export function renderConsensusSettings(c: ConsensusSettings): string {
  const byName = new Map(c.members.map((m) => [m.name, m]));
  const lines: [string, string][] = [
    ["SCOPE", c.scope],
    ["SELF", c.self],
    ["FOUNDER", String(c.founder)],
  ];
  for (const name of MEMBER_NAMES) {
    const m = byName.get(name);
    if (!m) throw new ConsensusInputError(`consensus.members: no member ${name}`);
    lines.push([`NAME_${name.toUpperCase()}`, m.serverName]);
    if (m.ipv4 !== undefined) lines.push([`IPV4_${name.toUpperCase()}`, m.ipv4]);
  }
  lines.push(
    ["ETCD_HEARTBEAT_MS", String(c.etcd.heartbeatMs)],
    ["ETCD_ELECTION_MS", String(c.etcd.electionMs)],
    ["JOIN_TIMEOUT_SECONDS", String(c.joinTimeoutSeconds)],
    ["TTL", String(c.patroni.ttl)],
    ["LOOP_WAIT", String(c.patroni.loopWait)],
    ["RETRY_TIMEOUT", String(c.patroni.retryTimeout)],
    ["MAXIMUM_LAG_ON_FAILOVER", String(c.patroni.maximumLagOnFailover)],
    ["SYNCHRONOUS_MODE", String(c.patroni.synchronousMode)],
    ["AUTOMATIC_FAILOVER", String(c.patroni.automaticFailover)],
    ["REST_USER", c.restApi.username],
  );
  return (
    "# Written by cloud-init from the linode-dr Pulumi program; read by linode-dr-etcd-member,\n" +
    "# linode-dr-db-provision and linode-dr-leader.\n" +
    lines.map(([k, v]) => `${k}=${v}\n`).join("")
  );
}

/**
 * The failover flag's command: makes `desired` Patroni's leader (nothing to do, switchover,
 * failover, or a refusal with exit 3), bounded by `timeout`. Idempotent.
 */
export function leaderCommandLine(desired: "primary" | "dr", options: { force: boolean }): string {
  if (desired !== "primary" && desired !== "dr") {
    throw new Error(
      `leaderCommandLine: received desired ${JSON.stringify(desired)}; expected "primary" or "dr"`,
    );
  }
  return `timeout ${LEADER_TIMEOUT_SECONDS} ${LEADER_PATH} ${desired}${options.force ? " --force" : ""}`;
}
