import type { LogFields } from "./logLine";
import type { Observation } from "./observe";
import { SITES } from "./settings";
import { healthText, secondsText, timeText, trafficText, viewText } from "./words";

/** An observation as log fields (one line) and as lines of text (status, dry-run). */

export function evidenceFields(o: Observation, leaderSince: number | undefined): LogFields {
  const fields: LogFields = {
    leader: o.leader.site ?? "none",
    leader_for: leaderSince === undefined ? undefined : secondsText(o.at - leaderSince),
    leader_why: o.leader.why,
  };
  for (const site of SITES) fields[`view_${site}`] = viewText(o.leader.views[site]);
  for (const site of SITES) fields[`health_${site}`] = healthText(o.health[site]);
  fields.traffic = trafficText(o.traffic);
  return fields;
}

export function evidenceLines(o: Observation, leaderSince: number | undefined): string[] {
  const led =
    o.leader.site === undefined || leaderSince === undefined ? "" : ` for ${secondsText(o.at - leaderSince)}`;
  const read = o.traffic.state === "known" ? `, read at ${timeText(o.traffic.readAt)}` : "";
  return [
    `observed:  ${timeText(o.at)}`,
    `leader:    ${o.leader.site ?? "none"}${led} (${o.leader.why})`,
    ...SITES.map((site) => `  ${site}'s view: ${viewText(o.leader.views[site])}`),
    ...SITES.map((site) => `health:    ${site} ${healthText(o.health[site])}`),
    `traffic:   ${trafficText(o.traffic)}${read}`,
  ];
}
