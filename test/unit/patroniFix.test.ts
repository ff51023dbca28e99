import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

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
