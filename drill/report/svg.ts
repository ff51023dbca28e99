import { formatSeconds } from "./format";
import { type DrillReport, type DrillRun, type PhaseName, PHASE_LABELS, PHASE_ORDER } from "./model";
import { median } from "./stats";

// Layout, in SVG user units (pixels at 100 %).
const WIDTH = 900;
const LEFT = 70; // room for the lane labels ("run 12")
const RIGHT = 20;
const PLOT_WIDTH = WIDTH - LEFT - RIGHT;
const BAND_TOP = 26; // below the title
const LABEL_ROW = 14;
const LANE = 36;
const MARK_HEIGHT = 11;
// Only the generic family: a report must render the same offline, without fetching fonts.
const FONT = { "font-family": "sans-serif", "font-size": 11 };
// Rough width of one character at font-size 11, to keep phase labels from overlapping.
const CHAR_WIDTH = 6.2;
// At least this much time before the fault is shown, so the steady state before it is visible.
const MIN_LEAD_MS = 10_000;

const FAILED = "#d62728";
const OK_FIRST_REGION = "#8fd19e"; // lighter: the region that served before the fault, usually A
const OK_SECOND_REGION = "#1b7a3a"; // darker: the region that took over, usually B
const OK_OTHER = "#4f9d5d"; // further regions, or an answer that did not say which region it came from

const PHASE_COLORS: Record<PhaseName, string> = {
  fault: "#222222",
  detection: "#9467bd",
  fenced: "#bcbd22",
  decision: "#8c564b",
  leaderChange: "#1f77b4",
  followerDecided: "#aec7e8",
  recordsChanged: "#ffbb78",
  trafficPublished: "#ff7f0e",
  clientSwitched: "#17becf",
  firstWriteByName: "#e377c2",
  recovered: "#7f7f7f",
};

// Tick spacings in seconds; the first that gives at most MAX_TICKS ticks is used.
const TICK_STEPS_S = [1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600];
const MAX_TICKS = 12;

export function escapeXml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

/** Coordinates with at most one decimal: smaller files, and identical text for identical input. */
function n(value: number): string {
  return String(Number(value.toFixed(1)));
}

type Attrs = Record<string, string | number>;

/** One element. Attribute values are escaped here; `children` is markup, already escaped. */
function el(name: string, attrs: Attrs, children?: string): string {
  const list = Object.entries(attrs)
    .map(([key, value]) => ` ${key}="${typeof value === "number" ? n(value) : escapeXml(value)}"`)
    .join("");
  return children === undefined ? `<${name}${list}/>` : `<${name}${list}>${children}</${name}>`;
}

/** Plain text (escaped here) in the picture's font. */
function text(x: number, y: number, content: string, attrs: Attrs = {}): string {
  return el("text", { x, y, ...FONT, ...attrs }, escapeXml(content));
}

function line(x1: number, y1: number, x2: number, y2: number, stroke: string, attrs: Attrs = {}): string {
  return el("line", { x1, y1, x2, y2, stroke, ...attrs });
}

/**
 * The time span to show: at least 10 s before the fault, every sample and phase, and a margin after.
 * Loops, not Math.min(...): a run can hold more samples than a call takes arguments.
 */
function domain(runs: readonly DrillRun[]): { fromMs: number; toMs: number } {
  let fromMs = -MIN_LEAD_MS;
  let latest = 0;
  for (const run of runs) {
    for (const s of run.samples) {
      fromMs = Math.min(fromMs, s.atMs);
      latest = Math.max(latest, s.atMs);
    }
    for (const p of run.phases) {
      if (p.atMs === null) continue;
      fromMs = Math.min(fromMs, p.atMs);
      latest = Math.max(latest, p.atMs);
    }
  }
  const margin = Math.max(2_000, (latest - fromMs) * 0.05);
  return { fromMs, toMs: latest + margin };
}

function ticks(fromMs: number, toMs: number): number[] {
  const spanS = (toMs - fromMs) / 1000;
  const step = TICK_STEPS_S.find((s) => spanS / s <= MAX_TICKS) ?? TICK_STEPS_S[TICK_STEPS_S.length - 1];
  const result: number[] = [];
  for (let t = Math.ceil(fromMs / 1000 / step) * step; t * 1000 <= toMs; t += step) result.push(t);
  return result;
}

/** Region → colour of its ok samples: first region (alphabetically) lighter, second darker. */
function regionColors(runs: readonly DrillRun[]): Map<string, string> {
  const regions = [
    ...new Set(runs.flatMap((run) => run.samples.flatMap((s) => (s.region === null ? [] : [s.region])))),
  ];
  regions.sort();
  const shades = [OK_FIRST_REGION, OK_SECOND_REGION];
  return new Map(regions.map((region, i) => [region, shades[i] ?? OK_OTHER]));
}

interface PhaseLabel {
  name: PhaseName;
  x: number;
  text: string;
  start: number; // left edge of the text
  width: number;
  row: number;
}

/**
 * One label per phase that happened. With one run it is that run's time; with several, the
 * median over the runs that had it (each lane still marks its own run's times).
 */
function phaseLabels(runs: readonly DrillRun[], xOf: (ms: number) => number): PhaseLabel[] {
  const labels: PhaseLabel[] = [];
  for (const name of PHASE_ORDER) {
    const times = runs.flatMap((run) =>
      run.phases.flatMap((p) => (p.name === name && p.atMs !== null ? [p.atMs] : [])),
    );
    const at = median(times);
    if (at === null) continue;
    const x = xOf(at);
    const text = `${PHASE_LABELS[name]} ${formatSeconds(at)}`;
    const width = text.length * CHAR_WIDTH;
    // Text to the right of the marker unless it would run off the picture.
    const start = x + 3 + width <= WIDTH - 2 ? x + 3 : x - 3 - width;
    labels.push({ name, x, text, start, width, row: 0 });
  }
  // Stagger into rows so that labels of close phases do not overlap.
  const rowEnds: number[] = [];
  for (const label of [...labels].sort((a, b) => a.start - b.start)) {
    let row = rowEnds.findIndex((end) => end + 6 <= label.start);
    if (row === -1) row = rowEnds.length;
    rowEnds[row] = label.start + label.width;
    label.row = row;
  }
  return labels;
}

/**
 * The client samples of one lane. Samples are merged per colour into bars over neighbouring pixel
 * columns: thousands of samples would otherwise make a large file that looks the same, while a
 * pause in sampling wider than a couple of pixels still shows as a gap. Failed samples sit in the
 * lower half of the lane so that an ok sample at the same moment never hides them.
 */
function sampleMarks(
  run: DrillRun,
  top: number,
  xOf: (ms: number) => number,
  colors: Map<string, string>,
): string[] {
  const columns = new Map<string, Set<number>>();
  for (const s of run.samples) {
    const color = s.ok ? (s.region === null ? OK_OTHER : (colors.get(s.region) ?? OK_OTHER)) : FAILED;
    let set = columns.get(color);
    if (set === undefined) columns.set(color, (set = new Set()));
    set.add(Math.round(xOf(s.atMs)));
  }
  const out: string[] = [];
  // Sorted colours and columns: the same report always gives the same bytes.
  for (const color of [...columns.keys()].sort()) {
    const y = color === FAILED ? top + LANE - 6 - MARK_HEIGHT : top + 6;
    const xs = [...(columns.get(color) ?? [])].sort((a, b) => a - b);
    let start = xs[0];
    let end = xs[0];
    for (const x of [...xs.slice(1), Infinity]) {
      // A 2-pixel mark centred on each column: columns up to 2 apart touch, so they form one bar.
      if (x - end <= 2) {
        end = x;
        continue;
      }
      out.push(el("rect", { x: start - 1, y, width: end - start + 2, height: MARK_HEIGHT, fill: color }));
      start = end = x;
    }
  }
  return out;
}

/**
 * The drill as a picture (timeline.svg): one lane per run, client samples as marks (ok above, failed
 * below, ok coloured by the region that answered), a vertical marker per phase that happened, and
 * the fault at x = 0. Self-contained and deterministic: the same report gives the same bytes.
 */
export function renderTimelineSvg(report: DrillReport): string {
  const runs = report.runs;
  const { fromMs, toMs } = domain(runs);
  const xOf = (ms: number) => LEFT + ((ms - fromMs) / (toMs - fromMs)) * PLOT_WIDTH;
  const labels = phaseLabels(runs, xOf);
  const rows = labels.reduce((max, l) => Math.max(max, l.row + 1), 0);
  const lanesTop = BAND_TOP + rows * LABEL_ROW + 6;
  const lanesBottom = lanesTop + Math.max(1, runs.length) * LANE;
  const legendY = lanesBottom + 46;
  const height = legendY + 12;
  const colors = regionColors(runs);

  const title =
    runs.length > 1
      ? `${report.scenario}: ${runs.length} runs, seconds since the fault (labels at the median over runs)`
      : `${report.scenario}: seconds since the fault`;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${n(height)}" ` +
      `viewBox="0 0 ${WIDTH} ${n(height)}" role="img" aria-label="${escapeXml(title)}">`,
    el("title", {}, escapeXml(title)),
    el("rect", { x: 0, y: 0, width: WIDTH, height, fill: "#ffffff" }),
    text(LEFT, 16, title, { "font-weight": "bold" }),
  ];

  for (const label of labels) {
    const y = BAND_TOP + (label.row + 1) * LABEL_ROW - 3;
    const color = PHASE_COLORS[label.name];
    out.push(
      line(label.x, y + 3, label.x, lanesTop, color, { "stroke-dasharray": "2,2" }),
      text(label.start, y, label.text, { class: "phase-label", fill: color }),
    );
  }

  if (runs.length === 0) out.push(text(LEFT, lanesTop + LANE / 2 + 4, "No runs recorded."));
  runs.forEach((run, i) => {
    const top = lanesTop + i * LANE;
    const background = i % 2 === 0 ? "#f6f6f6" : "#ffffff";
    out.push(
      el("rect", { x: LEFT, y: top, width: PLOT_WIDTH, height: LANE, fill: background }),
      text(LEFT - 8, top + LANE / 2 + 4, `run ${run.run}`, { "text-anchor": "end" }),
      ...sampleMarks(run, top, xOf, colors),
    );
    for (const name of PHASE_ORDER) {
      const mark = run.phases.find((p) => p.name === name);
      if (mark === undefined || mark.atMs === null) continue;
      const x = xOf(mark.atMs);
      const detail = mark.detail ? ` (${mark.detail})` : "";
      // A tooltip: the lane has no room for a label per run.
      const tip = el(
        "title",
        {},
        escapeXml(`run ${run.run}: ${PHASE_LABELS[name]} ${formatSeconds(mark.atMs)}${detail}`),
      );
      const attrs = { class: "phase-marker", "data-phase": name, x1: x, y1: top, x2: x, y2: top + LANE };
      out.push(el("line", { ...attrs, stroke: PHASE_COLORS[name], "stroke-width": 1.5 }, tip));
    }
  });

  // The fault instant, over every lane.
  out.push(line(xOf(0), lanesTop, xOf(0), lanesBottom, "#000000"));

  out.push(line(LEFT, lanesBottom, LEFT + PLOT_WIDTH, lanesBottom, "#000000"));
  for (const t of ticks(fromMs, toMs)) {
    const x = xOf(t * 1000);
    out.push(
      line(x, lanesBottom, x, lanesBottom + 4, "#000000"),
      text(x, lanesBottom + 15, `${t} s`, { "text-anchor": "middle" }),
    );
  }
  out.push(
    text(LEFT + PLOT_WIDTH / 2, lanesBottom + 29, "seconds since the fault", { "text-anchor": "middle" }),
  );

  const legend: { color: string; label: string }[] = [...colors].map(([region, color]) => ({
    color,
    label: `ok, region ${region}`,
  }));
  if (runs.some((run) => run.samples.some((s) => s.ok && s.region === null))) {
    legend.push({ color: OK_OTHER, label: "ok, region unknown" });
  }
  legend.push({ color: FAILED, label: "failed" });
  let x = LEFT;
  for (const item of legend) {
    out.push(
      el("rect", { x, y: legendY - 9, width: 10, height: 10, fill: item.color }),
      text(x + 14, legendY, item.label),
    );
    x += 14 + item.label.length * CHAR_WIDTH + 16;
  }

  out.push("</svg>");
  return out.join("\n") + "\n";
}
