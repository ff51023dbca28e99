import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { SITES, type Site } from "./settings";

/**
 * GET /metrics in Prometheus text format 0.0.4, written by hand (no runtime dependencies).
 * Every series of a labelled gauge is always present, 0 or 1, so that an alert can ask for the
 * value rather than for the series' existence.
 */

export interface MetricsSnapshot {
  leader: Site | undefined;
  traffic: Site | "elsewhere" | "unknown";
  healthy: Record<Site, boolean>;
  moves: number;
  failures: { api: number; observe: number };
  paused: boolean;
  /** Since the loop last decided (before its first decision: since the start): grows when it is stuck. */
  secondsSinceDecision: number;
}

export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export function renderMetrics(m: MetricsSnapshot): string {
  const lines: string[] = [];
  const metric = (name: string, type: "gauge" | "counter", help: string, series: [string, number][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of series) lines.push(`${name}${labels} ${value}`);
  };
  const bit = (on: boolean) => (on ? 1 : 0);
  metric(
    "linode_dr_follower_leader",
    "gauge",
    "1 for the member that leads as the follower sees it (none: no leader, or the views disagree).",
    [...SITES, "none" as const].map((member) => [
      `{member="${member}"}`,
      bit((m.leader ?? "none") === member),
    ]),
  );
  metric(
    "linode_dr_follower_traffic_target",
    "gauge",
    "1 for where both traffic records point (elsewhere: not both at one region; unknown: unread).",
    [...SITES, "elsewhere" as const, "unknown" as const].map((region) => [
      `{region="${region}"}`,
      bit(m.traffic === region),
    ]),
  );
  metric(
    "linode_dr_follower_region_healthy",
    "gauge",
    "1 when the region's NodeBalancer answers its health check with 200 from the witness.",
    SITES.map((region) => [`{region="${region}"}`, bit(m.healthy[region])]),
  );
  metric("linode_dr_follower_moves_total", "counter", "Moves of the traffic records completed.", [
    ["", m.moves],
  ]);
  metric(
    "linode_dr_follower_failures_total",
    "counter",
    "Failed Linode API calls (api) and member views or health checks without an answer (observe).",
    [
      ['{kind="api"}', m.failures.api],
      ['{kind="observe"}', m.failures.observe],
    ],
  );
  metric("linode_dr_follower_paused", "gauge", "1 while paused: every move is held.", [["", bit(m.paused)]]);
  metric("linode_dr_follower_seconds_since_decision", "gauge", "Seconds since the loop last decided.", [
    ["", Math.round(m.secondsSinceDecision * 1000) / 1000],
  ]);
  return `${lines.join("\n")}\n`;
}

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/** Serves GET /metrics from `snapshot()`; any other method or path is 404. */
export async function startMetricsServer(
  address: string,
  port: number,
  snapshot: () => MetricsSnapshot,
): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const pathname = new URL(req.url ?? "/", "http://metrics").pathname;
    if (req.method !== "GET" || pathname !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
      res.end("not found: only GET /metrics\n");
      return;
    }
    res.writeHead(200, { "content-type": METRICS_CONTENT_TYPE });
    res.end(renderMetrics(snapshot()));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, address, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
