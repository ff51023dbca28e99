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

/**
 * Polls both members every `periodMs` from the moment it starts: each member's own Patroni view
 * and whether its PostgreSQL is writable (asked inside its host, so a region cut off from the
 * others is still observed). Patroni names members "primary" and "dr" (the program's
 * member names). `onChange` sees the times after every poll.
 * Stop with the returned function; each time is set once.
 */
export function watchLeadership(
  world: World,
  original: Member,
  onChange: (times: LeadershipTimes) => void,
  periodMs = 200,
): { times: LeadershipTimes; stop: () => Promise<void> } {
  const times: LeadershipTimes = {};
  const other: Member = original === "primary" ? "dr" : "primary";
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = Date.now();
      const [viewOriginal, viewOther, otherWritable, originalWritable] = await Promise.all([
        world.patroniLeader(original).catch(() => undefined),
        world.patroniLeader(other).catch(() => undefined),
        world.writable(other).catch(() => false),
        world.writable(original).catch(() => false),
      ]);
      const now = Date.now();
      if (times.fenced === undefined && !originalWritable) times.fenced = now;
      if (times.bothWritable === undefined && originalWritable && otherWritable) times.bothWritable = now;
      if (times.detection === undefined && [viewOriginal, viewOther].some((v) => lostOriginal(v, original)))
        times.detection = now;
      if (times.decision === undefined && (viewOriginal === other || viewOther === other)) {
        times.decision = now;
        times.detection ??= now;
      }
      if (times.leaderChange === undefined && otherWritable) {
        times.leaderChange = now;
        times.newLeader = other;
        times.decision ??= now;
        times.detection ??= now;
      }
      onChange(times);
      await sleep(Math.max(0, periodMs - (Date.now() - started)));
    }
  })();
  return {
    times,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/** A member's Patroni answered and no longer names the original leader (silence says nothing). */
function lostOriginal(view: string | undefined | null, original: Member): boolean {
  return view !== undefined && view !== original;
}
