import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

/**
 * lib/retry.sh is what keeps one mirror hiccup from leaving a Linode dead for good: apt and
 * downloads are retried with backoff, and a real outage still ends, with a clear failure.
 */
const LIB = path.join(__dirname, "..", "..", "provisioning", "scripts", "lib", "retry.sh");
const scratch = mkdtempSync(path.join(tmpdir(), "retry-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs bash with lib/retry.sh sourced, `sleep` made instant and recorded, and fake commands on PATH. */
function bash(script: string, fakes: Record<string, string> = {}) {
  const bin = mkdtempSync(path.join(scratch, "bin-"));
  const fakeScripts = { sleep: 'echo "$1" >>"$SLEEPS"', ...fakes };
  for (const [name, body] of Object.entries(fakeScripts)) {
    writeFileSync(path.join(bin, name), `#!/bin/bash\n${body}\n`);
    chmodSync(path.join(bin, name), 0o755);
  }
  const sleeps = path.join(bin, "sleeps");
  writeFileSync(sleeps, "");
  const result = spawnSync("bash", ["-c", `set -euo pipefail; source "${LIB}"; ${script}`], {
    encoding: "utf8",
    env: { PATH: `${bin}:/usr/bin:/bin`, SLEEPS: sleeps, COUNTER: path.join(bin, "count") },
  });
  return { ...result, sleeps: readFileSync(sleeps, "utf8").trim().split("\n").filter(Boolean).map(Number) };
}

/** A command that fails until its Nth call. */
const flaky = (succeedOn: number) =>
  `n=$(( $(cat "$COUNTER" 2>/dev/null || echo 0) + 1 )); echo $n >"$COUNTER"; [ $n -ge ${succeedOn} ]`;

describe("retry", () => {
  it("retries a failing command with exponential backoff until it succeeds", () => {
    const r = bash("retry 5 60 flaky", { flaky: flaky(3) });
    expect(r.status, r.stderr).toBe(0);
    expect(r.sleeps).toEqual([2, 4]);
    expect(r.stderr).toMatch(/"flaky" failed \(exit 1, attempt 1 of 5\); next try in 2s/);
  });

  it("gives up after the given attempts with the command's exit status, delays capped", () => {
    const r = bash("retry 6 5 false; echo unreachable", {});
    expect(r.status).toBe(1);
    expect(r.stdout).not.toContain("unreachable");
    expect(r.sleeps).toEqual([2, 4, 5, 5, 5]);
    expect(r.stderr).toMatch(/"false" failed 6 times \(last exit 1\)/);
  });
});

describe("apt_install", () => {
  it("survives apt failing twice (a busy mirror) and installs what is missing", () => {
    const r = bash("apt_install pkg-a", {
      "dpkg-query": "exit 1",
      "apt-get": `if [ "$3" = update ]; then ${flaky(3)}; else echo "installed $*"; fi`,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/installed .*install -y -q --no-install-recommends pkg-a/);
    expect(r.sleeps).toEqual([2, 4]);
  });

  it("does nothing when every package is installed", () => {
    const r = bash("apt_install pkg-a", {
      "dpkg-query": "echo installed",
      "apt-get": "echo should-not-run; exit 1",
    });
    expect(r.status).toBe(0);
    expect(r.stdout).not.toContain("should-not-run");
  });
});
