import { setTimeout as sleep } from "node:timers/promises";
import type { StackConfig } from "../config";
import { SITE_REGIONS } from "../lab/addressPlan";
import { latencyNote, writeLatency } from "./latency";
import { app, describeLinode, type Fault, type Injected, type LinodeRole } from "../lab/faults";
import type { ExecResult } from "../lab/process";
import { requestFrom } from "../lab/hosts/curl";
import type { AppliedPlan } from "../lab/world/apply";
import { drResourceNames } from "../stacks/resourceNames";
import type { Member, Region, World } from "../lab/world/world";
import { OrderClient, type OrderAttempt } from "../lab/workload/orders";
import type { ClientSample, DrillRun, Invariant, PhaseMark, PhaseName } from "./report/model";
import { PHASE_LABELS, PHASE_ORDER } from "./report/model";
import type { Progress } from "./report/progress";
import type { DrillSettings } from "./settings";
import { watchLeadership, type LeadershipTimes } from "./watch";
import {
  keptInvariant,
  tallyWrites,
  type OldLeaderWindow,
  type ProbeAck,
  type Strike,
  type Tally,
  type LossAllowance,
} from "./tally";

/** What a scenario can do and see while it runs. */
export interface DrillContext {
  world: World;
  settings: DrillSettings;
  /** Stack dr's config as the program parsed it (defaults filled in). */
  config: StackConfig;
  progress: Progress;
  /** Epoch ms when the fault was injected (set by the runner just before the fault). */
  faultAt: number;
  /** Leadership as watched since the fault. */
  leadership: LeadershipTimes;
  /** Marks a phase now (or at `at`, epoch ms) unless it is already marked. */
  mark(phase: PhaseName, detail?: string, at?: number): void;
  /** A further fault during the response; the runner heals it with the scenario's own, or the scenario earlier. */
  inject(fault: Fault): Promise<Injected>;
  /** Heals the scenario's own fault now (the further ones stay until the runner heals them). */
  healFault(): Promise<void>;
  /**
   * `pulumi config set failover <value> -s dr && pulumi up -s dr`, applied to the lab, with any
   * other stack dr config the operator changes in the same update.
   */
  setFailover(failover: boolean, config?: Record<string, string>): Promise<AppliedPlan>;
  /** Only the failover flag's command of stack dr evaluated with `config`, run over SSH. */
  runLeaderCommand(config: Record<string, string>): Promise<ExecResult>;
  /** The operator's rebuild of destroyed Linodes of one stack: `pulumi refresh && pulumi up -s <stack>`. */
  rebuild(linodes: readonly LinodeRole[]): Promise<AppliedPlan>;
  /**
   * `pulumi up -s <stack>`, after `pulumi config set` of each of `config` if given (kept for later
   * updates): it also takes in the other stack's latest outputs.
   */
  up(stack: Member, config?: Record<string, string>): Promise<AppliedPlan>;
  /** Waits for `what`, reporting it as the current phase; a stuck phase fails the drill. */
  until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs?: number): Promise<T>;
  /**
   * Declares a window (epoch ms) in which the old leader may still acknowledge writes after the new
   * one led, one that Patroni bounds but cannot close (a paused primary resuming before it is
   * demoted). Writes it acknowledges inside are counted apart; with asynchronous replication losing
   * them is allowed and reported, with synchronous replication it is not. Outside every window the
   * usual invariants hold.
   */
  allowOldLeaderWindow(from: number, to: number, why: string): void;
  /** An invariant of this scenario's own, reported with the common ones. */
  check(name: string, ok: boolean, detail: string): void;
  note(text: string): void;
}

export interface Scenario {
  name: string;
  description: string;
  /** What the runner injects at the fault and heals before `recover`; none for a planned flip (the decision is the event). */
  fault?: (settings: DrillSettings) => Fault;
  /** The phases this scenario must reach; others are reported as not applicable. */
  expects: PhaseName[];
  /** The member leading before the fault (the runner checks it) and after the drill. */
  leaderBefore: Member;
  leaderAfter: Member;
  /** Program config this scenario needs on top of the drill's (a world booted with other config is replaced). */
  config?: Record<string, string>;
  /**
   * Acknowledged orders this scenario may lose: 0 unless the replication mode promises less, or
   * "written after the fault" when the operator deliberately accepts losing those (forceFailover).
   */
  maxLostAcknowledged: LossAllowance;
  /**
   * A standby may take the leader lease and release it unpromoted (the data-loss budget refused it):
   * for a scenario whose leader stays, "the leader stayed" then means no other member took writes.
   */
  refusedPromotions?: boolean;
  /** Leadership may move only when the operator acts (automaticFailover=false, lag guard): checked as an invariant. */
  manualOnly?: boolean;
  /** A probe inside the old leader's region writes through its NodeBalancer: no write may succeed there once it lost the lead. */
  probeFencedRegion?: boolean;
  /** The probe also writes to the old leader's first app Linode directly, as a client inside that region may. */
  probeOldLeaderAppDirectly?: boolean;
  /** A routine change under load (a rotation): not one client write may fail from the fault on. */
  noFailedWrites?: boolean;
  /** The system's and the operator's response: returns when traffic should be settled. */
  respond(ctx: DrillContext): Promise<void>;
  /** After the runner healed the fault: waits for steady state (marks "recovered"). */
  recover(ctx: DrillContext): Promise<void>;
}

const WARM_UP_MS = 5000;

export class DrillFailure extends Error {}

/**
 * One run of a scenario on a booted world: client writing by name, the fault, the response, the
 * heal, then the tally and the invariants. Never throws for a broken invariant (it is reported);
 * throws only when the lab itself failed.
 */
export async function runScenario(
  world: World,
  scenario: Scenario,
  run: number,
  settings: DrillSettings,
  progress: Progress,
): Promise<DrillRun> {
  const startedAt = new Date();
  const marks = new Map<PhaseName, { at: number; detail?: string }>();
  const notes: string[] = [];
  const stuck: string[] = [];
  const ownChecks: Invariant[] = [];
  const injected: Injected[] = [];
  const windows: OldLeaderWindow[] = [];
  const strikes: Strike[] = [];
  let scenarioFault: Injected | undefined;
  const appName = `${String(world.stacks.dr.byName(drResourceNames().traffic.a).inputs.name)}.${world.dns.domain}`;
  const prefix = `${scenario.name}-${startedAt.getTime().toString(36)}`;
  const ctx: DrillContext = {
    world,
    settings,
    config: world.drConfig,
    progress,
    faultAt: 0,
    leadership: {},
    mark(phase, detail, at) {
      if (marks.has(phase)) return;
      const when = at ?? Date.now();
      marks.set(phase, { at: when, ...(detail ? { detail } : {}) });
      // Phases read from logs afterwards are printed late; say when they happened.
      const late = Date.now() - when > 1000 ? ` (at ${((when - ctx.faultAt) / 1000).toFixed(1)} s)` : "";
      progress.mark(`${PHASE_LABELS[phase]}${detail ? `: ${detail}` : ""}${late}`);
    },
    async inject(fault) {
      progress.mark(`further fault: ${fault.description}`);
      const from = Date.now();
      const done = await fault.inject(world);
      injected.push(done);
      strikes.push({ from, to: Date.now() });
      return done;
    },
    async healFault() {
      progress.mark("the scenario's fault healed");
      await scenarioFault?.heal();
    },
    setFailover(failover, config = {}) {
      const changes = Object.entries({ ...config, failover: String(failover) });
      progress.phase(`pulumi up -s dr (${changes.map(([k, v]) => `${k}=${v}`).join(", ")})`);
      return world.setFailover(failover, config, (line) => progress.mark(line));
    },
    runLeaderCommand(config) {
      return world.runLeaderCommand(config);
    },
    rebuild(linodes) {
      progress.phase(
        `pulumi refresh && pulumi up -s ${linodes[0]?.stack ?? "?"} (replacing ${linodes.map(describeLinode).join(", ")})`,
      );
      return world.rebuild(linodes, (line) => progress.mark(line));
    },
    up(stack, config = {}) {
      const set = Object.entries(config).map(([k, v]) => `pulumi config set ${k} ${v} -s ${stack} && `);
      progress.phase(`${set.join("")}pulumi up -s ${stack}`);
      return world.up(stack, (line) => progress.mark(line), config);
    },
    async until(what, probe, timeoutMs = settings.phaseTimeoutMs) {
      progress.phase(what);
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const value = await probe();
        if (value !== undefined) return value;
        if (Date.now() > deadline) {
          stuck.push(what);
          throw new DrillFailure(`stuck: ${what} (not within ${(timeoutMs / 1000).toFixed(0)} s)`);
        }
        await sleep(200);
      }
    },
    allowOldLeaderWindow(from, to, why) {
      windows.push({ from, to, why });
    },
    check(name, ok, detail) {
      ownChecks.push({ name, ok, detail });
    },
    note(text) {
      notes.push(text);
    },
  };

  const servingBefore = SITE_REGIONS[scenario.leaderBefore];
  const servingAfter = SITE_REGIONS[scenario.leaderAfter];
  await ctx.until(`${scenario.leaderBefore} leading before the fault`, async () =>
    (await world.writable(scenario.leaderBefore)) ? true : undefined,
  );

  const client = OrderClient.start(world.client, {
    name: String(appName),
    rate: settings.clientRate,
    workers: settings.clientWorkers,
    timeoutMs: settings.clientTimeoutMs,
    prefix,
  });
  let watcher: ReturnType<typeof watchLeadership> | undefined;
  let probe: FencedProbe | undefined;
  let failure: string | undefined;
  try {
    const balancerBefore = world.balancers.get(servingBefore)!.host.address;
    await ctx.until(`orders acknowledged by name through region ${servingBefore}`, () => {
      if (!client.running) throw new Error(`the order client exited: ${client.stderr()}`);
      const acked = client.attempts().filter((a) => a.status === 201 && a.address === balancerBefore);
      return acked.length >= 5 ? true : undefined;
    });
    // Some steady traffic before the fault, so the timeline shows what normal looks like.
    await sleep(WARM_UP_MS);
    if (scenario.probeFencedRegion)
      probe = startFencedProbe(
        world,
        scenario.leaderBefore,
        prefix,
        scenario.probeOldLeaderAppDirectly ?? false,
      );

    ctx.faultAt = Date.now();
    progress.resetClock();
    watcher = watchLeadership(world, scenario.leaderBefore, (times) => copyLeadership(ctx, times));
    ctx.leadership = watcher.times;
    const fault = scenario.fault?.(settings);
    ctx.mark("fault", fault?.description ?? scenario.description.split(":")[0], ctx.faultAt);
    try {
      if (fault) {
        scenarioFault = await fault.inject(world);
        injected.push(scenarioFault);
        strikes.push({ from: ctx.faultAt, to: Date.now() });
      }
      await scenario.respond(ctx);
      const balancerAfter = world.balancers.get(servingAfter)!.host.address;
      await ctx.until(
        `${settings.settleOrders} orders acknowledged by name through region ${servingAfter}`,
        () => {
          const acked = client
            .attempts()
            .filter((a) => a.status === 201 && a.address === balancerAfter && a.end > ctx.faultAt);
          return acked.length >= settings.settleOrders ? true : undefined;
        },
      );
    } catch (error) {
      if (!(error instanceof DrillFailure)) throw error;
      failure = error.message;
    }
    await watcher.stop();
    await probe?.stop();
    progress.phase("stopping the client");
    await client.stop();
    try {
      progress.phase("healing the fault");
      await healAll(injected);
      await scenario.recover(ctx);
    } catch (error) {
      if (!(error instanceof DrillFailure)) throw error;
      failure ??= error.message;
    }
  } finally {
    await watcher?.stop();
    await probe?.stop();
    if (client.running) await client.stop();
    // A lab failure above must not leave a region cut off for the next drill.
    await healAll(injected);
  }

  const attempts = client.attempts();
  const leader = scenario.leaderAfter;
  const stored = await world.orderKeys(leader);
  const leaderChange = ctx.leadership.leaderChange;
  const counted = tallyWrites({
    attempts,
    stored,
    prefix,
    faultAt: ctx.faultAt,
    ...(leaderChange === undefined
      ? {}
      : {
          leaderChange,
          oldRegionAddress: world.balancers.get(ctx.leadership.newLeader === "dr" ? "A" : "B")!.host.address,
        }),
    probeAcks: probe?.acknowledged() ?? [],
    windows,
    strikes,
  });
  const { tally } = counted;
  // Who led when: the leader before the fault until the change the watcher saw, the new one after.
  const newLeader = ctx.leadership.newLeader;
  const latency = writeLatency({
    attempts,
    leaderRegionAt: (at) =>
      leaderChange === undefined || at < leaderChange
        ? servingBefore
        : newLeader
          ? SITE_REGIONS[newLeader]
          : null,
    regionOfAddress: (address) => world.regionOfBalancer(address),
    changes: leaderChange === undefined ? [] : [leaderChange],
  });
  const remoteNote = latencyNote(latency);
  if (remoteNote) notes.push(remoteNote);
  clientPhases(world, ctx, attempts, servingBefore, servingAfter);
  const phases: PhaseMark[] = PHASE_ORDER.map((name) => {
    const mark = marks.get(name);
    return {
      name,
      atMs: mark ? mark.at - ctx.faultAt : null,
      expected: scenario.expects.includes(name) || name === "fault",
      ...(mark?.detail ? { detail: mark.detail } : {}),
    };
  });
  const first = marks.get("firstWriteByName");
  const anyFailure = attempts.some((a) => a.start >= ctx.faultAt && a.status !== 201);
  const rtoMs = first ? (anyFailure ? first.at - ctx.faultAt : 0) : null;
  if (first && !anyFailure) notes.push("No write by name failed after the fault: the recovery time is 0.");
  if (probe && tally.oldRegionAcknowledged > 0)
    notes.push(
      `Region ${servingBefore} acknowledged ${tally.oldRegionAcknowledged} probe writes after the fault, the last ${(((probe.lastAcknowledged() ?? ctx.faultAt) - ctx.faultAt) / 1000).toFixed(1)} s after it; ${tally.oldRegionLost} of them are not on ${leader}${ctx.config.leadership.synchronous || windows.length > 0 ? "" : " (asynchronous replication: writes the cut-off leader accepts before its lease runs out are lost)"}.`,
    );
  for (const w of windows)
    notes.push(
      `The old leader could acknowledge writes from ${((w.from - ctx.faultAt) / 1000).toFixed(1)} s to ${((w.to - ctx.faultAt) / 1000).toFixed(1)} s after the fault (${w.why}): it acknowledged ${tally.windowAcknowledged} after the new leader led, ${tally.windowLost} of them not on ${leader}.`,
    );
  const invariants = [
    ...checkInvariants(scenario, phases, counted, attempts, world, servingAfter, ctx, failure, stuck),
    ...ownChecks,
  ];
  return {
    scenario: scenario.name,
    run,
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
    phases,
    rtoMs,
    rpoOrders: tally.lostAcknowledged,
    writes: tally,
    writeLatency: latency,
    invariants,
    samples: attempts.map((a): ClientSample => ({
      atMs: a.end - ctx.faultAt,
      ok: a.status === 201,
      region: a.address ? world.regionOfBalancer(a.address) : null,
    })),
    notes,
  };
}

/** Heals what was injected, newest first; each fault heals once, so calling it again is harmless. */
async function healAll(injected: readonly Injected[]): Promise<void> {
  for (const fault of [...injected].reverse()) await fault.heal();
}

function copyLeadership(ctx: DrillContext, times: LeadershipTimes): void {
  if (times.detection !== undefined)
    ctx.mark("detection", "a member's Patroni no longer names the leader", times.detection);
  if (times.fenced !== undefined)
    ctx.mark("fenced", "the old leader's PostgreSQL refuses writes", times.fenced);
  if (times.decision !== undefined)
    ctx.mark("decision", `${times.newLeader ?? "the other member"} took the leader lease`, times.decision);
  if (times.leaderChange !== undefined)
    ctx.mark("leaderChange", `${times.newLeader} accepts writes`, times.leaderChange);
}

/** Phases only the client's log can tell: when it reached the new region, and wrote through it. */
function clientPhases(
  world: World,
  ctx: DrillContext,
  attempts: OrderAttempt[],
  before: Region,
  after: Region,
): void {
  const since = attempts.filter((a) => a.end >= ctx.faultAt).sort((x, y) => x.end - y.end);
  if (before !== after) {
    const target = world.balancers.get(after)!.host.address;
    const switched = since.find((a) => a.address === target);
    if (switched) ctx.mark("clientSwitched", `resolved ${switched.address}`, switched.start);
    const wrote = since.find((a) => a.address === target && a.status === 201);
    if (wrote) ctx.mark("firstWriteByName", `order ${wrote.seq} through region ${after}`, wrote.end);
    return;
  }
  const firstFailure = since.find((a) => a.status !== 201);
  const wrote = since.find((a) => a.status === 201 && (!firstFailure || a.end > firstFailure.end));
  if (wrote) ctx.mark("firstWriteByName", `order ${wrote.seq} through region ${after}`, wrote.end);
}

function checkInvariants(
  scenario: Scenario,
  phases: PhaseMark[],
  counted: Tally,
  attempts: OrderAttempt[],
  world: World,
  servingAfter: Region,
  ctx: DrillContext,
  failure: string | undefined,
  stuck: string[],
): Invariant[] {
  const missing = phases.filter((p) => p.expected && p.atMs === null).map((p) => p.name);
  const leaderAt = phases.find((p) => p.name === "leaderChange")?.atMs ?? null;
  const decisionAt = phases.find((p) => p.name === "decision")?.atMs ?? null;
  const target = world.balancers.get(servingAfter)!.host.address;
  const tail = attempts.filter((a) => a.end > ctx.faultAt).slice(-10);
  const since = attempts.filter((a) => a.start >= ctx.faultAt);
  const failedSince = since.filter((a) => a.status !== 201);
  const { tally } = counted;
  const invariants: Invariant[] = [
    keptInvariant(
      scenario.leaderAfter,
      scenario.maxLostAcknowledged,
      counted,
      ctx.config.leadership.synchronous,
    ),
    ...(scenario.probeFencedRegion && ctx.config.leadership.synchronous
      ? [
          {
            name: "writes acknowledged by the old leader kept (synchronous replication)",
            ok: tally.oldRegionLost === 0,
            detail: `${tally.oldRegionLost} of the ${tally.oldRegionAcknowledged} writes region ${SITE_REGIONS[scenario.leaderBefore]} acknowledged after the fault are missing from ${scenario.leaderAfter}'s database`,
          },
        ]
      : []),
    {
      name: "no write accepted by a fenced region",
      ok: tally.acceptedByFenced === 0 && tally.servedByNonLeader === 0,
      detail: `${tally.acceptedByFenced} probe writes inside the old region acknowledged after the new leader took over are missing from its database, and ${tally.servedByNonLeader} client writes acknowledged since are missing from the new leader's database${tally.windowAcknowledged > 0 ? ` (besides ${tally.windowAcknowledged} inside the old leader's declared window)` : ""}`,
    },
    {
      name: "traffic follows the leader",
      ok: tail.length > 0 && tail.every((a) => a.address === target && a.status === 201),
      detail: `the last ${tail.length} attempts went to region ${servingAfter}'s NodeBalancer and succeeded: ${tail.filter((a) => a.address === target && a.status === 201).length}`,
    },
    ...(scenario.leaderBefore === scenario.leaderAfter ? [leaderStayed(scenario, ctx)] : []),
    ...(scenario.noFailedWrites
      ? [
          {
            name: "no client write failed",
            ok: failedSince.length === 0,
            detail:
              failedSince.length === 0
                ? `all ${since.length} writes by name sent since the change began succeeded`
                : `${failedSince.length} of ${since.length} writes by name sent since the change began failed, the first ${((failedSince[0].start - ctx.faultAt) / 1000).toFixed(1)} s after it (status ${failedSince[0].status})`,
          },
        ]
      : []),
    ...(scenario.manualOnly
      ? [
          {
            name: "no promotion before the operator acted",
            ok: !(leaderAt !== null && (decisionAt === null || leaderAt < decisionAt)),
            detail:
              leaderAt === null
                ? "the leader did not change"
                : `leader changed ${(leaderAt / 1000).toFixed(1)} s after the fault; the operator acted at ${decisionAt === null ? "never" : `${(decisionAt / 1000).toFixed(1)} s`}`,
          },
        ]
      : []),
    {
      name: "no stuck phase",
      ok: missing.length === 0 && stuck.length === 0 && failure === undefined,
      detail:
        failure ??
        (missing.length
          ? `expected phases not reached: ${missing.join(", ")}`
          : "every expected phase reached"),
    },
  ];
  return invariants;
}

function leaderStayed(scenario: Scenario, ctx: DrillContext): Invariant {
  const { decision, leaderChange, newLeader } = ctx.leadership;
  if (scenario.refusedPromotions && leaderChange === undefined)
    return {
      name: "the leader stayed",
      ok: true,
      detail:
        decision === undefined
          ? `${scenario.leaderBefore} held the leader lease throughout`
          : `no other member accepted writes; the other member took the lease and released it unpromoted`,
    };
  return {
    name: "the leader stayed",
    ok: decision === undefined,
    detail:
      decision === undefined
        ? `${scenario.leaderBefore} held the leader lease throughout`
        : `the lease moved to ${newLeader ?? "another member"}`,
  };
}

/**
 * Writes from inside the old leader's region through its NodeBalancer, as a user in that region's
 * own network would, every 500 ms (and, when asked, straight to its first app Linode as a client
 * inside the region may, bypassing the NodeBalancer's health checks): once the other member leads,
 * any acknowledged write here would be a split brain, and with synchronous replication every write
 * it acknowledged must be on the new leader.
 */
interface FencedProbe {
  stop(): Promise<void>;
  /** Every probe write acknowledged so far. */
  acknowledged(): ProbeAck[];
  /** When the last acknowledged probe write was sent (epoch ms). */
  lastAcknowledged(): number | undefined;
}

function startFencedProbe(world: World, member: Member, prefix: string, direct: boolean): FencedProbe {
  const host = world.hostOf(app(member, 0));
  const targets: [string, string][] = [
    ["fenced", `http://${world.balancers.get(SITE_REGIONS[member])!.host.address}/orders`],
  ];
  if (direct) targets.push(["direct", `http://${host.address}:${world.drConfig.appPort}/orders`]);
  const acknowledged: ProbeAck[] = [];
  let running = true;
  const loops = targets.map(async ([kind, url]) => {
    for (let n = 1; running; n++) {
      const key = `${prefix}-${kind}-${n}`;
      const sentAt = Date.now();
      const answer = await requestFrom(host, url, {
        method: "POST",
        headers: { "idempotency-key": key },
        json: { item: key, quantity: 1 },
      }).catch(() => ({ status: 0 }));
      if (answer.status === 201) acknowledged.push({ key, sentAt, answeredAt: Date.now() });
      await sleep(Math.max(0, 500 - (Date.now() - sentAt)));
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
    },
    acknowledged() {
      return [...acknowledged];
    },
    lastAcknowledged() {
      return acknowledged.length === 0 ? undefined : Math.max(...acknowledged.map((a) => a.sentAt));
    },
  };
}
