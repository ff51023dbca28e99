import { describe, expect, it } from "vitest";
import { renderMarkdown } from "../../drill/report/markdown";
import { report, run } from "../../drill/report/sample";

describe("renderMarkdown, one run", () => {
  const md = renderMarkdown(
    report([
      run(
        1,
        {
          invariants: [
            { name: "no acknowledged write lost", ok: true, detail: "900 of 900 found" },
            { name: "fenced primary refused writes", ok: false, detail: "A accepted 2 writes after fencing" },
          ],
          notes: ["DNS stand-in used instead of Linode DNS"],
        },
        { trafficPublished: null },
      ),
    ]),
  );

  it("has the title, the command and the machine", () => {
    expect(md).toMatch(/^# Drill: region-loss\n/);
    expect(md).toContain("```sh\nnpm run drill -- region-loss --runs 1\n```");
    expect(md).toContain("Debian 12, 2 vCPU, 24 GiB");
  });
  it("marks assumed settings", () => {
    expect(md).toContain("| DNS publish delay | 30 s (assumed) |");
    expect(md).toContain("| Client write interval | 100 ms |");
  });
  it("gives each phase its time since the fault, 'missing' if expected, '—' if not", () => {
    expect(md).toContain("| Fault injected | 0.0 s |");
    expect(md).toContain("| Leader changed | 11.0 s |");
    expect(md).toContain("| Traffic change published (DNS) | missing |");
    expect(md).toContain("| Fault healed / steady again | — |");
  });
  it("states RTO and RPO", () => {
    expect(md).toContain("- RTO (fault → first successful write by name): 25.0 s");
    expect(md).toContain("- RPO: 0 acknowledged orders lost");
  });
  it("shows the write tally, the broken invariant, the timeline and the notes", () => {
    expect(md).toContain("| Attempted | 1,000 |");
    expect(md).toContain("- **BROKEN** — fenced primary refused writes: A accepted 2 writes after fencing");
    expect(md).toContain("- ok — no acknowledged write lost: 900 of 900 found");
    expect(md).toContain("![timeline](timeline.svg)");
    expect(md).toContain("- DNS stand-in used instead of Linode DNS");
    expect(md).not.toContain("## Runs");
  });
});

describe("renderMarkdown, several runs", () => {
  const runs = [
    run(1),
    run(2, {
      invariants: [{ name: "no acknowledged write lost", ok: false, detail: "3 lost" }],
      rpoOrders: 3,
    }),
    run(3, {}, { leaderChange: null }),
  ];
  const md = renderMarkdown(report(runs));

  it("gives median / p95 / min / max per phase and how many runs had it", () => {
    expect(md).toContain("| Phase | Median | p95 | Min | Max | Runs with it |");
    expect(md).toContain("| Leader changed | 11.5 s | 12.0 s | 11.0 s | 12.0 s | 2 of 3, 1 missing |");
    expect(md).toContain("| Fault healed / steady again | — | — | — | — | — |");
  });
  it("summarises RTO over runs and RPO by the worst run", () => {
    expect(md).toContain("median 26.0 s, p95 27.0 s, min 25.0 s, max 27.0 s (3 of 3 runs)");
    expect(md).toContain("- RPO: worst run 3 acknowledged orders lost");
  });
  it("names the runs that broke an invariant and has a per-run table", () => {
    expect(md).toContain("- **BROKEN** — no acknowledged write lost: broken in run 2 of 3");
    expect(md).toContain("  - run 2: 3 lost");
    expect(md).toContain("## Runs");
    expect(md).toMatch(/\| 3 \| 2026-11-26T15:03:05.000Z \| 60.0 s \| 27.0 s \| 0 \|/);
    expect(md).toMatch(/\| 3 \| 0.0 s \| 3.3 s \| 3.8 s \| 4.3 s \| missing \|/);
  });
  it("says how p95 is taken", () => {
    expect(md).toContain("p95 is by nearest rank: with fewer than 20 runs it is the maximum.");
  });
  it("says so when there are no runs", () => {
    const empty = renderMarkdown(report([]));
    expect(empty).toContain("No runs were recorded.");
    expect(empty).not.toContain("## Phases");
  });
  it("escapes table cells", () => {
    const r = report([run(1)]);
    r.settings = [{ name: "a|b", value: "two\nlines" }];
    expect(renderMarkdown(r)).toContain("| a\\|b | two lines |");
  });
});
