import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { consensusConf } from "./consensusConf";
import { runSourced } from "./sourcedScript";

/**
 * A database that joins etcd as a learner promotes itself once it has caught up. The learner
 * answers nearly every client request with "rpc not supported for learner", and etcdctl sends a
 * request to whichever of its endpoints it picked, so the member must never ask its own endpoint:
 * with the lab's WAN its own endpoint was always the one picked and the member stayed a learner
 * until its first boot gave up. The stand-in etcdctl answers as a learner whenever its endpoints
 * include this member's own, and as the cluster otherwise.
 */
const SELF_CLIENT_URL = "https://db-primary.app.example.com:2379";
const SELF_PEER_URL = "https://db-primary.app.example.com:2380";

let scratch: string;
let standIns: string;

beforeEach(() => {
  scratch = mkdtempSync(path.join(tmpdir(), "learner-test-"));
  standIns = path.join(scratch, "standIns");
  mkdirSync(path.join(standIns, "bin"), { recursive: true });
  mkdirSync(path.join(scratch, "etc"), { recursive: true });
  writeFileSync(path.join(scratch, "etc", "consensus.conf"), consensusConf("primary"));
  writeFileSync(
    path.join(standIns, "bin", "etcdctl"),
    `#!/bin/bash
if [[ -f ${standIns}/founder ]]; then
  # The founder, alone: the others do not exist; its own endpoint answers as a voter.
  [[ "$*" == *"--endpoints=${SELF_CLIENT_URL} "* ]] || { echo "context deadline exceeded" >&2; exit 1; }
  echo "bb22, started, primary, ${SELF_PEER_URL}, ${SELF_CLIENT_URL}, false"
  exit 0
fi
if [[ "$*" == *"--endpoints="*"${SELF_CLIENT_URL}"* ]]; then
  echo "Error: etcdserver: rpc not supported for learner" >&2
  exit 1
fi
case "$*" in
  *"member list"*)
    learner=true; [[ -f ${standIns}/promoted ]] && learner=false
    echo "aa11, started, dr, https://db-dr.app.example.com:2380, https://db-dr.app.example.com:2379, false"
    echo "bb22, started, primary, ${SELF_PEER_URL}, ${SELF_CLIENT_URL}, $learner"
    ;;
  *"member promote bb22"*) touch ${standIns}/promoted; echo "Member bb22 promoted in cluster cc33" ;;
  *) echo "unexpected: $*" >&2; exit 1 ;;
esac
`,
  );
  chmodSync(path.join(standIns, "bin", "etcdctl"), 0o755);
});
afterEach(() => rmSync(scratch, { recursive: true, force: true }));

function becomeVoter() {
  // etcd itself runs (only the promotion is under test).
  return runSourced(
    "etcd-member.sh",
    "etcd_running() { return 0; }; become_voter",
    scratch,
    path.join(standIns, "bin"),
  );
}

describe("a database joining etcd as a learner", { timeout: 30_000 }, () => {
  it("promotes itself by asking the other members, never its own learner endpoint", () => {
    const r = becomeVoter();
    expect(r.stderr).not.toMatch(/rpc not supported for learner/);
    expect(r.stderr).toMatch(/promoted from learner: Member bb22 promoted/);
    expect(r.stderr).toMatch(/voting member primary \(bb22\)/);
    expect(r.status).toBe(0);
  });

  it("a member that already votes, with no other member answering (the founder), reads its own membership and is done", () => {
    writeFileSync(path.join(standIns, "founder"), "");
    const r = becomeVoter();
    expect(r.stderr).toMatch(/voting member primary \(bb22\)/);
    expect(r.status).toBe(0);
  });
});
