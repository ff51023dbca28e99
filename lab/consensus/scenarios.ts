import type { MemberName } from "../../provisioning/consensus";
import { sleep, waitFor } from "../process";
import { Ack, CLUSTER_ADDRESSES, Cluster, Writer } from "./cluster";

/**
 * The consensus proof's scenarios on a booted Cluster, each returning what was measured. They
 * start from "primary leads, dr streams" and leave the cluster in that state again where they can
 * (restoreToPrimary), so one booted cluster serves them in sequence.
 */

const APP_RATE = 100;
const CLIENT_RATE = 200;

/** Polls `probe` every `intervalMs` until it is true; returns the time it first was, or undefined. */
async function firstTrue(
  probe: () => Promise<boolean>,
  timeoutMs: number,
  intervalMs = 100,
): Promise<number | undefined> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await probe()) return Date.now();
    await sleep(intervalMs);
  }
  return undefined;
}

/** The longest stretch without an acknowledged write between `from` and `to` (ms). */
export function longestGap(acks: readonly Ack[], from: number, to: number): number {
  const times = acks
    .map((a) => a.atMs)
    .filter((t) => t >= from && t <= to)
    .sort((a, b) => a - b);
  let gap = 0;
  let previous = from;
  for (const t of [...times, to]) {
    gap = Math.max(gap, t - previous);
    previous = t;
  }
  return gap;
}

async function lostOn(cluster: Cluster, member: MemberName, acks: readonly Ack[]): Promise<Ack[]> {
  const present = await cluster.presentSeqs(member);
  return acks.filter((a) => !present.has(a.seq));
}

/** Counts leader changes seen by sampling Patroni's view until stopped. */
class LeaderWatch {
  private stopped = false;
  private last: string | undefined;
  readonly leaders: { name: string; atMs: number }[] = [];
  private loop: Promise<void>;

  constructor(
    private readonly cluster: Cluster,
    initial: string,
  ) {
    this.last = initial;
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        const leader = await this.cluster.leader();
        if (leader && leader.name !== this.last) {
          this.leaders.push({ name: leader.name, atMs: Date.now() });
          this.last = leader.name;
        }
      } catch {
        // A view that does not answer is not a change.
      }
      await sleep(500);
    }
  }

  async stop(): Promise<number> {
    this.stopped = true;
    await this.loop;
    return this.leaders.length;
  }
}

async function stopAll(writers: Writer[]): Promise<Ack[]> {
  await Promise.all(writers.map((w) => w.stop()));
  return writers.flatMap((w) => w.acks());
}

export interface FailoverReport {
  fault: string;
  /** From the fault to dr accepting writes (pg_is_in_recovery() false on dr). */
  faultToDrWritableMs: number;
  /** The last write the primary acknowledged after the fault, relative to it (ms); null when none. */
  lastPrimaryAckAfterFaultMs: number | null;
  /** From the fault to the primary's PostgreSQL refusing writes (it demoted itself); null if not observed. */
  primaryFencedAfterMs: number | null;
  acked: number;
  /** Acknowledged writes (either writer, either host) missing on dr afterwards. */
  ackedLost: number;
  /** Of those, acknowledged before the fault. */
  ackedLostBeforeFault: number;
  leaderAfter: string | undefined;
}

/**
 * Region A is cut off completely (or its database host crashes) under two writers: the app in
 * region A writing to the primary, and a client in region C following the leader.
 */
export async function failoverScenario(
  cluster: Cluster,
  fault: "region-cut" | "host-crash",
  options: { steadyMs?: number; afterMs?: number } = {},
): Promise<FailoverReport> {
  const app = await cluster.startWriter("app", ["primary"], { rate: APP_RATE });
  const client = await cluster.startWriter("client", ["primary", "dr"], { rate: CLIENT_RATE });
  await sleep(options.steadyMs ?? 3000);
  const faultAt = Date.now();
  if (fault === "region-cut") await cluster.lab.cutRegion("A");
  else await cluster.host("primary").crash();
  cluster.log(`${fault}: fault injected`);
  const fencedProbe =
    fault === "region-cut"
      ? firstTrue(async () => !(await cluster.writable("primary")), 60_000, 100)
      : Promise.resolve(faultAt);
  const drWritableAt = await firstTrue(() => cluster.writable("dr"), 90_000, 100);
  const fencedAt = await fencedProbe;
  if (drWritableAt === undefined) {
    await stopAll([app, client]);
    throw new Error(`${fault}: dr did not accept writes within 90 s`);
  }
  await sleep(options.afterMs ?? 5000);
  const acks = await stopAll([app, client]);
  const lost = await lostOn(cluster, "dr", acks);
  const primaryAcksAfter = acks.filter((a) => a.host === CLUSTER_ADDRESSES.primary && a.atMs >= faultAt);
  const lastPrimaryAck = primaryAcksAfter.reduce((max, a) => Math.max(max, a.atMs), -Infinity);
  return {
    fault,
    faultToDrWritableMs: drWritableAt - faultAt,
    lastPrimaryAckAfterFaultMs: primaryAcksAfter.length ? lastPrimaryAck - faultAt : null,
    primaryFencedAfterMs: fencedAt === undefined ? null : fencedAt - faultAt,
    acked: acks.length,
    ackedLost: lost.length,
    ackedLostBeforeFault: lost.filter((a) => a.atMs < faultAt).length,
    leaderAfter: (await cluster.leader("dr"))?.name,
  };
}

export interface SwitchoverReport {
  to: "primary" | "dr";
  commandMs: number;
  commandExit: number;
  commandOutput: string;
  /** The longest stretch without an acknowledged write while the command ran (ms). */
  writeUnavailableMs: number;
  acked: number;
  ackedLost: number;
}

/** The flag's command moves leadership to `to` under a client writer following the leader. */
export async function switchoverScenario(cluster: Cluster, to: "primary" | "dr"): Promise<SwitchoverReport> {
  const client = await cluster.startWriter("client", ["primary", "dr"], { rate: CLIENT_RATE });
  await sleep(2000);
  const started = Date.now();
  const result = await cluster.leaderCommand(to);
  const ended = Date.now();
  // Give the writer time to find the new leader, so the window is measured to its first write there.
  await sleep(3000);
  const acks = await stopAll([client]);
  const lost = await lostOn(cluster, to, acks);
  return {
    to,
    commandMs: ended - started,
    commandExit: result.code,
    commandOutput: result.stdout.trim(),
    writeUnavailableMs: longestGap(acks, started, ended + 3000),
    acked: acks.length,
    ackedLost: lost.length,
  };
}

export interface RejoinReport {
  /** From restoring region A (or restarting its host) to the old primary streaming as a replica. */
  rejoinMs: number;
  rewound: boolean;
  switchBack: SwitchoverReport;
}

/**
 * After a failover: region A comes back (or its host restarts), the old primary rejoins as a
 * replica by itself (pg_rewind), and the flag's command switches leadership back.
 */
export async function rejoinAndSwitchBack(
  cluster: Cluster,
  how: "restore-region" | "restart-host",
): Promise<RejoinReport> {
  const started = Date.now();
  if (how === "restore-region") await cluster.lab.restoreRegion("A");
  else await cluster.restart("primary");
  await cluster.waitForStreaming("primary", 240_000);
  const rejoinMs = Date.now() - started;
  const log = await cluster.host("primary").readFile("/var/log/linode-dr-patroni.log");
  const switchBack = await switchoverScenario(cluster, "primary");
  await cluster.waitForStreaming("dr");
  return { rejoinMs, rewound: /pg_rewind|rewind/i.test(log), switchBack };
}

export interface StabilityReport {
  fault: string;
  durationMs: number;
  leadershipChanges: number;
  timelineBefore: number;
  timelineAfter: number;
  acked: number;
  /** Acknowledged writes missing on the leader afterwards. */
  ackedLost: number;
  /** The longest stretch without an acknowledged write (ms). */
  longestGapMs: number;
}

async function stability(
  cluster: Cluster,
  fault: string,
  inject: () => Promise<void>,
  hold: () => Promise<void>,
  heal: () => Promise<void>,
): Promise<StabilityReport> {
  const before = await cluster.timeline();
  const client = await cluster.startWriter("client", ["primary", "dr"], { rate: CLIENT_RATE });
  const app = await cluster.startWriter("app", ["primary"], { rate: APP_RATE });
  const watch = new LeaderWatch(cluster, "primary");
  const started = Date.now();
  await inject();
  await hold();
  await heal();
  const ended = Date.now();
  await sleep(2000);
  const changes = await watch.stop();
  const acks = await stopAll([client, app]);
  const clientAcks = client.acks();
  const after = await cluster.timeline();
  const leader = (await cluster.leader())?.name as MemberName;
  const lost = await lostOn(cluster, leader, acks);
  return {
    fault,
    durationMs: ended - started,
    leadershipChanges: Math.max(changes, after - before),
    timelineBefore: before,
    timelineAfter: after,
    acked: acks.length,
    ackedLost: lost.length,
    longestGapMs: longestGap(clientAcks, started, ended),
  };
}

/** The A↔B link is cut while both still reach the witness: no failover, nothing lost. */
export function partitionScenario(cluster: Cluster, holdMs = 30_000): Promise<StabilityReport> {
  return stability(
    cluster,
    "A<->B link cut",
    () => cluster.lab.cutLink("A", "B"),
    () => sleep(holdMs),
    async () => {
      await cluster.lab.restoreLink("A", "B");
      await cluster.waitForStreaming("dr");
    },
  );
}

/** The witness goes down (power loss) and comes back: no leadership change, writes continue. */
export function witnessDownScenario(cluster: Cluster, holdMs = 30_000): Promise<StabilityReport> {
  return stability(
    cluster,
    "witness down",
    () => cluster.host("witness").crash(),
    () => sleep(holdMs),
    async () => {
      await cluster.restart("witness");
    },
  );
}

/** Region A's uplink flaps: down `downMs`, up `upMs`, for `durationMs`. */
export function flappingScenario(
  cluster: Cluster,
  options: { durationMs?: number; downMs?: number; upMs?: number } = {},
): Promise<StabilityReport> {
  const durationMs = options.durationMs ?? 300_000;
  const downMs = options.downMs ?? 3000;
  const upMs = options.upMs ?? 10_000;
  return stability(
    cluster,
    `A uplink flapping ${downMs / 1000} s down / ${upMs / 1000} s up for ${durationMs / 1000} s`,
    async () => undefined,
    async () => {
      const end = Date.now() + durationMs;
      while (Date.now() < end) {
        await cluster.lab.cutRegion("A");
        await sleep(downMs);
        await cluster.lab.restoreRegion("A");
        await sleep(upMs);
      }
    },
    () => cluster.waitForStreaming("dr"),
  );
}

export interface LagGuardReport {
  drLagBytes: number;
  guardBytes: number;
  /** dr was still a replica this long after region A was cut (ms). */
  heldForMs: number;
  drPromotedAutomatically: boolean;
  refusal: { exit: number; output: string };
  forced: { exit: number; output: string };
}

/**
 * dr falls behind by more than maximum_lag_on_failover (the A↔B link is cut while A keeps writing),
 * then region A is lost: Patroni must not promote dr, the flag's command must refuse without force,
 * and --force must fail over.
 */
export async function lagGuardScenario(cluster: Cluster, holdMs = 30_000): Promise<LagGuardReport> {
  const guard = cluster.userData.patroni.maximumLagOnFailover;
  await cluster.lab.cutLink("A", "B");
  const app = cluster.userData.app.database;
  const rows = Math.ceil((guard * 2.5) / 1000);
  await cluster.psql(
    "primary",
    `CREATE TABLE IF NOT EXISTS lag_filler (id int, pad text); INSERT INTO lag_filler SELECT g, repeat('x', 1000) FROM generate_series(1, ${rows}) g`,
    app,
  );
  // Patroni publishes the leader's position each loop; wait until dr's lag shows it.
  const lag = await waitFor(
    "dr's lag to exceed the guard in Patroni's view",
    async () => {
      const view = await cluster.view("primary");
      const dr = view?.members.find((m) => m.name === "dr");
      return typeof dr?.lag === "number" && dr.lag > guard ? dr.lag : undefined;
    },
    60_000,
    500,
  );
  const cutAt = Date.now();
  await cluster.lab.cutRegion("A");
  const promotedAt = await firstTrue(() => cluster.writable("dr"), holdMs, 250);
  const heldForMs = (promotedAt ?? Date.now()) - cutAt;
  const refusal = await cluster.leaderCommand("dr");
  const forced = await cluster.leaderCommand("dr", { force: true });
  return {
    drLagBytes: lag,
    guardBytes: guard,
    heldForMs,
    drPromotedAutomatically: promotedAt !== undefined,
    refusal: { exit: refusal.code, output: refusal.stdout.trim() },
    forced: { exit: forced.code, output: forced.stdout.trim() },
  };
}

/** Heals every fault the scenarios inject and makes primary the leader again (dr streaming). */
export async function restoreToPrimary(cluster: Cluster): Promise<void> {
  await cluster.lab.restoreLink("A", "B").catch(() => undefined);
  await cluster.lab.restoreRegion("A");
  for (const member of ["primary", "witness"] as const) {
    if (!cluster.host(member).isUp) await cluster.restart(member);
  }
  const leader = await cluster.leader();
  if (leader?.name !== "primary") {
    await cluster.waitForStreaming("primary", 240_000);
    const result = await cluster.leaderCommand("primary");
    if (result.code !== 0)
      throw new Error(`switching back to primary failed:\n${result.stdout}${result.stderr}`);
  }
  await cluster.waitForLeader("primary");
  await cluster.waitForStreaming("dr");
}

export function formatReport(report: object): string {
  return JSON.stringify(report, null, 2);
}
