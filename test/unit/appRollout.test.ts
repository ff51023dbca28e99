import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

/**
 * linode-dr-app-rollout's health bar: a rollout must not make a node worse, and cannot make it
 * better than its database allows. Before the fix every rollout demanded a writable database, so
 * a deploy to the region whose database is a standby, or to apps pointed at a database Linode
 * being rebuilt (the db-rebuild drill found it), rolled back and failed `pulumi up`.
 * The app is a fake /healthz served here, answering as the C service does for each database state.
 */
const SCRIPT = path.join(__dirname, "..", "..", "provisioning", "scripts", "app-rollout.sh");

type DbState = "ok" | "remote" | "standby" | "unreachable";
const REASON: Record<DbState, string> = {
  ok: "OK",
  // Given both members, the service says where the leader it writes through is.
  remote: "OK leader=db-primary.app.example.com remote",
  standby: "db read-only (standby)",
  unreachable: "db unreachable",
};
const writable = (state: DbState) => state === "ok" || state === "remote";

let scratch: string;
let server: Server;
/** What the database looks like to the old and to the new version of the app. */
let db: { old: DbState; new: DbState };

function dir(name: string): string {
  return path.join(scratch, name);
}

beforeEach(async () => {
  scratch = mkdtempSync(path.join(tmpdir(), "rollout-test-"));
  for (const d of ["etc", "run", "state", "locks"]) mkdirSync(dir(d));
  server = createServer((_req, res) => {
    const version = existsSync(dir("new-installed")) ? "new" : "old";
    const state = db[version];
    const draining = existsSync(path.join(dir("run"), "drain"));
    const body = draining ? `draining (${writable(state) ? "db ok" : REASON[state]})` : REASON[state];
    res.writeHead(!draining && writable(state) ? 200 : 503).end(`${body}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  writeFileSync(path.join(dir("etc"), "app.env"), `LINODE_DR_LISTEN_PORT="${port}"\nVERSION="old"\n`);
  writeFileSync(dir("new.env"), `LINODE_DR_LISTEN_PORT="${port}"\nVERSION="new"\n`);
  // Installs the new version (or restarts the previous one) the way linode-dr-app-install does.
  writeFileSync(
    dir("install"),
    `#!/bin/bash
set -euo pipefail
case \${1:-} in
  --code-id) echo c1 ;;
  --restart-only) grep -q 'VERSION="new"' ${JSON.stringify(path.join(dir("etc"), "app.env"))} || rm -f ${JSON.stringify(dir("new-installed"))} ;;
  *) touch ${JSON.stringify(dir("new-installed"))}
     echo "code=c1 env=$(sha256sum ${JSON.stringify(path.join(dir("etc"), "app.env"))} | cut -d' ' -f1)" >${JSON.stringify(path.join(dir("state"), "app-deployed"))} ;;
esac
`,
  );
  chmodSync(dir("install"), 0o755);
});

afterEach(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(scratch, { recursive: true, force: true });
});

function rollout(drainSeconds = 0): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      "bash",
      [SCRIPT, "--env-file", dir("new.env"), "--drain-seconds", String(drainSeconds)],
      {
        env: {
          PATH: "/usr/bin:/bin",
          LINODE_DR_LOCK_DIR: dir("locks"),
          LINODE_DR_APP_ETC_DIR: dir("etc"),
          LINODE_DR_APP_RUN_DIR: dir("run"),
          LINODE_DR_APP_STATE_DIR: dir("state"),
          LINODE_DR_APP_BIN: path.join(scratch, "linode-dr-app"),
          LINODE_DR_APP_INSTALL: dir("install"),
          LINODE_DR_ROLLOUT_HEALTH_WAIT: "2",
        },
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    let stderr = "";
    child.stderr.on("data", (chunk) => (stderr += String(chunk)));
    child.on("close", (code) => resolve({ code, stderr }));
  });
}

const deployedEnv = () => readFileSync(path.join(dir("etc"), "app.env"), "utf8");

describe(
  "linode-dr-app-rollout: the new version must be at least as healthy as the node was",
  { timeout: 30_000 },
  () => {
    it("in the region whose database is a standby, a version that reads the standby deploys and is served again", async () => {
      db = { old: "standby", new: "standby" };
      const run = await rollout();
      expect(run.stderr).toContain("the new version must be at least readable");
      expect(run.code).toBe(0);
      expect(deployedEnv()).toContain('VERSION="new"');
      expect(existsSync(path.join(dir("run"), "drain"))).toBe(false);
    });

    it("a node out of rotation already (no 200 before) is not held for the NodeBalancer's drain time", async () => {
      db = { old: "standby", new: "standby" };
      const started = Date.now();
      const run = await rollout(20);
      expect(run.code).toBe(0);
      expect(run.stderr).toContain("out of rotation already");
      expect(Date.now() - started).toBeLessThan(15_000);
    });

    it("where the database did not answer before (a database Linode being rebuilt), the new version deploys and says it could not verify the database", async () => {
      db = { old: "unreachable", new: "unreachable" };
      const run = await rollout();
      expect(run.code).toBe(0);
      expect(run.stderr).toContain("the database connection cannot be verified");
      expect(deployedEnv()).toContain('VERSION="new"');
    });

    it("where the database was writable, a version that cannot reach it is rolled back and the rollout fails", async () => {
      db = { old: "ok", new: "unreachable" };
      const run = await rollout();
      expect(run.code).not.toBe(0);
      expect(run.stderr).toContain("rolling back to the previous binary and configuration");
      expect(run.stderr).toContain("previous version restored and back in rotation");
      expect(deployedEnv()).toContain('VERSION="old"');
    });

    it("a version that writes through the other region's leader counts as writable: the standby region's apps deploy with both members", async () => {
      db = { old: "ok", new: "remote" };
      const run = await rollout();
      expect(run.stderr).toContain("the new version must be at least writable");
      expect(run.code).toBe(0);
      expect(deployedEnv()).toContain('VERSION="new"');
    });

    it("where the apps wrote through a remote leader, a version that cannot reach it is rolled back", async () => {
      db = { old: "remote", new: "unreachable" };
      const run = await rollout();
      expect(run.stderr).toContain("the new version must be at least writable");
      expect(run.code).not.toBe(0);
      expect(deployedEnv()).toContain('VERSION="old"');
    });

    it("a standby region's version that loses the database is rolled back too", async () => {
      db = { old: "standby", new: "unreachable" };
      const run = await rollout();
      expect(run.code).not.toBe(0);
      expect(deployedEnv()).toContain('VERSION="old"');
    });
  },
);
