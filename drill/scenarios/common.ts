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
 * The old leader rejoined: `member` streams from the leader again (Patroni rewinds it). Marks
 * "recovered" when pg_stat_replication on the leader shows it streaming.
 */
export async function rejoined(ctx: DrillContext, member: Member, leader: Member): Promise<void> {
  await ctx.until(`${member} to stream from ${leader} again`, async () => {
    const state = await ctx.world
      .database(leader)
      .psql(`SELECT state FROM pg_stat_replication WHERE application_name = '${member}'`)
      .catch(() => "");
    return state === "streaming" ? true : undefined;
  });
  ctx.mark("recovered", `${member} streams from ${leader}`);
}

/** Holds the fault for `ms` while checking that the leader did not move. */
export async function holdWithoutLeaderChange(ctx: DrillContext, ms: number): Promise<void> {
  ctx.progress.phase(`holding the fault ${(ms / 1000).toFixed(0)} s; the leader must not move`);
  await new Promise((resolve) => setTimeout(resolve, ms));
  if (ctx.leadership.decision !== undefined)
    ctx.note(`The leader lease moved during the fault (to ${ctx.leadership.newLeader ?? "another member"}).`);
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
