import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";

/**
 * Debian 12's Patroni 3.0.2 could overwrite another member's leader key (fixed upstream in 3.0.3);
 * the manual-failover drill lost 24 acknowledged orders to it. linode-dr-db-provision fixes the
 * installed module before Patroni starts. Here the fix runs on a copy of the installed module.
 */
const SCRIPT = path.join(__dirname, "..", "..", "provisioning", "scripts", "db-provision.sh");
const INSTALLED = "/usr/lib/python3/dist-packages/patroni/dcs/etcd3.py";
const scratch = mkdtempSync(path.join(tmpdir(), "patroni-fix-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function copyOfInstalled(): string {
  if (!existsSync(INSTALLED))
    throw new Error(`${INSTALLED} is missing: run sudo npm run setup (Debian's patroni)`);
  const dir = mkdtempSync(path.join(scratch, "patroni-"));
  mkdirSync(path.join(dir, "dcs"));
  copyFileSync(INSTALLED, path.join(dir, "dcs", "etcd3.py"));
  return dir;
}

function fix(dir: string) {
  return spawnSync("bash", ["-c", `source "${SCRIPT}"; patch_patroni_leader_update`], {
    encoding: "utf8",
    env: { PATH: "/usr/bin:/bin", LINODE_DR_PATRONI_PYTHON_DIR: dir },
  });
}

describe("the Patroni 3.0.2 leader-key fix", () => {
  it("replaces the unconditional write with upstream's two conditional ones, once", () => {
    const dir = copyOfInstalled();
    const file = path.join(dir, "dcs", "etcd3.py");
    expect(readFileSync(file, "utf8")).toContain("self._name, self._lease, retry=_retry)");
    const first = fix(dir);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stderr).toContain("fixed as upstream 3.0.3 does");
    const fixed = readFileSync(file, "utf8");
    // Keep the key only while it names this member; otherwise create it only if nobody holds it.
    expect(fixed).toContain("'target': 'VALUE', 'value': fields['value']");
    expect(fixed).toContain("create_revision='0'");
    expect(fixed).not.toContain("self._name, self._lease, retry=_retry)");
    const compiled = spawnSync("python3", ["-m", "py_compile", file], { encoding: "utf8" });
    expect(compiled.status, compiled.stderr).toBe(0);
    const again = fix(dir);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toContain("already fixed");
    expect(readFileSync(file, "utf8")).toBe(fixed);
  });

  it("refuses a module it was not written for, naming it, and changes nothing", () => {
    const dir = copyOfInstalled();
    const file = path.join(dir, "dcs", "etcd3.py");
    writeFileSync(file, "# some other Patroni\n");
    const r = fix(dir);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`${file} is not the Patroni 3.0.2 text this fix was written for`);
    expect(readFileSync(file, "utf8")).toBe("# some other Patroni\n");
  });
});

/**
 * Every converge of a provisioned database runs linode-dr-db-provision --verify-patroni-fix: a
 * package update brings the unfixed module back and restarts Patroni on it. Here a `sleep` stands
 * in for the running Patroni (its pid file is where the lab's no-systemd path keeps it).
 */
describe("linode-dr-db-provision --verify-patroni-fix", () => {
  let patroni: ChildProcess | undefined;
  afterEach(() => patroni?.kill("SIGKILL"));

  function runningPatroni(): string {
    const runDir = mkdtempSync(path.join(scratch, "run-"));
    patroni = spawn("sleep", ["60"]);
    writeFileSync(path.join(runDir, "patroni.pid"), `${patroni.pid}\n`);
    return runDir;
  }

  function verify(dir: string, runDir: string) {
    return spawnSync("bash", ["-c", `source "${SCRIPT}"; verify_patroni_fix`], {
      encoding: "utf8",
      env: { PATH: "/usr/bin:/bin", LINODE_DR_PATRONI_PYTHON_DIR: dir, LINODE_DR_RUN_DIR: runDir },
    });
  }

  it("accepts a Patroni that started after the fix was in place", () => {
    const dir = copyOfInstalled();
    expect(fix(dir).status).toBe(0);
    const hourAgo = new Date(Date.now() - 3_600_000);
    utimesSync(path.join(dir, "dcs", "etcd3.py"), hourAgo, hourAgo);
    const r = verify(dir, runningPatroni());
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain(`Patroni (pid ${patroni!.pid}) runs with the leader-key fix in place`);
  });

  it("re-applies the fix a package update removed and refuses loudly while Patroni runs the old code", async () => {
    const dir = copyOfInstalled();
    const runDir = runningPatroni();
    // The updated package's module is older than the running process, as dpkg leaves it.
    await new Promise((r) => setTimeout(r, 1_500));
    const r = verify(dir, runDir);
    expect(r.status).not.toBe(0);
    expect(readFileSync(path.join(dir, "dcs", "etcd3.py"), "utf8")).toContain(
      "linode-dr: never overwrite another member's leader key",
    );
    expect(r.stderr).toContain("fixed as upstream 3.0.3 does");
    expect(r.stderr).toMatch(
      new RegExp(
        `Patroni \\(pid ${patroni!.pid}, running since .*\\) loaded .*etcd3\\.py before the leader-key fix was re-applied`,
      ),
    );
    expect(r.stderr).toMatch(/move leadership away \(linode-dr-leader <other member>\), then restart/);
  });

  it("only re-applies the fix when Patroni is not running", () => {
    const dir = copyOfInstalled();
    const r = verify(dir, mkdtempSync(path.join(scratch, "run-")));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain("Patroni is not running: it loads the fixed module when it starts");
    expect(readFileSync(path.join(dir, "dcs", "etcd3.py"), "utf8")).toContain("linode-dr: never overwrite");
  });
});
