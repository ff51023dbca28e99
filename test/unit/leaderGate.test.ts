import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { leaderCommandLine } from "../../provisioning/consensus";

/**
 * linode-dr-leader-gate is all the dr stack's leadership key may run on the primary database: the
 * exact command lines the program sends, and nothing else (a stand-in leader records its argv).
 */
const GATE = path.join(__dirname, "..", "..", "provisioning", "scripts", "leader-gate.sh");
const scratch = mkdtempSync(path.join(tmpdir(), "leader-gate-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const LEADER = path.join(scratch, "leader");
writeFileSync(LEADER, '#!/bin/bash\necho "leader ran with: $*"\n');
chmodSync(LEADER, 0o755);

function gate(request: string | undefined) {
  return spawnSync("bash", [GATE], {
    encoding: "utf8",
    timeout: 10_000,
    env: {
      PATH: "/usr/bin:/bin",
      LINODE_DR_LEADER: LEADER,
      ...(request === undefined ? {} : { SSH_ORIGINAL_COMMAND: request }),
    },
  });
}

describe("linode-dr-leader-gate", () => {
  it("runs the flag's command lines as the program renders them", () => {
    for (const [desired, force, args] of [
      ["primary", false, "primary"],
      ["dr", false, "dr"],
      ["dr", true, "dr --force"],
    ] as const) {
      const r = gate(leaderCommandLine(desired, { force }));
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe(`leader ran with: ${args}\n`);
    }
  });

  it("refuses anything else, naming what it received and the one form it runs", () => {
    for (const request of [
      undefined,
      "",
      "bash",
      "timeout 300 /usr/local/sbin/linode-dr-leader primary; rm -rf /",
      "timeout 300 /usr/local/sbin/linode-dr-leader witness",
      "timeout 300 /usr/local/sbin/linode-dr-converge database",
      "timeout 300 /usr/local/sbin/linode-dr-leader dr --force --force",
      "timeout 0 /usr/local/sbin/linode-dr-leader dr",
      "timeout 9999 /usr/local/sbin/linode-dr-leader dr",
    ]) {
      const r = gate(request);
      expect(r.status, String(request)).toBe(126);
      expect(r.stdout, String(request)).toBe("");
      expect(r.stderr, String(request)).toMatch(/refused/);
    }
    expect(gate("bash").stderr).toMatch(
      /refused "bash": this key may only run "timeout <seconds> \/usr\/local\/sbin\/linode-dr-leader primary\|dr \[--force\]"/,
    );
    expect(gate("timeout 9999 /usr/local/sbin/linode-dr-leader dr").stderr).toMatch(
      /timeout 9999 is outside 1-3600 seconds/,
    );
  });
});
