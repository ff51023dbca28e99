import type { OrderAttempt } from "../lab/workload/orders";

/**
 * How long the client waited for an acknowledged write, split by where it was served: through the
 * leader's own region (its apps write to their local member) or through the other region's apps,
 * which write to the leader across the WAN. Apps write to the leader wherever it is, so between a
 * leader change and traffic following it the client is served remotely; this is what that costs.
 * Pure: the runner passes the attempts and who led when.
 */

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p95Ms: number;
}

export interface WriteLatency {
  /** Through the region whose member led when the write was sent. */
  local: LatencySummary | null;
  /** Through the other region's apps, to the leader across regions. */
  remote: LatencySummary | null;
}

export interface LatencyInput {
  attempts: readonly OrderAttempt[];
  /** The region whose member led at `at` (epoch ms), or null while that is unknown. */
  leaderRegionAt(at: number): string | null;
  /** The region whose NodeBalancer has `address`, or null. */
  regionOfAddress(address: string): string | null;
  /** Leader changes (epoch ms): a write in flight across one is in neither group. */
  changes: readonly number[];
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function summary(durations: number[]): LatencySummary | null {
  if (durations.length === 0) return null;
  const sorted = [...durations].sort((a, b) => a - b);
  return { count: sorted.length, p50Ms: percentile(sorted, 50), p95Ms: percentile(sorted, 95) };
}

export function writeLatency(input: LatencyInput): WriteLatency {
  const local: number[] = [];
  const remote: number[] = [];
  for (const a of input.attempts) {
    if (a.status !== 201 || a.address === null) continue;
    if (input.changes.some((c) => a.start <= c && c <= a.end)) continue;
    const leader = input.leaderRegionAt(a.start);
    const served = input.regionOfAddress(a.address);
    if (leader === null || served === null) continue;
    (served === leader ? local : remote).push(a.end - a.start);
  }
  return { local: summary(local), remote: summary(remote) };
}

/** One line for the report, or nothing when no write was served remotely. */
export function latencyNote(l: WriteLatency): string | undefined {
  if (!l.remote) return undefined;
  const part = (s: LatencySummary) =>
    `p50 ${s.p50Ms.toFixed(0)} ms, p95 ${s.p95Ms.toFixed(0)} ms (${s.count} writes)`;
  return `Writes served through the other region's apps to the remote leader: ${part(l.remote)}; through the leader's own region: ${l.local ? part(l.local) : "none"}.`;
}
