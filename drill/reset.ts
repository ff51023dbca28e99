import type { Member, World } from "../lab/world/world";
import type { Progress } from "./report";
import { runScenario } from "./run";
import { scenarioNamed } from "./scenarios";
import type { DrillSettings } from "./settings";

/**
 * Brings the world to the layout a scenario starts from (which member leads, where traffic goes)
 * with the planned drill that gets there, run like any other but not reported: a failed reset
 * throws, since what follows would measure a broken system.
 */
export async function putInTheLead(
  world: World,
  member: Member,
  settings: DrillSettings,
  progress: Progress,
): Promise<void> {
  const leading: Member = (await world.writable("primary")) ? "primary" : "dr";
  if (leading === member) return;
  const reset = scenarioNamed(member === "primary" ? "failback" : "switchover");
  progress.mark(`reset: ${reset.name} to put ${member} in the lead`);
  const result = await runScenario(world, reset, 0, settings, progress);
  const broken = result.invariants.filter((i) => !i.ok);
  if (broken.length > 0)
    throw new Error(
      `the reset (${reset.name}) broke: ${broken.map((i) => `${i.name}: ${i.detail}`).join("; ")}`,
    );
}
