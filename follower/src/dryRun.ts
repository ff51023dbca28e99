import { decide, type Decision } from "./decide";
import { observe, type Network, type Observation } from "./observe";
import type { FollowerSettings } from "./settings";
import { readPause, readState, type FollowerState } from "./state";

/**
 * `dry-run`: one fresh observation and the decision the service would take on it, with the
 * service's own memory (pause, last move, retry) read from stateDir. Nothing is written, no
 * record changed.
 */

export interface DryRun {
  observation: Observation;
  decision: Decision;
  /** Since when the leader has led, as taken for the debounce. */
  leaderSince: number | undefined;
  paused: boolean;
  /** What the decision took for granted where one observation cannot tell. */
  assumptions: string[];
}

export async function dryRun(
  settings: FollowerSettings,
  network: Network,
  now: () => number,
): Promise<DryRun> {
  const assumptions: string[] = [];
  let state: FollowerState | undefined;
  try {
    state = await readState(settings.stateDir);
    if (state === undefined)
      assumptions.push("no service state: no last move (cooldown) or failed move (retry) known");
  } catch (error) {
    assumptions.push(`service state unusable (${(error as Error).message}): cooldown and retry not known`);
  }
  const paused = (await readPause(settings.stateDir)) !== undefined;
  const observation = await observe(network, settings, now);
  const site = observation.leader.site;
  let leaderSince: number | undefined;
  if (site !== undefined) {
    // One observation cannot tell how long a member has led: the service's state can, when it
    // saw the same leader; otherwise the debounce is taken as met, and said so.
    if (state?.observation.leader.site === site && state.leaderSince !== null)
      leaderSince = state.leaderSince;
    else {
      leaderSince = observation.at - settings.debounceSeconds * 1000;
      assumptions.push(
        `no service state names ${site} as leader: taken as leading for the ${settings.debounceSeconds} s debounce`,
      );
    }
  }
  const decision = decide({
    now: observation.at,
    leader: site === undefined || leaderSince === undefined ? undefined : { site, since: leaderSince },
    health: observation.health,
    traffic: observation.traffic,
    paused,
    lastMove: state?.lastMove ?? undefined,
    retryAt: state?.retryAt ?? undefined,
    debounceSeconds: settings.debounceSeconds,
    cooldownSeconds: settings.cooldownSeconds,
  });
  return { observation, decision, leaderSince, paused, assumptions };
}
