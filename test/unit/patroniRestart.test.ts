import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { consensusConf } from "./consensusConf";
import { runSourced } from "./sourcedScript";

/**
 * Patroni 3.0.2 exits at start when its etcd member is slow to answer its first request. On a
 * Linode systemd restarts it; a host without systemd (the lab) must not let that exit hold the
 * first boot until its deadline (a rebuilt region's first boot once stalled exactly so). Stand-ins
 * replace the process checks and PostgreSQL: only the waiting loop's decisions are under test.
 */

let scratch: string;

beforeEach(() => {
  scratch = mkdtempSync(path.join(tmpdir(), "patroni-restart-test-"));
  mkdirSync(path.join(scratch, "etc"), { recursive: true });
  mkdirSync(path.join(scratch, "bin"), { recursive: true });
  writeFileSync(path.join(scratch, "etc", "consensus.conf"), consensusConf("primary"));
});
afterEach(() => rmSync(scratch, { recursive: true, force: true }));

function waitUntilServing(systemd: boolean) {
  const marker = path.join(scratch, "patroni-running");
  const starts = path.join(scratch, "starts");
  const standIns = [
    `systemd_running() { ${systemd ? "return 0" : "return 1"}; }`,
    `patroni_running() { [[ -f ${marker} ]]; }`,
    `start_patroni() { echo start >> ${starts}; touch ${marker}; }`,
    `local_role() { [[ -f ${marker} ]] && printf replica; return 0; }`,
    `psql_local() { [[ -f ${marker} ]] && echo streaming; }`,
    `dcs_leader() { echo dr; }`,
    // Each second waited counts as a minute, so a wait that never ends reaches its deadline.
    "sleep() { SECONDS=$((SECONDS + 60)); }",
  ].join("; ");
  return runSourced(
    "db-provision.sh",
    `${standIns}; wait_until_serving; echo SERVING`,
    scratch,
    path.join(scratch, "bin"),
  );
}

describe("a database's first boot waiting for Patroni", { timeout: 30_000 }, () => {
  it("starts Patroni again when it exited without systemd, and then serves", () => {
    const r = waitUntilServing(false);
    expect(r.stdout).toContain("SERVING");
    expect(r.stderr).toMatch(
      /Patroni exited \(its log ends: .*\); starting it again, as its systemd unit would/,
    );
    expect(r.stderr).toMatch(/replica streaming from leader dr/);
  });

  it("leaves restarting to systemd where systemd runs", () => {
    const r = waitUntilServing(true);
    expect(r.status).not.toBe(0);
    expect(r.stdout).not.toContain("SERVING");
    expect(r.stderr).not.toMatch(/starting it again/);
    expect(r.stderr).toMatch(/PostgreSQL is not serving as leader or streaming replica/);
  });
});
