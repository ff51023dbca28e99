import { describe, expect, it } from "vitest";
import { renderTimelineSvg } from "../../drill/report/svg";
import { report, run } from "../../drill/report/sample";

/** Checks that every tag is closed in order; enough to catch broken markup and unescaped text. */
function tagsBalance(xml: string): boolean {
  const stack: string[] = [];
  for (const m of xml.matchAll(/<(\/?)([A-Za-z][\w:-]*)[^<>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = m;
    if (selfClosing) continue;
    if (!closing) stack.push(name);
    else if (stack.pop() !== name) return false;
  }
  // Any "<" or "&" outside a tag or an entity means text went in unescaped.
  const text = xml.replace(/<[^<>]*>/g, "");
  return stack.length === 0 && !text.includes("<") && !/&(?!(amp|lt|gt|quot|apos);)/.test(text);
}

describe("renderTimelineSvg", () => {
  it("is one well-formed, self-contained svg element", () => {
    const svg = renderTimelineSvg(report([run(1)]));
    expect(svg.startsWith("<svg ")).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(tagsBalance(svg)).toBe(true);
    expect(svg).toContain('width="900"');
    expect(svg).not.toMatch(/<script|@import|href=/);
  });
  it("draws a marker per phase that happened, in every run", () => {
    const one = renderTimelineSvg(report([run(1, {}, { decision: null })]));
    expect(one.match(/class="phase-marker"/g)).toHaveLength(9);
    expect(one).not.toContain('data-phase="decision"');
    expect(one).not.toContain('data-phase="recovered"');
    expect(one).toContain("Leader changed 11.0 s");
    const three = renderTimelineSvg(report([run(1), run(2), run(3)]));
    expect(three.match(/class="phase-marker"/g)).toHaveLength(30);
  });
  it("labels the axis and the regions", () => {
    const svg = renderTimelineSvg(report([run(1)]));
    expect(svg).toContain(">-10 s</text>");
    expect(svg).toContain(">0 s</text>");
    expect(svg).toContain("ok, region A");
    expect(svg).toContain("ok, region B");
    expect(svg).toContain(">failed</text>");
  });
  it("escapes text", () => {
    const r = report([
      run(1, { phases: [{ name: "fault", atMs: 0, expected: true, detail: "<kill> A & B" }] }),
    ]);
    r.scenario = "a<b&c";
    const svg = renderTimelineSvg(r);
    expect(svg).toContain("a&lt;b&amp;c");
    expect(svg).toContain("&lt;kill&gt; A &amp; B");
    expect(tagsBalance(svg)).toBe(true);
  });
  it("is deterministic", () => {
    expect(renderTimelineSvg(report([run(1), run(2)]))).toBe(renderTimelineSvg(report([run(1), run(2)])));
  });
  it("copes with no runs", () => {
    const svg = renderTimelineSvg(report([]));
    expect(tagsBalance(svg)).toBe(true);
    expect(svg).toContain("No runs recorded.");
  });
  it("merges neighbouring samples into bars but keeps a pause in sampling visible", () => {
    const every100ms = (fromS: number, toS: number, region: string) =>
      Array.from({ length: (toS - fromS) * 10 }, (_, i) => ({
        atMs: fromS * 1000 + i * 100,
        ok: true,
        region,
      }));
    // 200,000 samples: also more than Math.min(...array) could take as arguments.
    const dense = Array.from({ length: 200_000 }, (_, i) => ({
      atMs: i - 10_000,
      ok: i % 7 !== 0,
      region: "A",
    }));
    const denseSvg = renderTimelineSvg(report([run(1, { samples: dense })]));
    expect(denseSvg.match(/height="11"/g)).toHaveLength(2); // one ok bar, one failed bar
    const steady = renderTimelineSvg(report([run(1, { samples: every100ms(-10, 40, "A") })]));
    expect(steady.match(/height="11"/g)).toHaveLength(1);
    const paused = [...every100ms(-10, 0, "A"), ...every100ms(20, 40, "A")];
    const pausedSvg = renderTimelineSvg(report([run(1, { samples: paused })]));
    expect(pausedSvg.match(/height="11"/g)).toHaveLength(2); // before and after the pause
  });
});
