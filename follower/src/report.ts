import type { Decision } from "./decide";
import { evidenceLines } from "./evidence";
import type { MoveOutcome } from "./move";
import type { FollowerState, PauseMarker } from "./state";
import { secondsText, timeText } from "./words";

/** What `status` and `dry-run` print for a person (their --json prints the data itself). */

export function decisionText(decision: Decision): string {
  const what = decision.action === "move" ? `move to ${decision.to}` : `hold (${decision.rule})`;
  return `${what}: ${decision.reason}`;
}

export function pauseText(marker: PauseMarker | undefined): string {
  if (marker === undefined) return "no";
  const since = marker.pausedAt > 0 ? ` since ${timeText(marker.pausedAt)}` : "";
  return `yes${since}: every move is held until \`resume\``;
}

export function actionText(action: MoveOutcome & { at: number }): string {
  const changes = action.done.map(
    (c) => `${c.record} ${c.from} -> ${c.to} (HTTP ${c.status}, ${plural(c.attempts, "attempt")})`,
  );
  const failed = action.failed;
  if (failed !== undefined)
    changes.push(
      `${failed.record} ${failed.from} -> ${failed.to} FAILED after ${plural(failed.attempts, "attempt")}: ${failed.error}`,
    );
  const result = action.complete ? "moved" : action.done.length > 0 ? "moved in part" : "failed";
  return `${result} to ${action.to} at ${timeText(action.at)}: ${changes.join("; ")}`;
}

export function statusLines(
  state: FollowerState,
  marker: PauseMarker | undefined,
  statePath: string,
  now: number,
): string[] {
  const lines = [
    `state:     ${statePath}, written ${timeText(state.updatedAt)} (${secondsText(now - state.updatedAt)} ago) by pid ${state.pid}`,
    `paused:    ${pauseText(marker)}`,
    `decision:  ${decisionText(state.decision)}`,
    `           taken at every poll since ${timeText(state.decisionSince)}`,
    ...evidenceLines(state.observation, state.leaderSince ?? undefined),
    `last move: ${state.lastMove === null ? "none" : `to ${state.lastMove.to} at ${timeText(state.lastMove.at)}`} (moves completed: ${state.moves})`,
  ];
  if (state.lastAction !== null) lines.push(`action:    ${actionText(state.lastAction)}`);
  if (state.retryAt !== null && state.retryAt > now)
    lines.push(`retry:     not before ${timeText(state.retryAt)}`);
  lines.push(`failures:  api ${state.failures.api}, observe ${state.failures.observe}`);
  if (marker !== undefined && !state.paused)
    lines.push("note:      paused after the service's last poll: it holds from its next one");
  return lines;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
