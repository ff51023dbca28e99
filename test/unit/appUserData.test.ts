import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { fixtureHost } from "../../evaluation/fixtures/host";
import {
  APP_ARTIFACT_ENV_PATH,
  APP_DATABASE_CA_PATH,
  APP_ENV_PATH,
  AppUserDataInput,
  renderAppUserData as renderWithHost,
} from "../../provisioning/app";
import { USER_DATA_LIMIT_BYTES } from "../../provisioning/cloudConfig";
import { POSTGRES_PORT } from "../../provisioning/consensus";
import {
  FETCH_RELEASE_PATH,
  FIRST_BOOT_PATH,
  OBJECT_STORE_ENV_PATH,
  RELEASE_ENV_PATH,
  ROOT_AUTHORIZED_KEYS_PATH,
  SSHD_DROP_IN_PATH,
} from "../../provisioning/host";

const REPO = path.join(__dirname, "..", "..");

function renderAppUserData(i: AppUserDataInput): string {
  return renderWithHost(i, fixtureHost());
}
/** Shaped as the program's CA bundle is; the app's user data only carries it. */
const CA_PEM =
  "-----BEGIN CERTIFICATE-----\nMIIBfake0\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nMIIBfake1\n-----END CERTIFICATE-----\n";
/** Every character libpq, bash and systemd would read differently if it were not quoted. */
const PASSWORD = `pa:ss'w\\o"rd$x\`y`;

function input(overrides: Partial<AppUserDataInput> = {}): AppUserDataInput {
  return {
    listenPort: 8080,
    region: "us-east",
    database: {
      members: [
        { serverName: "db-primary.shop.example.com", address: "192.168.128.5" },
        { serverName: "db-dr.shop.example.com", address: "203.0.113.20" },
      ],
      port: POSTGRES_PORT,
      name: "orders",
      user: "orders_app",
      password: PASSWORD,
      caCertPem: CA_PEM,
    },
    dbTimeoutMs: 2000,
    healthCacheMs: 1000,
    ...overrides,
  };
}

interface Entry {
  path: string;
  content: string;
  permissions: string;
  encoding?: string;
}

function entries(rendered: string): Entry[] {
  return (parse(rendered) as { write_files: Entry[] }).write_files;
}

function decoded(e: Entry): string {
  return e.encoding === "gz+b64" ? gunzipSync(Buffer.from(e.content, "base64")).toString("utf8") : e.content;
}

function find(rendered: string, p: string): Entry {
  const e = entries(rendered).find((x) => x.path === p);
  if (!e) throw new Error(`${p} not in write_files`);
  return e;
}

/** Reads the env file the way bash does (the no-systemd path of the install script). */
function sourceWithBash(envText: string, name: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), "app-env-"));
  try {
    writeFileSync(path.join(dir, "app.env"), envText);
    const r = spawnSync(
      "bash",
      ["-c", `set -a; source "$1"; printf '%s' "\${${name}}"`, "_", path.join(dir, "app.env")],
      {
        encoding: "utf8",
      },
    );
    expect(r.status, r.stderr).toBe(0);
    return r.stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("renderAppUserData", () => {
  const tmpDirs: string[] = [];
  afterAll(() => tmpDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it("is deterministic and stays under the Linode limit with room to spare", () => {
    const a = renderAppUserData(input());
    const b = renderAppUserData(JSON.parse(JSON.stringify(input())) as AppUserDataInput);
    expect(a).toBe(b);
    expect(a.startsWith("#cloud-config\n")).toBe(true);
    const size = Buffer.byteLength(a, "utf8");
    expect(size).toBeLessThanOrEqual(USER_DATA_LIMIT_BYTES);
    // Configuration only: fail long before the limit if programs creep back in.
    expect(size).toBeLessThan(8 * 1024);
    expect(renderAppUserData(input({ region: "eu-west" }))).not.toBe(a);
  });

  it("carries configuration and the release to fetch, never the service's source or install script", () => {
    const rendered = renderAppUserData(input());
    expect(entries(rendered).map((e) => e.path)).toEqual([
      RELEASE_ENV_PATH,
      OBJECT_STORE_ENV_PATH,
      ROOT_AUTHORIZED_KEYS_PATH,
      SSHD_DROP_IN_PATH,
      FETCH_RELEASE_PATH,
      FIRST_BOOT_PATH,
      APP_ENV_PATH,
      APP_DATABASE_CA_PATH,
    ]);
    expect(rendered).not.toMatch(/#include|int main/);
    expect(decoded(find(rendered, FETCH_RELEASE_PATH))).toBe(
      readFileSync(path.join(REPO, "provisioning/scripts/userdata/fetch-release.sh"), "utf8"),
    );
    expect((parse(rendered) as { runcmd: string[][] }).runcmd).toEqual([
      [FIRST_BOOT_PATH, "linode-dr-app-install"],
    ]);
  });

  it("writes the env file 0600 with a conninfo that bash reads back exactly", () => {
    const env = find(renderAppUserData(input()), APP_ENV_PATH);
    expect(env.permissions).toBe("0600");
    expect(env.encoding).toBeUndefined();
    const conninfo = sourceWithBash(env.content, "LINODE_DR_DATABASE_URL");
    // Both members, this region's first; only a writable one is kept, and each is verified by the
    // name in its certificate against the stacks' CAs, the password exchange bound to the channel.
    expect(conninfo).toBe(
      `host='db-primary.shop.example.com,db-dr.shop.example.com' hostaddr='192.168.128.5,203.0.113.20' port=${POSTGRES_PORT} dbname='orders' user='orders_app' password='pa:ss\\'w\\\\o"rd$x\`y' target_session_attrs=read-write sslmode=verify-full sslrootcert='/etc/linode-dr/app-db-ca.crt' channel_binding=require`,
    );
    // The CAs are a file of their own, which converge replaces in place (a CA roll restarts nothing).
    expect(env.content).not.toContain("BEGIN CERTIFICATE");
    const ca = find(renderAppUserData(input()), APP_DATABASE_CA_PATH);
    expect(ca.content).toBe(CA_PEM);
    expect(ca.permissions).toBe("0644");
    expect(sourceWithBash(env.content, "LINODE_DR_LISTEN_PORT")).toBe("8080");
    expect(sourceWithBash(env.content, "LINODE_DR_REGION")).toBe("us-east");
    expect(sourceWithBash(env.content, "LINODE_DR_DB_TIMEOUT_MS")).toBe("2000");
    expect(sourceWithBash(env.content, "LINODE_DR_HEALTH_CACHE_MS")).toBe("1000");
  });

  it("writes the artifact settings only when an artifact is given", () => {
    expect(entries(renderAppUserData(input())).some((e) => e.path === APP_ARTIFACT_ENV_PATH)).toBe(false);
    const sha = "ab".repeat(32);
    const rendered = renderAppUserData(
      input({ artifact: { url: "https://example.com/linode-dr-app", sha256: sha } }),
    );
    const a = find(rendered, APP_ARTIFACT_ENV_PATH);
    expect(sourceWithBash(a.content, "ARTIFACT_URL")).toBe("https://example.com/linode-dr-app");
    expect(sourceWithBash(a.content, "ARTIFACT_SHA256")).toBe("ab".repeat(32));
  });

  it.each([
    [{ listenPort: 0 }, "AppUserDataInput.listenPort: received 0; expected an integer from 1 to 65535"],
    [{ listenPort: 70000 }, "listenPort: received 70000"],
    [{ listenPort: 80.5 }, "listenPort: received 80.5"],
    [{ region: "us east" }, 'region: received "us east"'],
    [{ dbTimeoutMs: 10 }, "dbTimeoutMs: received 10; expected an integer from 50 to 60000"],
    [{ healthCacheMs: -1 }, "healthCacheMs: received -1"],
    [
      { artifact: { url: "http://example.com/x", sha256: "a".repeat(64) } },
      'artifact.url: received "http://example.com/x"; expected an https:// URL',
    ],
    [{ artifact: { url: "https://example.com/x y", sha256: "a".repeat(64) } }, "artifact.url: received"],
    [
      { artifact: { url: "https://example.com/x", sha256: "abc" } },
      'artifact.sha256: received "abc"; expected a sha256 digest as 64 lower-case hex characters',
    ],
    [
      { artifact: { url: "https://example.com/x", sha256: "AB".repeat(32) } },
      `artifact.sha256: received "${"AB".repeat(32)}"; expected a sha256 digest as 64 lower-case hex characters`,
    ],
    [{ artifact: { url: "https://example.com/x", sha256: "g".repeat(64) } }, "artifact.sha256"],
  ] as Array<[Partial<AppUserDataInput>, string]>)("rejects %j", (bad, message) => {
    expect(() => renderAppUserData(input(bad))).toThrow(message);
  });

  it("rejects bad database fields and never echoes the password", () => {
    const db = input().database;
    expect(() =>
      renderAppUserData(
        input({ database: { ...db, members: [{ serverName: "bad host;", address: "192.0.2.1" }] } }),
      ),
    ).toThrow('database.members[0].serverName: received "bad host;"');
    expect(() =>
      renderAppUserData(
        input({
          database: { ...db, members: [{ serverName: "db.example.com", address: "db.example.com" }] },
        }),
      ),
    ).toThrow('database.members[0].address: received "db.example.com"');
    expect(() => renderAppUserData(input({ database: { ...db, members: [] } }))).toThrow(
      "database.members: received an empty list; expected a list of 1 to 2 members, this region's first",
    );
    expect(() => renderAppUserData(input({ database: { ...db, caCertPem: "not a certificate" } }))).toThrow(
      'database.caCertPem: received "not a certificate"',
    );
    expect(() => renderAppUserData(input({ database: { ...db, port: 0 } }))).toThrow(
      "database.port: received 0",
    );
    expect(() => renderAppUserData(input({ database: { ...db, name: "" } }))).toThrow(
      'database.name: received ""',
    );
    expect(() => renderAppUserData(input({ database: { ...db, user: "a b" } }))).toThrow(
      'database.user: received "a b"',
    );
    // The names the database creates: lower-case, so that SQL never needs to quote them.
    expect(() => renderAppUserData(input({ database: { ...db, name: "Orders" } }))).toThrow(
      'database.name: received "Orders"; expected a lower-case SQL identifier',
    );
    const secret = "line1\nsecret-value";
    let message = "";
    try {
      renderAppUserData(input({ database: { ...db, password: secret } }));
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain(
      "AppUserDataInput.database.password: received a string of 18 characters; expected 8 to 256 printable ASCII characters without spaces",
    );
    expect(message).not.toContain("secret-value");
    // The same rule as the database's own copy of this password: no spaces, at least 8 characters.
    expect(() => renderAppUserData(input({ database: { ...db, password: "has space" } }))).toThrow(
      /^AppUserDataInput\.database\.password: received a string of 9 characters; expected 8 to 256/,
    );
    expect(() => renderAppUserData(input({ database: { ...db, password: "short" } }))).toThrow(
      "database.password: received a string of 5 characters",
    );
  });

  it("is accepted by cloud-init's schema validator", (ctx) => {
    const probe = spawnSync("cloud-init", ["--version"], { encoding: "utf8" });
    if (probe.error || !existsSync("/usr/bin/cloud-init")) {
      console.warn("cloud-init binary not found: skipping schema validation of app user data");
      ctx.skip();
      return;
    }
    const dir = mkdtempSync(path.join(tmpdir(), "app-ud-"));
    tmpDirs.push(dir);
    for (const [name, data] of [
      ["release.yaml", renderAppUserData(input())],
      [
        "artifact.yaml",
        renderAppUserData(input({ artifact: { url: "https://example.com/a", sha256: "0".repeat(64) } })),
      ],
    ]) {
      const file = path.join(dir, name);
      writeFileSync(file, data);
      const r = spawnSync("cloud-init", ["schema", "--config-file", file], { encoding: "utf8" });
      expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
      expect(r.stdout).toContain("Valid");
    }
  });
});
