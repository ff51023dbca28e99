import { setTimeout as sleep } from "node:timers/promises";
import { SITE_REGIONS } from "../../lab/addressPlan";
import { database, SITE_LABELS } from "../../lab/faults";
import type { Member, World } from "../../lab/world/world";
import type { AppliedStep } from "../../lab/world/apply";
import type { DrillContext } from "../run";

/** The leader lease of the program config the world was booted with. */
export function leaderTtlMs(ctx: DrillContext): number {
  return ctx.config.leadership.ttlSeconds * 1000;
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
  let target: string | undefined;
  await ctx.until(`${member} to stream from ${leader} again and catch up`, async () => {
    target ??= await leaderLsn(ctx.world, leader);
    if (!target) return undefined;
    return (await replayedUpTo(ctx.world, member, leader, target)) ? true : undefined;
  });
  ctx.mark("recovered", `${member} streams from ${leader} and has replayed its writes`);
}

/** The leader's current WAL position; undefined when it does not answer. */
export function leaderLsn(world: World, leader: Member): Promise<string | undefined> {
  return world
    .database(leader)
    .psql("SELECT pg_current_wal_lsn()")
    .catch(() => undefined);
}

/** Whether `member` streams from `leader` (by the leader's view) and has replayed up to `target`. */
export async function replayedUpTo(
  world: World,
  member: Member,
  leader: Member,
  target: string,
): Promise<boolean> {
  const caughtUp = await world
    .database(leader)
    .psql(
      `SELECT state = 'streaming' AND replay_lsn >= '${target}'::pg_lsn FROM pg_stat_replication WHERE application_name = '${member}'`,
    )
    .catch(() => "");
  return caughtUp === "t";
}

/** Where linode-dr-db-provision has Patroni log (provisioning/scripts/db-provision.sh). */
export const PATRONI_LOG = "/var/log/linode-dr-patroni.log";
/** Where etcd logs on a lab host (no journald there): lib/consensus.sh starts it in the background. */
export const ETCD_LOG = "/var/log/linode-dr-etcd.log";

export interface LogLine {
  at: number;
  text: string;
}

/** Patroni's log on `member`'s database Linode, each of its own lines with its time (epoch ms). */
export async function patroniLog(ctx: DrillContext, member: Member): Promise<LogLine[]> {
  const host = ctx.world.hostOf(database(member));
  // Python's logging writes local time without a zone: ask the host for its offset.
  const zone = (await host.execOrThrow(["date", "+%z"])).stdout.trim().replace(/^([+-]\d\d)(\d\d)$/, "$1:$2");
  const lines: LogLine[] = [];
  for (const text of (await host.readFile(PATRONI_LOG).catch(() => "")).split("\n")) {
    const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d),(\d{3}) /.exec(text);
    if (m) lines.push({ at: Date.parse(`${m[1]}T${m[2]}.${m[3]}${zone}`), text });
  }
  return lines;
}

/** One verdict of the data-loss budget's check (Patroni's pre_promote hook) on a member. */
export interface PromotionVerdict {
  /** Epoch ms, to the second (the hook logs UTC seconds). */
  at: number;
  promoted: boolean;
  reason: string;
}

/**
 * What linode-dr-promotion-check decided on `member` since `since` (epoch ms), from Patroni's log,
 * where the hook's own lines land ("<UTC time> linode-dr-promotion-check: <member>: promote|REFUSED: why").
 */
export async function promotionVerdicts(
  ctx: DrillContext,
  member: Member,
  since: number,
): Promise<PromotionVerdict[]> {
  const host = ctx.world.hostOf(database(member));
  const verdicts: PromotionVerdict[] = [];
  for (const text of (await host.readFile(PATRONI_LOG).catch(() => "")).split("\n")) {
    const m = /^(\S+Z) linode-dr-promotion-check: \w+: (promote|REFUSED): (.*)$/.exec(text);
    const at = m ? Date.parse(m[1]) : NaN;
    // The hook logs whole seconds: a verdict in the second `since` falls in counts.
    if (m && at >= since - 1000) verdicts.push({ at, promoted: m[2] === "promote", reason: m[3] });
  }
  return verdicts;
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

/** The first change of the A record through the Linode API since the fault to `to`'s NodeBalancer. */
function recordChangeTo(ctx: DrillContext, to: Member) {
  const target = ctx.world.balancers.get(SITE_REGIONS[to])!.host.address;
  return ctx.world.api
    .changes()
    .find((c) => c.type === "A" && c.target === target && c.acceptedAt.getTime() >= ctx.faultAt);
}

/** Marks "records changed through the API" and, once DNS Manager published it, "traffic change published". */
async function markRecordChange(ctx: DrillContext, to: Member, who: string): Promise<void> {
  const change = await ctx.until(`the traffic records to point at ${SITE_LABELS[to]}`, () =>
    recordChangeTo(ctx, to),
  );
  ctx.mark("recordsChanged", `A → ${change.target}, PUT by ${who}`, change.acceptedAt.getTime());
  const published = await change.publication;
  ctx.mark(
    "trafficPublished",
    `serial ${published.serial}, ${((published.publishedAt.getTime() - change.acceptedAt.getTime()) / 1000).toFixed(1)} s after the API accepted it`,
    published.publishedAt.getTime(),
  );
}

/**
 * After an automatic promotion, traffic follows with nobody acting: the follower on the witness
 * moves the records to `to`'s NodeBalancer (marks "follower decided" from its log and "records
 * changed"). A stack without a follower (no followerApiToken) waits for its operator: the drill
 * applies the flag the moment `to` accepts writes, and says so.
 */
export async function trafficFollows(ctx: DrillContext, to: Member): Promise<void> {
  await newLeaderWritable(ctx, to);
  if (ctx.config.follower.apiToken === undefined) {
    ctx.note(
      "No traffic follower (followerApiToken unset): the drill applied the flag as soon as the new leader accepted writes (operator reaction time: 0 s).",
    );
    await ctx.setFailover(to === "dr");
    await markRecordChange(ctx, to, "pulumi up");
    return;
  }
  await markRecordChange(ctx, to, "the follower");
  const decided = followerDecision(await ctx.world.followerLog(), to, ctx.faultAt);
  if (decided) ctx.mark("followerDecided", decided.detail, decided.at);
}

/**
 * The operator's `pulumi up` with the flag naming `to`; its record changes are marked as they
 * happen. A failed update throws, unless `allowFailure`: then its error is returned once the
 * records it moved anyway are marked (resources that do not wait on the failed one still change).
 */
export async function operatorFlips(
  ctx: DrillContext,
  to: Member,
  config: Record<string, string> = {},
  options: { allowFailure?: boolean } = {},
): Promise<Error | undefined> {
  const failed = await ctx.setFailover(to === "dr", config).then(
    () => undefined,
    (error: Error) => error,
  );
  if (failed && !options.allowFailure) throw failed;
  await markRecordChange(ctx, to, "pulumi up or the follower, whichever came first");
  return failed;
}

/** The follower's first decision to move traffic to `to` since `since` (epoch ms), from its log. */
export function followerDecision(
  log: string,
  to: Member,
  since: number,
): { at: number; detail: string } | undefined {
  for (const line of log.split("\n")) {
    const fields = Object.fromEntries(
      [...line.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S+)/g)].map(([, key, value]) => [
        key,
        value.startsWith('"') ? (JSON.parse(value) as string) : value,
      ]),
    );
    const at = Date.parse(fields.time ?? "");
    if (fields.event === "decision" && fields.decision === "move" && fields.to === to && at >= since)
      return { at, detail: fields.reason ?? `move to ${to}` };
  }
  return undefined;
}

/** One update of an operator's multi-step change (a rotation): which stack, what config, why. */
export interface OperatorStep {
  stack: Member;
  config: Record<string, string>;
  why: string;
}

/**
 * Applies step `index` (`pulumi up -s <stack>` with its config) and notes how long it and each
 * converge command took, plus whatever `extra` finds in those converges. Returns the converges.
 */
export async function applyOperatorStep(
  ctx: DrillContext,
  index: number,
  step: OperatorStep,
  extra: (converged: AppliedStep[]) => string = () => "",
): Promise<AppliedStep[]> {
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const at = Date.now();
  const plan = await ctx.up(step.stack, step.config);
  const converged = plan.steps.filter((s) => /-converge(-\d+)?$/.test(s.name));
  const set = Object.entries(step.config).map(([k, v]) => ` ${k}=${v}`);
  const ran = converged.map((s) => `${s.name} ${seconds(s.endedAt - s.startedAt)}`);
  ctx.note(
    `step ${index + 1} (${step.why}): pulumi up -s ${step.stack}${set.join("")} took ${seconds(Date.now() - at)}; ` +
      `${ran.join(", ") || "no converge ran"}${extra(converged)}.`,
  );
  return converged;
}
