import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { renderMarkdown } from "../../drill/report/markdown";
import { reportTimestamp, writeReport } from "../../drill/report/write";
import { report, run } from "../../drill/report/sample";

describe("writeReport", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("formats the timestamp in UTC", () => {
    expect(reportTimestamp(new Date("2026-11-26T15:04:05.678Z"))).toBe("20261126T150405Z");
  });
  it("writes report.md, timeline.svg and report.json into a new directory, suffixed on collision", () => {
    const root = mkdtempSync(path.join(tmpdir(), "drill-report-"));
    dirs.push(root);
    const now = new Date("2026-11-26T15:04:05Z");
    const r = report([run(1)]);
    const first = writeReport(path.join(root, "reports"), r, now);
    const second = writeReport(path.join(root, "reports"), r, now);
    const third = writeReport(path.join(root, "reports"), r, now);
    expect(first).toBe(path.join(root, "reports", "20261126T150405Z-region-loss"));
    expect(second).toBe(`${first}-2`);
    expect(third).toBe(`${first}-3`);
    for (const file of ["report.md", "timeline.svg", "report.json"])
      expect(existsSync(path.join(first, file))).toBe(true);
    expect(JSON.parse(readFileSync(path.join(first, "report.json"), "utf8"))).toEqual(r);
    expect(readFileSync(path.join(first, "report.md"), "utf8")).toBe(renderMarkdown(r));
  });
  it("keeps the scenario from escaping the directory", () => {
    const root = mkdtempSync(path.join(tmpdir(), "drill-report-"));
    dirs.push(root);
    const r = { ...report([run(1)]), scenario: "../x y" };
    expect(path.basename(writeReport(root, r, new Date(0)))).toBe("19700101T000000Z-x-y");
  });
});
