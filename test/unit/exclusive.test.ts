import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

/**
 * The root commands that must not overlap on one host (a rerun after an interrupted `pulumi up`
 * finds the first run still going): a second run waits for the first, gives up after a bounded
 * wait naming who holds the lock, and a daemon the first run leaves behind does not hold it.
 */
const SCRIPTS = path.join(__dirname, "..", "..", "provisioning", "scripts");
const LIB = path.join(SCRIPTS, "lib", "exclusive.sh");

let scratch: string;
let locks: string;
let demo: string;

beforeEach(() => {
  scratch = mkdtempSync(path.join(tmpdir(), "exclusive-test-"));
  locks = path.join(scratch, "locks");
  demo = path.join(scratch, "demo.sh");
  // Records when its body starts and ends; optionally leaves a daemon behind.
  writeFileSync(
    demo,
    `#!/bin/bash
set -euo pipefail
source ${JSON.stringify(LIB)}
main() {
  echo "start $1 $(date +%s%N)" >>${JSON.stringify(path.join(scratch, "log"))}
  if [[ \${2:-} == daemon ]]; then
    sleep 30 >/dev/null 2>&1 &
    echo $! >${JSON.stringify(path.join(scratch, "daemon.pid"))}
  fi
  sleep "\${DEMO_SECONDS:-1}"
  echo "end $1 $(date +%s%N)" >>${JSON.stringify(path.join(scratch, "log"))}
}
if [[ \${BASH_SOURCE[0]} == "$0" ]]; then
  run_exclusively demo "\${DEMO_WAIT:-30}" "$0" "$@"
  main "$@"
fi
`,
  );
  chmodSync(demo, 0o755);
});

afterEach(() => {
  try {
    process.kill(Number(readFileSync(path.join(scratch, "daemon.pid"), "utf8")), "SIGKILL");
  } catch {
    // no daemon was started, or it already ended
  }
  rmSync(scratch, { recursive: true, force: true });
});

function env(extra: Record<string, string> = {}) {
  return { PATH: "/usr/bin:/bin", LINODE_DR_LOCK_DIR: locks, ...extra };
}

function run(
  args: string[],
  extra: Record<string, string> = {},
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn("bash", [demo, ...args], { env: env(extra) });
    let stderr = "";
    child.stderr.on("data", (chunk) => (stderr += String(chunk)));
    child.on("close", (code) => resolve({ code, stderr }));
  });
}

function intervals(): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  for (const line of readFileSync(path.join(scratch, "log"), "utf8").trim().split("\n")) {
    const [what, who, at] = line.split(" ");
    const span = out.get(who) ?? [0, 0];
    span[what === "start" ? 0 : 1] = Number(BigInt(at) / 1_000_000n);
    out.set(who, span);
  }
  return out;
}

describe("run_exclusively", { timeout: 30_000 }, () => {
  it("makes a second run wait until the first has ended", async () => {
    const first = run(["first"]);
    await new Promise((r) => setTimeout(r, 300));
    const second = run(["second"]);
    expect((await first).code).toBe(0);
    expect((await second).code).toBe(0);
    const spans = intervals();
    expect(spans.get("second")![0]).toBeGreaterThanOrEqual(spans.get("first")![1]);
  });

  it("gives up after its bounded wait, naming the lock and the run that holds it, and runs nothing", async () => {
    const first = run(["first"], { DEMO_SECONDS: "4" });
    await new Promise((r) => setTimeout(r, 300));
    const second = await run(["second"], { DEMO_WAIT: "1" });
    expect(second.code).toBe(75);
    expect(second.stderr).toMatch(
      /another run still holds .*demo\.lock after 1s \(demo pid \d+ since .*: first\)/,
    );
    expect(second.stderr).toMatch(/nothing was done/);
    expect((await first).code).toBe(0);
    expect([...intervals().keys()]).toEqual(["first"]);
  });

  it("passes the command's own exit status through", () => {
    writeFileSync(demo, readFileSync(demo, "utf8").replace('main "$@"\nfi', 'main "$@"\n  exit 7\nfi'));
    const r = spawnSync("bash", [demo, "only"], { env: env({ DEMO_SECONDS: "0" }), encoding: "utf8" });
    expect(r.status).toBe(7);
  });

  it("does not leave the lock held by a daemon the first run started", async () => {
    expect((await run(["first", "daemon"], { DEMO_SECONDS: "0" })).code).toBe(0);
    const second = await run(["second"], { DEMO_SECONDS: "0", DEMO_WAIT: "1" });
    expect(second.stderr).toBe("");
    expect(second.code).toBe(0);
  });
});

describe("the commands that must not overlap", { timeout: 30_000 }, () => {
  // With the command's lock held elsewhere, even a malformed call waits instead of answering at once.
  for (const [script, lock, args] of [
    ["converge.sh", "converge", ["database"]],
    ["app-rollout.sh", "app-rollout", []],
    ["leader.sh", "leadership", ["nobody"]],
  ] as const) {
    it(`${script} waits for a run holding "${lock}"`, () => {
      const free = spawnSync("bash", [path.join(SCRIPTS, script), ...args], {
        env: env(),
        encoding: "utf8",
        input: "",
        timeout: 10_000,
      });
      expect(free.status, free.stderr).not.toBe(0);
      expect(free.error).toBeUndefined();

      const holder = spawn("flock", [path.join(locks, `${lock}.lock`), "sleep", "20"], { env: env() });
      try {
        spawnSync("sleep", ["0.3"]);
        const held = spawnSync("bash", [path.join(SCRIPTS, script), ...args], {
          env: env(),
          encoding: "utf8",
          input: "",
          timeout: 2_000,
          killSignal: "SIGKILL",
        });
        expect(held.signal).toBe("SIGKILL");
        expect(held.stderr).toBe("");
      } finally {
        holder.kill("SIGKILL");
      }
    });
  }
});
