import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { fixtureConsensus } from "../../evaluation/fixtures/consensus";
import { fixtureHost } from "../../evaluation/fixtures/host";
import { USER_DATA_LIMIT_BYTES } from "../../provisioning/cloudConfig";
import {
  CONSENSUS_SETTINGS_PATH,
  leaderCommandLine,
  renderConsensusSettings,
  type ConsensusSettings,
} from "../../provisioning/consensus";
import { renderDesiredState } from "../../provisioning/converge";
import { DB_SETTINGS_PATH, DatabaseUserDataInput, renderDatabaseUserData } from "../../provisioning/database";
import { FIRST_BOOT_PATH, OBJECT_STORE_ENV_PATH } from "../../provisioning/host";
import { SBIN_COMMANDS } from "../../provisioning/release";
import { renderWitnessUserData, WitnessUserDataInput } from "../../provisioning/witness";
import { InputError } from "../../validation/inputError";

const SCRIPTS_DIR = path.join(__dirname, "..", "..", "provisioning", "scripts");
const DB_PROVISION_SCRIPT = path.join(SCRIPTS_DIR, "db-provision.sh");

const CERT = "-----BEGIN CERTIFICATE-----\nMIIBfakecertbody\n-----END CERTIFICATE-----\n";
const CA = "-----BEGIN CERTIFICATE-----\nMIIBfakecabody\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN PRIVATE KEY-----\nMIIEsecretkeybody0123\n-----END PRIVATE KEY-----\n";
const REPL_PASSWORD = "repl-S3cret:with\\odd'chars";
const APP_PASSWORD = "app-Secret-4567";
const SUPERUSER_PASSWORD = "super-Secret-1234";
const REST_PASSWORD = "rest-Secret-8910";

function databaseInput(self: "primary" | "dr" = "primary"): DatabaseUserDataInput {
  return {
    postgresVersion: 15,
    walKeepSize: "512MB",
    maxSlotWalKeepSize: "8GB",
    tls: { caCertPem: CA, serverCertPem: CERT, serverKeyPem: KEY },
    replication: { user: "replicator", password: REPL_PASSWORD },
    superuser: { password: SUPERUSER_PASSWORD },
    app: { database: "orders", user: "orders_app", password: APP_PASSWORD },
    consensus: fixtureConsensus(self),
    ...fixtureHost(),
  };
}

function witnessInput(): WitnessUserDataInput {
  return {
    tls: { caCertPem: CA, serverCertPem: CERT, serverKeyPem: KEY },
    consensus: fixtureConsensus("witness"),
    ...fixtureHost(),
  };
}

interface RenderedFile {
  path: string;
  permissions: string;
  content: string;
}

function files(userData: string): RenderedFile[] {
  const doc = parse(userData) as { write_files: Record<string, string>[] };
  return doc.write_files.map((entry) => ({
    path: entry.path,
    permissions: entry.permissions,
    content:
      entry.encoding === "gz+b64"
        ? gunzipSync(Buffer.from(entry.content, "base64")).toString("utf8")
        : entry.content,
  }));
}

function file(userData: string, filePath: string): RenderedFile {
  const found = files(userData).find((f) => f.path === filePath);
  if (!found) throw new Error(`${filePath} not in user data`);
  return found;
}

const scratch = mkdtempSync(path.join(tmpdir(), "db-user-data-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const renders = (): [string, string][] => [
  ["primary", renderDatabaseUserData(databaseInput("primary"))],
  ["dr", renderDatabaseUserData(databaseInput("dr"))],
  ["witness", renderWitnessUserData(witnessInput())],
];

describe("database and witness user data", () => {
  it("is deterministic and differs by member", () => {
    expect(renderDatabaseUserData(databaseInput("primary"))).toBe(
      renderDatabaseUserData(databaseInput("primary")),
    );
    expect(renderWitnessUserData(witnessInput())).toBe(renderWitnessUserData(witnessInput()));
    expect(renderDatabaseUserData(databaseInput("primary"))).not.toBe(
      renderDatabaseUserData(databaseInput("dr")),
    );
  });

  it("runs the release's entry on first boot, carries no provisioning program and fits 16,384 bytes", () => {
    for (const [name, userData] of renders()) {
      expect(userData.startsWith("#cloud-config\n"), name).toBe(true);
      expect((parse(userData) as { runcmd: string[][] }).runcmd, name).toEqual([
        [FIRST_BOOT_PATH, name === "witness" ? "linode-dr-etcd-member" : "linode-dr-db-provision"],
      ]);
      const shipped = files(userData)
        .map((f) => f.content)
        .join("\n");
      expect(shipped).not.toContain(readFileSync(DB_PROVISION_SCRIPT, "utf8").slice(0, 200));
      expect(shipped).not.toContain("patroni.yml");
      expect(Buffer.byteLength(userData), name).toBeLessThanOrEqual(USER_DATA_LIMIT_BYTES);
    }
  });

  it("writes the settings the scripts read", () => {
    const db = file(renderDatabaseUserData(databaseInput("dr")), DB_SETTINGS_PATH).content;
    expect(db).toContain("PG_VERSION=15\n");
    expect(db).toContain("WAL_KEEP_SIZE=512MB\n");
    expect(db).toContain("MAX_SLOT_WAL_KEEP_SIZE=8GB\n");
    expect(db).toContain("REPL_USER=replicator\n");
    expect(db).toContain("APP_DATABASE=orders\n");
    const consensus = file(renderDatabaseUserData(databaseInput("dr")), CONSENSUS_SETTINGS_PATH).content;
    for (const line of [
      "SCOPE=linode-dr-shop",
      "SELF=dr",
      "FOUNDER=false",
      "NAME_PRIMARY=db-primary.shop.example.com",
      "IPV4_PRIMARY=198.51.100.10",
      "NAME_WITNESS=witness.shop.example.com",
      "ETCD_HEARTBEAT_MS=150",
      "ETCD_ELECTION_MS=1500",
      "TTL=10",
      "LOOP_WAIT=2",
      "RETRY_TIMEOUT=4",
      "MAXIMUM_LAG_ON_FAILOVER=16777216",
      "MAXIMUM_DATA_LOSS_SECONDS=10",
      "SYNCHRONOUS_MODE=false",
      "AUTOMATIC_FAILOVER=true",
      "REST_USER=patroni",
    ]) {
      expect(consensus).toContain(`${line}\n`);
    }
    // The witness's address was not known: no line rather than an empty one.
    expect(consensus).not.toContain("IPV4_WITNESS");
    const founder = file(renderDatabaseUserData(databaseInput("primary")), CONSENSUS_SETTINGS_PATH).content;
    expect(founder).toContain("FOUNDER=true\n");
    expect(renderConsensusSettings(fixtureConsensus("witness"))).toContain("SELF=witness\n");
  });

  it("puts secrets only into 0600 files", () => {
    const secrets = [
      REPL_PASSWORD,
      APP_PASSWORD,
      SUPERUSER_PASSWORD,
      REST_PASSWORD,
      "MIIEsecretkeybody0123",
      fixtureHost().release.secretKey,
    ];
    for (const [name, userData] of renders()) {
      const carriers = files(userData).filter((f) => secrets.some((s) => f.content.includes(s)));
      const expected =
        name === "witness"
          ? ["/etc/linode-dr/tls/server.key", OBJECT_STORE_ENV_PATH]
          : [
              "/etc/linode-dr/app-password",
              "/etc/linode-dr/replication-password",
              "/etc/linode-dr/superuser-password",
              "/etc/linode-dr/patroni-rest-password",
              "/etc/linode-dr/tls/server.key",
              OBJECT_STORE_ENV_PATH,
            ];
      expect(carriers.map((f) => f.path).sort(), name).toEqual(expected.sort());
      for (const carrier of carriers) expect(carrier.permissions, carrier.path).toBe("0600");
      expect(JSON.stringify((parse(userData) as { runcmd: unknown }).runcmd)).not.toMatch(/Secret/);
    }
  });

  it("passes cloud-init's schema validation", () => {
    for (const [name, userData] of renders()) {
      const target = path.join(scratch, `${name}.yaml`);
      writeFileSync(target, userData);
      const result = spawnSync("cloud-init", ["schema", "--config-file", target], { encoding: "utf8" });
      expect(result.status, `${result.stdout}${result.stderr}`).toBe(0);
      expect(result.stdout).toContain("Valid cloud-config");
    }
    // cloud-init's validator takes seconds per document on a busy 2-vCPU machine.
  }, 60_000);

  it("ships the consensus commands in the release, and no promote script", () => {
    expect(SBIN_COMMANDS["linode-dr-etcd-member"]).toBe("scripts/etcd-member.sh");
    expect(SBIN_COMMANDS["linode-dr-leader"]).toBe("scripts/leader.sh");
    expect(SBIN_COMMANDS["linode-dr-promote"]).toBeUndefined();
    expect(readdirSync(SCRIPTS_DIR)).not.toContain("pg-promote.sh");
    for (const script of readdirSync(SCRIPTS_DIR).filter((name) => name.endsWith(".sh"))) {
      const text = readFileSync(path.join(SCRIPTS_DIR, script), "utf8");
      expect(text, script).not.toContain("pg_promote");
      expect(text, script).not.toContain("pg_basebackup -");
      expect(text, script).not.toContain("wal_keep_segments");
    }
  });

  // shellcheck over every script takes seconds: on a busy 2-vCPU machine, more than vitest's 5 s.
  it("ships shellcheck-clean, syntactically valid scripts", () => {
    const scripts = [
      ...readdirSync(SCRIPTS_DIR)
        .filter((name) => name.endsWith(".sh"))
        .map((name) => path.join(SCRIPTS_DIR, name)),
      path.join(SCRIPTS_DIR, "lib", "consensus.sh"),
    ];
    for (const script of scripts) {
      execFileSync("bash", ["-n", script]);
      const result = spawnSync("shellcheck", ["-x", "--shell=bash", "--severity=style", script], {
        encoding: "utf8",
        cwd: SCRIPTS_DIR,
      });
      expect(result.status, `${script}\n${result.stdout}${result.stderr}`).toBe(0);
    }
  }, 60_000);

  it("renders converge's peer lines for the managed /etc/hosts block", () => {
    const text = renderDesiredState({
      authorizedKeys: fixtureHost().access.authorizedKeys,
      peers: fixtureConsensus("dr").members,
    });
    expect(text).toContain("peer primary db-primary.shop.example.com 198.51.100.10\n");
    expect(text).toContain("peer dr db-dr.shop.example.com 203.0.113.10\n");
    expect(text).not.toContain("peer witness");
    expect(() =>
      renderDesiredState({
        authorizedKeys: fixtureHost().access.authorizedKeys,
        peers: [{ name: "dr", serverName: "db-dr.shop.example.com", ipv4: "2001:db8::1" }],
      }),
    ).toThrow(/peers\[0\]\.ipv4: received "2001:db8::1"; expected an IPv4 literal/);
  });

  it("renders converge's TLS lines for cluster members, never echoing a malformed key", () => {
    const tls = { caCertPem: CA, serverCertPem: CERT, serverKeyPem: KEY };
    const text = renderDesiredState({ authorizedKeys: fixtureHost().access.authorizedKeys, tls });
    expect(text).toContain(`tls_ca ${Buffer.from(CA).toString("base64")}\n`);
    expect(text).toContain(`tls_cert ${Buffer.from(CERT).toString("base64")}\n`);
    expect(text).toContain(`tls_key ${Buffer.from(KEY).toString("base64")}\n`);
    expect(() =>
      renderDesiredState({
        authorizedKeys: fixtureHost().access.authorizedKeys,
        tls: { ...tls, serverKeyPem: "not a key" },
      }),
    ).toThrow(
      /^DesiredState\.tls\.serverKeyPem: received a string of 9 characters; expected a PEM-encoded private key$/,
    );
  });

  it("renders converge's password lines for database members only, never echoing a password", () => {
    const passwords = {
      replication: REPL_PASSWORD,
      superuser: SUPERUSER_PASSWORD,
      app: APP_PASSWORD,
      rest: REST_PASSWORD,
    };
    const text = renderDesiredState({ authorizedKeys: fixtureHost().access.authorizedKeys, passwords });
    for (const [name, value] of Object.entries(passwords))
      expect(text).toContain(`secret ${name} ${Buffer.from(value).toString("base64")}\n`);
    const refusal = (() => {
      try {
        renderDesiredState({
          authorizedKeys: fixtureHost().access.authorizedKeys,
          passwords: { ...passwords, app: "short 1" },
        });
      } catch (error) {
        return (error as Error).message;
      }
      return "accepted";
    })();
    expect(refusal).toMatch(
      /^DesiredState\.passwords\.app: received .*; expected 8 to 256 printable ASCII characters without spaces$/,
    );
    expect(refusal).not.toContain("short 1");
    expect(() =>
      renderDesiredState({
        authorizedKeys: fixtureHost().access.authorizedKeys,
        passwords,
        app: { input: undefined as never, drainSeconds: 1 },
      }),
    ).toThrow(/passwords: .*expected no database passwords in an app host's state/);
  });

  it("renders the flag's command line, bounded and idempotent", () => {
    expect(leaderCommandLine("dr", { force: false })).toBe(
      "timeout 1200 /usr/local/sbin/linode-dr-leader dr",
    );
    expect(leaderCommandLine("primary", { force: true })).toBe(
      "timeout 1200 /usr/local/sbin/linode-dr-leader primary --force",
    );
    expect(() => leaderCommandLine("witness" as never, { force: false })).toThrow(
      /^leaderCommandLine\.desired: received "witness"; expected "primary" or "dr"$/,
    );
  });
});

describe("input validation names the field, what was received and what was expected", () => {
  type Mutation = [string, (input: DatabaseUserDataInput) => DatabaseUserDataInput, RegExp];
  const withConsensus = (i: DatabaseUserDataInput, c: Partial<ConsensusSettings>): DatabaseUserDataInput => ({
    ...i,
    consensus: { ...i.consensus, ...c },
  });
  const cases: Mutation[] = [
    [
      "postgresVersion",
      (i) => ({ ...i, postgresVersion: 12 }),
      /DatabaseUserDataInput\.postgresVersion: received 12; expected an integer from 13 to 17/,
    ],
    [
      "maxSlotWalKeepSize",
      (i) => ({ ...i, maxSlotWalKeepSize: "-1" }),
      /maxSlotWalKeepSize: received "-1"; expected a positive PostgreSQL size/,
    ],
    [
      "replication.user",
      (i) => ({ ...i, replication: { ...i.replication, user: "Repl-User" } }),
      /replication\.user: received "Repl-User"; expected a lower-case SQL identifier/,
    ],
    [
      "replication.password",
      (i) => ({ ...i, replication: { ...i.replication, password: "has space inside" } }),
      /replication\.password: received a string of 16 characters; expected 8 to 256 printable ASCII/,
    ],
    [
      "superuser.password",
      (i) => ({ ...i, superuser: { password: "short" } }),
      /superuser\.password: received a string of 5 characters; expected 8 to 256/,
    ],
    [
      "tls.serverKeyPem",
      (i) => ({ ...i, tls: { ...i.tls, serverKeyPem: "not a key" } }),
      /tls\.serverKeyPem: received a string of 9 characters; expected a PEM-encoded private key/,
    ],
    [
      "app.user",
      (i) => ({ ...i, app: { ...i.app, user: "postgres" } }),
      /app\.user: received "postgres"; expected a role other than "postgres"/,
    ],
    [
      "consensus.self",
      (i) => withConsensus(i, { self: "witness" }),
      /DatabaseUserDataInput\.consensus\.self: received "witness"; expected "primary" or "dr"/,
    ],
    [
      "consensus.members",
      (i) => withConsensus(i, { members: i.consensus.members.slice(0, 2) }),
      /consensus\.members: received a list of 2 items; expected the three members/,
    ],
    [
      "consensus.members[1].serverName",
      (i) =>
        withConsensus(i, {
          members: i.consensus.members.map((m) => (m.name === "dr" ? { ...m, serverName: "bad name" } : m)),
        }),
      /consensus\.members\[1\]\.serverName: received "bad name"; expected a DNS name/,
    ],
    [
      "consensus.members[0].ipv4",
      (i) =>
        withConsensus(i, {
          members: i.consensus.members.map((m) => (m.name === "primary" ? { ...m, ipv4: "2001:db8::1" } : m)),
        }),
      /consensus\.members\[0\]\.ipv4: received "2001:db8::1"; expected an IPv4 literal/,
    ],
    [
      "consensus.etcd.electionMs",
      (i) => withConsensus(i, { etcd: { heartbeatMs: 150, electionMs: 500 } }),
      /consensus\.etcd\.electionMs: received 500; expected an integer from 750 to 50000/,
    ],
    [
      "consensus.patroni.ttl",
      (i) => withConsensus(i, { patroni: { ...i.consensus.patroni, ttl: 9 } }),
      /consensus\.patroni\.ttl: received 9; expected at least loopWait \+ 2 × retryTimeout = 10/,
    ],
    [
      "consensus.restApi.password",
      (i) => withConsensus(i, { restApi: { username: "patroni", password: "tiny" } }),
      /consensus\.restApi\.password: received a string of 4 characters/,
    ],
    [
      "consensus.scope",
      (i) => withConsensus(i, { scope: "Bad Scope" }),
      /consensus\.scope: received "Bad Scope"; expected a lower-case DNS label/,
    ],
  ];
  for (const [name, mutate, message] of cases) {
    it(`rejects a bad ${name}`, () => {
      expect(() => renderDatabaseUserData(mutate(databaseInput()))).toThrow(message);
    });
  }

  it("refuses a founding dr or witness", () => {
    expect(() => renderDatabaseUserData(withConsensus(databaseInput("dr"), { founder: true }))).toThrow(
      /consensus\.founder: received true; expected false for "dr"/,
    );
    expect(() =>
      renderWitnessUserData({ ...witnessInput(), consensus: { ...witnessInput().consensus, founder: true } }),
    ).toThrow(/WitnessUserDataInput\.consensus\.founder: received true; expected false for "witness"/);
  });

  it("refuses a witness that is not the witness member", () => {
    expect(() =>
      renderWitnessUserData({ ...witnessInput(), consensus: { ...witnessInput().consensus, self: "dr" } }),
    ).toThrow(/WitnessUserDataInput\.consensus\.self: received "dr"; expected "witness"/);
  });

  it("reports every problem at once, the consensus settings' with the database's own", () => {
    let error: unknown;
    try {
      renderDatabaseUserData({
        ...withConsensus(databaseInput(), { scope: "Bad Scope" }),
        postgresVersion: 12,
        app: { ...databaseInput().app, password: "short" },
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).message.split("\n")).toEqual([
      "DatabaseUserDataInput.postgresVersion: received 12; expected an integer from 13 to 17",
      "DatabaseUserDataInput.app.password: received a string of 5 characters; expected 8 to 256 printable ASCII characters without spaces",
      'DatabaseUserDataInput.consensus.scope: received "Bad Scope"; expected a lower-case DNS label of letters, digits and hyphens (Patroni scope and etcd cluster token)',
    ]);
  });

  it("never echoes a malformed password", () => {
    expect(() =>
      renderDatabaseUserData(
        withConsensus(databaseInput(), { restApi: { username: "u", password: "sh rt" } }),
      ),
    ).toThrow(/^(?!.*sh rt).*restApi\.password/s);
    expect(() =>
      renderDatabaseUserData({ ...databaseInput(), app: { ...databaseInput().app, password: "short" } }),
    ).toThrow(/^(?!.*short).*app\.password/s);
  });
});
