import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import * as path from "node:path";
import type { Decision } from "./decide";
import type { MoveOutcome } from "./move";
import type { Observation } from "./observe";
import { SITES, type Site } from "./settings";

/**
 * What the service keeps in its stateDir: state.json (rewritten after every poll, read by
 * `status` and by the next start, which so keeps the cooldown) and the pause marker `paused`
 * (written by `pause`, removed by `resume`; its presence alone pauses, so a restart stays paused).
 * Times are epoch milliseconds.
 */

export const STATE_FILE = "state.json";
export const PAUSE_FILE = "paused";

export interface FollowerState {
  version: 1;
  /** When the service wrote this, and which process. */
  updatedAt: number;
  pid: number;
  observation: Observation;
  /** Since when the observed leader has led without a break (null: nobody leads). */
  leaderSince: number | null;
  decision: Decision;
  /** Since when the service has taken this decision (same action, rule and region) poll after poll. */
  decisionSince: number;
  paused: boolean;
  /** The last move that changed a record. */
  lastMove: { at: number; to: Site } | null;
  /** Moves completed (both records at the region). */
  moves: number;
  failures: { api: number; observe: number };
  lastAction: (MoveOutcome & { at: number }) | null;
  /** After a failed move, when the next try may be. */
  retryAt: number | null;
}

/** What a restart carries over: moves and failures keep counting, the cooldown keeps running. */
export type CarriedState = Pick<FollowerState, "lastMove" | "moves" | "failures" | "retryAt" | "lastAction">;

export async function saveState(stateDir: string, state: FollowerState): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o750 });
  const file = path.join(stateDir, STATE_FILE);
  // A reader (status) never sees half a file: the new one replaces the old in one rename.
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o640 });
  await rename(temporary, file);
}

/** The state file, or undefined when there is none; throws when it is not a state file. */
export async function readState(stateDir: string): Promise<FollowerState | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(stateDir, STATE_FILE), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  const state = JSON.parse(text) as FollowerState;
  const problem = carriedProblem(state);
  if (problem !== undefined) throw new Error(`${path.join(stateDir, STATE_FILE)}: ${problem}`);
  return state;
}

/** The fields a restart relies on are checked; the rest is only shown by status. */
function carriedProblem(state: FollowerState): string | undefined {
  if (typeof state !== "object" || state === null || state.version !== 1) return "not a version 1 state";
  const move = state.lastMove;
  if (move !== null && !(Number.isFinite(move?.at) && SITES.includes(move?.to)))
    return "lastMove is malformed";
  if (!Number.isSafeInteger(state.moves) || state.moves < 0) return "moves is malformed";
  const f = state.failures;
  if (!(Number.isSafeInteger(f?.api) && Number.isSafeInteger(f?.observe))) return "failures is malformed";
  if (state.retryAt !== null && !Number.isFinite(state.retryAt)) return "retryAt is malformed";
  return undefined;
}

export interface PauseMarker {
  pausedAt: number;
}

export async function readPause(stateDir: string): Promise<PauseMarker | undefined> {
  try {
    const text = await readFile(path.join(stateDir, PAUSE_FILE), "utf8");
    const marker = JSON.parse(text) as Partial<PauseMarker>;
    return { pausedAt: Number.isFinite(marker.pausedAt) ? (marker.pausedAt as number) : 0 };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    // A marker someone wrote by hand (touch) still pauses: its presence is what counts.
    if (error instanceof SyntaxError) return { pausedAt: 0 };
    throw error;
  }
}

/** Pauses (idempotent: an earlier pause keeps its time); returns the marker in force. */
export async function pause(stateDir: string, now: number): Promise<PauseMarker> {
  const existing = await readPause(stateDir);
  if (existing !== undefined) return existing;
  await mkdir(stateDir, { recursive: true, mode: 0o750 });
  const marker = { pausedAt: now };
  await writeFile(path.join(stateDir, PAUSE_FILE), `${JSON.stringify(marker)}\n`, { mode: 0o640 });
  return marker;
}

/** Resumes; says whether it was paused. */
export async function resume(stateDir: string): Promise<boolean> {
  const was = (await readPause(stateDir)) !== undefined;
  await rm(path.join(stateDir, PAUSE_FILE), { force: true });
  return was;
}
