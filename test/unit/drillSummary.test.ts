import { describe, expect, it } from "vitest";
import { renderSummary } from "../../drill/report/summary";
import { report, run } from "../../drill/report/sample";

describe("renderSummary", () => {
  it("states the figures, the invariants and the report path in a few plain lines", () => {
    const text = renderSummary(report([run(1), run(2)]), "/tmp/drills/x");
    expect(text).toBe(
      [
        "drill region-loss: 2 runs",
        "  RTO: median 25.5 s, p95 26.0 s",
        "  RPO: 0 acknowledged orders lost in the worst run",
        "  invariants: all 2 ok",
        "  report: /tmp/drills/x/report.md",
        "",
      ].join("\n"),
    );
  });
  it("names broken invariants", () => {
    const broken = run(1, {
      invariants: [{ name: "no acknowledged write lost", ok: false, detail: "3 lost" }],
    });
    const text = renderSummary(report([broken]), "/r");
    expect(text).toContain("  invariants: 1 of 1 BROKEN\n    BROKEN no acknowledged write lost: 3 lost\n");
    expect(text).toContain("  RTO: 25.0 s\n");
  });
});
