/** The drill report: data model, statistics, Markdown, timeline SVG, terminal output, files. */
export * from "./model";
export { median, p95, statOf, summarise } from "./stats";
export type { InvariantSummary, PhaseStat, ReportSummary, Stat } from "./stats";
export { formatCount, formatSeconds } from "./format";
export { renderMarkdown } from "./markdown";
export { escapeXml, renderTimelineSvg } from "./svg";
export { renderSummary } from "./summary";
export { reportTimestamp, writeReport } from "./write";
export { intervalTicker, Progress } from "./progress";
export type { ProgressStream, Ticker } from "./progress";
