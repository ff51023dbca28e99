import type { Health, Traffic } from "./observe";
import type { Site } from "./settings";
import { healthText, secondsText, timeText, trafficText } from "./words";

/**
 * THE DECISION: whether traffic moves to the leader's region now. Pure: everything it weighs is
 * in its input, and every hold says why. The rules, first match wins:
 *   1. no member leads                          → hold: nothing to follow
 *   2. both records point at the leader's region → hold: traffic follows the leader
 *   3. led for less than debounceSeconds         → hold (a flapping lease moves nothing)
 *   4. the leader's NodeBalancer is not healthy  → hold: never point traffic at a region that is
 *      not serving (its app answers 503 until its database accepts writes)
 *   5. the records could not be read             → hold: a move needs to know what it changes
 *   6. paused                                    → hold, saying where it would move
 *   7. the last move failed, its retry not due   → hold until then (backoff)
 *   8. within cooldownSeconds after the last move, to ANOTHER region → hold until it ends.
 *      Completing or restoring a move to the region the last move went to is not flapping and
 *      does not wait (a move cut short between the A and the AAAA record).
 *   9. otherwise                                 → move to the leader's region
 * Boundaries: a leader of exactly debounceSeconds may be followed, and a move exactly
 * cooldownSeconds after the last one is allowed.
 */

export interface DecisionInput {
  /** Epoch ms, like every time here. */
  now: number;
  /** The leading region and since when it has led without a break; undefined: nobody leads. */
  leader: { site: Site; since: number } | undefined;
  health: Record<Site, Health>;
  traffic: Traffic;
  paused: boolean;
  /** The last move that changed a record. */
  lastMove: { at: number; to: Site } | undefined;
  /** After a failed move: the next try is not before this. */
  retryAt: number | undefined;
  debounceSeconds: number;
  cooldownSeconds: number;
}

export type HoldRule =
  | "no-leader"
  | "follows"
  | "debounce"
  | "unhealthy"
  | "traffic-unknown"
  | "paused"
  | "retry-wait"
  | "cooldown";

export type Decision =
  | { action: "move"; to: Site; rule: "move"; reason: string }
  | { action: "hold"; rule: HoldRule; reason: string };

export function decide(input: DecisionInput): Decision {
  const { now, leader, traffic } = input;
  if (leader === undefined) return hold("no-leader", "no leader: nothing to follow");
  const to = leader.site;
  if (traffic.state === "known" && traffic.site === to)
    return hold("follows", `traffic follows the leader (${to})`);
  const ledMs = now - leader.since;
  if (ledMs < input.debounceSeconds * 1000)
    return hold(
      "debounce",
      `${to} has led for ${secondsText(ledMs)}, less than the ${input.debounceSeconds} s debounce`,
    );
  const health = input.health[to];
  if (health.state !== "healthy")
    return hold(
      "unhealthy",
      `${to}'s NodeBalancer answers ${healthText(health)} from the witness: traffic never goes to a region that is not serving`,
    );
  if (traffic.state === "unknown")
    return hold("traffic-unknown", `the Linode API could not tell where traffic points: ${traffic.reason}`);
  if (input.paused) return hold("paused", `paused: would move to ${to}`);
  if (input.retryAt !== undefined && now < input.retryAt)
    return hold("retry-wait", `the last move failed; the next try is at ${timeText(input.retryAt)}`);
  const last = input.lastMove;
  const cooldownEnds = last === undefined ? now : last.at + input.cooldownSeconds * 1000;
  if (last !== undefined && last.to !== to && now < cooldownEnds)
    return hold(
      "cooldown",
      `the last move (to ${last.to}) was ${secondsText(now - last.at)} ago, within the ${input.cooldownSeconds} s cooldown; traffic may move again from ${timeText(cooldownEnds)}`,
    );
  return {
    action: "move",
    to,
    rule: "move",
    reason: `${to} has led for ${secondsText(ledMs)} and answers healthy; traffic points at ${trafficText(traffic)}`,
  };
}

function hold(rule: HoldRule, reason: string): Decision {
  return { action: "hold", rule, reason };
}
