import { SITE_REGIONS } from "../lab/addressPlan";
import { database } from "../lab/faults";
import { ETCD_MEMBER_PATH } from "../provisioning/consensus";
import type { Member, World } from "../lab/world/world";
import { drResourceNames } from "../stacks/resourceNames";
import type { Progress } from "./report";
import { waitFor } from "../lab/process";
import { leaderLsn, replayedUpTo } from "./scenarios/common";

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
 * What the databases' timer does every minute on a Linode (the lab has no systemd): a database
 * holding etcd leadership hands it to the witness, where a region loss costs no etcd election. A
 * fault or a restarting witness leaves it on a database, and the next drill would measure that.
 */
export async function etcdLeadershipToWitness(world: World, progress: Progress): Promise<void> {
  for (const member of ["primary", "dr"] as const) {
    const host = world.hostOf(database(member));
    if (!host.isUp) continue;
    const r = await host.exec([ETCD_MEMBER_PATH, "--prefer-leader"], { timeoutMs: 60_000 });
    const handed = r.stderr.split("\n").find((line) => line.includes("handed etcd leadership"));
    if (handed) progress.mark(`reset: ${handed.replace(/^\S+ \S+ /, "")}`);
  }
}

/** How long a reset may wait for the new leader to take writes and the other member to catch up. */
const RESET_WAIT_MS = 180_000;

/**
 * Brings the world to the layout a scenario starts from (which member leads, where traffic goes):
 * the operator's flag (`pulumi up -s dr`), then the named member leading, the other streaming from
 * it and caught up, and the client's resolver emptied of the old region's answer, as it would be a
 * record TTL after a failback. This is set-up, never measured (the failback and switchover drills
 * measure the same path); a reset that does not get there throws, since what follows would
 * measure a broken system.
 */
export async function putInTheLead(world: World, member: Member, progress: Progress): Promise<void> {
  await adoptFollowerMove(world, progress);
  await etcdLeadershipToWitness(world, progress);
  const leading: Member = (await world.writable("primary")) ? "primary" : "dr";
  if (leading === member) return;
  const other: Member = member === "primary" ? "dr" : "primary";
  // A member that just rejoined streams a moment before its Patroni reports it running (it writes
  // its state to etcd once per loop): the flag's command, asked then, rightly refuses a member
  // Patroni still calls stopped. An operator would look at patronictl list first; so does this.
  await waitFor(
    `reset: Patroni reports ${member} running`,
    async () => {
      const state = (await world.patroniCluster(leading))?.members?.find((m) => m.name === member)?.state;
      return state === "running" || state === "streaming" ? true : undefined;
    },
    RESET_WAIT_MS,
    200,
  );
  progress.mark(`reset: pulumi up -s dr with failover=${member === "dr"} to put ${member} in the lead`);
  await world.setFailover(member === "dr", {}, (line) => progress.mark(line));
  await waitFor(
    `reset: ${member} to accept writes`,
    async () => ((await world.writable(member)) ? true : undefined),
    RESET_WAIT_MS,
    200,
  );
  const target = await waitFor(
    `reset: ${member}'s WAL position`,
    () => leaderLsn(world, member),
    RESET_WAIT_MS,
    200,
  );
  await waitFor(
    `reset: ${other} to stream from ${member} and catch up`,
    async () => ((await replayedUpTo(world, other, member, target)) ? true : undefined),
    RESET_WAIT_MS,
    200,
  );
  await world.resolver.flushZone();
  progress.mark(
    `reset: ${member} leads, ${other} streams from it, the client's resolver forgot the old answer`,
  );
}
