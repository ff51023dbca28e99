import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

/**
 * linode-dr-converge's first duty is to wait for first boot without deadlocking the bring-up: a
 * standby's first boot waits for its primary (up to an hour, until bring-up step 3 admits it), and
 * the dr stack's `up` (step 2) runs the standby's converge command meanwhile.
 */
const SCRIPT = path.join(__dirname, "..", "..", "provisioning", "scripts", "converge.sh");
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMockKeyForTestsOnly ops@example.com";
const scratch = mkdtempSync(path.join(tmpdir(), "converge-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function converge(
  role: string,
  markers: string[],
  stdin: string,
  waitSeconds = 2,
  hostKeys: Record<string, string> = {},
) {
  const root = mkdtempSync(path.join(scratch, "host-"));
  mkdirSync(path.join(root, "state"));
  mkdirSync(path.join(root, "etc-ssh"));
  for (const [file, content] of Object.entries(hostKeys))
    writeFileSync(path.join(root, "etc-ssh", file), content, { mode: 0o600 });
  for (const marker of markers)
    writeFileSync(path.join(root, "state", marker), "step=fetch exit=1 at=now log=x\n");
  const result = spawnSync("bash", [SCRIPT, role], {
    input: stdin,
    encoding: "utf8",
    timeout: 20_000,
    env: {
      PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
      LINODE_DR_STATE_DIR: path.join(root, "state"),
      LINODE_DR_LOCK_DIR: path.join(root, "locks"),
      LINODE_DR_ROOT_SSH_DIR: path.join(root, "ssh"),
      LINODE_DR_SSH_ETC_DIR: path.join(root, "etc-ssh"),
      LINODE_DR_FIRST_BOOT_WAIT: String(waitSeconds),
      LINODE_DR_FIRST_BOOT_LOG: path.join(root, "first-boot.log"),
    },
  });
  return { ...result, root };
}

/** A new OpenSSH key pair of `type` made by ssh-keygen: [private, public]. */
function sshKey(type: "ed25519" | "ecdsa"): [string, string] {
  const dir = mkdtempSync(path.join(scratch, "key-"));
  const file = path.join(dir, "key");
  spawnSync("ssh-keygen", ["-q", "-t", type, "-N", "", "-C", "", "-f", file]);
  return [readFileSync(file, "utf8"), readFileSync(`${file}.pub`, "utf8")];
}
const b64 = (text: string) => Buffer.from(text).toString("base64");

describe("linode-dr-converge", () => {
  it.runIf(process.getuid?.() === 0)("leaves host keys sshd already serves alone, without a reload", () => {
    const [ed25519, ed25519Pub] = sshKey("ed25519");
    const r = converge("app", ["first-boot.done"], `authorized_key ${KEY}\nhost_key ${b64(ed25519)}\n`, 2, {
      ssh_host_ed25519_key: ed25519,
      "ssh_host_ed25519_key.pub": ed25519Pub,
    });
    // The app part fails without app_env; the host keys were handled before it.
    expect(r.stderr).toMatch(/host keys unchanged \(1\)/);
    expect(r.stderr).not.toMatch(/reload|installed|retired/);
  });

  it("refuses host keys it cannot serve before touching any, never echoing a key", () => {
    const [ed25519] = sshKey("ed25519");
    const [other] = sshKey("ed25519");
    const [ecdsa] = sshKey("ecdsa");
    const cases: [string, RegExp][] = [
      [
        `host_key ${b64(ed25519)}\nhost_key ${b64(ecdsa)}\nhost_key ${b64(other)}\n`,
        /at most two host_key lines .*received 3/,
      ],
      [
        "host_key not*base64\n",
        /host_key must be base64 \(an OpenSSH private key\); received a line that is not \(not echoed/,
      ],
    ];
    for (const [lines, refusal] of cases) {
      const r = converge("database", ["first-boot.done"], `authorized_key ${KEY}\n${lines}`);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(refusal);
      expect(r.stderr).not.toContain("PRIVATE KEY");
    }
  });

  it.runIf(process.getuid?.() === 0)(
    "refuses two keys of one type or a non-key, changing no host key",
    () => {
      const [ed25519] = sshKey("ed25519");
      const [other] = sshKey("ed25519");
      const cases: [string, RegExp][] = [
        [
          `host_key ${b64(ed25519)}\nhost_key ${b64(other)}\n`,
          /two host_key lines of type ed25519: sshd serves one key per type/,
        ],
        [`host_key ${b64("hello, not a key")}\n`, /host_key 1 is not an OpenSSH private key/],
      ];
      for (const [lines, refusal] of cases) {
        const r = converge(
          "database",
          ["first-boot.fetched", "first-boot.done"],
          `authorized_key ${KEY}\n${lines}`,
        );
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(refusal);
        expect(readdirSync(path.join(r.root, "etc-ssh"))).toEqual([]);
      }
    },
  );

  it.runIf(process.getuid?.() === 0)(
    "applies a database's keys once its release is in place, while its first boot still runs",
    () => {
      const r = converge("database", ["first-boot.fetched"], `authorized_key ${KEY}\n`);
      expect(r.status, r.stderr).toBe(0);
      const keys = path.join(r.root, "ssh", "authorized_keys");
      expect(readFileSync(keys, "utf8")).toBe(`${KEY}\n`);
      expect(statSync(keys).mode & 0o777).toBe(0o600);
    },
  );

  it.runIf(process.getuid?.() === 0)(
    "installs the dr stack's leadership key on a database restricted to the leader gate (no shell, no forwarding)",
    () => {
      const leadershipKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILeadershipKeyForTests dr-leadership";
      const r = converge(
        "database",
        ["first-boot.fetched"],
        `authorized_key ${KEY}\nleadership_key ${leadershipKey}\n`,
      );
      expect(r.status, r.stderr).toBe(0);
      expect(readFileSync(path.join(r.root, "ssh", "authorized_keys"), "utf8")).toBe(
        `${KEY}\nrestrict,command="/usr/local/sbin/linode-dr-leader-gate" ${leadershipKey}\n`,
      );
    },
  );

  it.runIf(process.getuid?.() === 0)(
    "waits for an app's first boot to finish, and says so when it does not",
    () => {
      const r = converge(
        "app",
        ["first-boot.fetched"],
        `authorized_key ${KEY}\napp_env eA==\napp_ca eA==\ndrain_seconds 1\n`,
      );
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/first boot did not finish within 2s/);
    },
  );

  it.runIf(process.getuid?.() === 0)("reports a failed first boot instead of waiting", () => {
    const r = converge("database", ["first-boot.failed"], `authorized_key ${KEY}\n`, 600);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/first boot FAILED: step=fetch exit=1/);
  });

  it("refuses bad desired state, naming what was wrong, before touching anything", () => {
    expect(converge("database", [], "").stderr).toMatch(
      /no authorized_key given: refusing to lock everyone out/,
    );
    expect(converge("database", [], "authorized_key not-a-key\n").stderr).toMatch(
      /authorized_key line is not an OpenSSH public key: "not-a-key/,
    );
    expect(converge("database", [], `authorized_key ${KEY}\nfoo bar\n`).stderr).toMatch(
      /unknown desired-state item "foo"; expected authorized_key, host_key, leadership_key, app_env, app_ca, app_artifact, drain_seconds, peer, tls_ca, tls_cert, tls_key or secret/,
    );
    expect(
      converge(
        "app",
        [],
        `authorized_key ${KEY}\nleadership_key ${KEY}\napp_env eA==\napp_ca eA==\ndrain_seconds 1\n`,
      ).stderr,
    ).toMatch(/leadership_key is for role database only; received it for role app/);
    // The app's database CAs come with its configuration, and only to an app.
    expect(converge("app", [], `authorized_key ${KEY}\napp_env eA==\ndrain_seconds 1\n`).stderr).toMatch(
      /app_env comes with app_ca \(the database CAs the app verifies its members with\); received no app_ca/,
    );
    expect(converge("database", [], `authorized_key ${KEY}\napp_ca eA==\n`).stderr).toMatch(
      /app_ca is for role app only; received it for role database/,
    );
    expect(converge("app", [], `authorized_key ${KEY}\napp_ca not*base64\n`).stderr).toMatch(
      /app_ca must be base64 \(PEM certificates\); received "not\*base64/,
    );
    expect(
      converge("database", [], `authorized_key ${KEY}\nleadership_key ops@example.com\n`).stderr,
    ).toMatch(/leadership_key line is not an OpenSSH public key: "ops@example.com/);
    expect(converge("database", [], `authorized_key ${KEY}\ntls_cert eA==\ntls_key eA==\n`).stderr).toMatch(
      /tls_ca, tls_cert and tls_key come together; received only tls_(cert|key) tls_(cert|key)/,
    );
    expect(converge("witness", [], `authorized_key ${KEY}\ntls_ca not*base64\n`).stderr).toMatch(
      /tls_ca must be base64 \(a PEM file\); received "not\*base64/,
    );
    expect(
      converge("app", [], `authorized_key ${KEY}\ntls_ca eA==\ntls_cert eA==\ntls_key eA==\napp_env eA==\n`)
        .stderr,
    ).toMatch(/tls_\* lines are for cluster members \(database, witness\) only; received them for role app/);
    const pw = Buffer.from("S3cretPassw0rdS3cret").toString("base64");
    const passwords = ["replication", "superuser", "app", "rest"].map((n) => `secret ${n} ${pw}\n`);
    expect(
      converge("database", [], `authorized_key ${KEY}\n${passwords.slice(0, 2).join("")}`).stderr,
    ).toMatch(
      /the four secret lines \(replication, superuser, app, rest\) come together; received only (replication|superuser) (replication|superuser)/,
    );
    const malformed = converge("database", [], `authorized_key ${KEY}\nsecret root ${pw}\n`).stderr;
    expect(malformed).toMatch(/secret line must be "secret <replication\|superuser\|app\|rest> <base64>"/);
    // A refusal never echoes what may be a password.
    expect(malformed).not.toContain(pw);
    expect(converge("witness", [], `authorized_key ${KEY}\n${passwords.join("")}`).stderr).toMatch(
      /secret lines are for role database only; received them for role witness/,
    );
    expect(converge("primary", [], "").stderr).toMatch(/usage: linode-dr-converge database\|app\|witness/);
  });
});
