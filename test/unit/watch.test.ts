import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { watchLeadership } from "../../drill/watch";
import type { Member, World } from "../../lab/world/world";

/**
 * The drill's view of leadership, on a scripted world: what each member's Patroni and PostgreSQL
 * answer, and how long they take (a paused member answers nothing for its probes' whole timeout).
 */
function scriptedWorld(
  answer: (member: Member) => { leader: string | null; writable: boolean; delayMs: number },
) {
  return {
    async patroniLeader(member: Member) {
      const a = answer(member);
      await sleep(a.delayMs);
      return a.leader;
    },
    async writable(member: Member) {
      const a = answer(member);
      await sleep(a.delayMs);
      return a.writable;
    },
  } as unknown as World;
}

describe("drill/watch watchLeadership", () => {
  it("sees the other member lead at once although the original member hangs its probes", async () => {
    const started = Date.now();
    // As in a real pause: region A stops answering, and B is promoted a while later (here 200 ms,
    // long after A's last answered poll, which the scripted world answers as it starts).
    let pausedAt = Infinity;
    const promoted = () => Date.now() >= pausedAt + 200;
    const world = scriptedWorld((member) =>
      member === "primary"
        ? { leader: "primary", writable: pausedAt === Infinity, delayMs: pausedAt === Infinity ? 5 : 3000 }
        : { leader: promoted() ? "dr" : "primary", writable: promoted(), delayMs: 5 },
    );
    const watcher = watchLeadership(world, "primary", () => undefined, 20);
    await sleep(100);
    pausedAt = Date.now();
    await sleep(600);
    await watcher.stop();
    expect(watcher.times.leaderChange).toBeDefined();
    // Seen within a few polls of B leading, not after A's 3 s probes.
    expect(watcher.times.leaderChange! - (pausedAt + 200)).toBeLessThan(200);
    expect(watcher.times.newLeader).toBe("dr");
    // The original's last "writable" came from a poll that ended before the other led: no split brain.
    expect(watcher.times.bothWritable).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it("records both members writable when two overlapping polls say so", async () => {
    const world = scriptedWorld(() => ({ leader: null, writable: true, delayMs: 5 }));
    const watcher = watchLeadership(world, "primary", () => undefined, 20);
    await sleep(100);
    await watcher.stop();
    expect(watcher.times.bothWritable).toBeDefined();
  });
});
