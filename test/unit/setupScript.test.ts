import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

/**
 * lab/setup.sh is the one list of Debian packages and why each is needed. Its functions run under
 * `set -euo pipefail`: a helper that ends on a false test would stop `--install` with nothing said
 * (that happened: .ci/run died at its first step on a machine that lacked nothing).
 */

const SETUP = path.join(__dirname, "..", "..", "lab", "setup.sh");

function bash(script: string) {
  return spawnSync("bash", ["-c", `set -euo pipefail; source ${JSON.stringify(SETUP)}; ${script}`], {
    encoding: "utf8",
  });
}

describe("lab/setup.sh", () => {
  it("selects rows by scope under errexit and pipefail, whatever the last scope asked for", () => {
    const r = bash('test_rows=$(rows test lab | names_of); printf "%s\\n" "$test_rows"');
    expect(r.status, r.stderr).toBe(0);
    const names = r.stdout.trim().split("\n");
    expect(names).toContain("gcc");
    expect(names).toContain("haproxy");
    expect(names).not.toContain("patroni");
  });

  it("names each missing package with why it is needed", () => {
    const r = bash('printf "nosuchpkg-x|test|why not\\n" | missing_rows | describe_rows');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe("nosuchpkg-x (why not)");
  });

  it("gives every package a scope it knows and a reason", () => {
    const r = bash('for row in "${PACKAGES[@]}"; do printf "%s\\n" "$row"; done');
    expect(r.status, r.stderr).toBe(0);
    for (const row of r.stdout.trim().split("\n")) {
      const [name, scope, why] = row.split("|");
      expect(name, row).toMatch(/^[a-z0-9.+-]+$/);
      expect(["test", "lab", "daemon"], row).toContain(scope);
      expect(why?.length ?? 0, row).toBeGreaterThan(10);
    }
  });
});
