import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { renderMetrics } from "../../../follower/src/metrics";
import { Follower } from "../../../follower/src/service";
import type { FollowerSettings } from "../../../follower/src/settings";
import { pause, readState, resume } from "../../../follower/src/state";
import { FakeWorld } from "./fakes";
import { followerSettings } from "./fixtures";

const T0 = Date.UTC(2026, 11, 6, 9, 0, 0);
const S = 1000;

let stateDir: string;
beforeEach(async () => {
  stateDir = await mkdtemp(path.join(tmpdir(), "follower-service-"));
});
afterEach(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

/** A follower on a fake world and a hand-moved clock; its log lines kept. */
async function setUp(change: Partial<FollowerSettings> = {}) {
  const settings = followerSettings({ stateDir, recordsRefreshSeconds: 0, ...change });
  const world = new FakeWorld(settings);
  const clock = { t: T0 };
  const lines: string[] = [];
  const start = () =>
    Follower.start({
      settings,
      network: world.network(),
      now: () => clock.t,
      log: (line) => lines.push(line),
      random: () => 0.5,
    });
  const follower = await start();
  /** Steps once a second, from the second after the last step (T0 at first) to `until` ms after T0. */
  let next = T0;
  const stepUntil = async (f: Follower, until: number) => {
    for (; next <= T0 + until; next += S) {
      clock.t = next;
      await f.step();
    }
  };
  const events = (event: string) =>
    lines.filter((l) => l.includes(` event=${event} `) || l.endsWith(` event=${event}`));
  return { settings, world, clock, lines, follower, start, stepUntil, events };
}

describe("the service loop, with fakes", () => {
  it("holds while the new leader is younger than the debounce, then moves A and AAAA to its region", async () => {
    const { world, follower, stepUntil, events } = await setUp();
    await stepUntil(follower, 0);
    expect(world.puts()).toEqual([]);

    world.views = { primary: "down", dr: "dr" };
    world.health.primary = { state: "unreachable", reason: "connect ETIMEDOUT" };
    await stepUntil(follower, 5 * S);
    expect(world.puts()).toEqual([]);
    expect(world.pointsAt()).toBe("primary");

    await stepUntil(follower, 6 * S);
    expect(world.puts()).toEqual(["PUT A 203.0.113.5", "PUT AAAA 2001:db8:b::5"]);
    expect(world.pointsAt()).toBe("dr");
    await stepUntil(follower, 10 * S);
    expect(world.puts()).toHaveLength(2);

    // One line per decision change, not per poll: follows, debounce, move, follows.
    expect(events("decision").map((l) => /rule=(\S+)/.exec(l)?.[1])).toEqual([
      "follows",
      "debounce",
      "move",
      "follows",
    ]);
    expect(events("decision")[1]).toMatch(/reason="dr has led for 0\.0 s, less than the 5 s debounce"/);
    expect(events("decision")[1]).toMatch(
      /view_primary="no answer \(connect ECONNREFUSED\)" view_dr="names dr"/,
    );
    expect(events("decision")[1]).toMatch(/health_primary="unreachable connect ETIMEDOUT" health_dr=healthy/);
    expect(events("move")).toEqual([
      expect.stringMatching(
        /^time=2026-12-06T09:00:06\.000Z event=move to=dr result=moved A="198\.51\.100\.5 -> 203\.0\.113\.5" A_status=200 A_attempts=1 AAAA="2001:db8:a::5 -> 2001:db8:b::5" AAAA_status=200 AAAA_attempts=1$/,
      ),
    ]);
    expect(follower.metrics()).toMatchObject({ leader: "dr", traffic: "dr", moves: 1 });
  });

  it("never points traffic at a leader whose NodeBalancer is not healthy from the witness", async () => {
    const { world, follower, stepUntil } = await setUp();
    world.views = { primary: "down", dr: "dr" };
    world.health.dr = { state: "unhealthy", status: 503 };
    await stepUntil(follower, 30 * S);
    expect(world.puts()).toEqual([]);
    world.health.dr = { state: "healthy" };
    await stepUntil(follower, 31 * S);
    expect(world.pointsAt()).toBe("dr");
  });

  it("moves nothing while nobody leads or the views disagree", async () => {
    const { world, follower, stepUntil, events } = await setUp();
    world.views = { primary: "none", dr: "none" };
    await stepUntil(follower, 10 * S);
    world.views = { primary: "primary", dr: "dr" };
    await stepUntil(follower, 20 * S);
    expect(world.puts()).toEqual([]);
    expect(events("decision")).toHaveLength(1);
    expect(events("decision")[0]).toMatch(
      /rule=no-leader .*leader=none leader_why="no answering view names a running leader"/,
    );
  });

  it("moves once, then holds in the cooldown, then follows the leader back once it has passed", async () => {
    const { world, clock, follower, stepUntil, events } = await setUp();
    world.views = { primary: "down", dr: "dr" };
    await stepUntil(follower, 5 * S);
    expect(world.pointsAt()).toBe("dr");
    const movedAt = clock.t;

    world.views = { primary: "primary", dr: "primary" };
    await stepUntil(follower, 5 * S + 59 * S);
    expect(world.puts()).toHaveLength(2);
    const cooldown = events("decision").find((l) => l.includes("rule=cooldown"));
    expect(cooldown).toMatch(/traffic may move again from 2026-12-06T09:01:05\.000Z/);

    await stepUntil(follower, 5 * S + 60 * S);
    expect(clock.t - movedAt).toBe(60 * S);
    expect(world.pointsAt()).toBe("primary");
    expect(follower.metrics()).toMatchObject({ moves: 2, traffic: "primary" });
  });

  it("holds every move while paused, says so, and moves on resume", async () => {
    const { world, clock, follower, stepUntil, events } = await setUp();
    await pause(stateDir, clock.t);
    world.views = { primary: "down", dr: "dr" };
    await stepUntil(follower, 30 * S);
    expect(world.puts()).toEqual([]);
    expect(events("paused")).toHaveLength(1);
    expect(events("decision").at(-1)).toMatch(/rule=paused reason="paused: would move to dr" .* paused=yes$/);
    expect(renderMetrics(follower.metrics())).toContain("\nlinode_dr_follower_paused 1\n");
    expect((await readState(stateDir))?.paused).toBe(true);

    await resume(stateDir);
    await stepUntil(follower, 31 * S);
    expect(events("resumed")).toHaveLength(1);
    expect(world.pointsAt()).toBe("dr");
    expect(follower.metrics().paused).toBe(false);
  });

  it("finishes a move cut short after the A record: AAAA only, after the backoff, not held by the cooldown", async () => {
    const { world, clock, follower, stepUntil, events } = await setUp();
    world.views = { primary: "down", dr: "dr" };
    world.failPut = [{ record: "AAAA", status: 503 }];
    await stepUntil(follower, 5 * S);
    expect(world.puts()).toEqual(["PUT A 203.0.113.5", "PUT AAAA 2001:db8:b::5"]);
    expect(world.records).toEqual({ A: "203.0.113.5", AAAA: "2001:db8:a::5" });
    expect(events("move")[0]).toMatch(
      /result=partial A="198\.51\.100\.5 -> 203\.0\.113\.5" A_status=200 A_attempts=1 AAAA="2001:db8:a::5 -> 2001:db8:b::5 failed" AAAA_status=503 AAAA_attempts=4 error=".*HTTP 503.*" retry_at=2026-12-06T09:00:08\.750Z$/,
    );
    expect(follower.metrics()).toMatchObject({ traffic: "unknown", failures: { api: 1 } });

    // Backoff: 5 s base, half of it fixed and half jittered (random 0.5): 3.75 s.
    await stepUntil(follower, 8 * S);
    expect(world.puts()).toHaveLength(2);
    expect(events("decision").at(-1)).toMatch(/rule=retry-wait/);
    expect(follower.metrics().traffic).toBe("elsewhere");

    await stepUntil(follower, 9 * S);
    expect(world.puts()).toEqual(["PUT A 203.0.113.5", "PUT AAAA 2001:db8:b::5", "PUT AAAA 2001:db8:b::5"]);
    expect(world.pointsAt()).toBe("dr");
    expect(follower.metrics()).toMatchObject({ moves: 1, traffic: "dr" });
    expect(clock.t).toBe(T0 + 9 * S);
  });

  it("backs off further after each failed try", async () => {
    const { world, follower, stepUntil, events } = await setUp();
    world.views = { primary: "down", dr: "dr" };
    world.failPut = [
      { record: "A", status: 500 },
      { record: "A", status: 500 },
      { record: "A", status: 500 },
    ];
    await stepUntil(follower, 60 * S);
    const tries = events("move").map((l) => /^time=(\S+)/.exec(l)?.[1]);
    // 3.75 s, then 7.5 s, then 15 s (before the whole seconds of the polls).
    expect(tries).toEqual([
      "2026-12-06T09:00:05.000Z",
      "2026-12-06T09:00:09.000Z",
      "2026-12-06T09:00:17.000Z",
      "2026-12-06T09:00:32.000Z",
    ]);
    expect(world.pointsAt()).toBe("dr");
  });

  it("holds when the API cannot say where traffic points, and counts the failure", async () => {
    const { world, follower, stepUntil, events } = await setUp();
    world.views = { primary: "down", dr: "dr" };
    world.apiUp = false;
    await stepUntil(follower, 10 * S);
    expect(world.puts()).toEqual([]);
    expect(events("decision").at(-1)).toMatch(
      /rule=traffic-unknown reason="the Linode API could not tell where traffic points: GET 501 \(A\)/,
    );
    expect(follower.metrics()).toMatchObject({ traffic: "unknown", failures: { api: 11, observe: 11 } });
  });

  it("persists its state, and a restart keeps the cooldown, the moves and the failures", async () => {
    const { world, follower, start, stepUntil, events } = await setUp();
    world.views = { primary: "down", dr: "dr" };
    await stepUntil(follower, 5 * S);
    const saved = await readState(stateDir);
    expect(saved).toMatchObject({
      version: 1,
      moves: 1,
      lastMove: { at: T0 + 5 * S, to: "dr" },
      decision: { action: "move", to: "dr" },
      observation: { leader: { site: "dr" } },
      failures: { api: 0, observe: 6 },
    });
    expect(saved?.lastAction?.done.map((d) => d.record)).toEqual(["A", "AAAA"]);

    const restarted = await start();
    expect(events("start").at(-1)).toMatch(/moves=1 last_move="dr at 2026-12-06T09:00:05\.000Z"$/);
    world.views = { primary: "primary", dr: "primary" };
    await stepUntil(restarted, 5 * S + 59 * S);
    expect(world.pointsAt()).toBe("dr");
    await stepUntil(restarted, 5 * S + 60 * S);
    expect(world.pointsAt()).toBe("primary");
    expect(restarted.metrics()).toMatchObject({ moves: 2, failures: { observe: 6 } });
  });

  it("starts afresh, and says so, from a state file it cannot use", async () => {
    const { start, events } = await setUp();
    await writeFile(path.join(stateDir, "state.json"), '{"version": 7}');
    const follower = await start();
    expect(events("start").at(-1)).toMatch(/state="unusable, starting afresh: .*not a version 1 state"/);
    expect(follower.metrics().moves).toBe(0);
  });

  it("keeps going when the state cannot be written", async () => {
    // A state directory under a regular file: no write can succeed, even as root.
    await writeFile(path.join(stateDir, "blocker"), "");
    const unwritable = path.join(stateDir, "blocker", "state");
    const { follower, clock, stepUntil, events, world } = await setUp({ stateDir: unwritable });
    world.views = { primary: "down", dr: "dr" };
    await stepUntil(follower, 6 * S);
    expect(events("error").length).toBeGreaterThan(0);
    expect(world.pointsAt()).toBe("dr");
    expect(clock.t).toBe(T0 + 6 * S);
    // Each error once, when it starts, not at every poll.
    expect(events("error")).toEqual([
      expect.stringMatching(/kind=pause-marker error="ENOTDIR/),
      expect.stringMatching(/kind=state error="ENOTDIR/),
    ]);
    await expect(readFile(path.join(unwritable, "state.json"))).rejects.toThrow();

    await rm(path.join(stateDir, "blocker"));
    await stepUntil(follower, 7 * S);
    expect(events("recovered").map((l) => /kind=(\S+)/.exec(l)?.[1])).toEqual(["pause-marker", "state"]);
    expect((await readState(unwritable))?.moves).toBe(1);
  });
});
