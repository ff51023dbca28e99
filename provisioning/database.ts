import type { WriteFile } from "./cloudConfig";
import {
  CONSENSUS_SETTINGS_PATH,
  ConsensusInputError,
  REST_PASSWORD_PATH,
  renderConsensusSettings,
  validateConsensus,
  type ConsensusSettings,
} from "./consensus";
import { renderHostUserData, type HostAccess, type ReleaseSource } from "./host";

export { leaderCommandLine, LEADER_PATH } from "./consensus";
export type { ClusterMember, ConsensusSettings, MemberName } from "./consensus";

/**
 * First-boot user data for the PostgreSQL Linodes: the settings and credentials the release's
 * provisioning script (linode-dr-db-provision) needs, as one deterministic #cloud-config. That
 * script makes the host an etcd member and hands PostgreSQL to Patroni (docs/consensus.md). The
 * scripts themselves come with the release, fetched and verified on first boot.
 */

export interface DatabaseUserDataInput {
  postgresVersion: number;
  walKeepSize: string;
  maxSlotWalKeepSize: string;
  tls: { caCertPem: string; serverCertPem: string; serverKeyPem: string };
  replication: { user: string; password: string };
  /** The postgres superuser's password: Patroni's own connections and pg_rewind (TLS, SCRAM). */
  superuser: { password: string };
  app: { database: string; user: string; password: string };
  consensus: ConsensusSettings;
  release: ReleaseSource;
  access: HostAccess;
}

export const DB_PROVISION_PATH = "/usr/local/sbin/linode-dr-db-provision";

export const DB_ETC_DIR = "/etc/linode-dr";
export const DB_SETTINGS_PATH = `${DB_ETC_DIR}/db.conf`;
export const REPLICATION_PASSWORD_PATH = `${DB_ETC_DIR}/replication-password`;
export const APP_PASSWORD_PATH = `${DB_ETC_DIR}/app-password`;
export const SUPERUSER_PASSWORD_PATH = `${DB_ETC_DIR}/superuser-password`;
export { CONSENSUS_SETTINGS_PATH, REST_PASSWORD_PATH };
export const TLS_CA_PATH = `${DB_ETC_DIR}/tls/ca.crt`;
export const TLS_CERT_PATH = `${DB_ETC_DIR}/tls/server.crt`;
export const TLS_KEY_PATH = `${DB_ETC_DIR}/tls/server.key`;

/** Lowercase so the names never need quoting in SQL, pg_hba.conf or the settings file. */
const SQL_IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;
const SIZE = /^[1-9][0-9]*(kB|MB|GB|TB)$/;
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
  checkInteger("postgresVersion", input.postgresVersion, MIN_POSTGRES, MAX_POSTGRES);
  checkSize("walKeepSize", input.walKeepSize);
  checkSize("maxSlotWalKeepSize", input.maxSlotWalKeepSize);
  if (!input.tls) fail("tls", input.tls, "{ caCertPem, serverCertPem, serverKeyPem }");
  checkPem("tls.caCertPem", input.tls.caCertPem, "CERTIFICATE");
  checkPem("tls.serverCertPem", input.tls.serverCertPem, "CERTIFICATE");
  checkPem("tls.serverKeyPem", input.tls.serverKeyPem, "PRIVATE KEY");
  if (!input.replication) fail("replication", input.replication, "{ user, password }");
  checkIdentifier("replication.user", input.replication.user);
  checkPassword("replication.password", input.replication.password);
  if (!input.superuser) fail("superuser", input.superuser, "{ password }");
  checkPassword("superuser.password", input.superuser.password);
  if (!input.app) fail("app", input.app, "{ database, user, password }");
  checkIdentifier("app.database", input.app.database);
  checkIdentifier("app.user", input.app.user);
  checkPassword("app.password", input.app.password);
  for (const reserved of [input.replication.user, "postgres"]) {
    if (input.app.user === reserved) {
      fail(
        "app.user",
        input.app.user,
        `a role other than "${reserved}" (the replication role and the superuser must not own application data)`,
      );
    }
  }
  if (input.replication.user === "postgres") {
    fail("replication.user", input.replication.user, `a role other than "postgres" (the superuser)`);
  }
  try {
    validateConsensus("DatabaseUserDataInput", input.consensus, "database");
  } catch (error) {
    if (error instanceof ConsensusInputError) throw new InputError(error.message);
    throw error;
  }
  const settings: [string, string][] = [
    ["PG_VERSION", String(input.postgresVersion)],
    ["WAL_KEEP_SIZE", input.walKeepSize],
    ["MAX_SLOT_WAL_KEEP_SIZE", input.maxSlotWalKeepSize],
    ["REPL_USER", input.replication.user],
    ["APP_DATABASE", input.app.database],
    ["APP_USER", input.app.user],
  ];
  return { ...input, settings };
}

export function renderDatabaseUserData(input: DatabaseUserDataInput): string {
  const valid = validate(input);
  const settingsText =
    "# Written by cloud-init from the linode-dr Pulumi program; read by linode-dr-db-provision.\n" +
    valid.settings.map(([key, value]) => `${key}=${value}\n`).join("");

  const secret = (path: string, content: string): WriteFile => ({
    path,
    content,
    permissions: "0600",
    owner: "root:root",
  });
  const writeFiles: WriteFile[] = [
    { path: DB_SETTINGS_PATH, content: settingsText, permissions: "0644", owner: "root:root" },
    {
      path: CONSENSUS_SETTINGS_PATH,
      content: renderConsensusSettings(valid.consensus),
      permissions: "0644",
      owner: "root:root",
    },
    secret(REPLICATION_PASSWORD_PATH, valid.replication.password),
    secret(SUPERUSER_PASSWORD_PATH, valid.superuser.password),
    secret(APP_PASSWORD_PATH, valid.app.password),
    secret(REST_PASSWORD_PATH, valid.consensus.restApi.password),
    { path: TLS_CA_PATH, content: valid.tls.caCertPem, permissions: "0644", owner: "root:root" },
    { path: TLS_CERT_PATH, content: valid.tls.serverCertPem, permissions: "0644", owner: "root:root" },
    secret(TLS_KEY_PATH, valid.tls.serverKeyPem),
  ];
  return renderHostUserData({
    role: `database (${valid.consensus.self})`,
    release: input.release,
    access: input.access,
    files: writeFiles,
    entry: "linode-dr-db-provision",
  });
}
