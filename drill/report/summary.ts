import * as path from "node:path";
import { formatCount, formatRuns, formatSeconds } from "./format";
import type { DrillReport } from "./model";
import { summarise } from "./stats";

/**
 * What the terminal shows when a drill ends: the figures someone would ask about first, and where
 * the full report is. Plain text, no colours, so that it reads the same in a log file.
 */
export function renderSummary(report: DrillReport, reportDir: string): string {
  const summary = summarise(report);
  const lines = [`drill ${report.scenario}: ${summary.runs} ${summary.runs === 1 ? "run" : "runs"}`];

  const rto = summary.rto;
  if (rto.n > 0) {
    const spread =
      summary.runs === 1
        ? formatSeconds(rto.median ?? 0)
        : `median ${formatSeconds(rto.median ?? 0)}, p95 ${formatSeconds(rto.p95 ?? 0)}`;
    const missing = rto.missing > 0 ? ` (missing in ${rto.missing} of ${rto.n + rto.missing} runs)` : "";
    lines.push(`  RTO: ${spread}${missing}`);
  } else {
    lines.push(`  RTO: ${rto.missing > 0 ? "missing: no successful write by name" : "not expected"}`);
  }

  if (summary.runs > 0) {
    const worst = summary.rpo.max ?? 0;
    const scope = summary.runs === 1 ? "" : " in the worst run";
    lines.push(`  RPO: ${formatCount(worst)} acknowledged ${worst === 1 ? "order" : "orders"} lost${scope}`);
  }

  const broken = summary.invariants.filter((inv) => inv.brokenRuns.length > 0);
  if (summary.invariants.length === 0) {
    lines.push("  invariants: none checked");
  } else if (broken.length === 0) {
    lines.push(`  invariants: all ${summary.invariants.length} ok`);
  } else {
    lines.push(`  invariants: ${broken.length} of ${summary.invariants.length} BROKEN`);
    for (const inv of broken) {
      // The first broken run's detail only: the report has the others; the terminal stays short.
      const first = inv.broken[0];
      const where = summary.runs === 1 ? "" : ` (${formatRuns(inv.brokenRuns)})`;
      const which = inv.broken.length > 1 ? `run ${first.run}: ` : "";
      lines.push(`    BROKEN ${inv.name}${where}: ${which}${first.detail}`);
    }
  }

  lines.push(`  report: ${path.join(reportDir, "report.md")}`);
  return lines.join("\n") + "\n";
}
