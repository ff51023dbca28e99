import {
  type DrillReport,
  type PhaseName,
  type WriteTally,
  PHASE_LABELS,
  PHASE_ORDER,
  phaseOf,
} from "./model";

/** n, median, p95, min, max of the values that exist; `missing` counts the ones that should have. */
export interface Stat {
  n: number;
  missing: number;
  median: number | null;
  p95: number | null;
  min: number | null;
  max: number | null;
}

export interface PhaseStat extends Stat {
  name: PhaseName;
  label: string;
  /** Runs in which the scenario expected this phase. */
  expectedRuns: number;
  /** Runs in which the phase happened although it was not expected (counted in n as well). */
  unexpectedRuns: number;
}

export interface InvariantSummary {
  name: string;
  okRuns: number[];
  brokenRuns: number[];
  /** The detail of each run that broke it, so a report can say what went wrong where. */
  broken: { run: number; detail: string }[];
}

export interface ReportSummary {
  runs: number;
  phases: PhaseStat[];
  rto: Stat;
  rpo: Stat;
  /** Sums over all runs. */
  writes: WriteTally;
  /** In order of first appearance over the runs. */
  invariants: InvariantSummary[];
}

function sorted(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

/** The middle value; the mean of the two middle values for an even count; null when empty. */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const s = sorted(values);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * 95th percentile by the nearest-rank method: the smallest value such that at least 95 % of the
 * values are less than or equal to it, i.e. the ceil(0.95 * n)-th smallest. It is always one of
 * the measured values (no interpolation), so with fewer than 20 runs it is the maximum: a handful
 * of drill runs cannot support a sharper claim. Null when empty.
 */
export function p95(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const s = sorted(values);
  const rank = Math.ceil(0.95 * s.length);
  return s[rank - 1];
}

/** Stat over values where null means "should exist but does not". */
export function statOf(values: readonly (number | null)[]): Stat {
  const present = values.filter((v): v is number => v !== null);
  return {
    n: present.length,
    missing: values.length - present.length,
    median: median(present),
    p95: p95(present),
    min: present.length === 0 ? null : Math.min(...present),
    max: present.length === 0 ? null : Math.max(...present),
  };
}

/** A tally with nothing in it: the sum over no runs. */
export const NO_WRITES: WriteTally = {
  attempted: 0,
  acknowledged: 0,
  failed: 0,
  unknownOutcome: 0,
  lostAcknowledged: 0,
  lostAcknowledgedAfterFault: 0,
  lostAcknowledgedInWindow: 0,
  lostAcknowledgedInFlight: 0,
  acceptedByFenced: 0,
  servedByNonLeader: 0,
  oldRegionAcknowledged: 0,
  oldRegionLost: 0,
  windowAcknowledged: 0,
  windowLost: 0,
};

function addWrites(a: WriteTally, b: WriteTally): WriteTally {
  return {
    attempted: a.attempted + b.attempted,
    acknowledged: a.acknowledged + b.acknowledged,
    failed: a.failed + b.failed,
    unknownOutcome: a.unknownOutcome + b.unknownOutcome,
    lostAcknowledged: a.lostAcknowledged + b.lostAcknowledged,
    acceptedByFenced: a.acceptedByFenced + b.acceptedByFenced,
    servedByNonLeader: a.servedByNonLeader + b.servedByNonLeader,
    lostAcknowledgedAfterFault: a.lostAcknowledgedAfterFault + b.lostAcknowledgedAfterFault,
    lostAcknowledgedInWindow: a.lostAcknowledgedInWindow + b.lostAcknowledgedInWindow,
    lostAcknowledgedInFlight: a.lostAcknowledgedInFlight + b.lostAcknowledgedInFlight,
    oldRegionAcknowledged: a.oldRegionAcknowledged + b.oldRegionAcknowledged,
    oldRegionLost: a.oldRegionLost + b.oldRegionLost,
    windowAcknowledged: a.windowAcknowledged + b.windowAcknowledged,
    windowLost: a.windowLost + b.windowLost,
  };
}

/**
 * Aggregates the runs of a report. A phase that did not happen counts as missing only in runs that
 * expected it: a scenario without a leader change has no missing leader change. Likewise a null
 * RTO is missing only in runs that expected a first write by name.
 */
export function summarise(report: DrillReport): ReportSummary {
  const runs = report.runs;
  const phases = PHASE_ORDER.map((name): PhaseStat => {
    const marks = runs.map((run) => phaseOf(run, name));
    const counted = marks.filter((m) => m.expected || m.atMs !== null);
    return {
      name,
      label: PHASE_LABELS[name],
      expectedRuns: marks.filter((m) => m.expected).length,
      unexpectedRuns: marks.filter((m) => !m.expected && m.atMs !== null).length,
      ...statOf(counted.map((m) => m.atMs)),
    };
  });
  const rto = statOf(
    runs
      .filter((run) => run.rtoMs !== null || phaseOf(run, "firstWriteByName").expected)
      .map((run) => run.rtoMs),
  );
  const rpo = statOf(runs.map((run) => run.rpoOrders));

  const invariants: InvariantSummary[] = [];
  for (const run of runs) {
    for (const inv of run.invariants) {
      let entry = invariants.find((i) => i.name === inv.name);
      if (entry === undefined) {
        entry = { name: inv.name, okRuns: [], brokenRuns: [], broken: [] };
        invariants.push(entry);
      }
      if (inv.ok) {
        entry.okRuns.push(run.run);
      } else {
        entry.brokenRuns.push(run.run);
        entry.broken.push({ run: run.run, detail: inv.detail });
      }
    }
  }

  return {
    runs: runs.length,
    phases,
    rto,
    rpo,
    writes: runs.reduce((sum, run) => addWrites(sum, run.writes), NO_WRITES),
    invariants,
  };
}
