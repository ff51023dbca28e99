import type { Member } from "../../lab/world/world";
import type { DrillContext } from "../run";

/** The newest DNS publication after the fault that changed something: "traffic change published". */
export function markPublication(ctx: DrillContext): void {
  const published = ctx.world.dns.publications.filter(
    (p) => p.changes.length > 0 && p.publishedAt.getTime() >= ctx.faultAt,
  );
  const last = published.at(-1);
  if (last)
    ctx.mark(
      "trafficPublished",
      `serial ${last.serial}, ${((last.publishedAt.getTime() - last.requestedAt.getTime()) / 1000).toFixed(1)} s after the API call`,
      last.publishedAt.getTime(),
    );
}

/** Waits until the new leader accepts writes (as the watcher sees it). */
export async function newLeaderWritable(ctx: DrillContext, member: Member): Promise<void> {
  await ctx.until(`${member} to accept writes`, () =>
    ctx.leadership.leaderChange !== undefined && ctx.leadership.newLeader === member ? true : undefined,
  );
}

/**
 * The other member rejoined: it streams from the leader again AND has replayed everything the
 * leader had written when it was first seen streaming. "streaming" alone is not enough: after a
 * partition the leader keeps showing the old, stalled walsender as streaming until its timeout,
 * and a region loss in that window promotes a standby that lacks every write since the partition
 * (a drill found it: 300 acknowledged orders). Marks "recovered".
 */
export async function rejoined(ctx: DrillContext, member: Member, leader: Member): Promise<void> {
  const db = ctx.world.database(leader);
  let target: string | undefined;
  await ctx.until(`${member} to stream from ${leader} again and catch up`, async () => {
    target ??= await db.psql("SELECT pg_current_wal_lsn()").catch(() => undefined);
    if (!target) return undefined;
    const caughtUp = await db
      .psql(
        `SELECT state = 'streaming' AND replay_lsn >= '${target}'::pg_lsn FROM pg_stat_replication WHERE application_name = '${member}'`,
      )
      .catch(() => "");
    return caughtUp === "t" ? true : undefined;
  });
  ctx.mark("recovered", `${member} streams from ${leader} and has replayed its writes`);
}

/** Holds the fault for `ms` while checking that the leader did not move. */
export async function holdWithoutLeaderChange(ctx: DrillContext, ms: number): Promise<void> {
  ctx.progress.phase(`holding the fault ${(ms / 1000).toFixed(0)} s; the leader must not move`);
  await new Promise((resolve) => setTimeout(resolve, ms));
  if (ctx.leadership.decision !== undefined)
    ctx.note(`The leader lease moved during the fault (to ${ctx.leadership.newLeader ?? "another member"}).`);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
