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
    let paused = false;
    const world = scriptedWorld((member) =>
      member === "primary"
        ? { leader: "primary", writable: !paused, delayMs: paused ? 3000 : 5 }
        : { leader: paused ? "dr" : "primary", writable: paused, delayMs: 5 },
    );
    const watcher = watchLeadership(world, "primary", () => undefined, 20);
    await sleep(100);
    paused = true;
    const pausedAt = Date.now();
    await sleep(400);
    await watcher.stop();
    expect(watcher.times.leaderChange).toBeDefined();
    expect(watcher.times.leaderChange! - pausedAt).toBeLessThan(200);
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
