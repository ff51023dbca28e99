import { SITE_REGIONS } from "../lab/addressPlan";
import type { Member, World } from "../lab/world/world";
import { drResourceNames } from "../stacks/resourceNames";
import type { Progress } from "./report";
import { runScenario } from "./run";
import { scenarioNamed } from "./scenarios";
import type { DrillSettings } from "./settings";

/**
 * Where the follower left traffic becomes the flag, when the two disagree: an update whose
 * unchanged flag would undo the follower's move is refused (stacks/trafficGuard.ts), so the
 * operator adopts the move first, as the README's runbook says. Changes no record and no leader.
 */
export async function adoptFollowerMove(world: World, progress: Progress): Promise<void> {
  const applied: Member = world.stacks.dr.outputs.failover === true ? "dr" : "primary";
  const live = world.liveRecords()[world.stacks.dr.byName(drResourceNames().traffic.a).id];
  const servedBy = (["primary", "dr"] as const).find(
    (m) => world.balancers.get(SITE_REGIONS[m])!.host.address === live,
  );
  if (servedBy === undefined || servedBy === applied) return;
  progress.mark(
    `adopting the follower's move to ${servedBy}: pulumi up -s dr with failover=${servedBy === "dr"}`,
  );
  await world.setFailover(servedBy === "dr", {}, (line) => progress.mark(line));
}

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
  await adoptFollowerMove(world, progress);
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
