import * as path from "node:path";
import {
  dnsName,
  httpsUrl,
  ipAddress,
  password,
  pemCertificate,
  regionId,
  sha256,
  sqlIdentifier,
  tcpPort,
} from "../validation/formats";
import { InputCheck } from "../validation/inputError";
import { explained, integer } from "../validation/kit";
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
  database: AppDatabase;
  /** Bound for every database round trip, including /healthz; keep it below the NodeBalancer check timeout. */
  dbTimeoutMs: number;
  /** How long a /healthz result is reused, so a flood of checks costs at most one query per period. */
  healthCacheMs: number;
  /** A prebuilt binary to install instead of compiling the release's source. */
  artifact?: { url: string; sha256: string };
}

/** A database member as the app reaches it. */
export interface AppDatabaseMember {
  /** The name in the member's certificate, which verify-full checks. */
  serverName: string;
  /** Where to connect: this region's member at its private IPv4, the other region's at its public one. */
  address: string;
}

/**
 * Every member the app may write through, this region's first: libpq tries them in order and
 * keeps the one that takes writes (target_session_attrs=read-write), so the app reaches the leader
 * wherever it is. Each connection verifies the member's certificate against `caCertPem` and its
 * name (verify-full) and binds the SCRAM exchange to the TLS channel (channel_binding=require).
 */
export interface AppDatabase {
  members: AppDatabaseMember[];
  port: number;
  name: string;
  user: string;
  password: string;
  /** The CAs that sign the members' certificates (both stacks'). */
  caCertPem: string;
}

/** libpq's own bound on a multi-host list is far above this; the service's is 8. */
export const MAX_APP_DATABASE_MEMBERS = 2;

export const APP_INSTALL_PATH = "/usr/local/sbin/linode-dr-app-install";
/**
 * The database CAs: written by cloud-init from user data, replaced in place by linode-dr-converge
 * (an `app_ca` line). libpq reads it at every new connection, so a CA roll restarts nothing.
 */
export const APP_DATABASE_CA_PATH = "/etc/linode-dr/app-db-ca.crt";
export const APP_SOURCE_DIR = "/opt/linode-dr/current/app";
export const APP_ENV_PATH = "/etc/linode-dr/app.env";
export const APP_ARTIFACT_ENV_PATH = "/etc/linode-dr/app-artifact.env";
export const APP_INSTALL_SCRIPT = path.join(__dirname, "scripts", "app-install.sh");
export const APP_ROLLOUT_SCRIPT = path.join(__dirname, "scripts", "app-rollout.sh");

/** libpq conninfo value: single-quoted with backslash escapes, so any printable value is safe. */
export function pgQuote(value: string): string {
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/**
 * A double-quoted value that systemd's EnvironmentFile= and bash's `source` read identically:
 * both treat \\ \" \$ \` as the escaped character inside double quotes.
 */
function envQuote(value: string): string {
  return `"${value.replace(/[\\"$`]/g, "\\$&")}"`;
}

export function buildConninfo(db: AppDatabase): string {
  return [
    `host=${pgQuote(db.members.map((m) => m.serverName).join(","))}`,
    `hostaddr=${pgQuote(db.members.map((m) => m.address).join(","))}`,
    `port=${db.port}`,
    `dbname=${pgQuote(db.name)}`,
    `user=${pgQuote(db.user)}`,
    `password=${pgQuote(db.password)}`,
    "target_session_attrs=read-write",
    "sslmode=verify-full",
    `sslrootcert=${pgQuote(APP_DATABASE_CA_PATH)}`,
    "channel_binding=require",
  ].join(" ");
}

/**
 * `check` is scoped at the input, which the app's user data and its converge command share
 * ("AppUserDataInput.<field>", "DesiredState.app.input.<field>").
 */
export function checkAppInput(check: InputCheck, input: AppUserDataInput): void {
  if (!check.object("", input, "an object")) return;
  check.field("listenPort", input.listenPort, tcpPort);
  check.field("region", input.region, regionId);
  const database = check.object(
    "database",
    input.database,
    "an object with members, port, name, user, password, caCertPem",
  );
  if (database) {
    const db = input.database;
    if (!Array.isArray(db.members) || db.members.length < 1 || db.members.length > MAX_APP_DATABASE_MEMBERS) {
      database.refuse(
        "members",
        db.members,
        `a list of 1 to ${MAX_APP_DATABASE_MEMBERS} members, this region's first`,
      );
    } else {
      db.members.forEach((member, i) => {
        const m = database.object(`members[${i}]`, member, "an object with serverName, address");
        m?.field("serverName", member.serverName, dnsName);
        m?.field("address", member.address, ipAddress);
      });
    }
    database.field("port", db.port, tcpPort);
    database.field("caCertPem", db.caCertPem, pemCertificate);
    database.field("name", db.name, sqlIdentifier);
    database.field("user", db.user, sqlIdentifier);
    database.field("password", db.password, password);
  }
  check.field(
    "dbTimeoutMs",
    input.dbTimeoutMs,
    explained(integer(50, 60000), "milliseconds; below the NodeBalancer check timeout"),
  );
  check.field("healthCacheMs", input.healthCacheMs, explained(integer(0, 60000), "milliseconds"));
  if (input.artifact !== undefined) {
    const artifact = check.object("artifact", input.artifact, "an object with url and sha256");
    artifact?.field("url", input.artifact.url, httpsUrl);
    artifact?.field("sha256", input.artifact.sha256, sha256);
  }
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
  return `ARTIFACT_URL=${envQuote(artifact.url)}\nARTIFACT_SHA256=${envQuote(artifact.sha256)}\n`;
}

export function renderAppUserData(
  input: AppUserDataInput,
  host: { release: ReleaseSource; access: HostAccess },
): string {
  const check = new InputCheck("AppUserDataInput");
  checkAppInput(check, input);
  check.throwIfAny();
  const writeFiles: WriteFile[] = [
    { path: APP_ENV_PATH, content: renderAppEnv(input), permissions: "0600" },
    { path: APP_DATABASE_CA_PATH, content: input.database.caCertPem, permissions: "0644" },
  ];
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
