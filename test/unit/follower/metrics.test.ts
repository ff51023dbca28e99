import { describe, expect, it } from "vitest";
import { renderMetrics, type MetricsSnapshot } from "../../../follower/src/metrics";

const SNAPSHOT: MetricsSnapshot = {
  leader: "dr",
  traffic: "primary",
  healthy: { primary: false, dr: true },
  moves: 3,
  failures: { api: 2, observe: 17 },
  paused: true,
  secondsSinceDecision: 0.8125,
};

describe("renderMetrics (Prometheus text format 0.0.4)", () => {
  it("writes every series, each labelled gauge 0 or 1 for every label value", () => {
    const samples = renderMetrics(SNAPSHOT)
      .split("\n")
      .filter((l) => l !== "" && !l.startsWith("#"));
    expect(samples).toEqual([
      'linode_dr_follower_leader{member="primary"} 0',
      'linode_dr_follower_leader{member="dr"} 1',
      'linode_dr_follower_leader{member="none"} 0',
      'linode_dr_follower_traffic_target{region="primary"} 1',
      'linode_dr_follower_traffic_target{region="dr"} 0',
      'linode_dr_follower_traffic_target{region="elsewhere"} 0',
      'linode_dr_follower_traffic_target{region="unknown"} 0',
      'linode_dr_follower_region_healthy{region="primary"} 0',
      'linode_dr_follower_region_healthy{region="dr"} 1',
      "linode_dr_follower_moves_total 3",
      'linode_dr_follower_failures_total{kind="api"} 2',
      'linode_dr_follower_failures_total{kind="observe"} 17',
      "linode_dr_follower_paused 1",
      "linode_dr_follower_seconds_since_decision 0.813",
    ]);
  });

  it("gives each metric one HELP and one TYPE line before its samples, and ends with a newline", () => {
    const text = renderMetrics({ ...SNAPSHOT, leader: undefined, traffic: "unknown", paused: false });
    expect(text.endsWith("\n")).toBe(true);
    expect(text).toContain('linode_dr_follower_leader{member="none"} 1\n');
    expect(text).toContain('linode_dr_follower_traffic_target{region="unknown"} 1\n');
    expect(text).toContain("linode_dr_follower_paused 0\n");
    const lines = text.trimEnd().split("\n");
    const names = new Set(lines.filter((l) => !l.startsWith("#")).map((l) => l.split(/[{ ]/)[0]));
    for (const name of names) {
      const help = lines.indexOf(lines.find((l) => l.startsWith(`# HELP ${name} `))!);
      const type = lines.indexOf(`# TYPE ${name} ${name.endsWith("_total") ? "counter" : "gauge"}`);
      const first = lines.findIndex((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
      expect([help >= 0, type === help + 1, first === type + 1]).toEqual([true, true, true]);
    }
    expect(names.size).toBe(7);
  });
});
