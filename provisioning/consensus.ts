import { dnsLabel, dnsName, httpUser, ipv4Address, password } from "../validation/formats";
import { InputCheck } from "../validation/inputError";
import { boolean, explained, integer, listOf, object, oneOf, optional, refined } from "../validation/kit";

/**
 * The consensus layer's settings, shared by the database and witness user data: who the three
 * members are (etcd on all three, Patroni on the two databases), how they find each other (DNS
 * names from their certificates, resolved through a managed /etc/hosts block), and the timing
 * knobs. Rendered as /etc/linode-dr/consensus.conf, read by linode-dr-etcd-member,
 * linode-dr-db-provision and linode-dr-leader. docs/consensus.md explains the choices.
 */

export const MEMBER_NAMES = ["primary", "dr", "witness"] as const;
export type MemberName = (typeof MEMBER_NAMES)[number];

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
    /** The data-loss budget (linode-dr-promotion-check, Patroni's pre_promote hook). */
    maximumDataLossSeconds: number;
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
    maximumDataLossSeconds: 10,
    synchronousMode: false,
    automaticFailover: true,
  },
  joinTimeoutSeconds: 1800,
} as const;

export const CONSENSUS_SETTINGS_PATH = "/etc/linode-dr/consensus.conf";
export const REST_PASSWORD_PATH = "/etc/linode-dr/patroni-rest-password";
export const LEADER_PATH = "/usr/local/sbin/linode-dr-leader";
export const ETCD_MEMBER_PATH = "/usr/local/sbin/linode-dr-etcd-member";
/**
 * Bounds the flag's command: its bounded switchover retries (up to 660 s, for a leader whose Patroni
 * still holds a rebuilt member's old address), the wait for the new leader (240 s) and the
 * synchronous standby (60 s), with room to spare.
 */
export const LEADER_TIMEOUT_SECONDS = 1200;

export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;
/** etcd's /health and /metrics, plain HTTP on loopback only: how the witness sees its own member. */
export const ETCD_METRICS_PORT = 2381;
export const PATRONI_REST_PORT = 8008;
export const POSTGRES_PORT = 5432;

const MEMBER_NAME = oneOf(MEMBER_NAMES);

/** Members as consensus.conf and converge's peer lines both take them; checkMember checks each. */
export const MEMBER_LIST = listOf(object("a member { name, serverName, ipv4? }"));

/** `check` is scoped at the member, an item of a list MEMBER_LIST accepted. */
export function checkMember(check: InputCheck, member: ClusterMember): void {
  check.field("name", member.name, MEMBER_NAME);
  check.field("serverName", member.serverName, explained(dnsName, "the one in that member's certificate"));
  check.field("ipv4", member.ipv4, optional(ipv4Address, "while unknown"));
}

const THREE_MEMBERS = refined(MEMBER_LIST, (members) =>
  members.length === 3 ? undefined : "the three members primary, dr and witness",
);

function checkMembers(check: InputCheck, members: ClusterMember[]): void {
  if (check.field("members", members, THREE_MEMBERS) === undefined) return;
  const names = new Set<string>();
  const serverNames = new Set<string>();
  members.forEach((m, i) => {
    const member = check.under(`members[${i}]`);
    checkMember(member, m);
    if (names.has(m.name)) member.refuse("name", m.name, 'each of "primary", "dr", "witness" exactly once');
    if (serverNames.has(m.serverName))
      member.refuse("serverName", m.serverName, "a serverName no other member has");
    names.add(m.name);
    serverNames.add(m.serverName);
  });
}

/**
 * Checks the settings for a host of `kind`; `check` is scoped at the consensus field, so problems
 * read "DatabaseUserDataInput.consensus.<field>". Secrets are never echoed.
 */
export function checkConsensus(check: InputCheck, c: ConsensusSettings, kind: "database" | "witness"): void {
  if (!check.object("", c, "the consensus settings object")) return;
  check.field("scope", c.scope, explained(dnsLabel, "Patroni scope and etcd cluster token"));
  const self = check.field(
    "self",
    c.self,
    explained(kind === "witness" ? oneOf(["witness"]) : oneOf(["primary", "dr"]), `a ${kind} host`),
  );
  checkMembers(check, c.members);
  const founder = check.field("founder", c.founder, boolean);
  if (founder && self !== undefined && self !== "primary")
    check.refuse("founder", founder, `false for "${self}" (only the primary's database founds the cluster)`);

  const etcd = check.object("etcd", c.etcd, "{ heartbeatMs, electionMs }");
  if (etcd) {
    const heartbeat = etcd.field("heartbeatMs", c.etcd.heartbeatMs, integer(10, 10_000));
    if (heartbeat !== undefined) etcd.field("electionMs", c.etcd.electionMs, integer(5 * heartbeat, 50_000));
  }

  const patroni = check.object("patroni", c.patroni, "the Patroni settings object");
  if (patroni) {
    const p = c.patroni;
    const ttl = patroni.field("ttl", p.ttl, integer(5, 3600));
    const loopWait = patroni.field("loopWait", p.loopWait, integer(1, 3600));
    const retry = patroni.field("retryTimeout", p.retryTimeout, integer(1, 3600));
    if (ttl !== undefined && loopWait !== undefined && retry !== undefined && loopWait + 2 * retry > ttl)
      patroni.refuse(
        "ttl",
        ttl,
        `at least loopWait + 2 × retryTimeout = ${loopWait + 2 * retry} (Patroni's rule: a leader must be able to retry a failed lease renewal before the lease expires)`,
      );
    patroni.field("maximumLagOnFailover", p.maximumLagOnFailover, integer(0, Number.MAX_SAFE_INTEGER));
    patroni.field("maximumDataLossSeconds", p.maximumDataLossSeconds, integer(2, 86_400));
    patroni.field("synchronousMode", p.synchronousMode, boolean);
    patroni.field("automaticFailover", p.automaticFailover, boolean);
  }

  const restApi = check.object("restApi", c.restApi, "{ username, password }");
  if (restApi) {
    restApi.field("username", c.restApi.username, httpUser);
    restApi.field("password", c.restApi.password, password);
  }
  check.field("joinTimeoutSeconds", c.joinTimeoutSeconds, integer(1, 86_400));
}

/** /etc/linode-dr/consensus.conf (no secrets: the REST password has its own 0600 file). */
export function renderConsensusSettings(c: ConsensusSettings): string {
  const byName = new Map(c.members.map((m) => [m.name, m]));
  const lines: [string, string][] = [
    ["SCOPE", c.scope],
    ["SELF", c.self],
    ["FOUNDER", String(c.founder)],
  ];
  const check = new InputCheck("ConsensusSettings");
  for (const name of MEMBER_NAMES) {
    const m = byName.get(name);
    if (!m) {
      check.refuse("members", c.members, `a member named "${name}"`);
      continue;
    }
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
    ["MAXIMUM_DATA_LOSS_SECONDS", String(c.patroni.maximumDataLossSeconds)],
    ["SYNCHRONOUS_MODE", String(c.patroni.synchronousMode)],
    ["AUTOMATIC_FAILOVER", String(c.patroni.automaticFailover)],
    ["REST_USER", c.restApi.username],
  );
  check.throwIfAny();
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
  const check = new InputCheck("leaderCommandLine");
  check.field("desired", desired, oneOf(["primary", "dr"]));
  check.field("options.force", options?.force, boolean);
  check.throwIfAny();
  return `timeout ${LEADER_TIMEOUT_SECONDS} ${LEADER_PATH} ${desired}${options.force ? " --force" : ""}`;
}
