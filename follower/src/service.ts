import { backoffDelayMs, type Backoff } from "./backoff";
import { decide, type Decision } from "./decide";
import { evidenceFields } from "./evidence";
import { logLine, type LogFields } from "./logLine";
import type { MetricsSnapshot } from "./metrics";
import { move, trafficAfter, type MoveOutcome } from "./move";
import { observe, type Network, type Observation, type Traffic } from "./observe";
import { SITES, type FollowerSettings, type Site } from "./settings";
import { readPause, readState, saveState, type CarriedState, type FollowerState } from "./state";

/**
 * The service's step, run every pollMs: observe, decide, act, persist. It logs a line when the
 * decision changes (not every poll) and one per action. Nothing it meets stops it: a failed
 * observation is evidence (and a hold), a failed move is tried again on a later step after a
 * backoff, a state file that cannot be written is logged.
 */

export interface FollowerDeps {
  settings: FollowerSettings;
  network: Network;
  /** Epoch ms. */
  now: () => number;
  /** One line, without its newline (stderr in the service). */
  log: (line: string) => void;
  random?: () => number;
  /** Between tries of a failed move. */
  moveRetry?: Backoff;
}

/** A failed move is tried again after 5 s, 10 s, 20 s ... at most a minute (before jitter). */
export const MOVE_RETRY: Backoff = { baseMs: 5_000, maxMs: 60_000 };

export class Follower {
  private readonly startedAt: number;
  private leader: { site: Site; since: number } | undefined;
  private traffic: Traffic | undefined;
  private observation: Observation | undefined;
  private decision: { decision: Decision; since: number; at: number } | undefined;
  private paused = false;
  private moveFailures = 0;
  /** The errors going on, by kind, as last logged. */
  private readonly errors = new Map<string, string>();
  private carried: CarriedState = {
    lastMove: null,
    moves: 0,
    failures: { api: 0, observe: 0 },
    retryAt: null,
    lastAction: null,
  };

  private constructor(private readonly deps: FollowerDeps) {
    this.startedAt = deps.now();
  }

  /** A follower that carries on from the state file in stateDir, if there is a usable one. */
  static async start(deps: FollowerDeps): Promise<Follower> {
    const follower = new Follower(deps);
    try {
      const state = await readState(deps.settings.stateDir);
      if (state !== undefined) {
        const { lastMove, moves, failures, retryAt, lastAction } = state;
        follower.carried = { lastMove, moves, failures, retryAt, lastAction };
      }
      follower.log({ event: "start", ...follower.carriedFields() });
    } catch (error) {
      follower.log({ event: "start", state: `unusable, starting afresh: ${(error as Error).message}` });
    }
    return follower;
  }

  async step(): Promise<void> {
    const { settings, network, now } = this.deps;
    await this.notePause();
    const observation = await observe(network, settings, now, this.traffic);
    this.observation = observation;
    this.traffic = observation.traffic.state === "known" ? observation.traffic : undefined;
    this.count(observation);
    const site = observation.leader.site;
    if (site === undefined) this.leader = undefined;
    else if (this.leader?.site !== site) this.leader = { site, since: observation.at };

    const decision = decide({
      now: observation.at,
      leader: this.leader,
      health: observation.health,
      traffic: observation.traffic,
      paused: this.paused,
      lastMove: this.carried.lastMove ?? undefined,
      retryAt: this.carried.retryAt ?? undefined,
      debounceSeconds: settings.debounceSeconds,
      cooldownSeconds: settings.cooldownSeconds,
    });
    const previous = this.decision?.decision;
    const changed = previous === undefined || !sameDecision(previous, decision);
    this.decision = { decision, at: observation.at, since: changed ? observation.at : this.decision!.since };
    if (changed) this.log(this.decisionFields(decision, observation));

    if (decision.action === "move" && observation.traffic.state === "known")
      await this.act(decision.to, observation.traffic);
    await this.persist();
  }

  private async act(to: Site, traffic: Extract<Traffic, { state: "known" }>): Promise<void> {
    const { settings, network, now } = this.deps;
    const outcome = await move(network.api, settings, to, traffic);
    const at = now();
    if (outcome.done.length > 0) this.carried.lastMove = { at, to };
    if (outcome.complete) {
      this.carried.moves += 1;
      this.carried.retryAt = null;
      this.moveFailures = 0;
      this.traffic = trafficAfter(settings, to, at);
    } else {
      this.carried.failures.api += 1;
      this.moveFailures += 1;
      const delay = backoffDelayMs(
        this.moveFailures,
        this.deps.moveRetry ?? MOVE_RETRY,
        this.deps.random ?? Math.random,
      );
      this.carried.retryAt = at + delay;
      // Whatever the failed request did or did not change, the next step reads the records afresh.
      this.traffic = undefined;
    }
    this.carried.lastAction = { ...outcome, at };
    this.log(actionFields(outcome, this.carried.retryAt));
  }

  /** The pause marker is read every step, so `pause` and `resume` need no signal. */
  private async notePause(): Promise<void> {
    let paused: boolean;
    try {
      paused = (await readPause(this.deps.settings.stateDir)) !== undefined;
    } catch (error) {
      // Unreadable marker: stay as paused as before rather than guess.
      this.noteError("pause-marker", error);
      return;
    }
    this.clearError("pause-marker");
    if (paused !== this.paused)
      this.log({ event: paused ? "paused" : "resumed", moves: paused ? "held" : "allowed" });
    this.paused = paused;
  }

  private count(o: Observation): void {
    const failures = this.carried.failures;
    failures.observe += SITES.filter((s) => o.leader.views[s].state === "failed").length;
    failures.observe += SITES.filter((s) => o.health[s].state === "unreachable").length;
    if (o.traffic.state === "unknown") failures.api += 1;
  }

  private async persist(): Promise<void> {
    if (this.observation === undefined || this.decision === undefined) return;
    const state: FollowerState = {
      version: 1,
      updatedAt: this.deps.now(),
      pid: process.pid,
      observation: this.observation,
      leaderSince: this.leader?.since ?? null,
      decision: this.decision.decision,
      decisionSince: this.decision.since,
      paused: this.paused,
      ...this.carried,
    };
    try {
      await saveState(this.deps.settings.stateDir, state);
      this.clearError("state");
    } catch (error) {
      this.noteError("state", error);
    }
  }

  /** An error is logged when it starts or changes, and its end once: not at every poll. */
  noteError(kind: string, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    if (this.errors.get(kind) === message) return;
    this.errors.set(kind, message);
    this.log({ event: "error", kind, error: message });
  }

  clearError(kind: string): void {
    if (this.errors.delete(kind)) this.log({ event: "recovered", kind });
  }

  metrics(): MetricsSnapshot {
    const o = this.observation;
    const healthy = (site: Site) => o?.health[site].state === "healthy";
    // The records as the last step left them: after a move, its targets; after a failed one, unknown.
    const traffic = this.traffic?.state === "known" ? this.traffic.site : "unknown";
    return {
      leader: o?.leader.site,
      traffic,
      healthy: { primary: healthy("primary"), dr: healthy("dr") },
      moves: this.carried.moves,
      failures: { ...this.carried.failures },
      paused: this.paused,
      secondsSinceDecision: (this.deps.now() - (this.decision?.at ?? this.startedAt)) / 1000,
    };
  }

  /** For log lines outside a step (start, stop, an error in a step). */
  log(fields: LogFields): void {
    this.deps.log(logLine(this.deps.now(), fields));
  }

  private decisionFields(decision: Decision, o: Observation): LogFields {
    return {
      event: "decision",
      decision: decision.action,
      to: decision.action === "move" ? decision.to : undefined,
      rule: decision.rule,
      reason: decision.reason,
      ...evidenceFields(o, this.leader?.since),
      paused: this.paused ? "yes" : "no",
    };
  }

  private carriedFields(): LogFields {
    const c = this.carried;
    return {
      moves: c.moves,
      last_move:
        c.lastMove === null ? "none" : `${c.lastMove.to} at ${new Date(c.lastMove.at).toISOString()}`,
    };
  }
}

function sameDecision(a: Decision, b: Decision): boolean {
  return a.action === b.action && a.rule === b.rule && (a.action === "hold" || a.to === (b as typeof a).to);
}

function actionFields(outcome: MoveOutcome, retryAt: number | null): LogFields {
  const fields: LogFields = {
    event: "move",
    to: outcome.to,
    result: outcome.complete ? "moved" : outcome.done.length > 0 ? "partial" : "failed",
  };
  for (const change of outcome.done) {
    fields[change.record] = `${change.from} -> ${change.to}`;
    fields[`${change.record}_status`] = change.status;
    fields[`${change.record}_attempts`] = change.attempts;
  }
  const failed = outcome.failed;
  if (failed !== undefined) {
    fields[failed.record] = `${failed.from} -> ${failed.to} failed`;
    fields[`${failed.record}_status`] = failed.status ?? "none";
    fields[`${failed.record}_attempts`] = failed.attempts;
    fields.error = failed.error;
    fields.retry_at = retryAt === null ? undefined : new Date(retryAt).toISOString();
  }
  return fields;
}
