import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

/**
 * After a refused promotion, Patroni's failsafe topology names only the refused member, and with
 * failsafe_mode the old primary coming back never races: the partition-then-loss drill found the
 * cluster leaderless for good. linode-dr-heartbeat, on a standby, deletes a topology that leaves
 * its member out once nobody has led for a whole TTL. Here against an etcd stand-in, step by step.
 */
const SCRIPTS = path.join(__dirname, "..", "..", "provisioning", "scripts");

interface Step {
  /** Seconds on the heartbeat's monotonic clock. */
  at: number;
  leader: string | null;
  failsafe: Record<string, string> | null;
}

/** Runs release_failsafe_without_me at each step; returns, per step, whether it deleted the topology. */
function run(self: string, steps: Step[]): boolean[] {
  const program = `
import json, sys, time
sys.path.insert(0, ${JSON.stringify(SCRIPTS)})
sys.path.insert(0, ${JSON.stringify(path.join(SCRIPTS, "lib"))})
import importlib.util
spec = importlib.util.spec_from_file_location("heartbeat", ${JSON.stringify(path.join(SCRIPTS, "heartbeat.py"))})
heartbeat = importlib.util.module_from_spec(spec)
spec.loader.exec_module(heartbeat)

class Etcd:
    def __init__(self):
        self.keys = {}
        self.revision = 1
        self.deleted = False
    def get(self, key):
        return self.keys.get(key, (None, None))[0]
    def get_revision(self, key):
        return self.keys.get(key, (None, None))
    def delete_if_unchanged_and_absent(self, key, revision, absent):
        if self.keys.get(key, (None, None))[1] == revision and absent not in self.keys:
            del self.keys[key]
            self.deleted = True
            return True
        return False

class Cluster:
    self = ${JSON.stringify(self)}
    leader_key = "/service/app/leader"
    failsafe_key = "/service/app/failsafe"
    ttl_seconds = 10
    def __init__(self):
        self.store = Etcd()
    def etcd(self, timeout_seconds):
        return self.store

cluster = Cluster()
beat = heartbeat.Heartbeat(cluster)
heartbeat.log = lambda message: None
now = [0.0]
heartbeat.time.monotonic = lambda: now[0]
deleted = []
for step in json.load(sys.stdin):
    now[0] = step["at"]
    store = cluster.store
    store.keys = {}
    if step["leader"] is not None:
        store.keys[cluster.leader_key] = (step["leader"], 1)
    if step["failsafe"] is not None:
        store.keys[cluster.failsafe_key] = (json.dumps(step["failsafe"]), 7)
    store.deleted = False
    beat.release_failsafe_without_me()
    deleted.append(store.deleted)
print(json.dumps(deleted))
`;
  const r = spawnSync("/usr/bin/python3", ["-B", "-c", program], {
    input: JSON.stringify(steps),
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as boolean[];
}

const ONLY_B = { dr: "https://db-dr.app.example.com:8008/patroni" };
const BOTH = { ...ONLY_B, primary: "https://db-primary.app.example.com:8008/patroni" };

describe("the heartbeat releasing a failsafe topology that shuts its member out", () => {
  it("waits a whole TTL without a leader, then deletes the topology that leaves it out", () => {
    expect(
      run("primary", [
        { at: 0, leader: null, failsafe: ONLY_B },
        { at: 9, leader: null, failsafe: ONLY_B },
        { at: 10, leader: null, failsafe: ONLY_B },
      ]),
    ).toEqual([false, false, true]);
  });

  it("starts counting again whenever someone holds the leader key (a refused member holds it briefly)", () => {
    expect(
      run("primary", [
        { at: 0, leader: null, failsafe: ONLY_B },
        { at: 8, leader: "dr", failsafe: ONLY_B },
        { at: 12, leader: null, failsafe: ONLY_B },
        { at: 21, leader: null, failsafe: ONLY_B },
        { at: 22, leader: null, failsafe: ONLY_B },
      ]),
    ).toEqual([false, false, false, false, true]);
  });

  it("leaves alone a topology that names its member, an empty one, or none", () => {
    expect(
      run("primary", [
        { at: 0, leader: null, failsafe: BOTH },
        { at: 20, leader: null, failsafe: BOTH },
        { at: 40, leader: null, failsafe: {} },
        { at: 60, leader: null, failsafe: null },
      ]),
    ).toEqual([false, false, false, false]);
  });
});
