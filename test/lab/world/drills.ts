import { expect, it } from "vitest";
import type { World } from "../../../lab/world/world";
import { broken, drill, phase } from "./harness";

/**
 * The drills on the world booted at the program's defaults, fast settings named in each title.
 * They run in an order where each starts from what the previous left (the first from the failover
 * by quorum before it); the harness resets leadership when one does not (a failback or switchover,
 * itself a drill).
 */
export function drillSpecs(world: () => World): void {
  it("failback (fast: publish delay 1 s): after the failover by quorum, the flag switches back to A without losing an acknowledged order", async () => {
    const run = await drill(world(), "failback");
    expect(broken(run)).toEqual([]);
    expect(run.rpoOrders).toBe(0);
    expect(phase(run, "leaderChange")!).toBeGreaterThanOrEqual(phase(run, "decision")!);
  });

  it("partition A↔B (fast: publish delay 1 s): nobody takes over, no acknowledged order is lost, traffic stays on A", async () => {
    const run = await drill(world(), "partition");
    expect(broken(run)).toEqual([]);
    expect(run.invariants.map((i) => i.name)).toContain("the leader stayed");
    expect(run.rpoOrders).toBe(0);
    expect(run.writes.acknowledged).toBeGreaterThan(20);
    expect(phase(run, "leaderChange")).toBeNull();
    expect(phase(run, "recovered")).not.toBeNull();
    expect(run.samples.filter((s) => s.ok).every((s) => s.region === "A")).toBe(true);
  });

  it("witness-loss (fast: publish delay 1 s): two of three etcd members keep the leader, writes continue", async () => {
    const run = await drill(world(), "witness-loss");
    expect(broken(run)).toEqual([]);
    expect(run.invariants.map((i) => i.name)).toContain("the leader stayed");
    // Writes by name never stopped: the witness is not on the write path.
    expect(run.rtoMs).toBe(0);
  });

  it("app-crash (fast: publish delay 1 s): the NodeBalancer takes the dead node out, writes continue, the restarted service rejoins", async () => {
    const run = await drill(world(), "app-crash");
    expect(broken(run)).toEqual([]);
    expect(run.invariants.map((i) => i.name)).toContain("the leader stayed");
    expect(phase(run, "detection")).not.toBeNull();
  });

  it("flapping (fast: publish delay 1 s, flapping for 40 s): 3 s losses of region A never move the leader or lose an acknowledged order", async () => {
    const run = await drill(world(), "flapping");
    expect(broken(run)).toEqual([]);
    expect(run.invariants.map((i) => i.name)).toContain("the leader stayed");
    expect(run.rpoOrders).toBe(0);
  });

  it("switchover, then failback (fast: publish delay 1 s): the flag moves the leader both ways without losing an acknowledged order", async () => {
    for (const name of ["switchover", "failback"]) {
      const run = await drill(world(), name);
      expect(broken(run), name).toEqual([]);
      expect(run.rpoOrders, name).toBe(0);
      // Patroni switched over after the operator's decision, and the old leader became a standby.
      expect(phase(run, "leaderChange")!, name).toBeGreaterThanOrEqual(phase(run, "decision")!);
      expect(phase(run, "fenced"), name).not.toBeNull();
    }
  });

  it("region-loss (fast: publish delay 1 s): A fences itself, the quorum promotes B, the flag moves traffic, the client writes by name in B, nothing acknowledged is lost", async () => {
    const run = await drill(world(), "region-loss");
    expect(broken(run)).toEqual([]);
    expect(run.rpoOrders).toBe(0);
    expect(run.writes.acceptedByFenced).toBe(0);
    expect(run.writes.servedByNonLeader).toBe(0);
    const order = [
      "detection",
      "leaderChange",
      "trafficPublished",
      "clientSwitched",
      "firstWriteByName",
    ] as const;
    const times = order.map((name) => phase(run, name));
    expect(times.every((t) => t !== null)).toBe(true);
    for (let i = 1; i < times.length; i++) expect(times[i]!).toBeGreaterThanOrEqual(times[i - 1]!);
    // No split brain: A refused writes no later than B accepted them; B led within 20 s.
    expect(phase(run, "fenced")!).toBeLessThanOrEqual(phase(run, "leaderChange")!);
    expect(phase(run, "leaderChange")!).toBeLessThan(20_000);
    // The client's cached answer lives one record TTL (30 s).
    expect(run.rtoMs!).toBeLessThan(20_000 + 1000 + 30_000 + 10_000);
    expect(run.samples.some((s) => s.ok && s.region === "B")).toBe(true);
  });

  it("db-crash (fast: publish delay 1 s): the primary's host dies, B is promoted, the restarted host rejoins as a replica", async () => {
    const run = await drill(world(), "db-crash");
    expect(broken(run)).toEqual([]);
    expect(run.rpoOrders).toBe(0);
    expect(phase(run, "leaderChange")!).toBeLessThan(20_000);
    expect(phase(run, "recovered")).not.toBeNull();
  });

  it("lag-guard (fast: publish delay 1 s): a standby beyond maximumLagOnFailover is not promoted, the flag's command refuses, forceFailover fails over losing only writes since the partition", async () => {
    const run = await drill(world(), "lag-guard");
    expect(broken(run)).toEqual([]);
    expect(run.invariants.map((i) => i.name)).toEqual(
      expect.arrayContaining([
        "no promotion before the operator acted",
        "the flag's command refuses a standby beyond the guard",
      ]),
    );
    expect(run.writes.lostAcknowledged).toBe(run.writes.lostAcknowledgedAfterFault);
    expect(phase(run, "leaderChange")!).toBeGreaterThan(phase(run, "decision")!);
  });
}
