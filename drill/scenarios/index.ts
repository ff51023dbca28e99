import { setTimeout as sleep } from "node:timers/promises";
import {
  apiOutage,
  app,
  database,
  flapping,
  hostCrash,
  linkCut,
  processKill,
  regionCut,
  together,
  witness,
  type Fault,
} from "../../lab/faults";
import { SITE_REGIONS } from "../../lab/addressPlan";
import type { AppliedStep } from "../../lab/world/apply";
import { drResourceNames } from "../../stacks/resourceNames";
import type { Member } from "../../lab/world/world";
import { PHASE_ORDER, type PhaseName } from "../report/model";
import type { DrillContext, Scenario } from "../run";
import {
  fillBeyondLagGuard,
  holdWithoutLeaderChange,
  leaderTtlMs,
  newLeaderWritable,
  operatorFlips,
  rejoined,
  trafficFollows,
} from "./common";
import { certRotation } from "./certRotation";
import { frozenPrimary } from "./frozenPrimary";
import { partitionThenLoss, partitionThenLossCaughtUp } from "./partitionThenLoss";
import { secretRotation } from "./secretRotation";
import { dbRebuild, regionRebuild, witnessRebuild } from "./rebuild";

/**
 * The named drills. Each starts from the state the previous one left when run in the listed order
 * on one world (region-loss → failback → switchover → failback ...), and says which member leads
 * before and after so the runner can check it. The faults come from lab/faults, named by the
 * program's roles.
 */

/** Every phase of an automatic failover, from detection to the old leader rejoining. */
const FAILOVER_PHASES: PhaseName[] = PHASE_ORDER.filter((phase) => phase !== "fault");
/** A failover the operator decides: the follower has nothing to decide (the flag moves traffic too). */
const OPERATOR_FAILOVER_PHASES = FAILOVER_PHASES.filter((phase) => phase !== "followerDecided");

/** After an automatic promotion of region B, traffic follows with nobody acting. */
async function followNewLeader(ctx: DrillContext): Promise<void> {
  await trafficFollows(ctx, "dr");
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

/**
 * Region A lost, and then what an operator's next `pulumi up` meets: the follower moved traffic,
 * so the checkout's failover=false is stale. The update with it must refuse and change nothing;
 * adopting failover=true must change no record and no database.
 */
const regionLoss: Scenario = {
  ...failoverByQuorum(
    "region-loss",
    "Region A lost: its whole network cut off. Patroni promotes region B through the quorum; the follower moves traffic to the new leader; then pulumi up with the checkout's stale failover=false refuses and changes nothing, and adopting failover=true changes no record and no database",
    () => regionCut("primary"),
  ),
  async respond(ctx) {
    await trafficFollows(ctx, "dr");
    await staleCheckoutRefused(ctx);
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
    expects: OPERATOR_FAILOVER_PHASES.filter((phase) => phase !== "detection"),
    leaderBefore: from,
    leaderAfter: to,
    maxLostAcknowledged: 0,
    async respond(ctx) {
      ctx.mark("decision", `pulumi up -s dr with failover=${to === "dr"}`);
      await operatorFlips(ctx, to);
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
  expects: OPERATOR_FAILOVER_PHASES,
  leaderBefore: "primary",
  leaderAfter: "dr",
  maxLostAcknowledged: 0,
  probeFencedRegion: true,
  async respond(ctx) {
    await sleep(3 * leaderTtlMs(ctx));
    ctx.mark("decision", "the operator ran pulumi up -s dr with failover=true");
    // The flag's command runs on B; the same command on A (to put A's nofailover tag back) cannot
    // reach the lost region, so the update fails there, and only there, after the records moved.
    const failed = await operatorFlips(ctx, "dr", {}, { allowFailure: true });
    const other = drResourceNames().leadership.other;
    ctx.check(
      "the update failed only on the lost region's tag command",
      failed !== undefined && failed.message.startsWith(`${other} exited`),
      failed === undefined
        ? "the update went through although region A was cut off"
        : failed.message.split("\n")[0],
    );
    await newLeaderWritable(ctx, "dr");
  },
  async recover(ctx) {
    await primaryRejoinsDr(ctx);
    // The next update once region A is back completes the failed one: A carries nofailover again.
    await ctx.setFailover(true);
    const tagged = (await ctx.world.patroniCluster("dr"))?.members?.find((m) => m.name === "primary")?.tags
      ?.nofailover;
    ctx.check(
      "rerun with region A back: only the flag's member may lead",
      tagged === true,
      `region A's member carries nofailover=${String(tagged)} after the rerun`,
    );
  },
};

const lagGuard: Scenario = {
  name: "lag-guard",
  description:
    "Lag guard: the link between A and B is cut while A keeps writing until B lags beyond maximumLagOnFailover, then region A is lost: nobody is promoted automatically, the flag's command refuses, and forceFailover=true fails over, losing only what was written since the link was cut",
  fault: () => linkCut("primary", "dr"),
  manualOnly: true,
  expects: OPERATOR_FAILOVER_PHASES,
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
    await operatorFlips(ctx, "dr", { forceFailover: "true" });
    await newLeaderWritable(ctx, "dr");
  },
  recover: primaryRejoinsDr,
};

/** The A record's target as the Linode API serves it now. */
function liveTrafficTarget(ctx: DrillContext): string | undefined {
  return ctx.world.liveRecords()[ctx.world.stacks.dr.byName(drResourceNames().traffic.a).id];
}

/** After the follower moved traffic to B: a stale failover=false refuses, adopting changes nothing. */
async function staleCheckoutRefused(ctx: DrillContext): Promise<void> {
  const changes = ctx.world.api.changes().length;
  const target = liveTrafficTarget(ctx);
  const refusal = await ctx.setFailover(false).then(
    () => undefined,
    (error: Error) => error.message,
  );
  ctx.check(
    "an update with the stale flag refuses",
    refusal !== undefined && /was false at the last update/.test(refusal),
    refusal === undefined ? "pulumi up -s dr with failover=false went through" : refusal.split("\n")[0],
  );
  ctx.check(
    "the refused update changed nothing",
    ctx.world.api.changes().length === changes &&
      liveTrafficTarget(ctx) === target &&
      (await ctx.world.writable("dr")),
    `${ctx.world.api.changes().length - changes} record changes; traffic at ${liveTrafficTarget(ctx)}; dr ${(await ctx.world.writable("dr")) ? "still leads" : "no longer leads"}`,
  );
  const adopted = await ctx.setFailover(true);
  const leader = adopted.steps.find((step) => step.name === drResourceNames().leadership.leader);
  ctx.check(
    "adopting (failover=true) changes no record and no database",
    ctx.world.api.changes().length === changes &&
      /^nothing to do: dr is the leader/m.test(leader?.output ?? ""),
    `${ctx.world.api.changes().length - changes} record changes; the flag's command said: ${(leader?.output ?? "(did not run)").trim().split("\n").at(-1)}`,
  );
}

const followerLoss: Scenario = {
  name: "follower-loss",
  description:
    "Follower lost: the follower's process on the witness is killed, then region A is lost: the database still fails over, traffic stays until the follower is back, then moves once",
  fault: () => processKill(witness, "follower"),
  expects: FAILOVER_PHASES,
  leaderBefore: "primary",
  leaderAfter: "dr",
  maxLostAcknowledged: 0,
  async respond(ctx) {
    await ctx.inject(regionCut("primary"));
    await newLeaderWritable(ctx, "dr");
    const target = liveTrafficTarget(ctx);
    await sleep(3 * leaderTtlMs(ctx));
    ctx.check(
      "traffic stays while the follower is down",
      liveTrafficTarget(ctx) === target &&
        ctx.world.api.changes().every((c) => c.acceptedAt.getTime() < ctx.faultAt),
      `traffic at ${liveTrafficTarget(ctx)} ${(3 * leaderTtlMs(ctx)) / 1000} s after B led, ${ctx.world.api.changes().filter((c) => c.acceptedAt.getTime() >= ctx.faultAt).length} record changes`,
    );
    await ctx.healFault();
    await trafficFollows(ctx, "dr");
    const moves = ctx.world.api
      .changes()
      .filter((c) => c.type === "A" && c.acceptedAt.getTime() >= ctx.faultAt);
    ctx.check(
      "the follower moved traffic once when back",
      moves.length === 1,
      `${moves.length} changes of the A record`,
    );
  },
  recover: primaryRejoinsDr,
};

/** Hosts in region B that an applied plan's remote commands ran on, from the steps' effects. */
function commandsInRegionB(ctx: DrillContext, steps: AppliedStep[]): string[] {
  return steps
    .filter((step) => step.effect.startsWith("ran over SSH on "))
    .filter((step) => {
      const address = /\(([0-9.]+)\)/.exec(step.effect)?.[1];
      return address !== undefined && ctx.world.hostAt(address)?.region === SITE_REGIONS.dr;
    })
    .map((step) => step.name);
}

const regionBLoss: Scenario = {
  name: "region-b-loss",
  description:
    "Region B lost while it leads (after a failover): Patroni promotes region A through the quorum, the follower moves traffic back to A, and adopting with failover=false works without reaching region B",
  fault: () => regionCut("dr"),
  expects: FAILOVER_PHASES,
  leaderBefore: "dr",
  leaderAfter: "primary",
  maxLostAcknowledged: 0,
  probeFencedRegion: true,
  async respond(ctx) {
    await trafficFollows(ctx, "primary");
    const changes = ctx.world.api.changes().length;
    const adopted = await ctx.setFailover(false).then(
      (plan) => plan,
      (error: Error) => error,
    );
    if (adopted instanceof Error) {
      ctx.check("adopting (failover=false) works without region B", false, adopted.message.split("\n")[0]);
      return;
    }
    const leader = adopted.steps.find((step) => step.name === drResourceNames().leadership.leader);
    const inB = commandsInRegionB(ctx, adopted.steps);
    ctx.check(
      "adopting (failover=false) works without region B",
      /^nothing to do: primary is the leader/m.test(leader?.output ?? "") &&
        inB.length === 0 &&
        ctx.world.api.changes().length === changes,
      `the flag's command ${leader ? `ran on ${/on (\S+)/.exec(leader.effect)?.[1] ?? "?"} and said: ${(leader.output ?? "").trim().split("\n").at(-1)}` : "did not run"}; commands on region B hosts: ${inB.join(", ") || "none"}; ${ctx.world.api.changes().length - changes} record changes`,
    );
  },
  async recover(ctx) {
    await rejoined(ctx, "dr", "primary");
  },
};

const API_OUTAGE_MS = 30_000;

const apiOutageDrill: Scenario = {
  name: "api-outage",
  description:
    "API outage: the Linode API answers 503 for 30 s when region A is lost: the follower retries with backoff and moves traffic once the API answers again",
  fault: () => together(apiOutage({ status: 503, forMs: API_OUTAGE_MS }), regionCut("primary")),
  expects: FAILOVER_PHASES,
  leaderBefore: "primary",
  leaderAfter: "dr",
  maxLostAcknowledged: 0,
  async respond(ctx) {
    await trafficFollows(ctx, "dr");
    const refused = ctx.world.api.requests().filter((r) => r.status === 503 && r.at.getTime() >= ctx.faultAt);
    const moves = ctx.world.api
      .changes()
      .filter((c) => c.type === "A" && c.acceptedAt.getTime() >= ctx.faultAt);
    ctx.check(
      "the follower rode out the outage and moved once",
      refused.length > 0 &&
        moves.length === 1 &&
        moves[0].acceptedAt.getTime() >= ctx.faultAt + API_OUTAGE_MS,
      `${refused.length} requests answered 503; ${moves.length} changes of the A record, the first ${moves.length ? ((moves[0].acceptedAt.getTime() - ctx.faultAt) / 1000).toFixed(1) : "-"} s after the fault`,
    );
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
  partitionThenLoss,
  partitionThenLossCaughtUp,
  followerLoss,
  apiOutageDrill,
  regionBLoss,
  frozenPrimary,
  regionRebuild,
  dbRebuild,
  witnessRebuild,
  certRotation,
  secretRotation,
];

export function scenarioNamed(name: string): Scenario {
  const found = SCENARIOS.find((s) => s.name === name);
  if (!found)
    throw new Error(
      `unknown scenario "${name}"; expected one of: ${SCENARIOS.map((s) => s.name).join(", ")}`,
    );
  return found;
}
