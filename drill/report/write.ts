import { mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { renderMarkdown } from "./markdown";
import type { DrillReport } from "./model";
import { renderTimelineSvg } from "./svg";

/** UTC, compact and sortable: 2026-11-26T15:04:05.123Z → 20261126T150405Z. */
export function reportTimestamp(now: Date): string {
  return now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
}

/** The scenario as part of a directory name: anything but letters, digits, ".", "_" and "-" becomes "-". */
function safeName(scenario: string): string {
  return scenario.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^[.-]+/, "") || "drill";
}

/**
 * Creates `<rootDir>/<timestamp>-<scenario>/` with report.md, timeline.svg and report.json and
 * returns its path. Two drills started in the same second get -2, -3 …: the directory is created
 * without `recursive`, so "already exists" is detected by the file system itself, not by a check
 * that another drill could race.
 */
export function writeReport(rootDir: string, report: DrillReport, now: Date): string {
  mkdirSync(rootDir, { recursive: true });
  const base = path.join(rootDir, `${reportTimestamp(now)}-${safeName(report.scenario)}`);
  let dir = base;
  for (let suffix = 2; ; suffix++) {
    try {
      mkdirSync(dir);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      dir = `${base}-${suffix}`;
    }
  }
  writeFileSync(path.join(dir, "report.md"), renderMarkdown(report));
  writeFileSync(path.join(dir, "timeline.svg"), renderTimelineSvg(report));
  writeFileSync(path.join(dir, "report.json"), JSON.stringify(report, null, 2) + "\n");
  return dir;
}
