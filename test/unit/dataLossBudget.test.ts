import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { write } from "./writeFile";
import { consensusConf } from "./consensusConf";

/**
 * The data-loss budget: no standby lacking more than maximumDataLossSeconds of acknowledged
 * writes is promoted without the operator's force. The decision (lib/dataloss.py) is a table; the
 * flag's command (linode-dr-leader) says what a failover would lose and refuses beyond the budget;
 * the hook (linode-dr-promotion-check) refuses a broken setting by name.
 */
const SCRIPTS = path.join(__dirname, "..", "..", "provisioning", "scripts");
const LEADER = path.join(SCRIPTS, "leader.sh");

interface Report {
  member: string;
  at: number;
  beat: number;
  xid: number;
  lsn: string;
}
interface Row {
  at: number;
  beat: number;
  xid: number;
}
interface Verdict {
  verdict: "promote" | "refuse";
  behind_seconds: number | null;
  transactions: number | null;
  bytes: number | null;
  reason: string;
}

/** Runs lib/dataloss.py's assess on each case, in one Python process. */
function assess(
  cases: {
    report: Report | null;
    received_lsn: string | null;
    row: Row | null;
    budget: number;
    forced: boolean;
  }[],
): Verdict[] {
  const program = [
    "import json, sys",
    `sys.path.insert(0, ${JSON.stringify(path.join(SCRIPTS, "lib"))})`,
    "from dataloss import assess",
    "cases = json.load(sys.stdin)",
    "print(json.dumps([assess(c['report'], {'received_lsn': c['received_lsn'], 'row': c['row']}, c['budget'], c['forced']) for c in cases]))",
  ].join("\n");
  const r = spawnSync("/usr/bin/python3", ["-B", "-c", program], {
    input: JSON.stringify(cases),
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as Verdict[];
}

// The leader's last report: heartbeat 500 at t=1000 s, transaction 9000, WAL at 0/5000000.
const REPORT: Report = { member: "primary", at: 1000, beat: 500, xid: 9000, lsn: "0/5000000" };
const BEHIND = (seconds: number, beats: number, xids: number): Row => ({
  at: 1000 - seconds,
  beat: 500 - beats,
  xid: 9000 - xids,
});

describe("the data-loss budget's decision", () => {
  const table: [string, Parameters<typeof assess>[0][number], Partial<Verdict>][] = [
    [
      "no leader ever reported: nothing acknowledged to lose",
      { report: null, received_lsn: "0/100", row: null, budget: 10, forced: false },
      { verdict: "promote", behind_seconds: null },
    ],
    [
      "the standby received everything the leader reported",
      { report: REPORT, received_lsn: "0/5000100", row: BEHIND(30, 30, 400), budget: 10, forced: false },
      { verdict: "promote", behind_seconds: 0, transactions: 0, bytes: 0 },
    ],
    [
      "3 s behind, budget 10 s",
      { report: REPORT, received_lsn: "0/4F00000", row: BEHIND(3, 3, 33), budget: 10, forced: false },
      { verdict: "promote", behind_seconds: 3, transactions: 30, bytes: 0x100000 },
    ],
    [
      "9 s behind: with one heartbeat of writes after the report, exactly the budget",
      { report: REPORT, received_lsn: "0/4000000", row: BEHIND(9, 9, 99), budget: 10, forced: false },
      { verdict: "promote", behind_seconds: 9, transactions: 90 },
    ],
    [
      "9.5 s behind: beyond the budget once the last interval is counted",
      { report: REPORT, received_lsn: "0/4000000", row: BEHIND(9.5, 10, 110), budget: 10, forced: false },
      { verdict: "refuse", behind_seconds: 9.5, transactions: 100 },
    ],
    [
      "a partition's worth behind (32 s, 342 orders)",
      { report: REPORT, received_lsn: "0/1000000", row: BEHIND(32, 32, 374), budget: 10, forced: false },
      { verdict: "refuse", behind_seconds: 32, transactions: 342, bytes: 0x4000000 },
    ],
    [
      "the same, with a budget of a minute",
      { report: REPORT, received_lsn: "0/1000000", row: BEHIND(32, 32, 374), budget: 60, forced: false },
      { verdict: "promote", behind_seconds: 32, transactions: 342 },
    ],
    [
      "the same, forced by the operator",
      { report: REPORT, received_lsn: "0/1000000", row: BEHIND(32, 32, 374), budget: 10, forced: true },
      { verdict: "promote", behind_seconds: 32, transactions: 342 },
    ],
    [
      "a standby that replayed no heartbeat cannot be measured",
      { report: REPORT, received_lsn: "0/1000000", row: null, budget: 10, forced: false },
      { verdict: "refuse", behind_seconds: null },
    ],
    [
      "... unless forced",
      { report: REPORT, received_lsn: null, row: null, budget: 10, forced: true },
      { verdict: "promote", behind_seconds: null, bytes: null },
    ],
  ];
  const verdicts = assess(table.map(([, input]) => input));
  it.each(table.map(([name, , expected], i) => [name, expected, verdicts[i]] as const))(
    "%s",
    (_name, expected, verdict) => {
      expect(verdict).toMatchObject(expected);
    },
  );

  it("says why, in the words the drill and the operator read", () => {
    const [refused, forced] = [verdicts[5], verdicts[7]];
    expect(refused.reason).toBe(
      "no automatic promotion: standby 32.0 s (342 transactions, 67108864 bytes) behind primary's heartbeat 500; the budget is 10 s (maximumDataLossSeconds), forceFailover accepts the loss",
    );
    expect(forced.reason).toMatch(/^forced by the operator \(forceFailover\): 32\.0 s \(342 transactions/);
  });

  it("refuses an LSN that is not one, by name", () => {
    expect(() =>
      assess([{ report: REPORT, received_lsn: "5000000", row: null, budget: 10, forced: false }]),
    ).toThrow(/"5000000" is not an LSN \(expected two hex numbers joined by "\/"\)/);
  });
});

let scratch: string;
let standIns: string;
let etc: string;
let state: string;

/**
 * Region A is gone (no leader); B is a running replica. The hook's stand-in answers --report with
 * `report` and records whether the forced-promotion file existed when Patroni was asked to fail over.
 */
function regionALost(report: string): void {
  write(path.join(etc, "consensus.conf"), consensusConf("dr", {}, { MAXIMUM_DATA_LOSS_SECONDS: "10" }));
  write(path.join(etc, "patroni.yml"), "scope: linode-dr\ntags:\n  nofailover: false\n");
  write(
    path.join(standIns, "bin", "curl"),
    `#!/bin/bash
url=\${*: -1}
case $url in
  */cluster) printf '{"members":[{"name":"dr","role":"replica","state":"running","lag":4096}]}' ;;
  *) exit 22 ;;
esac
`,
    0o755,
  );
  write(
    path.join(standIns, "sbin", "linode-dr-promotion-check"),
    `#!/bin/bash\ncat <<'REPORT'\n${report}\nREPORT\n`,
    0o755,
  );
  write(path.join(standIns, "bin", "runuser"), '#!/bin/bash\nshift 3\nexec "$@"\n', 0o755);
  write(
    path.join(standIns, "bin", "patronictl"),
    `#!/bin/bash
echo "$* forced=$(cat "${state}/forced-promotion" 2>/dev/null | tr ' ' ,)" >>"${standIns}/patronictl.log"
exit 0
`,
    0o755,
  );
  write(path.join(standIns, "bin", "id"), "#!/bin/bash\necho 0\n", 0o755);
}

function leader(args: string[]) {
  return spawnSync("bash", [LEADER, ...args], {
    encoding: "utf8",
    timeout: 60_000,
    env: {
      PATH: `${path.join(standIns, "bin")}:/usr/bin:/bin`,
      LINODE_DR_ETC_DIR: etc,
      LINODE_DR_STATE_DIR: state,
      LINODE_DR_SBIN_DIR: path.join(standIns, "sbin"),
      LINODE_DR_LOCK_DIR: path.join(scratch, "locks"),
      LINODE_DR_LEADER_WAIT_SECONDS: "1",
    },
  });
}

function failovers(): string[] {
  const log = path.join(standIns, "patronictl.log");
  return existsSync(log)
    ? readFileSync(log, "utf8")
        .trim()
        .split("\n")
        .filter((l) => / failover /.test(` ${l} `))
    : [];
}

const FAR_BEHIND =
  'verdict=refuse behind_seconds=32.0 transactions=342 bytes=50331648 budget_seconds=10 reason="no automatic promotion: standby 32.0 s (342 transactions, 50331648 bytes) behind primary\'s heartbeat 500; the budget is 10 s (maximumDataLossSeconds), forceFailover accepts the loss"';
const CLOSE =
  'verdict=promote behind_seconds=0.4 transactions=3 bytes=4096 budget_seconds=10 reason="within the budget of 10 s: 0.4 s (3 transactions, 4096 bytes) behind primary\'s heartbeat 500"';

beforeEach(() => {
  scratch = mkdtempSync(path.join(tmpdir(), "data-loss-budget-test-"));
  standIns = path.join(scratch, "standIns");
  etc = path.join(scratch, "etc");
  state = path.join(scratch, "state");
  mkdirSync(state, { recursive: true });
});
afterEach(() => rmSync(scratch, { recursive: true, force: true }));

describe("the failover flag's command and the budget", { timeout: 30_000 }, () => {
  it("says what a failover would lose and refuses beyond the budget, asking Patroni nothing", () => {
    regionALost(FAR_BEHIND);
    const r = leader(["dr"]);
    expect(r.status, r.stderr).toBe(3);
    expect(r.stdout).toMatch(
      /found: dr is 32\.0 s \(342 transactions, 50331648 bytes\) behind the leader's last report; the budget is 10 s/,
    );
    expect(r.stdout).toMatch(
      /refused: no automatic promotion: standby 32\.0 s \(342 transactions.*forceFailover accepts the loss; nothing was changed/,
    );
    expect(failovers()).toEqual([]);
  });

  it("with --force, lets the promotion through for this run only, and says what it accepts", () => {
    regionALost(FAR_BEHIND);
    const before = Math.floor(Date.now() / 1000);
    const r = leader(["dr", "--force"]);
    expect(r.stdout).toMatch(/warning: promoting dr beyond the data-loss budget because of --force/);
    const [call] = failovers();
    const until = Number(/forced=member=dr,until=(\d+)/.exec(call ?? "")?.[1]);
    // Patroni's hook saw the operator's force while the failover ran ...
    expect(until).toBeGreaterThan(before);
    // ... and it is gone once the run ended (here: the stand-in never makes B lead).
    expect(existsSync(path.join(state, "forced-promotion"))).toBe(false);
  });

  it("within the budget, fails over without forcing anything", () => {
    regionALost(CLOSE);
    const r = leader(["dr"]);
    expect(r.stdout).toMatch(/found: dr is 0\.4 s \(3 transactions, 4096 bytes\) behind/);
    expect(r.stdout).toMatch(/doing: failover to dr/);
    expect(failovers()[0]).toMatch(/failover --candidate dr --force forced=$/);
  });
});

describe("linode-dr-promotion-check's settings", () => {
  it("refuses a budget that is not a whole number of seconds, by name", () => {
    write(path.join(etc, "consensus.conf"), consensusConf("dr", {}, { MAXIMUM_DATA_LOSS_SECONDS: "ten" }));
    const r = spawnSync("/usr/bin/python3", [path.join(SCRIPTS, "promotion-check.py")], {
      encoding: "utf8",
      env: { LINODE_DR_ETC_DIR: etc, LINODE_DR_STATE_DIR: state },
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(
      /consensus\.conf: MAXIMUM_DATA_LOSS_SECONDS="ten" does not match \[1-9\]\[0-9\]\{0,4\}/,
    );
  });
});
