import { describe, expect, it } from "vitest";
import { decide, type DecisionInput } from "../../../follower/src/decide";
import type { Traffic } from "../../../follower/src/observe";

const T0 = Date.UTC(2026, 11, 6, 9, 0, 0);
const S = 1000;

const AT_PRIMARY: Traffic = {
  state: "known",
  a: "198.51.100.5",
  aaaa: "2001:db8:a::5",
  site: "primary",
  readAt: T0,
};
const AT_DR: Traffic = { state: "known", a: "203.0.113.5", aaaa: "2001:db8:b::5", site: "dr", readAt: T0 };
/** A move to dr cut short after the A record. */
const HALF_MOVED: Traffic = {
  state: "known",
  a: "203.0.113.5",
  aaaa: "2001:db8:a::5",
  site: "elsewhere",
  readAt: T0,
};
const UNKNOWN: Traffic = { state: "unknown", reason: "GET /domains/1/records/2 (A): no answer (timed out)" };

/** dr has led for 60 s and is healthy, traffic at primary, nothing else in the way: a move. */
function input(change: Partial<DecisionInput> = {}): DecisionInput {
  return {
    now: T0 + 100 * S,
    leader: { site: "dr", since: T0 + 40 * S },
    health: { primary: { state: "unreachable", reason: "connect ETIMEDOUT" }, dr: { state: "healthy" } },
    traffic: AT_PRIMARY,
    paused: false,
    lastMove: undefined,
    retryAt: undefined,
    debounceSeconds: 5,
    cooldownSeconds: 60,
    ...change,
  };
}

describe("decide: the table", () => {
  const now = T0 + 100 * S;
  const rows: [string, Partial<DecisionInput>, string, RegExp][] = [
    ["nobody leads", { leader: undefined }, "hold no-leader", /^no leader: nothing to follow$/],
    [
      "nobody leads, even paused with traffic unknown",
      { leader: undefined, paused: true, traffic: UNKNOWN },
      "hold no-leader",
      /nothing to follow/,
    ],
    [
      "traffic already at the leader",
      { traffic: AT_DR },
      "hold follows",
      /traffic follows the leader \(dr\)/,
    ],
    [
      "traffic at the leader, even with the leader unhealthy and just elected",
      {
        traffic: AT_DR,
        leader: { site: "dr", since: now },
        health: { primary: { state: "healthy" }, dr: { state: "unhealthy", status: 503 } },
      },
      "hold follows",
      /follows/,
    ],
    [
      "leader for less than the debounce",
      { leader: { site: "dr", since: now - 4_999 } },
      "hold debounce",
      /dr has led for 4\.9 s, less than the 5 s debounce/,
    ],
    [
      "leader for exactly the debounce",
      { leader: { site: "dr", since: now - 5 * S } },
      "move dr",
      /dr has led for 5\.0 s/,
    ],
    [
      "leader unhealthy (503) from the witness",
      { health: { primary: { state: "healthy" }, dr: { state: "unhealthy", status: 503 } } },
      "hold unhealthy",
      /dr's NodeBalancer answers unhealthy 503 from the witness/,
    ],
    [
      "leader unreachable from the witness",
      {
        health: {
          primary: { state: "healthy" },
          dr: { state: "unreachable", reason: "connect ECONNREFUSED" },
        },
      },
      "hold unhealthy",
      /answers unreachable connect ECONNREFUSED/,
    ],
    [
      "records unreadable",
      { traffic: UNKNOWN },
      "hold traffic-unknown",
      /could not tell where traffic points: GET \/domains\/1\/records\/2 \(A\): no answer/,
    ],
    ["paused", { paused: true }, "hold paused", /^paused: would move to dr$/],
    [
      "a failed move's retry not yet due",
      { retryAt: now + 1 },
      "hold retry-wait",
      /the last move failed; the next try is at 2026-12-06T09:01:40\.001Z/,
    ],
    ["a failed move's retry due", { retryAt: now }, "move dr", /./],
    [
      "within the cooldown after a move to the other region",
      { lastMove: { at: now - 59_999, to: "primary" } },
      "hold cooldown",
      /the last move \(to primary\) was 59\.9 s ago, within the 60 s cooldown; traffic may move again from 2026-12-06T09:01:40\.001Z/,
    ],
    ["exactly at the cooldown's end", { lastMove: { at: now - 60 * S, to: "primary" } }, "move dr", /./],
    [
      "within the cooldown, finishing a move to the same region (A moved, AAAA not)",
      { lastMove: { at: now - 1 * S, to: "dr" }, traffic: HALF_MOVED },
      "move dr",
      /traffic points at elsewhere \(A 203\.0\.113\.5, AAAA 2001:db8:a::5\)/,
    ],
    [
      "traffic elsewhere (someone else's target)",
      { traffic: { ...AT_PRIMARY, a: "192.0.2.99", site: "elsewhere" } },
      "move dr",
      /elsewhere \(A 192\.0\.2\.99/,
    ],
    [
      "the primary leads again while traffic is at dr (failback), healthy",
      {
        leader: { site: "primary", since: now - 10 * S },
        traffic: AT_DR,
        health: { primary: { state: "healthy" }, dr: { state: "healthy" } },
      },
      "move primary",
      /primary has led for 10\.0 s and answers healthy; traffic points at dr/,
    ],
    [
      "a zero debounce follows a leader of this instant",
      { leader: { site: "dr", since: now }, debounceSeconds: 0 },
      "move dr",
      /0\.0 s/,
    ],
    [
      "a zero cooldown allows moving back at once",
      { lastMove: { at: now, to: "primary" }, cooldownSeconds: 0 },
      "move dr",
      /./,
    ],
  ];

  it.each(rows)("%s", (_name, change, expected, reason) => {
    const decision = decide(input(change));
    const got = decision.action === "move" ? `move ${decision.to}` : `hold ${decision.rule}`;
    expect(got).toBe(expected);
    expect(decision.reason).toMatch(reason);
  });

  it("checks the rules in order: the first that holds is the one said", () => {
    const everything: Partial<DecisionInput> = {
      leader: { site: "dr", since: T0 + 99 * S },
      health: { primary: { state: "healthy" }, dr: { state: "unhealthy", status: 503 } },
      traffic: UNKNOWN,
      paused: true,
      retryAt: T0 + 200 * S,
      lastMove: { at: T0 + 90 * S, to: "primary" },
    };
    const order = ["debounce", "unhealthy", "traffic-unknown", "paused", "retry-wait", "cooldown", "move"];
    const cleared: Partial<DecisionInput>[] = [
      { leader: { site: "dr", since: T0 } },
      { health: { primary: { state: "healthy" }, dr: { state: "healthy" } } },
      { traffic: AT_PRIMARY },
      { paused: false },
      { retryAt: undefined },
      { lastMove: undefined },
    ];
    const seen = [decide(input(everything)).rule];
    let state = { ...everything };
    for (const clear of cleared) {
      state = { ...state, ...clear };
      seen.push(decide(input(state)).rule);
    }
    expect(seen).toEqual(order);
  });
});
