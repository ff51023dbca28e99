import { setTimeout as sleep } from "node:timers/promises";
import { database, linodePaused } from "../../lab/faults";
import { formatSeconds } from "../report/format";
import { PHASE_ORDER, type PhaseName } from "../report/model";
import type { DrillContext, Scenario } from "../run";
import { leaderTtlMs, newLeaderWritable, patroniLog, rejoined, trafficFollows } from "./common";

/**
 * A paused primary: region A's database Linode stops as a whole (a stuck hypervisor, a VM pause)
 * for longer than the leader lease, region B is promoted through the quorum meanwhile, then A
 * resumes believing it still leads. Nothing inside A can tell it was paused until Patroni's next
 * cycle finds its lease gone; until then PostgreSQL on A takes commits, and A's app acknowledges
 * them to whoever reaches it (through its NodeBalancer, or directly from inside region A). The drill
 * measures that window and holds Patroni to its bound; with asynchronous replication the writes A
 * acknowledged in it are lost (rewound), with synchronous replication A cannot acknowledge any.
 */

const FAILOVER_PHASES: PhaseName[] = PHASE_ORDER.filter((phase) => phase !== "fault");

/** Longer than the lease, so that B is promoted while A is paused: 25 s at the default 10 s lease. */
function pauseMs(ctx: DrillContext): number {
  return 2.5 * leaderTtlMs(ctx);
}

/**
 * How long a resumed Patroni may take to demote its PostgreSQL: the rest of its loop (loop_wait),
 * then its DCS call (retry_timeout), plus a second for the stop and for an answer already on its way.
 */
function demotionBoundMs(ctx: DrillContext): number {
  const { loopWaitSeconds, retryTimeoutSeconds } = ctx.config.leadership;
  return (loopWaitSeconds + retryTimeoutSeconds + 1) * 1000;
}

export const frozenPrimary: Scenario = {
  name: "frozen-primary",
  description:
    "Frozen primary: every process of region A's database Linode and its network paused for 2.5 leader TTLs (a VM pause); the quorum promotes region B meanwhile; A resumes still believing it leads and is demoted by its own Patroni; writes A acknowledged after B led are measured, directly to A's app and through its NodeBalancer",
  fault: () => linodePaused(database("primary")),
  expects: FAILOVER_PHASES,
  leaderBefore: "primary",
  leaderAfter: "dr",
  maxLostAcknowledged: 0,
  probeFencedRegion: true,
  probeOldLeaderAppDirectly: true,
  async respond(ctx) {
    await newLeaderWritable(ctx, "dr");
    const remaining = ctx.faultAt + pauseMs(ctx) - Date.now();
    ctx.progress.phase(`region A's database stays paused ${formatSeconds(Math.max(0, remaining))} more`);
    await sleep(Math.max(0, remaining));
    const resumedAt = Date.now();
    await ctx.healFault();
    const bound = demotionBoundMs(ctx);
    ctx.allowOldLeaderWindow(
      resumedAt,
      resumedAt + bound,
      "region A resumed, still primary until its Patroni's next cycle demotes it",
    );
    // The log from the first poll that shows the demotion (Patroni's "Demoting self").
    const { log, demoted } = await ctx.until("region A's Patroni to demote it after the resume", async () => {
      const lines = await patroniLog(ctx, "primary");
      const line = lines.find((l) => l.at >= resumedAt - 1000 && / INFO: Demoting self/.test(l.text));
      return line ? { log: lines, demoted: line.at } : undefined;
    });
    const took = demoted - resumedAt;
    ctx.note(
      `Region A was paused ${formatSeconds(resumedAt - ctx.faultAt)}; B led ${formatSeconds((ctx.leadership.leaderChange ?? resumedAt) - ctx.faultAt)} after the pause began; A's Patroni began demoting ${formatSeconds(took)} after A resumed.`,
    );
    // Patroni's threads log out of order by a few ms: shown in time order.
    const said = log
      .filter((l) => l.at >= resumedAt - 1000 && l.at <= demoted + 500)
      .sort((x, y) => x.at - y.at);
    ctx.note(
      `What A's Patroni logged from its resume to its demotion: ${said
        .slice(0, 12)
        .map((l) => `"${l.text}"`)
        .join("; ")}.`,
    );
    ctx.check(
      "the resumed primary was demoted within loop_wait + retry_timeout",
      took <= bound,
      `A's Patroni logged "Demoting self" ${formatSeconds(took)} after A resumed (bound ${formatSeconds(bound)})`,
    );
    await trafficFollows(ctx, "dr");
  },
  async recover(ctx) {
    await rejoined(ctx, "primary", "dr");
  },
};
