import type { WriteLatency } from "../latency";

/**
 * What a disaster drill records, as the report renders it. The drill engine fills these in; the
 * report modules only read them. Times are milliseconds since the fault was injected, so runs of
 * the same scenario line up on one axis.
 */

/** The milestones of a drill, in the order they normally happen. */
export type PhaseName =
  | "fault"
  | "detection"
  | "fenced"
  | "decision"
  | "leaderChange"
  | "followerDecided"
  | "recordsChanged"
  | "trafficPublished"
  | "clientSwitched"
  | "firstWriteByName"
  | "recovered";

/** Every phase in display order (tables and the timeline list phases in this order). */
export const PHASE_ORDER: readonly PhaseName[] = [
  "fault",
  "detection",
  "fenced",
  "decision",
  "leaderChange",
  "followerDecided",
  "recordsChanged",
  "trafficPublished",
  "clientSwitched",
  "firstWriteByName",
  "recovered",
];

export const PHASE_LABELS: Record<PhaseName, string> = {
  fault: "Fault injected",
  detection: "Fault detected",
  fenced: "Old leader fenced (refuses writes)",
  decision: "Decision taken",
  leaderChange: "Leader changed",
  followerDecided: "Follower decided to move traffic",
  recordsChanged: "Records changed through the API",
  trafficPublished: "Traffic change published (DNS)",
  clientSwitched: "Client switched to the new region",
  firstWriteByName: "First successful write by name",
  recovered: "Fault healed / steady again",
};

export interface PhaseMark {
  name: PhaseName;
  /** ms since the fault; null = did not happen. */
  atMs: number | null;
  /** Should this phase occur in this scenario. */
  expected: boolean;
  detail?: string;
}

export interface WriteTally {
  attempted: number;
  acknowledged: number;
  failed: number;
  unknownOutcome: number;
  lostAcknowledged: number;
  /** Of those, acknowledged after the fault. */
  lostAcknowledgedAfterFault: number;
  /** Of those, acknowledged by the old leader inside a window the scenario declared. */
  lostAcknowledgedInWindow: number;
  /**
   * Of those, acknowledged (and outside any window) within a second before a fault took effect:
   * with asynchronous replication their WAL may still have been in flight.
   */
  lostAcknowledgedInFlight: number;
  acceptedByFenced: number;
  servedByNonLeader: number;
  /** Writes the probe inside the old leader's region got acknowledged after the fault. */
  oldRegionAcknowledged: number;
  /** Of those, missing from the new leader's database. */
  oldRegionLost: number;
  /**
   * Writes the old leader acknowledged (probes and client) after the new one led, inside a window
   * the scenario declared (a paused primary resuming before Patroni demotes it).
   */
  windowAcknowledged: number;
  /** Of those, missing from the new leader's database. */
  windowLost: number;
}

export interface Invariant {
  name: string;
  ok: boolean;
  detail: string;
}

export interface ClientSample {
  /** ms since the fault; negative before the fault. */
  atMs: number;
  ok: boolean;
  /** Which region's app answered, e.g. "A" / "B"; null when nobody did. */
  region: string | null;
}

export interface DrillSetting {
  name: string;
  value: string;
  /** The value is an assumption rather than a measured or documented fact: the report says so. */
  assumption?: boolean;
}

export interface DrillRun {
  scenario: string;
  /** 1-based. */
  run: number;
  /** ISO 8601. */
  startedAt: string;
  durationMs: number;
  phases: PhaseMark[];
  /** Fault → first successful write by name; null if none expected or seen. */
  rtoMs: number | null;
  /** Acknowledged orders lost. */
  rpoOrders: number;
  writes: WriteTally;
  /** Acknowledged writes' latency, through the leader's region and through the other region's apps. */
  writeLatency?: WriteLatency;
  invariants: Invariant[];
  samples: ClientSample[];
  notes: string[];
}

export interface DrillReport {
  scenario: string;
  description: string;
  /** The exact command line that ran the drill. */
  command: string;
  /** e.g. "Debian 12, 2 vCPU, 24 GiB". */
  machine: string;
  settings: DrillSetting[];
  runs: DrillRun[];
}

/**
 * The mark of one phase in a run. A phase the engine did not list at all is treated as "not
 * expected, did not happen", so the engine may omit phases a scenario has nothing to say about.
 */
export function phaseOf(run: DrillRun, name: PhaseName): PhaseMark {
  return run.phases.find((p) => p.name === name) ?? { name, atMs: null, expected: false };
}
