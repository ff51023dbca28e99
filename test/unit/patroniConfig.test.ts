import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

/**
 * linode-dr-db-provision writes /etc/linode-dr/patroni.yml from cloud-init's settings and secret
 * files. Here it renders from fake files in a temporary directory, and the file is read back the
 * way Patroni reads it (Debian's PyYAML, safe_load): every setting must be what the cluster was
 * designed with, and every password must come back byte for byte, whatever YAML would make of it.
 */
const SCRIPT = path.join(__dirname, "..", "..", "provisioning", "scripts", "db-provision.sh");
const scratch = mkdtempSync(path.join(tmpdir(), "patroni-config-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const PASSWORDS = {
  rest: `r"e'st\\:#pw`,
  superuser: `s:u #"\\\\'x`,
  replication: `'rep"l#i\\n':`,
};

interface Member {
  self: "primary" | "dr";
  founder: boolean;
  automaticFailover: boolean;
  synchronousMode: boolean;
  /** linode-dr-leader's record of the flag's choice for this member, if any. */
  nofailoverFile?: "true" | "false";
}

function fakeHost(member: Member): { etc: string; state: string } {
  const root = mkdtempSync(path.join(scratch, "host-"));
  const etc = path.join(root, "etc");
  const state = path.join(root, "state");
  mkdirSync(etc);
  mkdirSync(state);
  const lines = (settings: Record<string, string>) =>
    Object.entries(settings)
      .map(([key, value]) => `${key}=${value}\n`)
      .join("");
  writeFileSync(
    path.join(etc, "consensus.conf"),
    "# fake consensus.conf\n" +
      lines({
        SCOPE: "linode-dr-shop",
        SELF: member.self,
        FOUNDER: String(member.founder),
        NAME_PRIMARY: "db-primary.shop.example.com",
        IPV4_PRIMARY: "198.51.100.10",
        NAME_DR: "db-dr.shop.example.com",
        NAME_WITNESS: "witness.shop.example.com",
        ETCD_HEARTBEAT_MS: "150",
        ETCD_ELECTION_MS: "1500",
        JOIN_TIMEOUT_SECONDS: "3600",
        TTL: "10",
        LOOP_WAIT: "2",
        RETRY_TIMEOUT: "4",
        MAXIMUM_LAG_ON_FAILOVER: "16777216",
        MAXIMUM_DATA_LOSS_SECONDS: "10",
        SYNCHRONOUS_MODE: String(member.synchronousMode),
        AUTOMATIC_FAILOVER: String(member.automaticFailover),
        REST_USER: "patroni",
      }),
  );
  writeFileSync(
    path.join(etc, "db.conf"),
    lines({
      PG_VERSION: "15",
      WAL_KEEP_SIZE: "512MB",
      MAX_SLOT_WAL_KEEP_SIZE: "8GB",
      REPL_USER: "replicator",
      APP_DATABASE: "orders",
      APP_USER: "orders_app",
    }),
  );
  // cloud-init's write_files content ends with a newline; the password does not.
  writeFileSync(path.join(etc, "patroni-rest-password"), `${PASSWORDS.rest}\n`, { mode: 0o600 });
  writeFileSync(path.join(etc, "superuser-password"), `${PASSWORDS.superuser}\n`, { mode: 0o600 });
  writeFileSync(path.join(etc, "replication-password"), PASSWORDS.replication, { mode: 0o600 });
  if (member.nofailoverFile) writeFileSync(path.join(state, "nofailover"), `${member.nofailoverFile}\n`);
  return { etc, state };
}

/** `onLinode`: as on a Linode, where systemd runs (the lab has none, and never arms the watchdog). */
function render(host: { etc: string; state: string }, onLinode = false) {
  const asOnLinode = onLinode ? "watchdog_mode() { printf automatic; }; " : "";
  return spawnSync("bash", ["-c", `source "${SCRIPT}"; ${asOnLinode}load_settings; render_patroni_config`], {
    encoding: "utf8",
    env: { PATH: "/usr/bin:/bin", LINODE_DR_ETC_DIR: host.etc, LINODE_DR_STATE_DIR: host.state },
  });
}

/** The document as Patroni loads it. */
function asPatroniReadsIt(yamlText: string): unknown {
  const parsed = spawnSync(
    "/usr/bin/python3",
    ["-c", "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"],
    { input: yamlText, encoding: "utf8" },
  );
  expect(parsed.status, parsed.stderr).toBe(0);
  return JSON.parse(parsed.stdout);
}

const TLS = "/var/lib/postgresql/linode-dr-tls";

function expectedConfig(member: Member, nofailover: boolean) {
  const name = `db-${member.self}.shop.example.com`;
  return {
    scope: "linode-dr-shop",
    namespace: "/service/",
    name: member.self,
    restapi: {
      listen: "0.0.0.0:8008",
      connect_address: `${name}:8008`,
      certfile: `${TLS}/server.crt`,
      keyfile: `${TLS}/server.key`,
      cafile: `${TLS}/ca.crt`,
      authentication: { username: "patroni", password: PASSWORDS.rest },
    },
    ctl: { cacert: `${TLS}/ca.crt`, certfile: `${TLS}/server.crt`, keyfile: `${TLS}/server.key` },
    etcd3: {
      protocol: "https",
      cacert: `${TLS}/ca.crt`,
      cert: `${TLS}/server.crt`,
      key: `${TLS}/server.key`,
      use_proxies: true,
      hosts: [`${name}:2379`],
    },
    bootstrap: {
      dcs: {
        ttl: 10,
        loop_wait: 2,
        retry_timeout: 4,
        maximum_lag_on_failover: 16777216,
        synchronous_mode: member.synchronousMode,
        synchronous_mode_strict: false,
        failsafe_mode: true,
        pause: false,
        postgresql: {
          use_pg_rewind: true,
          use_slots: true,
          parameters: {
            wal_level: "replica",
            hot_standby: "on",
            wal_log_hints: "on",
            max_wal_senders: 10,
            max_replication_slots: 10,
            wal_keep_size: "512MB",
            max_slot_wal_keep_size: "8GB",
            wal_sender_timeout: "10s",
            wal_receiver_timeout: "10s",
          },
        },
      },
      initdb: [{ encoding: "UTF8" }, "data-checksums"],
    },
    postgresql: {
      listen: "0.0.0.0:5432",
      connect_address: `${name}:5432`,
      data_dir: "/var/lib/postgresql/15/main",
      bin_dir: "/usr/lib/postgresql/15/bin",
      pgpass: "/var/lib/postgresql/.linode-dr-patroni.pgpass",
      use_unix_socket: true,
      use_unix_socket_repl: true,
      authentication: {
        superuser: {
          username: "postgres",
          password: PASSWORDS.superuser,
          sslmode: "verify-full",
          sslrootcert: `${TLS}/ca.crt`,
        },
        replication: {
          username: "replicator",
          password: PASSWORDS.replication,
          sslmode: "verify-full",
          sslrootcert: `${TLS}/ca.crt`,
        },
      },
      parameters: {
        unix_socket_directories: "/var/run/postgresql",
        password_encryption: "scram-sha-256",
        ssl: "on",
        ssl_cert_file: `${TLS}/server.crt`,
        ssl_key_file: `${TLS}/server.key`,
        ssl_min_protocol_version: "TLSv1.2",
        wal_retrieve_retry_interval: "1s",
      },
      basebackup: [{ checkpoint: "fast" }],
      // The data-loss budget's check, before Patroni promotes this member.
      pre_promote: "/usr/local/sbin/linode-dr-promotion-check",
      pg_hba: [
        "local all all peer",
        "local replication replicator scram-sha-256",
        "hostssl replication replicator 0.0.0.0/0 scram-sha-256",
        "hostssl postgres postgres 0.0.0.0/0 scram-sha-256",
        "hostssl orders orders_app 0.0.0.0/0 scram-sha-256",
      ],
    },
    tags: { nofailover, noloadbalance: false, clonefrom: false, nosync: false },
    watchdog: { mode: "off" },
  };
}

/** The member that founds the cluster, with automatic failover on. */
const FOUNDER: Member = { self: "primary", founder: true, automaticFailover: true, synchronousMode: false };

describe("patroni.yml as linode-dr-db-provision writes it", () => {
  it("holds every setting of the founder, and passwords with quotes, backslashes, colons and # exactly", () => {
    const member = FOUNDER;
    const r = render(fakeHost(member));
    expect(r.status, r.stderr).toBe(0);
    expect(asPatroniReadsIt(r.stdout)).toEqual(expectedConfig(member, false));
  }, 20_000);

  it("tags the joining member nofailover while automatic failover is off, until the flag names it", () => {
    const member: Member = { self: "dr", founder: false, automaticFailover: false, synchronousMode: true };
    const before = render(fakeHost(member));
    expect(before.status, before.stderr).toBe(0);
    expect(asPatroniReadsIt(before.stdout)).toEqual(expectedConfig(member, true));
    const named = render(fakeHost({ ...member, nofailoverFile: "false" }));
    expect(named.status, named.stderr).toBe(0);
    expect(asPatroniReadsIt(named.stdout)).toEqual(expectedConfig(member, false));
  }, 20_000);

  it("refuses a missing or empty secret file, naming it, instead of writing an empty password", () => {
    const member = FOUNDER;
    const empty = fakeHost(member);
    writeFileSync(path.join(empty.etc, "superuser-password"), "\n");
    const r = render(empty);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`secret file ${path.join(empty.etc, "superuser-password")} is empty`);
    const missing = fakeHost(member);
    rmSync(path.join(missing.etc, "replication-password"));
    expect(render(missing).stderr).toContain(`secret file ${path.join(missing.etc, "replication-password")}`);
  }, 20_000);

  it("arms Patroni's watchdog on a Linode, resetting a hung leader 2 s before its lease can pass on", () => {
    const r = render(fakeHost(FOUNDER), true);
    expect(r.status, r.stderr).toBe(0);
    expect(asPatroniReadsIt(r.stdout)).toEqual({
      ...expectedConfig(FOUNDER, false),
      watchdog: { mode: "automatic", device: "/dev/watchdog", safety_margin: 2 },
    });
  }, 20_000);

  it("says who manages the file", () => {
    const r = render(fakeHost(FOUNDER));
    expect(r.stdout.split("\n")[0]).toBe(
      "# Managed by linode-dr-db-provision; rewritten on every run. Secrets: mode 0600, owner postgres.",
    );
  }, 20_000);
});
