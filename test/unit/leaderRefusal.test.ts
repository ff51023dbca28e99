import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { write } from "./writeFile";

/**
 * linode-dr-leader with automaticFailover=false, run on region B's database (the member the flag
 * names), against stand-ins for Patroni's REST API and patronictl: when it refuses, it must leave
 * the member's nofailover tag as it found it, or a refused manual failover would leave region B
 * free to take the lease by itself.
 */
const LEADER = path.join(__dirname, "..", "..", "provisioning", "scripts", "leader.sh");
const GUARD_BYTES = 1_048_576;

let scratch: string;
let stub: string;
let etc: string;

/** Region A leads and is healthy; B is a running replica `lagBytes` behind, streaming or not. */
function world(lagBytes: number, streaming: boolean): void {
  write(
    path.join(etc, "consensus.conf"),
    [
      "SCOPE=linode-dr",
      "SELF=dr",
      "FOUNDER=false",
      "NAME_PRIMARY=pg-a.db.internal",
      "NAME_DR=pg-b.db.internal",
      "NAME_WITNESS=witness.db.internal",
      "ETCD_HEARTBEAT_MS=100",
      "ETCD_ELECTION_MS=1000",
      "JOIN_TIMEOUT_SECONDS=60",
      "TTL=10",
      "LOOP_WAIT=2",
      "RETRY_TIMEOUT=4",
      `MAXIMUM_LAG_ON_FAILOVER=${GUARD_BYTES}`,
      "SYNCHRONOUS_MODE=false",
      "AUTOMATIC_FAILOVER=false",
      "REST_USER=patroni",
      "",
    ].join("\n"),
  );
  write(path.join(etc, "patroni.yml"), "scope: linode-dr\ntags:\n  nofailover: true\n");
  write(path.join(etc, "tls", "ca.crt"), "not read by the stand-ins\n");
  write(path.join(stub, "live-nofailover"), "true");
  write(path.join(stub, "lag"), String(lagBytes));
  // The cluster as Patroni's /cluster shows it, B's tag as Patroni last loaded it.
  write(
    path.join(stub, "bin", "curl"),
    `#!/bin/bash
url=\${*: -1}
case $url in
  */cluster)
    printf '{"members":[{"name":"primary","role":"leader","state":"running"},{"name":"dr","role":"replica","state":"running","lag":%s,"tags":{"nofailover":%s}}]}' "$(<"${stub}/lag")" "$(<"${stub}/live-nofailover")"
    ;;
  https://pg-a.db.internal:8008/primary) echo '{}' ;;
  *) exit 22 ;;
esac
`,
    0o755,
  );
  patronictl("");
  write(
    path.join(stub, "bin", "runuser"),
    `#!/bin/bash\n${streaming ? "echo streaming" : "echo stopping"}\n`,
    0o755,
  );
  write(path.join(stub, "bin", "id"), "#!/bin/bash\necho 0\n", 0o755);
  write(path.join(stub, "bin", "chown"), "#!/bin/bash\nexit 0\n", 0o755);
}

/**
 * patronictl's stand-in: it logs every call, a reload loads the tag from the config file, and
 * `onSwitchover` (bash) answers a switchover.
 */
function patronictl(onSwitchover: string): void {
  write(
    path.join(stub, "bin", "patronictl"),
    `#!/bin/bash
echo "$*" >>"${stub}/patronictl.log"
if [[ $3 == reload ]]; then
  sed -n 's/^  nofailover: //p' "$2" >"${stub}/live-nofailover"
fi
if [[ $3 == switchover ]]; then
  :
  ${onSwitchover}
fi
exit 0
`,
    0o755,
  );
}

function leader(args: string[], extraEnv: Record<string, string> = {}) {
  return spawnSync("bash", [LEADER, ...args], {
    encoding: "utf8",
    timeout: 60_000,
    env: {
      PATH: `${path.join(stub, "bin")}:/usr/bin:/bin`,
      LINODE_DR_ETC_DIR: etc,
      LINODE_DR_STATE_DIR: path.join(scratch, "state"),
      LINODE_DR_LOCK_DIR: path.join(scratch, "locks"),
      LINODE_DR_LEADER_WAIT_SECONDS: "2",
      ...extraEnv,
    },
  });
}

function tagInConfig(): string {
  return /^ {2}nofailover: (\S+)$/m.exec(readFileSync(path.join(etc, "patroni.yml"), "utf8"))?.[1] ?? "";
}

function patronictlCalls(): string[] {
  const log = path.join(stub, "patronictl.log");
  return existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : [];
}

beforeEach(() => {
  scratch = mkdtempSync(path.join(tmpdir(), "leader-refusal-test-"));
  stub = path.join(scratch, "stub");
  etc = path.join(scratch, "etc");
  mkdirSync(path.join(scratch, "state"), { recursive: true });
});
afterEach(() => rmSync(scratch, { recursive: true, force: true }));

describe("linode-dr-leader refusing with automatic failover off", { timeout: 30_000 }, () => {
  it("puts region B's nofailover tag back when B lags beyond the guard", () => {
    world(GUARD_BYTES * 40, true);
    const r = leader(["dr"]);
    expect(r.status, r.stderr).toBe(3);
    expect(r.stdout).toMatch(/refused: dr lags 41943040 bytes/);
    expect(tagInConfig()).toBe("true");
    expect(readFileSync(path.join(stub, "live-nofailover"), "utf8").trim()).toBe("true");
    expect(patronictlCalls().filter((c) => /switchover|failover --candidate/.test(c))).toEqual([]);
  });

  it("puts the tag back when B is not streaming from the healthy leader", () => {
    world(0, false);
    const r = leader(["dr"]);
    expect(r.status, r.stderr).toBe(3);
    expect(r.stdout).toMatch(/refused: dr is not streaming from the healthy leader primary/);
    expect(tagInConfig()).toBe("true");
    expect(readFileSync(path.join(stub, "live-nofailover"), "utf8").trim()).toBe("true");
    expect(patronictlCalls().filter((c) => /switchover|failover --candidate/.test(c))).toEqual([]);
  });

  it("frees the tag and asks Patroni for the switchover when nothing stands in the way", () => {
    world(0, true);
    const r = leader(["dr"]);
    // The stand-in never makes B lead, so the bounded wait ends the run; what matters is the order.
    expect(r.stdout).toMatch(/nofailover=false on dr/);
    expect(r.stdout).toMatch(/doing: switchover primary -> dr/);
    expect(tagInConfig()).toBe("false");
    expect(patronictlCalls().some((c) => /switchover --leader primary --candidate dr/.test(c))).toBe(true);
  });
});

/**
 * Patroni answers a refused switchover with exit status 0 ("Switchover failed, details: 412, ...").
 * Before the fix the command said "doing: switchover", then waited its whole bounded wait on a
 * switchover that never happened (the region-rebuild drill's failback right after A rejoined).
 */
describe("linode-dr-leader when Patroni refuses the switchover", { timeout: 30_000 }, () => {
  /** patronictl refuses the first `refusals` switchovers with `reason`, then accepts. */
  function refusingPatroni(refusals: number, reason: string): void {
    patronictl(`n=$(grep -c switchover "${stub}/patronictl.log")
  if ((n <= ${refusals})); then
    echo "Switchover failed, details: 412, ${reason}"
  else
    echo "Successfully switched over to \\"dr\\""
  fi`);
  }
  const switchovers = () => patronictlCalls().filter((c) => / switchover /.test(` ${c} `));

  it("asks again while Patroni cannot confirm the candidate, then goes on", () => {
    world(0, true);
    refusingPatroni(2, "switchover is not possible: no good candidates have been found");
    const r = leader(["dr"]);
    expect(switchovers()).toHaveLength(3);
    expect(r.stderr).toMatch(/Patroni on primary cannot reach dr.s REST API yet .*Asking again in 3s/);
    expect(r.stderr).toMatch(/patronictl: Successfully switched over/);
  });

  it("refuses at once on any other refusal, with Patroni's reason, and puts the tag back", () => {
    world(0, true);
    refusingPatroni(5, "Switchover could be performed only from a specific member");
    const r = leader(["dr"]);
    expect(r.status, r.stderr).toBe(3);
    expect(r.stdout).toMatch(
      /refused: Patroni refused the switchover primary -> dr: Switchover failed, details: 412, Switchover could be performed only from a specific member; nothing was changed/,
    );
    expect(switchovers()).toHaveLength(1);
    expect(tagInConfig()).toBe("true");
  });

  it("gives up asking after its bounded time", () => {
    world(0, true);
    refusingPatroni(100, "switchover is not possible: no good candidates have been found");
    const r = leader(["dr"], { LINODE_DR_SWITCHOVER_RETRY_SECONDS: "4" });
    expect(r.status, r.stderr).toBe(3);
    expect(r.stdout).toMatch(/refused: Patroni refused the switchover primary -> dr: .*no good candidates/);
    expect(switchovers().length).toBeGreaterThanOrEqual(2);
    expect(switchovers().length).toBeLessThanOrEqual(3);
  });
});
