import { setTimeout as sleep } from "node:timers/promises";
import {
  app,
  database,
  flapping,
  hostCrash,
  linkCut,
  processKill,
  regionCut,
  witness,
  type Fault,
} from "../../lab/faults";
import type { Member } from "../../lab/world/world";
import { PHASE_ORDER, type PhaseName } from "../report/model";
import type { DrillContext, Scenario } from "../run";
import {
  fillBeyondLagGuard,
  holdWithoutLeaderChange,
  leaderTtlMs,
  markPublication,
  newLeaderWritable,
  rejoined,
} from "./common";

/**
 * The named drills. Each starts from the state the previous one left when run in the listed order
 * on one world (region-loss → failback → switchover → failback ...), and says which member leads
 * before and after so the runner can check it. The faults come from lab/faults, named by the
 * program's roles.
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

/** Region A's link is back (the runner healed it): A rejoins as a replica of B. */
async function primaryRejoinsDr(ctx: DrillContext): Promise<void> {
  await rejoined(ctx, "primary", "dr");
}

/** The primary side is lost: Patroni promotes region B through the quorum; traffic follows. */
function failoverByQuorum(name: string, description: string, fault: () => Fault): Scenario {
  return {
    name,
    description,
    fault,
    expects: FAILOVER_PHASES,
    leaderBefore: "primary",
    leaderAfter: "dr",
    maxLostAcknowledged: 0,
    probeFencedRegion: true,
    respond: followNewLeader,
    recover: primaryRejoinsDr,
  };
}

const regionLoss = failoverByQuorum(
  "region-loss",
  "Region A lost: its whole network cut off. Patroni promotes region B through the quorum; the traffic flag follows the new leader",
  () => regionCut("primary"),
);

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
    async respond(ctx) {
      ctx.mark("decision", `pulumi up -s dr with failover=${to === "dr"}`);
      await ctx.setFailover(to === "dr");
      markPublication(ctx);
      await newLeaderWritable(ctx, to);
    },
    async recover(ctx) {
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

/** A fault held for three leader TTLs, during which the leader must not move. */
function heldFault(name: string, description: string, fault: () => Fault): Scenario {
  return {
    name,
    description,
    fault,
    expects: ["recovered"],
    leaderBefore: "primary",
    leaderAfter: "primary",
    maxLostAcknowledged: 0,
    async respond(ctx) {
      await holdWithoutLeaderChange(ctx, 3 * leaderTtlMs(ctx));
    },
    async recover(ctx) {
      await rejoined(ctx, "dr", "primary");
    },
  };
}

const partition = heldFault(
  "partition",
  "Partition between regions A and B (each still reaches the witness) for three leader TTLs: nobody may take over",
  () => linkCut("primary", "dr"),
);

const witnessLoss = heldFault(
  "witness-loss",
  "The witness Linode crashes for three leader TTLs: two of three etcd members remain, nobody may take over",
  () => hostCrash(witness),
);

const dbCrash = failoverByQuorum(
  "db-crash",
  "The primary database Linode crashes (power cut): Patroni promotes region B; the traffic flag follows the new leader",
  () => hostCrash(database("primary")),
);

const flappingLink: Scenario = {
  name: "flapping",
  description:
    "Region A's link flaps (down 3 s, up 10 s, for two minutes unless the drill's settings say otherwise): short losses must not move the leader or lose acknowledged orders",
  fault: (settings) =>
    flapping(regionCut("primary"), { downMs: 3000, upMs: 10_000, forMs: settings.flappingForMs }),
  expects: ["firstWriteByName", "recovered"],
  leaderBefore: "primary",
  leaderAfter: "primary",
  maxLostAcknowledged: 0,
  async respond(ctx) {
    if (ctx.leadership.decision !== undefined)
      ctx.note(`The leader lease moved while the link flapped (to ${ctx.leadership.newLeader}).`);
  },
  async recover(ctx) {
    await rejoined(ctx, "dr", "primary");
  },
};

const APP_NODE = "app-0";

const appCrash: Scenario = {
  name: "app-crash",
  description:
    "App crash: the C service on one of region A's app Linodes is killed; the NodeBalancer takes the node out, writes continue",
  fault: () => processKill(app("primary", 0), "app"),
  expects: ["detection", "firstWriteByName", "recovered"],
  leaderBefore: "primary",
  leaderAfter: "primary",
  maxLostAcknowledged: 0,
  async respond(ctx) {
    const balancer = ctx.world.balancers.get("A")!;
    await ctx.until(`region A's NodeBalancer to take ${APP_NODE} out`, async () =>
      (await balancer.serverStates())[APP_NODE] === "DOWN" ? true : undefined,
    );
    ctx.mark("detection", `the NodeBalancer marked ${APP_NODE} DOWN`);
    await sleep(10_000);
  },
  async recover(ctx) {
    const balancer = ctx.world.balancers.get("A")!;
    await ctx.until(`${APP_NODE} back in region A's NodeBalancer`, async () =>
      (await balancer.serverStates())[APP_NODE] === "UP" ? true : undefined,
    );
    ctx.mark("recovered", `${APP_NODE} restarted and UP again`);
  },
};

const manualFailover: Scenario = {
  name: "manual-failover",
  description:
    "Manual failover: automaticFailover=false (only the flag's member may take the lease); region A is cut off and, after three leader TTLs without an automatic promotion, the operator flips failover=true",
  config: { automaticFailover: "false" },
  fault: () => regionCut("primary"),
  manualOnly: true,
  expects: FAILOVER_PHASES,
  leaderBefore: "primary",
  leaderAfter: "dr",
  maxLostAcknowledged: 0,
  probeFencedRegion: true,
  async respond(ctx) {
    await sleep(3 * leaderTtlMs(ctx));
    ctx.mark("decision", "the operator ran pulumi up -s dr with failover=true");
    await ctx.setFailover(true);
    markPublication(ctx);
    await newLeaderWritable(ctx, "dr");
  },
  recover: primaryRejoinsDr,
};

const lagGuard: Scenario = {
  name: "lag-guard",
  description:
    "Lag guard: the link between A and B is cut while A keeps writing until B lags beyond maximumLagOnFailover, then region A is lost: nobody is promoted automatically, the flag's command refuses, and forceFailover=true fails over, losing only what was written since the link was cut",
  fault: () => linkCut("primary", "dr"),
  manualOnly: true,
  expects: FAILOVER_PHASES,
  leaderBefore: "primary",
  leaderAfter: "dr",
  maxLostAcknowledged: "written after the fault",
  async respond(ctx) {
    const lag = await fillBeyondLagGuard(ctx);
    ctx.note(
      `Region B lagged ${lag} bytes behind when region A was lost (guard: ${ctx.config.leadership.maximumLagOnFailoverBytes}).`,
    );
    await ctx.inject(regionCut("primary"));
    await sleep(3 * leaderTtlMs(ctx));
    const refused = await ctx.runLeaderCommand({ failover: "true" });
    ctx.check(
      "the flag's command refuses a standby beyond the guard",
      refused.code === 3 && /^refused: dr lags \d+ bytes/m.test(refused.stdout),
      `linode-dr-leader dr exited ${refused.code}: ${refused.stdout.trim().split("\n").at(-1) ?? ""}`,
    );
    ctx.mark("decision", "the operator ran pulumi up -s dr with failover=true and forceFailover=true");
    await ctx.setFailover(true, { forceFailover: "true" });
    markPublication(ctx);
    await newLeaderWritable(ctx, "dr");
  },
  recover: primaryRejoinsDr,
};

export const SCENARIOS: readonly Scenario[] = [
  regionLoss,
  manualFailover,
  switchover,
  failback,
  dbCrash,
  appCrash,
  partition,
  witnessLoss,
  flappingLink,
  lagGuard,
];

export function scenarioNamed(name: string): Scenario {
  const found = SCENARIOS.find((s) => s.name === name);
  if (!found)
    throw new Error(
      `unknown scenario "${name}"; expected one of: ${SCENARIOS.map((s) => s.name).join(", ")}`,
    );
  return found;
}
