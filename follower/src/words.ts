import type { Health, Traffic } from "./observe";
import type { View } from "./patroni";

/** The words the log, status, dry-run and decisions use for the evidence, so that they agree. */

export function healthText(health: Health): string {
  if (health.state === "healthy") return "healthy";
  if (health.state === "unhealthy") return `unhealthy ${health.status}`;
  return `unreachable ${health.reason}`;
}

export function trafficText(traffic: Traffic): string {
  if (traffic.state === "unknown") return `unknown (${traffic.reason})`;
  return `${traffic.site} (A ${traffic.a}, AAAA ${traffic.aaaa})`;
}

export function viewText(view: View): string {
  if (view.state === "leader") return `names ${view.leader}`;
  if (view.state === "no-leader") return "names no running leader";
  return `no answer (${view.reason})`;
}

/** Cut to the tenth, never rounded up: 4.99 s short of a 5 s debounce reads "4.9 s". */
export function secondsText(ms: number): string {
  return `${(Math.floor(ms / 100) / 10).toFixed(1)} s`;
}

export function timeText(epochMs: number): string {
  return new Date(epochMs).toISOString();
}
