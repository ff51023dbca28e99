import type { DrillReport, DrillRun, PhaseMark, PhaseName } from "./model";
import { NO_WRITES } from "./stats";

/**
 * Deterministic sample reports for the report's own tests (fixed phase times, no lab).
 *
 * Run n of a region-loss drill: the fault at 0, the DR leader at 10 + n s, DNS published at 20 + n s,
 * the first write by name at 24 + n s; the scenario does not heal the fault.
 */
export function run(
  n: number,
  overrides: Partial<DrillRun> = {},
  phaseTimes: Partial<Record<PhaseName, number | null>> = {},
): DrillRun {
  const times: Record<PhaseName, number | null> = {
    fault: 0,
    detection: 3_000 + n * 100,
    fenced: 3_500 + n * 100,
    decision: 4_000 + n * 100,
    leaderChange: 10_000 + n * 1_000,
    followerDecided: 15_000 + n * 1_000,
    recordsChanged: 15_500 + n * 1_000,
    trafficPublished: 20_000 + n * 1_000,
    clientSwitched: 23_000 + n * 1_000,
    firstWriteByName: 24_000 + n * 1_000,
    recovered: null,
    ...phaseTimes,
  };
  const phases: PhaseMark[] = (Object.keys(times) as PhaseName[]).map((name) => ({
    name,
    atMs: times[name],
    // This scenario does not heal the fault, so "recovered" is not expected.
    expected: name !== "recovered",
  }));
  return {
    scenario: "region-loss",
    run: n,
    startedAt: `2026-11-26T15:0${n}:05.000Z`,
    durationMs: 60_000,
    phases,
    rtoMs: times.firstWriteByName,
    rpoOrders: 0,
    writes: { ...NO_WRITES, attempted: 1000, acknowledged: 900, failed: 80, unknownOutcome: 20 },
    invariants: [
      { name: "no acknowledged write lost", ok: true, detail: "900 of 900 found in B" },
      { name: "fenced primary refused writes", ok: true, detail: "A refused 12 writes" },
    ],
    samples: [
      { atMs: -5_000, ok: true, region: "A" },
      { atMs: -1_000, ok: true, region: "A" },
      { atMs: 2_000, ok: false, region: null },
      { atMs: 12_000, ok: false, region: null },
      { atMs: 25_000, ok: true, region: "B" },
      { atMs: 30_000, ok: true, region: "B" },
    ],
    notes: [],
    ...overrides,
  };
}

export function report(runs: DrillRun[]): DrillReport {
  return {
    scenario: "region-loss",
    description: "Region A disappears; the DR region takes over.",
    command: "npm run drill -- region-loss --runs " + runs.length,
    machine: "Debian 12, 2 vCPU, 24 GiB",
    settings: [
      { name: "Client write interval", value: "100 ms" },
      { name: "DNS publish delay", value: "30 s", assumption: true },
    ],
    runs,
  };
}
