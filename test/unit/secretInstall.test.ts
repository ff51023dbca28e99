import { spawnSync } from "node:child_process";
import { createHash, createHmac, pbkdf2Sync } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeEach, describe, expect, it } from "vitest";

/**
 * linode-dr-secret-install is how a rotated password reaches a running database member. Its SQL
 * and reloads are proven in the lab (the secret-rotation drill); here, what it must refuse before
 * touching anything, and the SCRAM verifiers it hands PostgreSQL instead of the passwords.
 */
const SCRIPTS = path.join(__dirname, "..", "..", "provisioning", "scripts");
const SCRAM = path.join(SCRIPTS, "lib", "scram.py");
const work = mkdtempSync(path.join(tmpdir(), "secret-install-test-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const FILES = ["replication-password", "superuser-password", "app-password", "patroni-rest-password"];
const OLD = "OldPassw0rdOldPassw0rd";
const NEW = "NewPassw0rdNewPassw0rd";

function scram(args: string[], password: string) {
  return spawnSync("python3", [SCRAM, ...args], { input: `${password}\n`, encoding: "utf8" });
}

/** RFC 5802's keys, computed here independently of scram.py. */
function expectedKeys(password: string, salt: Buffer, iterations: number): [string, string] {
  const salted = pbkdf2Sync(password, salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const stored = createHash("sha256").update(clientKey).digest("base64");
  const server = createHmac("sha256", salted).update("Server Key").digest("base64");
  return [stored, server];
}

describe("scram.py", () => {
  it("makes verifiers in PostgreSQL's format, each with its own salt, from RFC 5802's keys", () => {
    const made = scram(["verifier"], NEW);
    expect(made.status).toBe(0);
    const m = /^SCRAM-SHA-256\$4096:([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)\n$/.exec(
      made.stdout,
    );
    expect(m).not.toBeNull();
    const [, salt, stored, server] = m!;
    expect(Buffer.from(salt, "base64")).toHaveLength(16);
    expect([stored, server]).toEqual(expectedKeys(NEW, Buffer.from(salt, "base64"), 4096));
    expect(scram(["verifier"], NEW).stdout).not.toBe(made.stdout);
  });

  it("tells whether a stored verifier was made from a password", () => {
    const verifier = scram(["verifier"], NEW).stdout.trim();
    expect(scram(["matches", verifier], NEW).status).toBe(0);
    expect(scram(["matches", verifier], OLD).status).toBe(1);
    // An md5 hash or nothing (a role without a password) is never a match.
    expect(scram(["matches", "md5aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"], NEW).status).toBe(1);
    expect(scram(["matches", ""], NEW).status).toBe(1);
  });

  it("refuses a password PostgreSQL would normalise differently, without echoing it", () => {
    const refused = scram(["verifier"], "with space 1234");
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/8 to 256 printable ASCII characters without spaces/);
    expect(refused.stderr).not.toContain("with space");
    expect(scram(["hash"], NEW).stderr).toMatch(/usage: scram\.py verifier \| scram\.py matches VERIFIER/);
  });
});

let host: string;
beforeEach(() => {
  host = mkdtempSync(path.join(work, "host-"));
  mkdirSync(path.join(host, "etc"), { recursive: true });
  writeFileSync(
    path.join(host, "etc", "consensus.conf"),
    [
      "SCOPE=linode-dr",
      "SELF=primary",
      "FOUNDER=true",
      "NAME_PRIMARY=db-primary.app.example.com",
      "NAME_DR=db-dr.app.example.com",
      "NAME_WITNESS=witness.app.example.com",
      "ETCD_HEARTBEAT_MS=100",
      "ETCD_ELECTION_MS=1000",
      "JOIN_TIMEOUT_SECONDS=60",
      "LOOP_WAIT=10",
      "TTL=30",
      "RETRY_TIMEOUT=10",
      "MAXIMUM_LAG_ON_FAILOVER=1048576",
      "SYNCHRONOUS_MODE=false",
      "AUTOMATIC_FAILOVER=true",
      "REST_USER=linode-dr",
      "",
    ].join("\n"),
  );
  writeFileSync(
    path.join(host, "etc", "db.conf"),
    "PG_VERSION=15\nWAL_KEEP_SIZE=512MB\nMAX_SLOT_WAL_KEEP_SIZE=8GB\nREPL_USER=replicator\nAPP_DATABASE=orders\nAPP_USER=orders_app\n",
  );
  // What first boot installed from user data.
  for (const file of FILES) writeFileSync(path.join(host, "etc", file), OLD, { mode: 0o600 });
});

/** Runs the installer with these passwords (file name to content; a missing name is left out). */
function install(passwords: Record<string, string>) {
  const incoming = mkdtempSync(path.join(host, "incoming-"));
  for (const [file, content] of Object.entries(passwords)) writeFileSync(path.join(incoming, file), content);
  return spawnSync("bash", [path.join(SCRIPTS, "secret-install.sh"), incoming], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
      LINODE_DR_ETC_DIR: path.join(host, "etc"),
      LINODE_DR_STATE_DIR: path.join(host, "state"),
      LINODE_DR_RUN_DIR: path.join(host, "run"),
    },
  });
}

const all = (value: string) => Object.fromEntries(FILES.map((f) => [f, value]));
const untouched = () => FILES.every((f) => readFileSync(path.join(host, "etc", f), "utf8") === OLD);

describe.runIf(process.getuid?.() === 0)("linode-dr-secret-install", { timeout: 30_000 }, () => {
  it("changes nothing, and says so, when the passwords are the ones in place", () => {
    const r = install(all(OLD));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/passwords unchanged/);
    expect(untouched()).toBe(true);
  });

  it("refuses an incomplete or malformed set before touching anything, never echoing a password", () => {
    const missing = install({ ...all(NEW), "app-password": "" });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/the new passwords have no app-password/);
    const spaced = install({ ...all(NEW), "superuser-password": "has a space 123" });
    expect(spaced.stderr).toMatch(
      /the new superuser-password is not 8 to 256 printable ASCII characters without spaces/,
    );
    expect(spaced.stderr).not.toContain("has a space");
    const twoLines = install({ ...all(NEW), "replication-password": `${NEW}\n${NEW}\n` });
    expect(twoLines.stderr).toMatch(/the new replication-password holds more than one line/);
    for (const r of [missing, spaced, twoLines]) expect(r.stderr).not.toContain(NEW);
    expect(untouched()).toBe(true);
  });

  it("refuses new passwords while first boot has not finished provisioning, naming them", () => {
    const r = install({ ...all(OLD), "patroni-rest-password": NEW, "app-password": NEW });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /first boot has not finished provisioning this database yet and the program's passwords \(app rest\) differ/,
    );
    expect(r.stderr).not.toContain(NEW);
    expect(untouched()).toBe(true);
  });

  it("states its usage", () => {
    const r = spawnSync("bash", [path.join(SCRIPTS, "secret-install.sh")], { encoding: "utf8" });
    expect(r.stderr).toMatch(/usage: linode-dr-secret-install DIR/);
  });
});
