import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { consensusConf } from "./consensusConf";

/**
 * The witness has no etcd client rights to use: the databases register it, remove the
 * registration of a witness Linode that was replaced, and promote it; the witness only reads the
 * membership through the peer API. Stand-ins answer for etcdctl (a database's client calls) and
 * curl (the peer API), from files the tests write.
 */
const SCRIPT = path.join(__dirname, "..", "..", "provisioning", "scripts", "etcd-member.sh");
const WITNESS_PEER = "https://witness.app.example.com:2380";

let scratch: string;
let standIns: string;

beforeEach(() => {
  scratch = mkdtempSync(path.join(tmpdir(), "witness-admission-"));
  standIns = path.join(scratch, "standIns");
  mkdirSync(path.join(standIns, "bin"), { recursive: true });
  mkdirSync(path.join(scratch, "etc"), { recursive: true });
  mkdirSync(path.join(scratch, "state"), { recursive: true });
  // etcdctl: `member list` prints the file `members` (etcdctl's simple format); add, remove and
  // promote change it as etcd would, and every call is logged.
  writeFileSync(
    path.join(standIns, "bin", "etcdctl"),
    `#!/bin/bash
args=" $* "
echo "$*" >>${standIns}/calls
members=${standIns}/members
case "$args" in
  *" member list "*) cat "$members" ;;
  *" member remove "*) id=\${args##* remove }; id=\${id%% *}; grep -v "^$id, " "$members" >"$members.new"; mv "$members.new" "$members"; echo "Member $id removed" ;;
  *" member add witness "*) echo "feedc0de, unstarted, , ${WITNESS_PEER}, , true" >>"$members"; echo "Member feedc0de added to cluster 1234" ;;
  *" member promote "*) [[ -f ${standIns}/in-sync ]] || { echo "Error: etcdserver: can only promote a learner member which is in sync with leader" >&2; exit 1; }
     id=\${args##* promote }; id=\${id%% *}; sed -i "s/^\\($id, started, .*\\), true$/\\1, false/" "$members"; echo "Member $id promoted" ;;
  *" endpoint status "*) echo "https://db-primary.app.example.com:2379, aaaa, 3.4.23, 20 kB, false, false, 2, 10, 10, " ;;
esac
`,
  );
  // curl: the peer API's /members of each database, from files peer-<host>.json.
  writeFileSync(
    path.join(standIns, "bin", "curl"),
    `#!/bin/bash
for a in "$@"; do url=$a; done
host=\${url#https://}; host=\${host%%:*}
f=${standIns}/peer-$host.json
[[ -f $f ]] || { echo "curl: (7) Failed to connect to $host port 2380" >&2; exit 7; }
cat "$f"
`,
  );
  chmodSync(path.join(standIns, "bin", "etcdctl"), 0o755);
  chmodSync(path.join(standIns, "bin", "curl"), 0o755);
});
afterEach(() => rmSync(scratch, { recursive: true, force: true }));

function run(self: "primary" | "witness", call: string) {
  writeFileSync(
    path.join(scratch, "etc", "consensus.conf"),
    consensusConf(self, { primary: "192.0.2.10", dr: "198.51.100.10", witness: "203.0.113.10" }),
  );
  return spawnSync("bash", ["-c", `set -euo pipefail; source "${SCRIPT}"; load_consensus; ${call}`], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 30_000,
    env: {
      PATH: `${path.join(standIns, "bin")}:/usr/bin:/bin`,
      LINODE_DR_ETC_DIR: path.join(scratch, "etc"),
      LINODE_DR_STATE_DIR: path.join(scratch, "state"),
      LINODE_DR_HOSTS_FILE: path.join(scratch, "hosts"),
    },
  });
}

const A =
  "1111, started, primary, https://db-primary.app.example.com:2380, https://db-primary.app.example.com:2379, false";
const B = "2222, started, dr, https://db-dr.app.example.com:2380, https://db-dr.app.example.com:2379, false";
function witnessLine(id: string, status: "started" | "unstarted", learner: boolean): string {
  return `${id}, ${status}, ${status === "started" ? "witness" : ""}, ${WITNESS_PEER}, , ${learner}`;
}

describe("a database's next step for the witness", () => {
  // etcdctl's member list as member_list prints it: "id status name peer_url is_learner".
  const list = (...witness: string[]) =>
    [A, B, ...witness]
      .map((l) => l.split(", "))
      .map(([id, status, name, peer, , learner]) => `${id} ${status} ${name || "-"} ${peer} ${learner}`)
      .join("\n");
  const step = (members: string, record: string, address: string) =>
    run("primary", `witness_step "${members}" "${record}" "${address}"`).stdout.trim();

  it.each([
    ["no registration", "add", list(), "", "203.0.113.10"],
    [
      "registered, not started",
      "start beef",
      list(witnessLine("beef", "unstarted", true)),
      "",
      "203.0.113.10",
    ],
    [
      "a learner",
      "promote beef",
      list(witnessLine("beef", "started", true)),
      "beef 203.0.113.10",
      "203.0.113.10",
    ],
    [
      "voting, as recorded",
      "voting beef",
      list(witnessLine("beef", "started", false)),
      "beef 203.0.113.10",
      "203.0.113.10",
    ],
    [
      "voting, nothing recorded (adopted)",
      "voting beef",
      list(witnessLine("beef", "started", false)),
      "",
      "203.0.113.20",
    ],
    [
      "voting, recorded for the address the witness had before its Linode was replaced",
      "remove beef",
      list(witnessLine("beef", "started", false)),
      "beef 203.0.113.10",
      "203.0.113.20",
    ],
    [
      "a newer registration than recorded (the other database replaced it)",
      "voting cafe",
      list(witnessLine("cafe", "started", false)),
      "beef 203.0.113.10",
      "203.0.113.20",
    ],
  ])("%s → %s", (_what, expected, members, record, address) => {
    expect(step(members, record, address)).toBe(expected);
  });
});

describe("a database admitting a rebuilt witness", () => {
  it("removes the replaced Linode's member, registers the new witness as a learner and promotes it once in sync", () => {
    writeFileSync(
      path.join(standIns, "members"),
      [A, B, witnessLine("beef", "started", false), ""].join("\n"),
    );
    writeFileSync(path.join(scratch, "state", "etcd-witness-member"), "beef 203.0.113.10\n");
    // converge brought the new witness's address
    writeFileSync(
      path.join(scratch, "state", "peers"),
      "peer witness witness.app.example.com 203.0.113.20\n",
    );
    const first = run("primary", "admit_witness 0");
    expect(first.status, first.stderr).toBe(0);
    expect(first.stderr).toMatch(
      /removed member beef: it belonged to the witness Linode at 203\.0\.113\.10, which a new one at 203\.0\.113\.20 replaced/,
    );
    expect(first.stderr).toMatch(/registered the witness \(203\.0\.113\.20\) as learner feedc0de/);
    expect(readFileSync(path.join(scratch, "state", "etcd-witness-member"), "utf8")).toBe(
      "feedc0de 203.0.113.20\n",
    );
    // the witness started its learner, which is not in sync yet: one pass changes nothing
    const members = readFileSync(path.join(standIns, "members"), "utf8").replace(
      "feedc0de, unstarted, ,",
      "feedc0de, started, witness,",
    );
    writeFileSync(path.join(standIns, "members"), members);
    const waiting = run("primary", "admit_witness 0");
    expect(waiting.stderr).toMatch(/not a voting member yet \(learner feedc0de not in sync yet/);
    writeFileSync(path.join(standIns, "in-sync"), "");
    const promoted = run("primary", "admit_witness 0");
    expect(promoted.stderr).toMatch(/promoted the witness \(feedc0de\) to a voting member/);
    expect(readFileSync(path.join(standIns, "members"), "utf8")).toMatch(
      /^feedc0de, started, witness, .*, false$/m,
    );
    const calls = readFileSync(path.join(standIns, "calls"), "utf8");
    expect(calls.match(/member (remove|add|promote)[^\n]*/g)).toEqual([
      "member remove beef",
      `member add witness --learner --peer-urls=${WITNESS_PEER}`,
      "member promote feedc0de",
      "member promote feedc0de",
    ]);
  });

  it("leaves a voting witness alone when its address is the one recorded", () => {
    writeFileSync(
      path.join(standIns, "members"),
      [A, B, witnessLine("beef", "started", false), ""].join("\n"),
    );
    writeFileSync(path.join(scratch, "state", "etcd-witness-member"), "beef 203.0.113.10\n");
    const r = run("primary", "admit_witness 0");
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(path.join(standIns, "calls"), "utf8")).not.toMatch(/member (remove|add|promote)/);
  });
});

describe("the witness joining without client rights", () => {
  const members = (witness?: { name: string; learner: boolean }) =>
    JSON.stringify([
      { id: 1, name: "primary", peerURLs: ["https://db-primary.app.example.com:2380"] },
      { id: 2, name: "dr", peerURLs: ["https://db-dr.app.example.com:2380"] },
      ...(witness
        ? [{ id: 3054, name: witness.name, peerURLs: [WITNESS_PEER], isLearner: witness.learner }]
        : []),
    ]);

  it("says which stack's update admits it when no database answers on its peer port", () => {
    const r = run("witness", "witness_try_join || true");
    expect(r.stdout).toMatch(
      /no database answers on its peer port \(primary: curl: \(7\) .*; dr: curl: \(7\) Failed to connect to db-dr\.app\.example\.com/,
    );
    expect(r.stdout).toMatch(/by the next 'pulumi up' of the primary stack with drStack set/);
    expect(r.stdout).not.toMatch(/etcdctl/);
  });

  it("waits for a database to register it", () => {
    writeFileSync(path.join(standIns, "peer-db-primary.app.example.com.json"), members());
    const r = run("witness", "witness_try_join || true");
    expect(r.stdout).toMatch(/not registered yet: a database adds the witness at its next converge/);
  });

  it("waits while the replaced witness's member is still registered, and never takes over its identity", () => {
    writeFileSync(
      path.join(standIns, "peer-db-dr.app.example.com.json"),
      members({ name: "witness", learner: false }),
    );
    const r = run("witness", "witness_try_join || true");
    expect(r.stdout).toMatch(/member bee is still registered for the witness Linode this one replaced/);
    expect(() => readFileSync(path.join(scratch, "etc", "etcd.env"))).toThrow();
  });

  it("starts etcd as the registered learner with the cluster it read, and calls no client API", () => {
    writeFileSync(
      path.join(standIns, "peer-db-primary.app.example.com.json"),
      members({ name: "", learner: true }),
    );
    const r = run(
      "witness",
      'start_etcd() { echo started; }; write_if_changed() { printf \'%s\' "$2" >"$1"; }; witness_try_join',
    );
    expect(r.status, r.stderr).toBe(0);
    const env = readFileSync(path.join(scratch, "etc", "etcd.env"), "utf8");
    expect(env).toMatch(/^ETCD_INITIAL_CLUSTER_STATE=existing$/m);
    expect(env).toMatch(
      /^ETCD_INITIAL_CLUSTER=primary=https:\/\/db-primary\.app\.example\.com:2380,dr=https:\/\/db-dr\.app\.example\.com:2380,witness=https:\/\/witness\.app\.example\.com:2380$/m,
    );
    expect(() => readFileSync(path.join(standIns, "calls"))).toThrow();
  });
});
