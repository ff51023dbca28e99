import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { fixtureHost } from "../../lab/program/hostFixture";
import { DB_SETTINGS_PATH, DatabaseUserDataInput, renderDatabaseUserData } from "../../provisioning/database";
import { USER_DATA_LIMIT_BYTES } from "../../provisioning/cloudConfig";
import { FIRST_BOOT_PATH, OBJECT_STORE_ENV_PATH } from "../../provisioning/host";

const SCRIPTS_DIR = path.join(__dirname, "..", "..", "provisioning", "scripts");
const DB_PROVISION_SCRIPT = path.join(SCRIPTS_DIR, "db-provision.sh");
const PROMOTE_SCRIPT = path.join(SCRIPTS_DIR, "pg-promote.sh");

const CERT = "-----BEGIN CERTIFICATE-----\nMIIBfakecertbody\n-----END CERTIFICATE-----\n";
const CA = "-----BEGIN CERTIFICATE-----\nMIIBfakecabody\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN PRIVATE KEY-----\nMIIEsecretkeybody0123\n-----END PRIVATE KEY-----\n";
const REPL_PASSWORD = "repl-S3cret:with\\odd'chars";
const APP_PASSWORD = "app-Secret-4567";

function primaryInput(): DatabaseUserDataInput {
  return {
    role: "primary",
    postgresVersion: 15,
    walKeepSize: "512MB",
    maxSlotWalKeepSize: "8GB",
    tls: { caCertPem: CA, serverCertPem: CERT, serverKeyPem: KEY },
    replication: { user: "replicator", password: REPL_PASSWORD, slotName: "dr_standby" },
    app: { database: "orders", user: "orders_app", password: APP_PASSWORD },
    ...fixtureHost(),
  };
}

function replicaInput(): DatabaseUserDataInput {
  const { app, ...rest } = primaryInput();
  return {
    ...rest,
    role: "replica",
    app,
    upstream: {
      hostaddr: "198.51.100.10",
      serverName: "db-primary.shop.example.com",
      port: 5432,
      waitTimeoutSeconds: 900,
    },
  };
}

interface RenderedFile {
  path: string;
  permissions: string;
  owner?: string;
  content: string;
}

function files(userData: string): RenderedFile[] {
  const doc = parse(userData) as { write_files: Record<string, string>[] };
  return doc.write_files.map((entry) => ({
    path: entry.path,
    permissions: entry.permissions,
    owner: entry.owner,
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

describe("renderDatabaseUserData", () => {
  it("is deterministic for both roles", () => {
    expect(renderDatabaseUserData(primaryInput())).toBe(renderDatabaseUserData(primaryInput()));
    expect(renderDatabaseUserData(replicaInput())).toBe(renderDatabaseUserData(replicaInput()));
    expect(renderDatabaseUserData(primaryInput())).not.toBe(renderDatabaseUserData(replicaInput()));
  });

  it("runs the release's provisioning script on first boot and carries no provisioning program", () => {
    for (const input of [primaryInput(), replicaInput()]) {
      const userData = renderDatabaseUserData(input);
      expect(userData.startsWith("#cloud-config\n")).toBe(true);
      expect((parse(userData) as { runcmd: string[][] }).runcmd).toEqual([
        [FIRST_BOOT_PATH, "linode-dr-db-provision"],
      ]);
      const shipped = files(userData)
        .map((f) => f.content)
        .join("\n");
      expect(shipped).not.toContain(readFileSync(DB_PROVISION_SCRIPT, "utf8").slice(0, 200));
      expect(shipped).not.toContain("pg_promote");
      expect(Buffer.byteLength(userData)).toBeLessThanOrEqual(USER_DATA_LIMIT_BYTES);
    }
  });

  it("writes the settings the script reads", () => {
    const replica = file(renderDatabaseUserData(replicaInput()), DB_SETTINGS_PATH).content;
    expect(replica).toContain("ROLE=replica\n");
    expect(replica).toContain("PG_VERSION=15\n");
    expect(replica).toContain("WAL_KEEP_SIZE=512MB\n");
    expect(replica).toContain("MAX_SLOT_WAL_KEEP_SIZE=8GB\n");
    expect(replica).toContain("SLOT_NAME=dr_standby\n");
    expect(replica).toContain("UPSTREAM_HOSTADDR=198.51.100.10\n");
    expect(replica).toContain("UPSTREAM_SERVER_NAME=db-primary.shop.example.com\n");
    expect(replica).toContain("UPSTREAM_WAIT_TIMEOUT_SECONDS=900\n");
    const primary = file(renderDatabaseUserData(primaryInput()), DB_SETTINGS_PATH).content;
    expect(primary).toContain("APP_DATABASE=orders\n");
    expect(primary).not.toContain("UPSTREAM_");
  });

  it("puts secrets only into 0600 files", () => {
    for (const input of [primaryInput(), replicaInput()]) {
      const userData = renderDatabaseUserData(input);
      const secrets = [REPL_PASSWORD, APP_PASSWORD, "MIIEsecretkeybody0123", fixtureHost().release.secretKey];
      const carriers = files(userData).filter((f) => secrets.some((s) => f.content.includes(s)));
      expect(carriers.map((f) => f.path).sort()).toEqual(
        [
          "/etc/linode-dr/app-password",
          "/etc/linode-dr/replication-password",
          "/etc/linode-dr/tls/server.key",
          OBJECT_STORE_ENV_PATH,
        ].sort(),
      );
      for (const carrier of carriers) expect(carrier.permissions, carrier.path).toBe("0600");
      expect(JSON.stringify((parse(userData) as { runcmd: unknown }).runcmd)).not.toMatch(
        /S3cret|Secret-4567/,
      );
    }
  });

  it("never mentions wal_keep_segments (removed in PostgreSQL 13)", () => {
    for (const input of [primaryInput(), replicaInput()]) {
      for (const f of files(renderDatabaseUserData(input)))
        expect(f.content, f.path).not.toContain("wal_keep_segments");
    }
    for (const script of readdirSync(SCRIPTS_DIR).filter((name) => name.endsWith(".sh"))) {
      expect(readFileSync(path.join(SCRIPTS_DIR, script), "utf8"), script).not.toContain("wal_keep_segments");
    }
  });

  it("passes cloud-init's schema validation for both roles", () => {
    for (const input of [primaryInput(), replicaInput()]) {
      const target = path.join(scratch, `${input.role}.yaml`);
      writeFileSync(target, renderDatabaseUserData(input));
      const result = spawnSync("cloud-init", ["schema", "--config-file", target], { encoding: "utf8" });
      expect(result.status, `${result.stdout}${result.stderr}`).toBe(0);
      expect(result.stdout).toContain("Valid cloud-config");
    }
  });

  it("ships shellcheck-clean scripts", () => {
    const scripts = readdirSync(SCRIPTS_DIR)
      .filter((name) => name.endsWith(".sh"))
      .map((name) => path.join(SCRIPTS_DIR, name));
    expect(scripts).toContain(DB_PROVISION_SCRIPT);
    expect(scripts).toContain(PROMOTE_SCRIPT);
    for (const script of scripts) {
      const result = spawnSync("shellcheck", ["-x", "--shell=bash", "--severity=style", script], {
        encoding: "utf8",
        cwd: SCRIPTS_DIR,
      });
      expect(result.status, `${script}\n${result.stdout}${result.stderr}`).toBe(0);
    }
  });

  it("scripts are syntactically valid bash", () => {
    for (const script of [DB_PROVISION_SCRIPT, PROMOTE_SCRIPT]) execFileSync("bash", ["-n", script]);
  });
});

describe("renderDatabaseUserData input validation", () => {
  type Mutation = [string, (input: DatabaseUserDataInput) => DatabaseUserDataInput, RegExp];
  const cases: Mutation[] = [
    [
      "role",
      (i) => ({ ...i, role: "standby" as never }),
      /role: received "standby"; expected "primary" or "replica"/,
    ],
    [
      "postgresVersion",
      (i) => ({ ...i, postgresVersion: 12 }),
      /postgresVersion: received 12; expected an integer from 13 to 17/,
    ],
    [
      "walKeepSize",
      (i) => ({ ...i, walKeepSize: "512" }),
      /walKeepSize: received "512"; expected a positive PostgreSQL size/,
    ],
    [
      "maxSlotWalKeepSize",
      (i) => ({ ...i, maxSlotWalKeepSize: "-1" }),
      /maxSlotWalKeepSize: received "-1"; expected a positive PostgreSQL size/,
    ],
    [
      "replication.user",
      (i) => ({ ...i, replication: { ...i.replication, user: "Repl-User" } }),
      /replication\.user: received "Repl-User"; expected a lowercase SQL identifier/,
    ],
    [
      "replication.slotName",
      (i) => ({ ...i, replication: { ...i.replication, slotName: "dr slot" } }),
      /replication\.slotName: received "dr slot"; expected a lowercase SQL identifier/,
    ],
    [
      "replication.password",
      (i) => ({ ...i, replication: { ...i.replication, password: "has space inside" } }),
      /replication\.password: received a string of 16 characters; expected 8 to 256 printable ASCII/,
    ],
    [
      "tls.serverKeyPem",
      (i) => ({ ...i, tls: { ...i.tls, serverKeyPem: "not a key" } }),
      /tls\.serverKeyPem: received a string of 9 characters; expected a PEM-encoded private key/,
    ],
    [
      "tls.caCertPem",
      (i) => ({ ...i, tls: { ...i.tls, caCertPem: "nope" } }),
      /tls\.caCertPem: received "nope\.\.\."; expected a PEM-encoded certificate/,
    ],
    [
      "app.database",
      (i) => ({ ...i, app: { ...i.app!, database: "orders;drop" } }),
      /app\.database: received "orders;drop"; expected a lowercase SQL identifier/,
    ],
    [
      "app.user",
      (i) => ({ ...i, app: { ...i.app!, user: "replicator" } }),
      /app\.user: received "replicator"; expected a role other than replication\.user/,
    ],
    [
      "app (primary)",
      (i) => ({ ...i, app: undefined }),
      /app: received undefined; expected \{ database, user, password \}/,
    ],
    [
      "upstream (primary)",
      (i) => ({ ...i, upstream: replicaInput().upstream }),
      /upstream: received .*hostaddr.*; expected nothing for role "primary"/,
    ],
  ];
  for (const [name, mutate, message] of cases) {
    it(`rejects a bad ${name}`, () => {
      expect(() => renderDatabaseUserData(mutate(primaryInput()))).toThrow(message);
    });
  }

  const replicaCases: Mutation[] = [
    [
      "upstream (replica)",
      (i) => ({ ...i, upstream: undefined }),
      /upstream: received undefined; expected \{ hostaddr, serverName, port, waitTimeoutSeconds \}/,
    ],
    [
      "upstream.hostaddr",
      (i) => ({ ...i, upstream: { ...i.upstream!, hostaddr: "db-primary.example.com" } }),
      /upstream\.hostaddr: received "db-primary\.example\.com"; expected an IPv4 literal/,
    ],
    [
      "upstream.hostaddr (IPv6)",
      (i) => ({ ...i, upstream: { ...i.upstream!, hostaddr: "2001:db8::1" } }),
      /upstream\.hostaddr: received "2001:db8::1"; expected an IPv4 literal/,
    ],
    [
      "upstream.serverName",
      (i) => ({ ...i, upstream: { ...i.upstream!, serverName: "bad name" } }),
      /upstream\.serverName: received "bad name"; expected a DNS name/,
    ],
    [
      "upstream.port",
      (i) => ({ ...i, upstream: { ...i.upstream!, port: 70000 } }),
      /upstream\.port: received 70000; expected an integer from 1 to 65535/,
    ],
    [
      "upstream.waitTimeoutSeconds",
      (i) => ({ ...i, upstream: { ...i.upstream!, waitTimeoutSeconds: 0.5 } }),
      /upstream\.waitTimeoutSeconds: received 0\.5; expected an integer/,
    ],
  ];
  for (const [name, mutate, message] of replicaCases) {
    it(`rejects a bad ${name}`, () => {
      expect(() => renderDatabaseUserData(mutate(replicaInput()))).toThrow(message);
    });
  }

  it("accepts a replica without app settings and then writes no app password", () => {
    const userData = renderDatabaseUserData({ ...replicaInput(), app: undefined });
    expect(files(userData).map((f) => f.path)).not.toContain("/etc/linode-dr/app-password");
  });

  it("never echoes a malformed password", () => {
    expect(() =>
      renderDatabaseUserData({ ...primaryInput(), app: { ...primaryInput().app!, password: "short" } }),
    ).toThrow(/^(?!.*short).*app\.password/s);
  });
});
