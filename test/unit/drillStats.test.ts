import { describe, expect, it } from "vitest";
import { median, p95, summarise } from "../../drill/report/stats";
import { report, run } from "../../drill/report/sample";

describe("median and p95", () => {
  it("median: middle value, mean of the two middle values for an even count, null when empty", () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNull();
  });
  it("p95 by nearest rank: the ceil(0.95 n)-th smallest value, never interpolated", () => {
    const hundred = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 … 1, unsorted on purpose
    expect(p95(hundred)).toBe(95);
    const twenty = Array.from({ length: 20 }, (_, i) => i + 1);
    expect(p95(twenty)).toBe(19);
    // Fewer than 20 values: the maximum.
    expect(p95([10, 30, 20, 50, 40])).toBe(50);
    expect(p95([7])).toBe(7);
    expect(p95([])).toBeNull();
  });
  it("does not reorder the caller's array", () => {
    const values = [3, 1, 2];
    median(values);
    p95(values);
    expect(values).toEqual([3, 1, 2]);
  });
});

describe("summarise", () => {
  it("ignores nulls and counts them missing only where the phase was expected", () => {
    const s = summarise(report([run(1), run(2, {}, { leaderChange: null }), run(3)]));
    const leader = s.phases.find((p) => p.name === "leaderChange");
    expect(leader).toMatchObject({
      n: 2,
      missing: 1,
      expectedRuns: 3,
      min: 11_000,
      max: 13_000,
      median: 12_000,
    });
    const recovered = s.phases.find((p) => p.name === "recovered");
    expect(recovered).toMatchObject({ n: 0, missing: 0, expectedRuns: 0, median: null });
    expect(s.rto).toMatchObject({ n: 3, missing: 0, median: 26_000, p95: 27_000, min: 25_000, max: 27_000 });
    expect(s.rpo).toMatchObject({ n: 3, max: 0 });
    expect(s.writes.attempted).toBe(3000);
  });
  it("counts a missing RTO when the first write by name was expected, not otherwise", () => {
    const noWrite = run(1, { rtoMs: null }, { firstWriteByName: null });
    expect(summarise(report([noWrite])).rto).toMatchObject({ n: 0, missing: 1 });
    const notExpected = {
      ...noWrite,
      phases: noWrite.phases.map((p) => (p.name === "firstWriteByName" ? { ...p, expected: false } : p)),
    };
    expect(summarise(report([notExpected])).rto).toMatchObject({ n: 0, missing: 0 });
  });
  it("collects broken invariants per run", () => {
    const broken = run(2, {
      invariants: [
        { name: "no acknowledged write lost", ok: false, detail: "3 acknowledged orders missing in B" },
      ],
    });
    const s = summarise(report([run(1), broken]));
    expect(s.invariants[0]).toEqual({
      name: "no acknowledged write lost",
      okRuns: [1],
      brokenRuns: [2],
      broken: [{ run: 2, detail: "3 acknowledged orders missing in B" }],
    });
  });
});
