import type { Member } from "../../lab/world/world";
import { PHASE_ORDER, type PhaseName } from "../report/model";
import type { DrillContext, Scenario } from "../run";
import { holdWithoutLeaderChange, markPublication, newLeaderWritable, rejoined, sleep } from "./common";

/**
 * The named drills. Each starts from the state the previous one left when run in the listed order
 * on one world (region-loss → failback → switchover → failback ...), and says which member leads
 * before and after so the runner can check it.
 */

/** Every phase of a failover, from detection to the old leader rejoining. */
const FAILOVER_PHASES: PhaseName[] = PHASE_ORDER.filter((phase) => phase !== "fault");

/**
 * After an automatic promotion: the traffic follower on the witness is not built yet, so the drill
 * does what it will do (and what an operator does today) the moment region B accepts writes.
 */
async function followNewLeader(ctx: DrillContext): Promise<void> {
  await newLeaderWritable(ctx, "dr");
  ctx.note(
    "The flag was applied by the drill as soon as region B accepted writes (operator reaction time: 0 s).",
  );
  await ctx.setFailover(true);
  markPublication(ctx);
}

const regionLoss: Scenario = {
  name: "region-loss",
  description:
    "Region A lost: its whole network cut off. Patroni promotes region B through the quorum; the traffic flag follows the new leader",
  expects: FAILOVER_PHASES,
  leaderBefore: "primary",
  leaderAfter: "dr",
  maxLostAcknowledged: 0,
  probeFencedRegion: true,
  async inject(ctx) {
    await ctx.world.lab.cutRegion("A");
  },
  respond: followNewLeader,
  async heal(ctx) {
    await ctx.world.lab.restoreRegion("A");
    await rejoined(ctx, "primary", "dr");
  },
};

/**
 * A planned move: the operator flips the flag with both regions healthy (the fault is the decision
 * itself), Patroni switches over without losing an acknowledged write, traffic follows.
 */
function plannedFlip(name: string, description: string, to: Member): Scenario {
  const from: Member = to === "dr" ? "primary" : "dr";
  return {
    name,
    description,
    expects: FAILOVER_PHASES.filter((phase) => phase !== "detection"),
    leaderBefore: from,
    leaderAfter: to,
    maxLostAcknowledged: 0,
    async inject() {
      // The fault is the operator's decision itself.
    },
    async respond(ctx) {
      ctx.mark("decision", `pulumi up -s dr with failover=${to === "dr"}`);
      await ctx.setFailover(to === "dr");
      markPublication(ctx);
      await newLeaderWritable(ctx, to);
    },
    async heal(ctx) {
      await rejoined(ctx, from, to);
    },
  };
}

const switchover = plannedFlip(
  "switchover",
  "Planned switchover: the operator flips failover=true with both regions healthy",
  "dr",
);

const failback = plannedFlip(
  "failback",
  "Failback: with region A rejoined as a replica, the operator flips failover=false",
  "primary",
);

const partition: Scenario = {
  name: "partition",
  description:
    "Partition between regions A and B (each still reaches the witness) for three leader TTLs: nobody may take over",
  expects: ["recovered"],
  leaderBefore: "primary",
  leaderAfter: "primary",
  maxLostAcknowledged: 0,
  async inject(ctx) {
    await ctx.world.lab.cutLink("A", "B");
  },
  async respond(ctx) {
    await holdWithoutLeaderChange(ctx, 3 * leaderTtlMs(ctx.settings.config));
  },
  async heal(ctx) {
    await ctx.world.lab.restoreLink("A", "B");
    await rejoined(ctx, "dr", "primary");
  },
};

const witnessLoss: Scenario = {
  name: "witness-loss",
  description:
    "The witness Linode crashes for three leader TTLs: two of three etcd members remain, nobody may take over",
  expects: ["recovered"],
  leaderBefore: "primary",
  leaderAfter: "primary",
  maxLostAcknowledged: 0,
  async inject(ctx) {
    await ctx.world.host("witness").crash();
  },
  async respond(ctx) {
    await holdWithoutLeaderChange(ctx, 3 * leaderTtlMs(ctx.settings.config));
  },
  async heal(ctx) {
    await ctx.world.restartHost("witness");
    ctx.mark("recovered", "witness restarted and its etcd member back");
  },
};

const dbCrash: Scenario = {
  name: "db-crash",
  description:
    "The primary database Linode crashes (power cut): Patroni promotes region B; the traffic flag follows the new leader",
  expects: FAILOVER_PHASES,
  leaderBefore: "primary",
  leaderAfter: "dr",
  maxLostAcknowledged: 0,
  probeFencedRegion: true,
  async inject(ctx) {
    await ctx.world.host("pg-a").crash();
  },
  respond: followNewLeader,
  async heal(ctx) {
    await ctx.world.restartHost("pg-a");
    await rejoined(ctx, "primary", "dr");
  },
};

const flapping: Scenario = {
  name: "flapping",
  description:
    "Region A's link flaps (down 3 s, up 10 s) for two minutes: short losses must not move the leader or lose acknowledged orders",
  expects: ["firstWriteByName", "recovered"],
  leaderBefore: "primary",
  leaderAfter: "primary",
  maxLostAcknowledged: 0,
  async inject(ctx) {
    const until = Date.now() + 120_000;
    ctx.progress.phase("flapping region A's link");
    while (Date.now() < until) {
      await ctx.world.lab.cutRegion("A");
      await sleep(3000);
      await ctx.world.lab.restoreRegion("A");
      await sleep(10_000);
    }
  },
  async respond(ctx) {
    if (ctx.leadership.decision !== undefined)
      ctx.note(`The leader lease moved while the link flapped (to ${ctx.leadership.newLeader}).`);
  },
  async heal(ctx) {
    await rejoined(ctx, "dr", "primary");
  },
};

const appCrash: Scenario = {
  name: "app-crash",
  description:
    "App crash: the C service on one of region A's app Linodes is killed; the NodeBalancer takes the node out, writes continue",
  expects: ["detection", "firstWriteByName", "recovered"],
  leaderBefore: "primary",
  leaderAfter: "primary",
  maxLostAcknowledged: 0,
  async inject(ctx) {
    await ctx.world.crashApp("app-a0");
  },
  async respond(ctx) {
    const balancer = ctx.world.balancers.get("A")!;
    await ctx.until("region A's NodeBalancer to take app-0 out", async () =>
      (await balancer.serverStates())["app-0"] === "DOWN" ? true : undefined,
    );
    ctx.mark("detection", "the NodeBalancer marked app-0 DOWN");
    await sleep(10_000);
  },
  async heal(ctx) {
    await ctx.world.restartApp("app-a0");
    const balancer = ctx.world.balancers.get("A")!;
    await ctx.until("app-0 back in region A's NodeBalancer", async () =>
      (await balancer.serverStates())["app-0"] === "UP" ? true : undefined,
    );
    ctx.mark("recovered", "app-0 restarted and UP again");
  },
};

const manualFailover: Scenario = {
  name: "manual-failover",
  description:
    "Manual failover: automaticFailover=false (only the flag's member may take the lease); region A is cut off and, after three leader TTLs without an automatic promotion, the operator flips failover=true",
  config: { automaticFailover: "false" },
  manualOnly: true,
  expects: FAILOVER_PHASES,
  leaderBefore: "primary",
  leaderAfter: "dr",
  maxLostAcknowledged: 0,
  probeFencedRegion: true,
  async inject(ctx) {
    await ctx.world.lab.cutRegion("A");
  },
  async respond(ctx) {
    await sleep(3 * leaderTtlMs(ctx.settings.config));
    ctx.mark("decision", "the operator ran pulumi up -s dr with failover=true");
    await ctx.setFailover(true);
    markPublication(ctx);
    await newLeaderWritable(ctx, "dr");
  },
  async heal(ctx) {
    await ctx.world.lab.restoreRegion("A");
    await rejoined(ctx, "primary", "dr");
  },
};

function leaderTtlMs(config: Record<string, string>): number {
  return Number(config.leaderTtl ?? "10") * 1000;
}

export const SCENARIOS: readonly Scenario[] = [
  regionLoss,
  manualFailover,
  switchover,
  failback,
  dbCrash,
  appCrash,
  partition,
  witnessLoss,
  flapping,
];

export function scenarioNamed(name: string): Scenario {
  const found = SCENARIOS.find((s) => s.name === name);
  if (!found)
    throw new Error(
      `unknown scenario "${name}"; expected one of: ${SCENARIOS.map((s) => s.name).join(", ")}`,
    );
  return found;
}
