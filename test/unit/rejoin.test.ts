import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { consensusConf } from "./consensusConf";
import { runSourced } from "./sourcedScript";

/**
 * A member that joins (every member but the founder at the first bring-up, a rebuilt primary
 * database included) has no data of its own. It must never let Patroni start where Patroni could
 * run initdb or lead with an empty database: it waits, saying for what, and fails after a bounded
 * time. Stand-ins answer for etcd (etcdctl) and for the leader's replication port (psql).
 */

let scratch: string;
let standIns: string;

beforeEach(() => {
  scratch = mkdtempSync(path.join(tmpdir(), "rejoin-test-"));
  standIns = path.join(scratch, "standIns");
  mkdirSync(path.join(standIns, "bin"), { recursive: true });
  mkdirSync(path.join(scratch, "etc"), { recursive: true });
  writeFileSync(path.join(scratch, "etc", "consensus.conf"), consensusConf("primary"));
  // etcd as the stand-in's files say: the leader key and Patroni's initialize key.
  writeFileSync(
    path.join(standIns, "bin", "etcdctl"),
    `#!/bin/bash
case "$*" in
  *"member list"*) [[ -f ${standIns}/unreachable ]] && { echo "context deadline exceeded" >&2; exit 1; } ;;
  */service/app/leader*) cat ${standIns}/leader 2>/dev/null || true ;;
  */service/app/initialize*) cat ${standIns}/initialize 2>/dev/null || true ;;
esac
`,
  );
  chmodSync(path.join(standIns, "bin", "etcdctl"), 0o755);
  // Any replication probe of the leader succeeds: only the decision before it is under test.
  writeFileSync(path.join(standIns, "bin", "runuser"), "#!/bin/bash\necho 'sysid|1|0/0|'\n");
  chmodSync(path.join(standIns, "bin", "runuser"), 0o755);
});
afterEach(() => rmSync(scratch, { recursive: true, force: true }));

function etcd(state: { leader?: string; initialize?: string; unreachable?: boolean }): void {
  if (state.leader) writeFileSync(path.join(standIns, "leader"), state.leader);
  if (state.initialize) writeFileSync(path.join(standIns, "initialize"), state.initialize);
  if (state.unreachable) writeFileSync(path.join(standIns, "unreachable"), "");
}

function run(script: string, call: string) {
  return runSourced(script, call, scratch, path.join(standIns, "bin"));
}

describe("a joining database member without data", { timeout: 30_000 }, () => {
  it("does not start Patroni while etcd still names it leader (its previous Linode's lease)", () => {
    etcd({ leader: "primary", initialize: "7301234567890123456" });
    const r = run(
      "db-provision.sh",
      "SETTINGS[REPL_USER]=replicator; wait_for_leader_before_copy; echo WOULD-START-PATRONI",
    );
    expect(r.status).not.toBe(0);
    expect(r.stdout).not.toContain("WOULD-START-PATRONI");
    expect(r.stderr).toMatch(/etcd still names this member leader, a lease its previous Linode held/);
    expect(r.stderr).toMatch(/no leader to copy from after 2s/);
  });

  it("does not start Patroni in a cluster that etcd has no record of initializing", () => {
    etcd({ leader: "dr" });
    const r = run(
      "db-provision.sh",
      "SETTINGS[REPL_USER]=replicator; wait_for_leader_before_copy; echo WOULD-START-PATRONI",
    );
    expect(r.status).not.toBe(0);
    expect(r.stdout).not.toContain("WOULD-START-PATRONI");
    expect(r.stderr).toMatch(/etcd has a leader but no record that the cluster was ever initialized/);
  });

  it("copies from the other region's leader of an initialized cluster", () => {
    etcd({ leader: "dr", initialize: "7301234567890123456" });
    const r = run(
      "db-provision.sh",
      "SETTINGS[REPL_USER]=replicator; wait_for_leader_before_copy; echo WOULD-START-PATRONI",
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("WOULD-START-PATRONI");
    expect(r.stderr).toMatch(/leader dr \(db-dr\.app\.example\.com\) accepts replication over verified TLS/);
  });
});

describe("a joining etcd member that cannot reach the cluster", () => {
  it("says which stack's update admits a rebuilt primary database", () => {
    etcd({ unreachable: true });
    const r = run("etcd-member.sh", "try_join || true");
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(
      /cluster not reachable at https:\/\/db-dr\.app\.example\.com:2379,https:\/\/witness\.app\.example\.com:2379/,
    );
    expect(r.stdout).toMatch(/admitted on ports 2379-2380 by the next 'pulumi up' of the dr stack/);
  });
});
