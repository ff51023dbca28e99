/**
 * One log line: `key=value` pairs, time first; a value with spaces, quotes or `=` is quoted as a
 * JSON string, so a line splits back into its pairs. Absent values are left out.
 */
export type LogFields = Record<string, string | number | boolean | undefined>;

export function logLine(time: number, fields: LogFields): string {
  const pairs = [`time=${new Date(time).toISOString()}`];
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const text = String(value);
    pairs.push(`${key}=${/^[^\s"=\\]+$/.test(text) ? text : JSON.stringify(text)}`);
  }
  return pairs.join(" ");
}
