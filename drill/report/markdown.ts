import { formatCount, formatRuns, formatSeconds } from "./format";
import {
  type DrillReport,
  type DrillRun,
  type PhaseName,
  type WriteTally,
  PHASE_LABELS,
  PHASE_ORDER,
  phaseOf,
} from "./model";
import { type PhaseStat, type ReportSummary, type Stat, summarise } from "./stats";

/** Shown for a phase that did not happen and was not expected. */
const NOT_EXPECTED = "—";
/** Shown for a phase that should have happened and did not: worth a reader's attention. */
const MISSING = "missing";

const WRITE_ROWS: { key: keyof WriteTally; label: string }[] = [
  { key: "attempted", label: "Attempted" },
  { key: "acknowledged", label: "Acknowledged" },
  { key: "failed", label: "Failed (refused or errored)" },
  { key: "unknownOutcome", label: "Outcome unknown (no answer)" },
  { key: "lostAcknowledged", label: "Acknowledged, then lost" },
  { key: "lostAcknowledgedAfterFault", label: "… of those, acknowledged after the fault" },
  { key: "lostAcknowledgedInWindow", label: "… of those, acknowledged by the old leader in its window" },
  {
    key: "lostAcknowledgedInFlight",
    label: "… of those, acknowledged as a fault took effect (WAL in flight)",
  },
  { key: "acceptedByFenced", label: "Accepted by a fenced primary" },
  { key: "servedByNonLeader", label: "Served by a non-leader" },
  { key: "oldRegionAcknowledged", label: "Acknowledged inside the old region after the fault (probe)" },
  { key: "oldRegionLost", label: "… of those, not on the new leader" },
  { key: "windowAcknowledged", label: "Acknowledged by the old leader after the new one led (its window)" },
  { key: "windowLost", label: "… of those, not on the new leader" },
];

/** A table cell: a "|" or a line break inside would end the cell or the row. */
function cell(text: string): string {
  return text.replace(/\r?\n/g, " ").replace(/\|/g, "\\|");
}

function table(header: string[], rows: string[][]): string[] {
  return [
    `| ${header.map(cell).join(" | ")} |`,
    `| ${header.map(() => "---").join(" | ")} |`,
    ...rows.map((row) => `| ${row.map(cell).join(" | ")} |`),
  ];
}

/** A fenced code block whose fence is longer than any backtick run in the text, so it cannot close early. */
function codeBlock(text: string, language: string): string[] {
  const longestRun = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = "`".repeat(Math.max(3, longestRun + 1));
  return [`${fence}${language}`, text, fence];
}

/** One run's time for a phase: the time, "missing" or "—". */
function phaseCell(run: DrillRun, name: PhaseName): string {
  const mark = phaseOf(run, name);
  if (mark.atMs !== null)
    return mark.expected ? formatSeconds(mark.atMs) : `${formatSeconds(mark.atMs)} (not expected)`;
  return mark.expected ? MISSING : NOT_EXPECTED;
}

function statCells(stat: Stat, anyExpected: boolean): string[] {
  const values = [stat.median, stat.p95, stat.min, stat.max];
  return values.map((v) => (v !== null ? formatSeconds(v) : anyExpected ? MISSING : NOT_EXPECTED));
}

function runsWithPhase(stat: PhaseStat, runs: number): string {
  if (stat.n === 0 && stat.expectedRuns === 0) return NOT_EXPECTED;
  const parts = [`${stat.n} of ${runs}`];
  if (stat.missing > 0) parts.push(`${stat.missing} ${MISSING}`);
  if (stat.unexpectedRuns > 0) parts.push(`${stat.unexpectedRuns} not expected`);
  return parts.join(", ");
}

function settingsSection(report: DrillReport): string[] {
  if (report.settings.length === 0) return [];
  const rows = report.settings.map((s) => [s.name, s.assumption === true ? `${s.value} (assumed)` : s.value]);
  const lines = ["### Settings", "", ...table(["Setting", "Value"], rows)];
  if (report.settings.some((s) => s.assumption === true)) {
    lines.push(
      "",
      "Values marked (assumed) are inputs chosen for the drill, not measured or documented facts.",
    );
  }
  return [...lines, ""];
}

function phasesSection(report: DrillReport, summary: ReportSummary): string[] {
  const lines = [
    "## Phases",
    "",
    `Times are seconds since the fault. "${MISSING}": expected but did not happen; ` +
      `"${NOT_EXPECTED}": did not happen and was not expected.`,
    "",
  ];
  if (report.runs.length === 1) {
    const run = report.runs[0];
    const rows = PHASE_ORDER.map((name) => [
      PHASE_LABELS[name],
      phaseCell(run, name),
      phaseOf(run, name).detail ?? "",
    ]);
    return [...lines, ...table(["Phase", "Since fault", "Detail"], rows), ""];
  }
  if (summary.runs < 20) {
    lines.push(`p95 is by nearest rank: with fewer than 20 runs it is the maximum.`, "");
  }
  const rows = summary.phases.map((stat) => [
    stat.label,
    ...statCells(stat, stat.expectedRuns > 0),
    runsWithPhase(stat, summary.runs),
  ]);
  return [...lines, ...table(["Phase", "Median", "p95", "Min", "Max", "Runs with it"], rows), ""];
}

function rtoText(report: DrillReport, summary: ReportSummary): string {
  const rto = summary.rto;
  if (rto.n === 0) {
    return rto.missing > 0 ? `${MISSING} (no successful write by name)` : "not expected in this scenario";
  }
  // n > 0, so every statistic exists; "?? 0" only satisfies the type.
  if (report.runs.length === 1) return formatSeconds(rto.median ?? 0);
  const spread = [
    `median ${formatSeconds(rto.median ?? 0)}`,
    `p95 ${formatSeconds(rto.p95 ?? 0)}`,
    `min ${formatSeconds(rto.min ?? 0)}`,
    `max ${formatSeconds(rto.max ?? 0)}`,
  ].join(", ");
  const missing = rto.missing > 0 ? `, ${rto.missing} ${MISSING}` : "";
  return `${spread} (${rto.n} of ${rto.n + rto.missing} runs${missing})`;
}

function rpoText(report: DrillReport, summary: ReportSummary): string {
  const rpo = summary.rpo;
  if (rpo.n === 0) return "no runs";
  const orders = (n: number) => `${formatCount(n)} acknowledged ${n === 1 ? "order" : "orders"} lost`;
  if (report.runs.length === 1) return orders(rpo.max ?? 0);
  // The worst run is what a recovery point objective has to cover; the median says whether it was typical.
  const typical = `median ${formatCount(rpo.median ?? 0)}, p95 ${formatCount(rpo.p95 ?? 0)}`;
  return `worst run ${orders(rpo.max ?? 0)} (${typical})`;
}

function objectivesSection(report: DrillReport, summary: ReportSummary): string[] {
  return [
    "## Recovery objectives",
    "",
    `- RTO (fault → first successful write by name): ${rtoText(report, summary)}`,
    `- RPO: ${rpoText(report, summary)}`,
    "",
  ];
}

function writesSection(report: DrillReport, summary: ReportSummary): string[] {
  const lines = ["## Writes", ""];
  if (report.runs.length > 1) lines.push(`Totals over the ${report.runs.length} runs.`, "");
  const rows = WRITE_ROWS.map(({ key, label }) => [label, formatCount(summary.writes[key])]);
  return [...lines, ...table(["Writes", "Count"], rows), ""];
}

function invariantsSection(report: DrillReport, summary: ReportSummary): string[] {
  const lines = ["## Invariants", ""];
  if (summary.invariants.length === 0) return [...lines, "No invariants were checked.", ""];
  if (report.runs.length === 1) {
    for (const inv of report.runs[0].invariants) {
      lines.push(`- ${inv.ok ? "ok" : "**BROKEN**"} — ${inv.name}: ${inv.detail}`);
    }
    return [...lines, ""];
  }
  for (const inv of summary.invariants) {
    if (inv.brokenRuns.length === 0) {
      const where = inv.okRuns.length === summary.runs ? `all ${summary.runs} runs` : formatRuns(inv.okRuns);
      lines.push(`- ok — ${inv.name} (${where})`);
      continue;
    }
    lines.push(`- **BROKEN** — ${inv.name}: broken in ${formatRuns(inv.brokenRuns)} of ${summary.runs}`);
    for (const b of inv.broken) lines.push(`  - run ${b.run}: ${b.detail}`);
  }
  return [...lines, ""];
}

function runsSection(report: DrillReport): string[] {
  if (report.runs.length < 2) return [];
  const runRows = report.runs.map((run) => [
    String(run.run),
    run.startedAt,
    formatSeconds(run.durationMs),
    run.rtoMs !== null
      ? formatSeconds(run.rtoMs)
      : phaseOf(run, "firstWriteByName").expected
        ? MISSING
        : NOT_EXPECTED,
    formatCount(run.rpoOrders),
    `${formatCount(run.writes.acknowledged)} / ${formatCount(run.writes.attempted)}`,
    formatCount(run.writes.failed),
    formatCount(run.writes.unknownOutcome),
    run.invariants
      .filter((i) => !i.ok)
      .map((i) => i.name)
      .join(", ") || "none",
  ]);
  // Only the phases some run expected or saw: a column of dashes says nothing.
  const phases = PHASE_ORDER.filter((name) =>
    report.runs.some((run) => phaseOf(run, name).expected || phaseOf(run, name).atMs !== null),
  );
  const phaseRows = report.runs.map((run) => [
    String(run.run),
    ...phases.map((name) => phaseCell(run, name)),
  ]);
  return [
    "## Runs",
    "",
    ...table(
      [
        "Run",
        "Started",
        "Duration",
        "RTO",
        "RPO (orders)",
        "Acknowledged / attempted",
        "Failed",
        "Unknown",
        "Broken invariants",
      ],
      runRows,
    ),
    "",
    "### Phase times per run",
    "",
    ...table(["Run", ...phases.map((name) => PHASE_LABELS[name])], phaseRows),
    "",
  ];
}

function notesSection(report: DrillReport): string[] {
  const multi = report.runs.length > 1;
  const notes = report.runs.flatMap((run) =>
    run.notes.map((note) => (multi ? `run ${run.run}: ${note}` : note)),
  );
  if (notes.length === 0) return [];
  return ["## Notes", "", ...notes.map((note) => `- ${note}`), ""];
}

/** The drill report as Markdown (report.md); the timeline is linked as timeline.svg next to it. */
export function renderMarkdown(report: DrillReport): string {
  const summary = summarise(report);
  const lines = [`# Drill: ${report.scenario}`, ""];
  if (report.description !== "") lines.push(report.description, "");
  lines.push("## How it was run", "", ...codeBlock(report.command, "sh"), "");
  lines.push(`- Machine: ${report.machine}`);
  lines.push(`- Runs: ${report.runs.length}`);
  if (report.runs.length > 0) lines.push(`- First run started: ${report.runs[0].startedAt}`);
  lines.push("");
  lines.push(...settingsSection(report));
  if (report.runs.length === 0) {
    lines.push("No runs were recorded.", "");
    return lines.join("\n");
  }
  lines.push(...phasesSection(report, summary));
  lines.push(...objectivesSection(report, summary));
  lines.push(...writesSection(report, summary));
  lines.push(...invariantsSection(report, summary));
  lines.push(...runsSection(report));
  lines.push("## Timeline", "", "![timeline](timeline.svg)", "");
  lines.push(...notesSection(report));
  return lines.join("\n");
}
