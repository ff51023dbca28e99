import { setTimeout as sleep } from "node:timers/promises";
import { linkCut, regionCut } from "../../lab/faults";
import { formatSeconds } from "../report/format";
import { PHASE_ORDER, type PhaseName } from "../report/model";
import type { DrillContext, Scenario } from "../run";
import {
  leaderLsn,
  leaderTtlMs,
  promotionVerdicts,
  rejoined,
  trafficFollows,
  type PromotionVerdict,
} from "./common";

/**
 * A partition between regions A and B, healed, then region A lost: the sequence in which a byte
 * guard alone promoted a standby that lacked every write since the partition began (342 of about
 * 420 acknowledged orders lost, twice). The data-loss budget (maximumDataLossSeconds, checked by
 * Patroni's pre_promote hook against the leader's heartbeat) must either promote a standby that
 * lacks no more than the budget, or promote nobody and say how far behind the standby is.
 *   - partition-then-loss: A is lost the moment the partition heals; B lacks the whole partition.
 *     Nobody is promoted, the flag's command refuses and says what B lacks, and A leads again when
 *     it comes back: nothing acknowledged is lost.
 *   - partition-then-loss-caught-up: A is lost once B has streamed and replayed everything A had
 *     at the heal (and, in synchronous mode, is the synchronous standby again): B is promoted
 *     automatically, nothing acknowledged is lost.
 * Times in the report count from the partition; the notes give the loss's own.
 */

function partitionMs(ctx: DrillContext): number {
  return ctx.settings.partitionForMs;
}

async function holdPartition(ctx: DrillContext): Promise<void> {
  ctx.progress.phase(`regions A and B partitioned for ${formatSeconds(partitionMs(ctx))}; A keeps writing`);
  await sleep(Math.max(0, ctx.faultAt + partitionMs(ctx) - Date.now()));
}

function quoted(verdicts: PromotionVerdict[]): string {
  return verdicts.map((v) => `"${v.reason}"`).join("; ");
}

export const partitionThenLoss: Scenario = {
  name: "partition-then-loss",
  description:
    "Partition A↔B (each still reaches the witness) for a minute unless the drill's settings say otherwise, then region A lost the moment the partition heals: B lacks every write since the partition began, so the data-loss budget promotes nobody, the flag's command refuses and says how far behind B is, and A leads again when it comes back",
  fault: () => linkCut("primary", "dr"),
  expects: ["detection", "fenced", "firstWriteByName", "recovered"],
  leaderBefore: "primary",
  leaderAfter: "primary",
  maxLostAcknowledged: 0,
  refusedPromotions: true,
  async respond(ctx) {
    await holdPartition(ctx);
    // A cut off from everyone first, then the A-B link restored: B never reaches A after the partition.
    const loss = await ctx.inject(regionCut("primary"));
    const lostAt = Date.now();
    await ctx.healFault();
    const hold = 3 * leaderTtlMs(ctx);
    ctx.progress.phase(
      `region A lost ${formatSeconds(lostAt - ctx.faultAt)} after the partition began; nobody may be promoted for ${formatSeconds(hold)}`,
    );
    await sleep(hold);
    const refused = (await promotionVerdicts(ctx, "dr", lostAt)).filter((v) => !v.promoted);
    ctx.check(
      "no member promoted while region A was lost",
      ctx.leadership.leaderChange === undefined,
      ctx.leadership.leaderChange === undefined
        ? `B's PostgreSQL never accepted writes in the ${formatSeconds(hold)} after region A was lost`
        : `B accepted writes ${formatSeconds(ctx.leadership.leaderChange - lostAt)} after region A was lost`,
    );
    if (refused.length > 0)
      ctx.note(
        `No automatic promotion (B's pre_promote check, ${refused.length} attempts refused): ${quoted(refused.slice(0, 1))}.`,
      );
    else
      ctx.note(
        ctx.config.leadership.synchronous
          ? "No automatic promotion: Patroni never let B race for the lease (it was not the synchronous standby once the partition began)."
          : "No automatic promotion, and B's pre_promote check never ran.",
      );
    if (!ctx.config.leadership.synchronous)
      ctx.check(
        "the data-loss budget refused B's promotion",
        refused.length > 0 && /^no automatic promotion: standby \d+\.\d s /.test(refused[0].reason),
        refused.length > 0 ? refused[0].reason : "no refusal by linode-dr-promotion-check in B's Patroni log",
      );
    const flag = await ctx.runLeaderCommand({ failover: "true" });
    const found = /^found: dr is .*$/m.exec(flag.stdout)?.[0];
    ctx.check(
      "the flag's command refuses and says how far behind B is",
      flag.code === 3 &&
        found !== undefined &&
        /^refused: no automatic promotion: standby \d+\.\d s /m.test(flag.stdout),
      `linode-dr-leader dr exited ${flag.code}: ${flag.stdout.trim().split("\n").slice(-2).join(" / ")}`,
    );
    const back = Date.now();
    await loss.heal();
    await ctx.until("region A back, leading again", async () =>
      (await ctx.world.writable("primary")) ? true : undefined,
    );
    const balancer = ctx.world.balancers.get("A")!;
    await ctx.until("region A's NodeBalancer to serve again", async () =>
      Object.values(await balancer.serverStates()).includes("UP") ? true : undefined,
    );
    // The runner's settling counts orders from before the loss: give the client time to write again.
    await sleep(5000);
    ctx.note(
      `Region A was lost ${formatSeconds(lostAt - ctx.faultAt)} after the partition began, for ${formatSeconds(back - lostAt)}; it accepted writes again ${formatSeconds(Date.now() - back)} after it came back.`,
    );
  },
  async recover(ctx) {
    await rejoined(ctx, "dr", "primary");
  },
};

const FAILOVER_PHASES: PhaseName[] = PHASE_ORDER.filter((phase) => phase !== "fault");

/** What B's own PostgreSQL answers to `sql` ("" when it does not answer). */
function askB(ctx: DrillContext, sql: string): Promise<string> {
  return ctx.world
    .database("dr")
    .psql(sql)
    .catch(() => "");
}

export const partitionThenLossCaughtUp: Scenario = {
  name: "partition-then-loss-caught-up",
  description:
    "Partition A↔B (each still reaches the witness) for a minute unless the drill's settings say otherwise, healed; once B has resumed streaming and replayed everything A had at the heal, region A is lost: the quorum promotes B within the data-loss budget and nothing acknowledged is lost",
  fault: () => linkCut("primary", "dr"),
  expects: FAILOVER_PHASES,
  leaderBefore: "primary",
  leaderAfter: "dr",
  maxLostAcknowledged: 0,
  async respond(ctx) {
    await holdPartition(ctx);
    const target = await leaderLsn(ctx.world, "primary");
    if (!target) throw new Error("region A's database did not say its WAL position at the heal");
    await ctx.healFault();
    const healedAt = Date.now();
    const resumedAt = await ctx.until("B to stream from A again after the heal", async () =>
      // B's own view: A keeps showing a stalled walsender as streaming for a while.
      (await askB(ctx, "SELECT status FROM pg_stat_wal_receiver")) === "streaming" ? Date.now() : undefined,
    );
    const caughtUpAt = await ctx.until(
      `B to replay A's WAL up to ${target}, A's position at the heal`,
      async () =>
        (await askB(ctx, `SELECT pg_last_wal_replay_lsn() >= '${target}'::pg_lsn`)) === "t"
          ? Date.now()
          : undefined,
    );
    let syncAt: number | undefined;
    if (ctx.config.leadership.synchronous)
      syncAt = await ctx.until("Patroni to make B the synchronous standby again", async () => {
        const members = (await ctx.world.patroniCluster("primary"))?.members ?? [];
        return members.some((m) => m.name === "dr" && m.role === "sync_standby") ? Date.now() : undefined;
      });
    ctx.note(
      `After the heal B resumed streaming in ${formatSeconds(resumedAt - healedAt)} and had replayed everything A had at the heal in ${formatSeconds(caughtUpAt - healedAt)}${syncAt === undefined ? "" : `; it was the synchronous standby again ${formatSeconds(syncAt - healedAt)} after the heal`}.`,
    );
    const lostAt = Date.now();
    await ctx.inject(regionCut("primary"));
    await trafficFollows(ctx, "dr");
    const verdicts = await promotionVerdicts(ctx, "dr", lostAt);
    const promoted = verdicts.find((v) => v.promoted);
    ctx.note(
      `Region A was lost ${formatSeconds(lostAt - ctx.faultAt)} after the partition began; B accepted writes ${formatSeconds((ctx.leadership.leaderChange ?? Date.now()) - lostAt)} after that. B's pre_promote check: ${quoted(verdicts) || "no verdict logged"}.`,
    );
    ctx.check(
      "the data-loss budget let B through",
      promoted !== undefined && verdicts.every((v) => v.promoted),
      quoted(verdicts) || "no verdict of linode-dr-promotion-check in B's Patroni log",
    );
  },
  async recover(ctx) {
    await rejoined(ctx, "primary", "dr");
  },
};
