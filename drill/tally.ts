import type { OrderAttempt } from "../lab/workload/orders";
import type { Invariant, WriteTally } from "./report/model";

/**
 * What happened to every write of a drill, from the client's log, the probe's and what the new
 * leader's database holds afterwards; and the invariant that no acknowledged order was lost beyond
 * what the scenario and the replication mode allow. Pure: the runner gathers the inputs.
 */

/** A span (epoch ms) in which the old leader may still acknowledge writes after the new one led. */
export interface OldLeaderWindow {
  from: number;
  to: number;
  why: string;
}

/** When a fault was being put in place (epoch ms, from the call to its return). */
export interface Strike {
  from: number;
  to: number;
}

/** A write the probe inside the old leader's region got acknowledged. */
export interface ProbeAck {
  /** The write's Idempotency-Key (its order's item). */
  key: string;
  sentAt: number;
  answeredAt: number;
}

/**
 * With asynchronous replication a commit is acknowledged before its WAL leaves the leader, so an
 * order acknowledged just before a cut takes effect may never reach the standby: that is the loss
 * asynchronous replication accepts. The WAL sender ships each commit at once; on this lab (no WAN)
 * it arrives within milliseconds, and a second covers a busy 2-vCPU machine. A lost order that was
 * acknowledged earlier than this before a fault is a real loss.
 */
export const ASYNC_IN_FLIGHT_MS = 1000;

export interface TallyInput {
  attempts: readonly OrderAttempt[];
  /** Idempotency keys (`<prefix>-<seq>` for the client's orders) on the new leader afterwards. */
  stored: ReadonlySet<string>;
  prefix: string;
  faultAt: number;
  /** When the new leader took over, if it did. */
  leaderChange?: number;
  /** The old leader's region's NodeBalancer address, once the leader changed. */
  oldRegionAddress?: string;
  /** Probe writes inside the old leader's region, all of them (none without a probe). */
  probeAcks: readonly ProbeAck[];
  windows: readonly OldLeaderWindow[];
  strikes: readonly Strike[];
}

export interface Tally {
  tally: WriteTally;
  /** Lost orders acknowledged before the fault and not as it struck: never allowed. */
  lostBeforeFaultNotInFlight: number;
}

export function tallyWrites(input: TallyInput): Tally {
  const { attempts, stored, prefix, faultAt, leaderChange, oldRegionAddress, windows, strikes } = input;
  const inWindow = (at: number) => windows.some((w) => at >= w.from && at <= w.to);
  // A fault takes effect within its first second; one whose injection lasts longer (a link that
  // flaps for minutes) must not excuse what is lost while it lasts.
  const asFaultStruck = (at: number) =>
    strikes.some(
      (s) => at >= s.from - ASYNC_IN_FLIGHT_MS && at <= Math.min(s.to, s.from + ASYNC_IN_FLIGHT_MS),
    );
  const isStored = (a: OrderAttempt) => stored.has(`${prefix}-${a.seq}`);
  const seqs = new Set(attempts.map((a) => a.seq));
  const acknowledged = attempts.filter((a) => a.status === 201);
  // An order retried under its Idempotency-Key may be acknowledged twice: count it once, when it
  // was first acknowledged.
  const firstAck = new Map<number, OrderAttempt>();
  for (const a of [...acknowledged].sort((x, y) => x.end - y.end))
    if (!firstAck.has(a.seq)) firstAck.set(a.seq, a);
  const lost = [...firstAck.values()].filter((a) => !isStored(a));
  const afterChange = acknowledged.filter((a) => leaderChange !== undefined && a.start > leaderChange);
  // Apps write to the leader wherever it is, so the old region's NodeBalancer may serve writes
  // after the change (through the new leader): which member took a write is read from the new
  // leader's database, not from the address the client used. One sent after the change that the
  // new leader does not hold was acknowledged by a member that no longer led.
  const clientInWindow = afterChange.filter((a) => a.address === oldRegionAddress && inWindow(a.end));
  const byNonLeader = afterChange.filter((a) => !isStored(a) && !clientInWindow.includes(a));
  const clientWindowLost = clientInWindow.filter((a) => !isStored(a)).length;
  const inFlight = lost.filter((a) => !clientInWindow.includes(a) && asFaultStruck(a.end));
  const earlier = lost.filter((a) => a.end < faultAt && !inFlight.includes(a));
  const probeSince = (at: number) => input.probeAcks.filter((a) => a.sentAt > at);
  const oldRegionKeys = probeSince(faultAt);
  const probeAfterLeader = probeSince(leaderChange ?? Infinity);
  const probeInWindow = probeAfterLeader.filter((a) => inWindow(a.answeredAt));
  return {
    tally: {
      attempted: seqs.size,
      acknowledged: firstAck.size,
      failed: attempts.filter((a) => a.status !== 201).length,
      unknownOutcome: [...seqs].filter((s) => !firstAck.has(s)).length,
      lostAcknowledged: lost.length,
      lostAcknowledgedAfterFault: lost.filter((a) => a.end >= faultAt).length,
      lostAcknowledgedInWindow: clientWindowLost,
      lostAcknowledgedInFlight: inFlight.length,
      // The probe writes through the old region's apps, which reach the new leader when they can
      // (its database failed, the region did not): only what the new leader lacks was accepted by
      // the fenced member.
      acceptedByFenced: probeAfterLeader.filter((a) => !probeInWindow.includes(a) && !stored.has(a.key))
        .length,
      servedByNonLeader: byNonLeader.length,
      oldRegionAcknowledged: oldRegionKeys.length,
      oldRegionLost: oldRegionKeys.filter((a) => !stored.has(a.key)).length,
      windowAcknowledged: clientInWindow.length + probeInWindow.length,
      windowLost: clientWindowLost + probeInWindow.filter((a) => !stored.has(a.key)).length,
    },
    lostBeforeFaultNotInFlight: earlier.length,
  };
}

/** How much a scenario may lose: a count of acknowledged orders, or those written after its fault. */
export type LossAllowance = number | "written after the fault";

/** "acknowledged orders kept": no acknowledged order lost beyond the scenario's allowance. */
export function keptInvariant(
  leaderAfter: string,
  allowance: LossAllowance,
  { tally, lostBeforeFaultNotInFlight }: Tally,
  synchronous: boolean,
): Invariant {
  const name = "acknowledged orders kept";
  // Under asynchronous replication only, and reported: what the old leader acknowledged inside its
  // declared window, and what it acknowledged as a fault struck (its WAL was still in flight).
  const window = synchronous ? 0 : tally.lostAcknowledgedInWindow;
  const inFlight = synchronous ? 0 : tally.lostAcknowledgedInFlight;
  const excuses = [
    ...(window > 0 ? [`${window} acknowledged by the old leader inside its window`] : []),
    ...(inFlight > 0
      ? [`${inFlight} acknowledged within ${ASYNC_IN_FLIGHT_MS / 1000} s before a fault took effect`]
      : []),
  ];
  const missing = `${tally.lostAcknowledged} of ${tally.acknowledged} acknowledged orders missing from ${leaderAfter}'s database${excuses.length > 0 ? `, ${excuses.join(" and ")} (asynchronous replication; allowed)` : ""}`;
  if (allowance === "written after the fault") {
    const before = synchronous
      ? tally.lostAcknowledged - tally.lostAcknowledgedAfterFault
      : lostBeforeFaultNotInFlight;
    return {
      name,
      ok: before === 0,
      detail: `${missing}, ${before} of them acknowledged before the fault${synchronous ? "" : " and not as it struck"} (allowed: those written after it)`,
    };
  }
  return {
    name,
    ok: tally.lostAcknowledged - window - inFlight <= allowance,
    detail: `${missing} (allowed: ${allowance})`,
  };
}
