import { Derived, Unset, type AnyKeySpec, type Schema } from "./keySpec";

/** The README's table of config keys, generated from the schema table between two marker comments. */

export const BEGIN_MARKER = "<!-- config-keys:begin -->";
export const END_MARKER = "<!-- config-keys:end -->";

/** Outside code spans, `<appName>` would be read as an HTML tag; `|` would end the cell anywhere. */
function markdownText(text: string): string {
  return text
    .split(/(`[^`]*`)/)
    .map((part, i) => (i % 2 === 1 ? part : part.replace(/</g, "\\<")))
    .join("")
    .replace(/\|/g, "\\|");
}

function defaultCell(spec: AnyKeySpec): string {
  const d: unknown = spec.default;
  if (d instanceof Unset) return d.kind === "required" ? "required" : "unset";
  if (d instanceof Derived) return `\`${d.text}\``;
  if (spec.validator.written) return `\`${spec.validator.written(d)}\``;
  return `\`${typeof d === "string" ? d : JSON.stringify(d)}\``;
}

function row(key: string, spec: AnyKeySpec): string[] {
  const stacks = spec.stacks === "both" ? "both" : spec.stacks.only;
  return [
    `\`${key}\``,
    spec.secret ? `${stacks}, secret` : stacks,
    defaultCell(spec),
    markdownText(spec.description),
  ];
}

/** Padded to the widest cell of each column, as Prettier aligns tables (so `prettier --check` agrees). */
export function renderConfigTable(schema: Schema): string {
  const rows = [
    ["key", "stacks", "default", "description"],
    ...Object.entries(schema).map(([k, s]) => row(k, s)),
  ];
  const widths = rows[0].map((_, column) => Math.max(3, ...rows.map((cells) => [...cells[column]].length)));
  const line = (cells: string[]): string =>
    `| ${cells.map((cell, column) => cell + " ".repeat(widths[column] - [...cell].length)).join(" | ")} |`;
  return [line(rows[0]), line(widths.map((w) => "-".repeat(w))), ...rows.slice(1).map(line)].join("\n");
}

/** `readme` with the text between the markers replaced by the generated table. */
export function renderReadme(readme: string, schema: Schema): string {
  const begin = readme.indexOf(BEGIN_MARKER);
  const end = readme.indexOf(END_MARKER);
  if (begin < 0 || end < begin) throw new Error(`README.md needs ${BEGIN_MARKER} ... ${END_MARKER}`);
  return `${readme.slice(0, begin + BEGIN_MARKER.length)}\n\n${renderConfigTable(schema)}\n\n${readme.slice(end)}`;
}
