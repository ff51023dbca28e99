import * as pulumi from "@pulumi/pulumi";

/**
 * Every stack config key, read and validated in one place. Components never read pulumi.Config:
 * they receive the typed values produced here.
 *
 * parseConfig() is pure (strings in, typed config or one error listing every problem out) so that
 * each bad input can be tested without an engine; loadConfig() only gathers the raw strings.
 */

export type Role = "primary" | "dr";

export interface HealthCheckSettings {
  intervalSeconds: number;
  timeoutSeconds: number;
  attempts: number;
}

export interface PostgresSettings {
  version: number;
  walKeepSize: string;
  maxSlotWalKeepSize: string;
  /** How long a replica's first boot waits for the primary before giving up (bring-up order). */
  replicaWaitTimeoutSeconds: number;
}

/** How Patroni and etcd decide leadership across the three sites. */
export interface LeadershipSettings {
  /** Patroni's leader lease (s): a primary that cannot renew it for this long has demoted itself. */
  ttlSeconds: number;
  loopWaitSeconds: number;
  retryTimeoutSeconds: number;
  /** false: Patroni is paused; leadership moves only through the `failover` flag. */
  automatic: boolean;
  /** A standby lagging more than this many bytes is never promoted automatically (RPO guard). */
  maximumLagOnFailoverBytes: number;
  /** Patroni synchronous mode (non-strict): zero loss for one cross-region round trip per commit. */
  synchronous: boolean;
  /** dr only: the flag's command skips the lag guard (never the other refusals). */
  force: boolean;
}

export interface AppArtifact {
  url: string;
  sha256: string;
}

export interface StackConfig {
  role: Role;
  /** The region this stack deploys into (primaryRegion for role primary, drRegion for dr). */
  region: string;
  primaryRegion: string;
  drRegion: string;
  domain: string;
  appName: string;
  appCount: number;
  standbyAppCount: number;
  appInstanceType: string;
  databaseInstanceType: string;
  image: string;
  appPort: number;
  healthCheck: HealthCheckSettings;
  recordTtlSeconds: number;
  adminCidrs: string[];
  sshPublicKeys: string[];
  protectDatabases: boolean;
  postgres: PostgresSettings;
  appArtifact?: AppArtifact;
  /** Object Storage region of the stack's release bucket; neither primaryRegion nor drRegion. */
  artifactRegion: string;
  /** The third site: the witness Linode's region (one etcd member); neither primaryRegion nor drRegion. */
  witnessRegion: string;
  witnessInstanceType: string;
  leadership: LeadershipSettings;
  /** NodeBalancer per-client connection throttle (connections per second; 0 = off). */
  clientConnThrottle: number;
  soaEmail: string;
  failover: boolean;
  /** dr only: fully qualified name of the primary stack, e.g. "acme/linode-dr/primary". */
  primaryStack?: string;
  /** primary only, optional: the dr stack, read once it exists (see README bring-up order). */
  drStack?: string;
}

/** Raw config as strings, keyed without the project prefix. Missing keys are undefined. */
export type RawConfig = Readonly<Record<string, string | undefined>>;

/** Linode honours only these record TTLs; any other value is rounded, so previews never settle. */
export const LINODE_RECORD_TTLS = [
  30, 120, 300, 3600, 7200, 14400, 28800, 57600, 86400, 172800, 345600, 604800, 1209600, 2419200,
] as const;

export const CONFIG_KEYS = [
  "role",
  "primaryRegion",
  "drRegion",
  "domain",
  "appName",
  "appCount",
  "standbyAppCount",
  "appInstanceType",
  "databaseInstanceType",
  "image",
  "appPort",
  "healthCheckInterval",
  "healthCheckTimeout",
  "healthCheckAttempts",
  "recordTtl",
  "adminCidrs",
  "sshPublicKeys",
  "protectDatabases",
  "postgresVersion",
  "walKeepSize",
  "maxSlotWalKeepSize",
  "replicaWaitTimeoutSeconds",
  "appArtifactUrl",
  "appArtifactSha256",
  "artifactRegion",
  "clientConnThrottle",
  "witnessRegion",
  "witnessInstanceType",
  "leaderTtl",
  "leaderLoopWait",
  "leaderRetryTimeout",
  "automaticFailover",
  "maximumLagOnFailover",
  "synchronousReplication",
  "forceFailover",
  "soaEmail",
  "failover",
  "primaryStack",
  "drStack",
] as const;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid stack configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

const REGION = /^[a-z]{2}-[a-z]+(-[0-9])?$/;
const DNS_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
const INSTANCE_TYPE = /^g[0-9]+-[a-z0-9-]+$/;
const IMAGE = /^[a-z0-9-]+\/[a-z0-9.-]+$/;
const SIZE = /^[1-9][0-9]*(kB|MB|GB|TB)$/;
const STACK_NAME = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;
const SSH_KEY =
  /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/=]+( [^\n\r]*)?$/;

/** Gathers problems so one run reports every bad key at once. */
class Reader {
  readonly problems: string[] = [];
  constructor(private readonly raw: RawConfig) {}

  private fail(key: string, received: string | undefined, expected: string): void {
    const shown = received === undefined ? "nothing (key not set)" : JSON.stringify(received);
    this.problems.push(`${key}: received ${shown}; expected ${expected}`);
  }

  report(key: string, received: string | undefined, expected: string): void {
    this.fail(key, received, expected);
  }

  /** The value is not shown: an unknown key may be a misspelt secret. */
  unknownKey(key: string, expected: string): void {
    this.problems.push(`${key}: unknown key; expected ${expected}`);
  }

  value(key: string): string | undefined {
    const v = this.raw[key];
    return v === undefined || v === "" ? undefined : v;
  }

  string(key: string, pattern: RegExp, expected: string, fallback?: string): string {
    const v = this.value(key) ?? fallback;
    if (v === undefined || !pattern.test(v)) {
      this.fail(key, this.raw[key], expected);
      return fallback ?? "";
    }
    return v;
  }

  optionalString(key: string, pattern: RegExp, expected: string): string | undefined {
    const v = this.value(key);
    if (v === undefined) return undefined;
    if (!pattern.test(v)) {
      this.fail(key, v, expected);
      return undefined;
    }
    return v;
  }

  integer(key: string, min: number, max: number, fallback: number): number {
    const v = this.value(key);
    if (v === undefined) return fallback;
    const n = Number(v);
    // No trimming: " 8080" is a typo the user should see, not a value we guess at.
    if (!/^-?[0-9]+$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) {
      this.fail(key, v, `an integer from ${min} to ${max}`);
      return fallback;
    }
    return n;
  }

  boolean(key: string, fallback: boolean): boolean {
    const v = this.value(key);
    if (v === undefined) return fallback;
    if (v === "true") return true;
    if (v === "false") return false;
    this.fail(key, v, "true or false");
    return fallback;
  }

  /** Arrays arrive from pulumi.Config as JSON text. */
  stringList(key: string, required: boolean): string[] {
    const v = this.value(key);
    if (v === undefined) {
      if (required) this.fail(key, undefined, "a non-empty list of strings");
      return [];
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(v);
    } catch {
      this.fail(key, v, "a list of strings (YAML list in the stack file, or a JSON array)");
      return [];
    }
    if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === "string")) {
      this.fail(key, v, "a list of strings");
      return [];
    }
    if (required && parsed.length === 0) {
      this.fail(key, v, "a non-empty list of strings");
    }
    return parsed as string[];
  }
}

function isIpv4Cidr(value: string): boolean {
  const m = /^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\/([0-9]{1,2})$/.exec(value);
  if (!m) return false;
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  return octets.every((o) => o <= 255) && prefix <= 32;
}

function ipv4ToInt(address: string): number {
  return address.split(".").reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

function ipv4NetworkOf(cidr: string): string {
  const [address, prefixText] = cidr.split("/");
  const size = 2 ** (32 - Number(prefixText));
  const network = ipv4ToInt(address) - (ipv4ToInt(address) % size);
  return `${[24, 16, 8, 0].map((shift) => Math.floor(network / 2 ** shift) % 256).join(".")}/${prefixText}`;
}

/** "10.0.0.1/8" admits 10.0.0.0/8 on the firewall: almost certainly not what was meant. */
function ipv4HostBitsSet(cidr: string): boolean {
  return ipv4NetworkOf(cidr) !== cidr;
}

function isIpv6Cidr(value: string): boolean {
  const m = /^([0-9a-fA-F:]+)\/([0-9]{1,3})$/.exec(value);
  if (!m || Number(m[2]) > 128) return false;
  const groups = m[1].split("::");
  if (groups.length > 2) return false;
  const parts = groups.flatMap((g) => (g === "" ? [] : g.split(":")));
  if (!parts.every((p) => /^[0-9a-fA-F]{1,4}$/.test(p))) return false;
  return groups.length === 2 ? parts.length < 8 : parts.length === 8;
}

function isDomain(value: string): boolean {
  const labels = value.split(".");
  return value.length <= 253 && labels.length >= 2 && labels.every((l) => DNS_LABEL.test(l));
}

/** Pure: raw strings in, validated config out, or a ConfigError naming every bad key. */
export function parseConfig(raw: RawConfig): StackConfig {
  const r = new Reader(raw);

  const known = new Set<string>(CONFIG_KEYS);
  for (const key of Object.keys(raw).sort()) {
    if (!known.has(key)) {
      const hint = CONFIG_KEYS.find((k) => k.toLowerCase() === key.toLowerCase());
      r.unknownKey(
        key,
        `${hint ? `"${hint}" (keys are case-sensitive) or ` : ""}one of the known keys: ${CONFIG_KEYS.join(", ")}`,
      );
    }
  }

  const roleValue = r.value("role");
  let role: Role = "primary";
  if (roleValue === "primary" || roleValue === "dr") {
    role = roleValue;
  } else {
    r.report("role", raw.role, `"primary" or "dr"`);
  }

  const regionExpected = 'a Linode region id such as "us-ord" or "de-fra-2" (see GET /v4/regions)';
  const primaryRegion = r.string("primaryRegion", REGION, regionExpected, "us-ord");
  const drRegion = r.string("drRegion", REGION, regionExpected, "us-sea");
  if (primaryRegion !== "" && primaryRegion === drRegion) {
    r.report("drRegion", raw.drRegion, `a region different from primaryRegion ("${primaryRegion}")`);
  }

  const domain = r.value("domain");
  if (domain === undefined || !isDomain(domain.toLowerCase()) || domain !== domain.toLowerCase()) {
    r.report("domain", raw.domain, 'a lower-case domain name you control, such as "example.com"');
  }
  const appName = r.string("appName", DNS_LABEL, "a lower-case DNS label (letters, digits, hyphens)", "app");

  const appCount = r.integer("appCount", 1, 20, 2);
  const standbyAppCount = r.integer("standbyAppCount", 0, 20, 1);
  if (standbyAppCount > appCount) {
    r.report(
      "standbyAppCount",
      raw.standbyAppCount ?? String(standbyAppCount),
      `at most appCount (${appCount}): the DR tier grows from standbyAppCount to appCount on failover`,
    );
  }

  const typeExpected = 'a Linode type id such as "g6-nanode-1" or "g6-standard-2"';
  const appInstanceType = r.string("appInstanceType", INSTANCE_TYPE, typeExpected, "g6-nanode-1");
  const databaseInstanceType = r.string("databaseInstanceType", INSTANCE_TYPE, typeExpected, "g6-standard-1");
  const image = r.string("image", IMAGE, 'a Linode image id such as "linode/debian12"', "linode/debian12");
  if (image !== "linode/debian12") {
    r.report(
      "image",
      raw.image,
      '"linode/debian12": provisioning scripts are written and tested for Debian 12 only',
    );
  }
  const appPort = r.integer("appPort", 1024, 65535, 8080);

  const intervalSeconds = r.integer("healthCheckInterval", 2, 3600, 5);
  const timeoutSeconds = r.integer("healthCheckTimeout", 1, 30, 3);
  const attempts = r.integer("healthCheckAttempts", 1, 30, 2);
  if (intervalSeconds <= timeoutSeconds) {
    r.report(
      "healthCheckInterval",
      raw.healthCheckInterval ?? String(intervalSeconds),
      `more seconds than healthCheckTimeout (${timeoutSeconds}); the NodeBalancer rejects an interval that does not exceed the timeout`,
    );
  }

  const recordTtlSeconds = r.integer("recordTtl", 1, 2419200, 30);
  if (!(LINODE_RECORD_TTLS as readonly number[]).includes(recordTtlSeconds)) {
    r.report(
      "recordTtl",
      raw.recordTtl,
      `one of the TTLs Linode honours (${LINODE_RECORD_TTLS.join(", ")}); others are rounded and every preview shows a change`,
    );
  }

  const adminCidrs = r.stringList("adminCidrs", true);
  for (const cidr of adminCidrs) {
    if (!isIpv4Cidr(cidr) && !isIpv6Cidr(cidr)) {
      r.report("adminCidrs", cidr, 'an IPv4 or IPv6 CIDR such as "203.0.113.7/32"');
    } else if (isIpv4Cidr(cidr) && ipv4HostBitsSet(cidr)) {
      r.report(
        "adminCidrs",
        cidr,
        `a network address without host bits (did you mean "${ipv4NetworkOf(cidr)}", or "${cidr.split("/")[0]}/32" for one host?)`,
      );
    } else if (/\/0$/.test(cidr)) {
      r.report(
        "adminCidrs",
        cidr,
        "a specific operator or CI range: SSH to the databases must not be open to the world",
      );
    }
  }

  const sshPublicKeys = r.stringList("sshPublicKeys", true);
  for (const key of sshPublicKeys) {
    if (!SSH_KEY.test(key)) {
      r.report(
        "sshPublicKeys",
        key.slice(0, 40),
        'an OpenSSH public key line such as "ssh-ed25519 AAAA... you@host"',
      );
    }
  }

  const protectDatabases = r.boolean("protectDatabases", true);
  const postgres: PostgresSettings = {
    version: r.integer("postgresVersion", 13, 17, 15),
    walKeepSize: r.string("walKeepSize", SIZE, 'a PostgreSQL size such as "512MB"', "512MB"),
    maxSlotWalKeepSize: r.string("maxSlotWalKeepSize", SIZE, 'a PostgreSQL size such as "8GB"', "8GB"),
    replicaWaitTimeoutSeconds: r.integer("replicaWaitTimeoutSeconds", 60, 86400, 3600),
  };

  const artifactUrl = r.optionalString(
    "appArtifactUrl",
    /^https:\/\/[^\s]+$/,
    "an https:// URL of a prebuilt linode-dr-app binary",
  );
  const artifactSha = r.optionalString(
    "appArtifactSha256",
    /^[0-9a-f]{64}$/,
    "64 lower-case hex characters (sha256 of the binary)",
  );
  let appArtifact: AppArtifact | undefined;
  if (artifactUrl !== undefined && artifactSha !== undefined) {
    appArtifact = { url: artifactUrl, sha256: artifactSha };
  } else if ((r.value("appArtifactUrl") === undefined) !== (r.value("appArtifactSha256") === undefined)) {
    const missing = r.value("appArtifactUrl") === undefined ? "appArtifactUrl" : "appArtifactSha256";
    r.report(
      missing,
      undefined,
      "appArtifactUrl and appArtifactSha256 set together (or neither, to build from source)",
    );
  }

  const artifactRegion = r.string("artifactRegion", REGION, regionExpected, "us-iad");
  if (artifactRegion === primaryRegion || artifactRegion === drRegion) {
    r.report(
      "artifactRegion",
      raw.artifactRegion ?? artifactRegion,
      `an Object Storage region other than primaryRegion ("${primaryRegion}") and drRegion ("${drRegion}"): releases must survive the loss of either`,
    );
  }
  const clientConnThrottle = r.integer("clientConnThrottle", 0, 20, 20);

  const witnessRegion = r.string("witnessRegion", REGION, regionExpected, "us-iad");
  if (witnessRegion === primaryRegion || witnessRegion === drRegion) {
    r.report(
      "witnessRegion",
      raw.witnessRegion ?? witnessRegion,
      `a region other than primaryRegion ("${primaryRegion}") and drRegion ("${drRegion}"): the witness is the third vote that outlives either`,
    );
  }
  const witnessInstanceType = r.string("witnessInstanceType", INSTANCE_TYPE, typeExpected, "g6-nanode-1");
  const ttlSeconds = r.integer("leaderTtl", 6, 300, 10);
  const loopWaitSeconds = r.integer("leaderLoopWait", 1, 60, 2);
  const retryTimeoutSeconds = r.integer("leaderRetryTimeout", 1, 120, 4);
  if (loopWaitSeconds + 2 * retryTimeoutSeconds > ttlSeconds) {
    r.report(
      "leaderTtl",
      raw.leaderTtl ?? String(ttlSeconds),
      `at least leaderLoopWait + 2 x leaderRetryTimeout (${loopWaitSeconds} + 2 x ${retryTimeoutSeconds} = ${loopWaitSeconds + 2 * retryTimeoutSeconds}): Patroni must be able to retry the store twice within one lease`,
    );
  }
  const leadership: LeadershipSettings = {
    ttlSeconds,
    loopWaitSeconds,
    retryTimeoutSeconds,
    automatic: r.boolean("automaticFailover", true),
    maximumLagOnFailoverBytes: r.integer("maximumLagOnFailover", 0, 2 ** 40, 16 * 1024 * 1024),
    synchronous: r.boolean("synchronousReplication", false),
    force: r.boolean("forceFailover", false),
  };

  const soaEmail = r.string(
    "soaEmail",
    /^[^@\s]+@[^@\s]+\.[^@\s]+$/,
    'an e-mail address for the zone\'s SOA record, such as "hostmaster@example.com"',
    domain ? `hostmaster@${domain}` : "hostmaster@example.com",
  );

  const failover = r.boolean("failover", false);
  const stackExpected =
    'a fully qualified stack name "<org>/<project>/<stack>", such as "acme/linode-dr/primary"';
  const primaryStack = r.optionalString("primaryStack", STACK_NAME, stackExpected);
  const drStack = r.optionalString("drStack", STACK_NAME, stackExpected);

  if (role === "primary") {
    if (failover) {
      r.report(
        "failover",
        raw.failover,
        "false on the primary stack: the failover flag lives on the dr stack (pulumi config set failover true -s dr)",
      );
    }
    if (leadership.force) {
      r.report(
        "forceFailover",
        raw.forceFailover,
        "false on the primary stack: it belongs to the dr stack, next to the failover flag it forces",
      );
    }
    if (r.value("primaryStack") !== undefined) {
      r.report(
        "primaryStack",
        raw.primaryStack,
        "unset on the primary stack (it is the dr stack's reference to primary)",
      );
    }
  } else {
    if (r.value("primaryStack") === undefined) {
      r.report("primaryStack", undefined, stackExpected + " (the dr stack reads the primary's outputs)");
    }
    if (r.value("drStack") !== undefined) {
      r.report("drStack", raw.drStack, "unset on the dr stack (it is the primary stack's reference to dr)");
    }
  }

  if (r.problems.length > 0) {
    throw new ConfigError(r.problems);
  }
  return {
    role,
    region: role === "primary" ? primaryRegion : drRegion,
    primaryRegion,
    drRegion,
    domain: domain as string,
    appName,
    appCount,
    standbyAppCount,
    appInstanceType,
    databaseInstanceType,
    image,
    appPort,
    healthCheck: { intervalSeconds, timeoutSeconds, attempts },
    recordTtlSeconds,
    adminCidrs,
    sshPublicKeys,
    protectDatabases,
    postgres,
    ...(appArtifact ? { appArtifact } : {}),
    artifactRegion,
    clientConnThrottle,
    witnessRegion,
    witnessInstanceType,
    leadership,
    soaEmail,
    failover,
    ...(primaryStack ? { primaryStack } : {}),
    ...(drStack ? { drStack } : {}),
  };
}

/** Reads the stack's config once: every key under the project's namespace, known or not. */
export function loadConfig(): StackConfig {
  const project = pulumi.getProject();
  const raw: Record<string, string | undefined> = {};
  for (const [fullKey, value] of Object.entries(pulumi.runtime.allConfig())) {
    const [namespace, key] = fullKey.split(":", 2);
    if (namespace === project && key !== undefined) raw[key] = value;
  }
  return parseConfig(raw);
}
