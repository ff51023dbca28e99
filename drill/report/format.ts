/** Formatting shared by the Markdown report, the timeline and the terminal output. */

/** Milliseconds as seconds with one decimal, e.g. 12345 → "12.3 s". */
export function formatSeconds(ms: number): string {
  const text = (ms / 1000).toFixed(1);
  // toFixed keeps the sign of tiny negatives ("-0.0"), which reads like a measurement before the fault.
  return `${text === "-0.0" ? "0.0" : text} s`;
}

/** Counts with thousands separators, e.g. 107844 → "107,844" (fixed locale: same output everywhere). */
export function formatCount(n: number): string {
  return n.toLocaleString("en-US");
}

/** "run 2" / "runs 2, 4": the runs something applies to. */
export function formatRuns(runs: readonly number[]): string {
  return `${runs.length === 1 ? "run" : "runs"} ${runs.join(", ")}`;
}
