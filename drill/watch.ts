import { setTimeout as sleep } from "node:timers/promises";
import type { Member, World } from "../lab/world/world";

/** When the database's leadership did what, as seen by polling both members (epoch ms). */
export interface LeadershipTimes {
  /** A member's Patroni first reported no leader or a different one. */
  detection?: number;
  /** The original leader's PostgreSQL first refused writes (demoted, or its host gone). */
  fenced?: number;
  /** A member's Patroni first reported the new leader (the lease taken). */
  decision?: number;
  /** The new leader's PostgreSQL first accepted writes. */
  leaderChange?: number;
  /** The member that leads now, once it changed. */
  newLeader?: Member;
  /** Both members' PostgreSQL accepted writes in the same poll: a split brain. */
  bothWritable?: number;
}

/** One poll of one member: its Patroni's view and whether its PostgreSQL took writes, and when it was asked. */
interface Observation {
  view: string | null | undefined;
  writable: boolean;
  from: number;
  to: number;
}

/**
 * Polls each member every `periodMs` from the moment it starts, on its own: its own Patroni view and
 * whether its PostgreSQL is writable (asked inside its host, so a region cut off from the others is
 * still observed). A member that does not answer (paused, cut off: each probe waits up to 3 s) does
 * not delay what the other one shows. Patroni names members "primary" and "dr" (the program's member
 * names). `onChange` sees the times after every poll. Stop with the returned function; each time is
 * set once.
 */
export function watchLeadership(
  world: World,
  original: Member,
  onChange: (times: LeadershipTimes) => void,
  periodMs = 200,
): { times: LeadershipTimes; stop: () => Promise<void> } {
  const times: LeadershipTimes = {};
  const other: Member = original === "primary" ? "dr" : "primary";
  const seen: Partial<Record<Member, Observation>> = {};
  let running = true;
  const evaluate = (now: number) => {
    const o = seen[original];
    const t = seen[other];
    if (times.fenced === undefined && o && !o.writable) times.fenced = now;
    // Both writable only from two polls that overlapped in time: an old "writable" of a member that
    // has since stopped answering says nothing about now.
    if (times.bothWritable === undefined && o?.writable && t?.writable && o.from <= t.to && t.from <= o.to)
      times.bothWritable = now;
    if (times.detection === undefined && [o?.view, t?.view].some((v) => lostOriginal(v, original)))
      times.detection = now;
    if (times.decision === undefined && (o?.view === other || t?.view === other)) {
      times.decision = now;
      times.detection ??= now;
    }
    if (times.leaderChange === undefined && t?.writable) {
      times.leaderChange = now;
      times.newLeader = other;
      times.decision ??= now;
      times.detection ??= now;
    }
  };
  const poll = async (member: Member) => {
    while (running) {
      const from = Date.now();
      const [view, writable] = await Promise.all([
        world.patroniLeader(member).catch(() => undefined),
        world.writable(member).catch(() => false),
      ]);
      const to = Date.now();
      seen[member] = { view, writable, from, to };
      evaluate(to);
      onChange(times);
      await sleep(Math.max(0, periodMs - (to - from)));
    }
  };
  const loops = [poll(original), poll(other)];
  return {
    times,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** A member's Patroni answered and no longer names the original leader (silence says nothing). */
function lostOriginal(view: string | undefined | null, original: Member): boolean {
  return view !== undefined && view !== original;
}
