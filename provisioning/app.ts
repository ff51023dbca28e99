import { isIP } from "node:net";
import * as path from "node:path";
import type { WriteFile } from "./cloudConfig";
import { renderHostUserData, type HostAccess, type ReleaseSource } from "./host";

/**
 * User data for the app Linodes: the C service's configuration (and an optional pinned prebuilt
 * binary). The service's source and install script come with the release, fetched and verified
 * on first boot; later versions and configuration arrive through linode-dr-converge, one node at a
 * time, never by replacing Linodes.
 */

export interface AppUserDataInput {
  listenPort: number;
  /** Label shown in logs and metrics; also recorded with each order. */
  region: string;
  database: { host: string; port: number; name: string; user: string; password: string };
  /** Bound for every database round trip, including /healthz; keep it below the NodeBalancer check timeout. */
  dbTimeoutMs: number;
  /** How long a /healthz result is reused, so a flood of checks costs at most one query per period. */
  healthCacheMs: number;
  /** A prebuilt binary to install instead of compiling the release's source. */
  artifact?: { url: string; sha256: string };
}

export const APP_INSTALL_PATH = "/usr/local/sbin/linode-dr-app-install";
export const APP_SOURCE_DIR = "/opt/linode-dr/current/app";
export const APP_ENV_PATH = "/etc/linode-dr/app.env";
export const APP_ARTIFACT_ENV_PATH = "/etc/linode-dr/app-artifact.env";
export const APP_INSTALL_SCRIPT = path.join(__dirname, "scripts", "app-install.sh");
export const APP_ROLLOUT_SCRIPT = path.join(__dirname, "scripts", "app-rollout.sh");

const REGION = /^[A-Za-z0-9._-]{1,63}$/;
const DNS_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const PG_NAME = /^[A-Za-z_][A-Za-z0-9_$-]{0,62}$/;
/** Printable ASCII: fits on one line of the env file and in a quoted libpq value. */
const PASSWORD = /^[\x20-\x7e]{1,256}$/;
const SHA256 = /^[0-9a-fA-F]{64}$/;
/** https URL without characters that would need quoting in the artifact settings file. */
const HTTPS_URL = /^https:\/\/[A-Za-z0-9._~:/?#[\]@!&'()*+,;=%-]+$/;

class InputError extends Error {}

function fail(field: string, value: unknown, expected: string): never {
  const shown = typeof value === "string" ? `"${value}"` : JSON.stringify(value);
  throw new InputError(`AppUserDataInput.${field}: received ${shown}; expected ${expected}`);
}

function checkInt(field: string, value: unknown, lo: number, hi: number, what: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < lo || value > hi) {
    fail(field, value, `an integer from ${lo} to ${hi} (${what})`);
  }
  return value;
}

function checkMatch(field: string, value: unknown, re: RegExp, expected: string): string {
  if (typeof value !== "string" || !re.test(value)) fail(field, value, expected);
  return value;
}

/** libpq conninfo value: single-quoted with backslash escapes, so any printable value is safe. */
function pgQuote(value: string): string {
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/**
 * A double-quoted value that systemd's EnvironmentFile= and bash's `source` read identically:
 * both treat \\ \" \$ \` as the escaped character inside double quotes.
 */
function envQuote(value: string): string {
  return `"${value.replace(/[\\"$`]/g, "\\$&")}"`;
}

export function buildConninfo(db: AppUserDataInput["database"]): string {
  return [
    `host=${pgQuote(db.host)}`,
    `port=${db.port}`,
    `dbname=${pgQuote(db.name)}`,
    `user=${pgQuote(db.user)}`,
    `password=${pgQuote(db.password)}`,
  ].join(" ");
}

export function validateAppInput(input: AppUserDataInput): AppUserDataInput {
  if (typeof input !== "object" || input === null) fail("", input, "an object");
  checkInt("listenPort", input.listenPort, 1, 65535, "a TCP port");
  checkMatch("region", input.region, REGION, `1 to 63 characters matching ${REGION}`);
  const db = input.database;
  if (typeof db !== "object" || db === null)
    fail("database", db, "an object with host, port, name, user, password");
  if (typeof db.host !== "string" || !(isIP(db.host) !== 0 || DNS_NAME.test(db.host))) {
    fail("database.host", db.host, "an IPv4/IPv6 address or a DNS name");
  }
  checkInt("database.port", db.port, 1, 65535, "a TCP port");
  checkMatch("database.name", db.name, PG_NAME, `a PostgreSQL database name matching ${PG_NAME}`);
  checkMatch("database.user", db.user, PG_NAME, `a PostgreSQL role name matching ${PG_NAME}`);
  if (typeof db.password !== "string" || !PASSWORD.test(db.password)) {
    // Never echo a secret, even a malformed one.
    const shape =
      typeof db.password === "string" ? `a string of ${db.password.length} characters` : typeof db.password;
    throw new InputError(
      `AppUserDataInput.database.password: received ${shape}; expected 1 to 256 printable ASCII characters`,
    );
  }
  checkInt("dbTimeoutMs", input.dbTimeoutMs, 50, 60000, "milliseconds; below the NodeBalancer check timeout");
  checkInt("healthCacheMs", input.healthCacheMs, 0, 60000, "milliseconds");
  if (input.artifact !== undefined) {
    const a = input.artifact;
    if (typeof a !== "object" || a === null) fail("artifact", a, "an object with url and sha256");
    checkMatch("artifact.url", a.url, HTTPS_URL, "an https:// URL without spaces, quotes or backslashes");
    checkMatch("artifact.sha256", a.sha256, SHA256, "the binary's SHA-256 as 64 hexadecimal characters");
  }
  return input;
}

export function renderAppEnv(input: AppUserDataInput): string {
  const lines: Array<[string, string]> = [
    ["LINODE_DR_LISTEN_ADDR", "0.0.0.0"],
    ["LINODE_DR_LISTEN_PORT", String(input.listenPort)],
    ["LINODE_DR_DATABASE_URL", buildConninfo(input.database)],
    ["LINODE_DR_DB_TIMEOUT_MS", String(input.dbTimeoutMs)],
    ["LINODE_DR_HEALTH_CACHE_MS", String(input.healthCacheMs)],
    ["LINODE_DR_REGION", input.region],
  ];
  return (
    "# Written by cloud-init from the linode-dr stack; read by systemd (EnvironmentFile=) and by\n" +
    "# linode-dr-app-install when there is no systemd. Contains the database password.\n" +
    lines.map(([k, v]) => `${k}=${envQuote(v)}\n`).join("")
  );
}

export function renderAppArtifactEnv(artifact: { url: string; sha256: string }): string {
  return `ARTIFACT_URL=${envQuote(artifact.url)}\nARTIFACT_SHA256=${envQuote(artifact.sha256.toLowerCase())}\n`;
}

export function renderAppUserData(
  input: AppUserDataInput,
  host: { release: ReleaseSource; access: HostAccess },
): string {
  validateAppInput(input);
  const writeFiles: WriteFile[] = [{ path: APP_ENV_PATH, content: renderAppEnv(input), permissions: "0600" }];
  if (input.artifact) {
    writeFiles.push({
      path: APP_ARTIFACT_ENV_PATH,
      content: renderAppArtifactEnv(input.artifact),
      permissions: "0644",
    });
  }
  return renderHostUserData({
    role: "app",
    release: host.release,
    access: host.access,
    files: writeFiles,
    entry: "linode-dr-app-install",
  });
}
