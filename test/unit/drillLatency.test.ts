import { describe, expect, it } from "vitest";
import { latencyNote, writeLatency } from "../../drill/latency";
import type { OrderAttempt } from "../../lab/workload/orders";

/**
 * The drill's split of write latency: after a switchover the client keeps reaching the old region
 * until DNS moves, and those writes go to the new leader across the WAN.
 */
const NB = { A: "198.51.100.50", B: "203.0.113.50" } as const;
const CHANGE = 10_000;
const write = (start: number, ms: number, via: "A" | "B", status = 201): OrderAttempt => ({
  seq: start,
  attempt: 1,
  start,
  end: start + ms,
  address: NB[via],
  status,
});

const input = (attempts: OrderAttempt[]) => ({
  attempts,
  leaderRegionAt: (at: number) => (at < CHANGE ? "A" : "B"),
  regionOfAddress: (address: string) => (address === NB.A ? "A" : address === NB.B ? "B" : null),
  changes: [CHANGE],
});

describe("write latency by where the write was served", () => {
  it("splits local writes from writes through the other region to the remote leader", () => {
    const attempts = [
      ...Array.from({ length: 10 }, (_, i) => write(1000 + i * 100, 5 + i, "A")),
      ...Array.from({ length: 10 }, (_, i) => write(11_000 + i * 100, 55 + i, "A")),
      ...Array.from({ length: 4 }, (_, i) => write(20_000 + i * 100, 6, "B")),
    ];
    const l = writeLatency(input(attempts));
    expect(l.local).toEqual({ count: 14, p50Ms: 7, p95Ms: 14 });
    expect(l.remote).toEqual({ count: 10, p50Ms: 59, p95Ms: 64 });
    expect(latencyNote(l)).toBe(
      "Writes served through the other region's apps to the remote leader: p50 59 ms, p95 64 ms (10 writes); through the leader's own region: p50 7 ms, p95 14 ms (14 writes).",
    );
  });

  it("leaves out failed writes and writes in flight across the leader change", () => {
    const l = writeLatency(
      input([write(9_990, 50, "A"), write(11_000, 40, "A", 503), write(12_000, 30, "B")]),
    );
    expect(l.remote).toBeNull();
    expect(l.local).toEqual({ count: 1, p50Ms: 30, p95Ms: 30 });
    expect(latencyNote(l)).toBeUndefined();
  });
});
