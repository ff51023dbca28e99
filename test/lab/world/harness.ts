import { expect } from "vitest";
import { Progress, type DrillRun, type PhaseName } from "../../../drill/report";
import { putInTheLead } from "../../../drill/reset";
import { runScenario } from "../../../drill/run";
import { scenarioNamed } from "../../../drill/scenarios";
import { DEFAULT_SETTINGS, type DrillSettings } from "../../../drill/settings";
import type { World } from "../../../lab/world/world";

/**
 * What the world specs share: the fast settings CI runs drills at (named in every test title that
 * uses them) and running one drill as `sudo npm run drill` would.
 */

/**
 * DNS Manager's publish delay 1 s instead of the assumed 30 s; flapping for 40 s instead of 2
 * minutes; partitions before a loss of 20 s instead of 60.
 */
export const FAST: DrillSettings = {
  ...DEFAULT_SETTINGS,
  publishDelayMs: 1000,
  flappingForMs: 40_000,
  partitionForMs: 20_000,
};

/** partition-then-loss's own checks (asynchronous replication: the budget is what refuses). */
export function expectRefusedAfterPartition(run: DrillRun): void {
  expect(broken(run)).toEqual([]);
  expect(run.invariants.map((i) => i.name)).toEqual(
    expect.arrayContaining([
      "no member promoted while region A was lost",
      "the flag's command refuses and says how far behind B is",
      "the data-loss budget refused B's promotion",
    ]),
  );
  expect(run.rpoOrders).toBe(0);
  expect(run.notes.join("\n")).toMatch(/No automatic promotion/);
}

export function expectPromotedOnceCaughtUp(run: DrillRun): void {
  expect(broken(run)).toEqual([]);
  expect(run.invariants.map((i) => i.name)).toContain("the data-loss budget let B through");
  expect(run.rpoOrders).toBe(0);
  // Keepalives, tcp_user_timeout and a 1 s retry: streaming resumes within seconds of the heal
  // (it took 15.8 s before, the connection sitting in TCP's backoff).
  const resumed = /B resumed streaming in ([\d.]+) s/.exec(run.notes.join("\n"));
  expect(resumed).not.toBeNull();
  expect(Number(resumed![1])).toBeLessThan(7);
}

export const log = (line: string) => console.log(`[world] ${line}`);

export function progress(): Progress {
  return new Progress({ write: (text: string) => log(text.trimEnd()), isTTY: false });
}

/** One run of a named drill on `world`, after putting `leaderBefore` in the lead as the drill CLI does. */
export async function drill(world: World, name: string, settings: DrillSettings = FAST): Promise<DrillRun> {
  const scenario = scenarioNamed(name);
  const config = { ...settings.config, ...(scenario.config ?? {}) };
  await putInTheLead(world, scenario.leaderBefore, progress());
  const run = await runScenario(world, scenario, 1, { ...settings, config }, progress());
  log(
    `${name}: ${run.phases.map((p) => `${p.name}=${p.atMs === null ? "-" : (p.atMs / 1000).toFixed(1)}`).join(" ")}; ${JSON.stringify(run.writes)}`,
  );
  for (const note of run.notes) log(`${name}: ${note}`);
  return run;
}

export function phase(run: DrillRun, name: PhaseName): number | null {
  const found = run.phases.find((p) => p.name === name);
  if (!found) throw new Error(`no phase ${name} in the run`);
  return found.atMs;
}

export function broken(run: DrillRun): string[] {
  return run.invariants.filter((i) => !i.ok).map((i) => `${i.name}: ${i.detail}`);
}
