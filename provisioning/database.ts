import { password, postgresSize, postgresVersion, sqlIdentifier } from "../validation/formats";
import { InputCheck } from "../validation/inputError";
import type { WriteFile } from "./cloudConfig";
import {
  checkConsensus,
  CONSENSUS_SETTINGS_PATH,
  REST_PASSWORD_PATH,
  renderConsensusSettings,
  type ConsensusSettings,
} from "./consensus";
import { renderHostUserData, type HostAccess, type ReleaseSource } from "./host";
import { checkServerTls, serverTlsFiles, type ServerTls } from "./serverTls";

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
  tls: ServerTls;
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
export { TLS_CA_PATH, TLS_CERT_PATH, TLS_KEY_PATH } from "./serverTls";

/** A role's credentials; the sub-check for more of its fields, or undefined when it is not an object. */
function checkRole(
  check: InputCheck,
  name: string,
  role: { user: string; password: string },
  expected: string,
): InputCheck | undefined {
  const fields = check.object(name, role, expected);
  fields?.field("user", role.user, sqlIdentifier);
  fields?.field("password", role.password, password);
  return fields;
}

function checkInput(input: DatabaseUserDataInput): void {
  const check = new InputCheck("DatabaseUserDataInput");
  check.field("postgresVersion", input.postgresVersion, postgresVersion);
  check.field("walKeepSize", input.walKeepSize, postgresSize);
  check.field("maxSlotWalKeepSize", input.maxSlotWalKeepSize, postgresSize);
  checkServerTls(check.under("tls"), input.tls);
  const replication = checkRole(check, "replication", input.replication, "{ user, password }");
  const superuser = check.object("superuser", input.superuser, "{ password }");
  superuser?.field("password", input.superuser.password, password);
  const app = checkRole(check, "app", input.app, "{ database, user, password }");
  app?.field("database", input.app.database, sqlIdentifier);
  const reserved = replication ? [input.replication.user, "postgres"] : ["postgres"];
  for (const role of reserved) {
    if (app && input.app.user === role)
      app.refuse(
        "user",
        role,
        `a role other than "${role}" (the replication role and the superuser must not own application data)`,
      );
  }
  if (replication && input.replication.user === "postgres")
    replication.refuse("user", "postgres", `a role other than "postgres" (the superuser)`);
  checkConsensus(check.under("consensus"), input.consensus, "database");
  check.throwIfAny();
}

function settingsFile(input: DatabaseUserDataInput): string {
  const settings: [string, string][] = [
    ["PG_VERSION", String(input.postgresVersion)],
    ["WAL_KEEP_SIZE", input.walKeepSize],
    ["MAX_SLOT_WAL_KEEP_SIZE", input.maxSlotWalKeepSize],
    ["REPL_USER", input.replication.user],
    ["APP_DATABASE", input.app.database],
    ["APP_USER", input.app.user],
  ];
  return (
    "# Written by cloud-init from the linode-dr Pulumi program; read by linode-dr-db-provision.\n" +
    settings.map(([key, value]) => `${key}=${value}\n`).join("")
  );
}

export function renderDatabaseUserData(input: DatabaseUserDataInput): string {
  checkInput(input);
  const secret = (path: string, content: string): WriteFile => ({
    path,
    content,
    permissions: "0600",
    owner: "root:root",
  });
  const writeFiles: WriteFile[] = [
    { path: DB_SETTINGS_PATH, content: settingsFile(input), permissions: "0644", owner: "root:root" },
    {
      path: CONSENSUS_SETTINGS_PATH,
      content: renderConsensusSettings(input.consensus),
      permissions: "0644",
      owner: "root:root",
    },
    secret(REPLICATION_PASSWORD_PATH, input.replication.password),
    secret(SUPERUSER_PASSWORD_PATH, input.superuser.password),
    secret(APP_PASSWORD_PATH, input.app.password),
    secret(REST_PASSWORD_PATH, input.consensus.restApi.password),
    ...serverTlsFiles(input.tls),
  ];
  return renderHostUserData({
    role: `database (${input.consensus.self})`,
    release: input.release,
    access: input.access,
    files: writeFiles,
    entry: "linode-dr-db-provision",
  });
}
