import { isIPv4 } from "node:net";
import type { WriteFile } from "./cloudConfig";
import { renderHostUserData, type HostAccess, type ReleaseSource } from "./host";

/**
 * First-boot user data for the PostgreSQL Linodes: the settings and credentials the release's
 * provisioning script (linode-dr-db-provision) needs, as one deterministic #cloud-config. The
 * scripts themselves come with the release, fetched and verified on first boot.
 */

export interface DatabaseUserDataInput {
  role: "primary" | "replica";
  postgresVersion: number;
  walKeepSize: string;
  maxSlotWalKeepSize: string;
  tls: { caCertPem: string; serverCertPem: string; serverKeyPem: string };
  replication: { user: string; password: string; slotName: string };
  /** Required for role "primary"; on a replica it only adds the app's pg_hba line for after promotion. */
  app?: { database: string; user: string; password: string };
  /** Required for role "replica", refused for "primary". */
  upstream?: { hostaddr: string; serverName: string; port: number; waitTimeoutSeconds: number };
  release: ReleaseSource;
  access: HostAccess;
}

export const DB_PROVISION_PATH = "/usr/local/sbin/linode-dr-db-provision";
export const PROMOTE_PATH = "/usr/local/sbin/linode-dr-promote";

export const DB_ETC_DIR = "/etc/linode-dr";
export const DB_SETTINGS_PATH = `${DB_ETC_DIR}/db.conf`;
export const REPLICATION_PASSWORD_PATH = `${DB_ETC_DIR}/replication-password`;
export const APP_PASSWORD_PATH = `${DB_ETC_DIR}/app-password`;
export const TLS_CA_PATH = `${DB_ETC_DIR}/tls/ca.crt`;
export const TLS_CERT_PATH = `${DB_ETC_DIR}/tls/server.crt`;
export const TLS_KEY_PATH = `${DB_ETC_DIR}/tls/server.key`;

/** Lowercase so the names never need quoting in SQL, pg_hba.conf or the settings file. */
const SQL_IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;
const SIZE = /^[1-9][0-9]*(kB|MB|GB|TB)$/;
const DNS_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
/** Printable ASCII without spaces: survives the passfile, psql quoting and a one-line file. */
const PASSWORD = /^[\x21-\x7e]{8,256}$/;
const MIN_POSTGRES = 13; // wal_keep_size exists from 13 on.
const MAX_POSTGRES = 17;

class InputError extends Error {}

function fail(field: string, value: unknown, expected: string): never {
  const shown = typeof value === "string" ? `"${value}"` : JSON.stringify(value);
  throw new InputError(`DatabaseUserDataInput.${field}: received ${shown}; expected ${expected}`);
}

function redacted(value: unknown): string {
  return typeof value === "string" ? `a string of ${value.length} characters` : String(typeof value);
}

function checkIdentifier(field: string, value: unknown): string {
  if (typeof value !== "string" || !SQL_IDENTIFIER.test(value)) {
    fail(
      field,
      value,
      `a lowercase SQL identifier matching ${SQL_IDENTIFIER} (letters, digits, underscore; at most 63 characters)`,
    );
  }
  return value;
}

function checkSize(field: string, value: unknown): string {
  if (typeof value !== "string" || !SIZE.test(value)) {
    fail(field, value, `a positive PostgreSQL size with a unit, like "512MB" or "8GB" (matching ${SIZE})`);
  }
  return value;
}

function checkPassword(field: string, value: unknown): string {
  if (typeof value !== "string" || !PASSWORD.test(value)) {
    // Never echo a secret, even a malformed one.
    throw new InputError(
      `DatabaseUserDataInput.${field}: received ${redacted(value)}; expected 8 to 256 printable ASCII characters without spaces`,
    );
  }
  return value;
}

function checkPem(field: string, value: unknown, kind: "CERTIFICATE" | "PRIVATE KEY"): string {
  const begin = kind === "CERTIFICATE" ? /-----BEGIN CERTIFICATE-----/ : /-----BEGIN [A-Z ]*PRIVATE KEY-----/;
  if (typeof value !== "string" || !begin.test(value)) {
    const shown =
      kind === "PRIVATE KEY"
        ? redacted(value)
        : typeof value === "string"
          ? `"${value.slice(0, 40)}..."`
          : typeof value;
    throw new InputError(
      `DatabaseUserDataInput.${field}: received ${shown}; expected a PEM-encoded ${kind.toLowerCase()}`,
    );
  }
  return value;
}

function checkInteger(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    fail(field, value, `an integer from ${min} to ${max}`);
  }
  return value;
}

interface ValidatedInput extends DatabaseUserDataInput {
  settings: [string, string][];
}

function validate(input: DatabaseUserDataInput): ValidatedInput {
  if (input.role !== "primary" && input.role !== "replica") {
    fail("role", input.role, `"primary" or "replica"`);
  }
  checkInteger("postgresVersion", input.postgresVersion, MIN_POSTGRES, MAX_POSTGRES);
  checkSize("walKeepSize", input.walKeepSize);
  checkSize("maxSlotWalKeepSize", input.maxSlotWalKeepSize);
  if (!input.tls) fail("tls", input.tls, "{ caCertPem, serverCertPem, serverKeyPem }");
  checkPem("tls.caCertPem", input.tls.caCertPem, "CERTIFICATE");
  checkPem("tls.serverCertPem", input.tls.serverCertPem, "CERTIFICATE");
  checkPem("tls.serverKeyPem", input.tls.serverKeyPem, "PRIVATE KEY");
  if (!input.replication) fail("replication", input.replication, "{ user, password, slotName }");
  checkIdentifier("replication.user", input.replication.user);
  checkPassword("replication.password", input.replication.password);
  checkIdentifier("replication.slotName", input.replication.slotName);

  const settings: [string, string][] = [
    ["ROLE", input.role],
    ["PG_VERSION", String(input.postgresVersion)],
    ["WAL_KEEP_SIZE", input.walKeepSize],
    ["MAX_SLOT_WAL_KEEP_SIZE", input.maxSlotWalKeepSize],
    ["REPL_USER", input.replication.user],
    ["SLOT_NAME", input.replication.slotName],
  ];

  if (input.app !== undefined) {
    checkIdentifier("app.database", input.app.database);
    checkIdentifier("app.user", input.app.user);
    checkPassword("app.password", input.app.password);
    if (input.app.user === input.replication.user) {
      fail(
        "app.user",
        input.app.user,
        `a role other than replication.user "${input.replication.user}" (the replication role must not own application data)`,
      );
    }
    settings.push(["APP_DATABASE", input.app.database], ["APP_USER", input.app.user]);
  } else if (input.role === "primary") {
    fail(
      "app",
      input.app,
      `{ database, user, password } (role "primary" creates the application role and database)`,
    );
  }

  if (input.role === "replica") {
    const upstream = input.upstream;
    if (upstream === undefined) {
      fail(
        "upstream",
        upstream,
        `{ hostaddr, serverName, port, waitTimeoutSeconds } (role "replica" copies from the primary)`,
      );
    }
    if (typeof upstream.hostaddr !== "string" || !isIPv4(upstream.hostaddr)) {
      fail(
        "upstream.hostaddr",
        upstream.hostaddr,
        "an IPv4 literal such as 203.0.113.10 (the primary's public address)",
      );
    }
    if (typeof upstream.serverName !== "string" || !DNS_NAME.test(upstream.serverName)) {
      fail(
        "upstream.serverName",
        upstream.serverName,
        "a DNS name, the one in the primary's server certificate",
      );
    }
    checkInteger("upstream.port", upstream.port, 1, 65535);
    checkInteger("upstream.waitTimeoutSeconds", upstream.waitTimeoutSeconds, 1, 86_400);
    settings.push(
      ["UPSTREAM_HOSTADDR", upstream.hostaddr],
      ["UPSTREAM_SERVER_NAME", upstream.serverName],
      ["UPSTREAM_PORT", String(upstream.port)],
      ["UPSTREAM_WAIT_TIMEOUT_SECONDS", String(upstream.waitTimeoutSeconds)],
    );
  } else if (input.upstream !== undefined) {
    fail("upstream", input.upstream, `nothing for role "primary" (only a replica has an upstream)`);
  }

  return { ...input, settings };
}

export function renderDatabaseUserData(input: DatabaseUserDataInput): string {
  const valid = validate(input);
  const settingsText =
    "# Written by cloud-init from the linode-dr Pulumi program; read by linode-dr-db-provision.\n" +
    valid.settings.map(([key, value]) => `${key}=${value}\n`).join("");

  const writeFiles: WriteFile[] = [
    { path: DB_SETTINGS_PATH, content: settingsText, permissions: "0644", owner: "root:root" },
    {
      path: REPLICATION_PASSWORD_PATH,
      content: valid.replication.password,
      permissions: "0600",
      owner: "root:root",
    },
    { path: TLS_CA_PATH, content: valid.tls.caCertPem, permissions: "0644", owner: "root:root" },
    { path: TLS_CERT_PATH, content: valid.tls.serverCertPem, permissions: "0644", owner: "root:root" },
    { path: TLS_KEY_PATH, content: valid.tls.serverKeyPem, permissions: "0600", owner: "root:root" },
  ];
  if (valid.app !== undefined) {
    writeFiles.push({
      path: APP_PASSWORD_PATH,
      content: valid.app.password,
      permissions: "0600",
      owner: "root:root",
    });
  }
  return renderHostUserData({
    role: `database (${valid.role})`,
    release: input.release,
    access: input.access,
    files: writeFiles,
    entry: "linode-dr-db-provision",
  });
}
