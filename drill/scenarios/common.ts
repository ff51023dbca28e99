import { setTimeout as sleep } from "node:timers/promises";
import type { Member } from "../../lab/world/world";
import type { DrillContext } from "../run";

/** The leader lease of the program config the world was booted with. */
export function leaderTtlMs(ctx: DrillContext): number {
  return ctx.config.leadership.ttlSeconds * 1000;
}

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
  await sleep(ms);
  if (ctx.leadership.decision !== undefined)
    ctx.note(`The leader lease moved during the fault (to ${ctx.leadership.newLeader ?? "another member"}).`);
}

/**
 * With region B cut off from A, writes on A until Patroni's view (asked of A's member, which still
 * leads) shows B lagging beyond maximumLagOnFailover: the bytes go into a scratch table of the app
 * database, a few megabytes per statement. Returns the lag Patroni reported.
 */
export async function fillBeyondLagGuard(ctx: DrillContext): Promise<number> {
  const guard = ctx.config.leadership.maximumLagOnFailoverBytes;
  const db = ctx.world.database("primary");
  await db.psql(
    "CREATE TABLE IF NOT EXISTS drill_lag_filler (id bigserial, pad text)",
    ctx.world.appDatabase,
  );
  return ctx.until(`region B to lag more than ${guard} bytes behind A`, async () => {
    const lag = (await ctx.world.patroniCluster("primary"))?.members?.find((m) => m.name === "dr")?.lag;
    if (typeof lag === "number" && lag > guard) return lag;
    await db.psql(
      "INSERT INTO drill_lag_filler (pad) SELECT repeat(md5(g::text), 32) FROM generate_series(1, 4000) g",
      ctx.world.appDatabase,
    );
    return undefined;
  });
}
