import * as linode from "@pulumi/linode";
import * as pulumi from "@pulumi/pulumi";
import type { Role, StackConfig } from "../config";
import { DR_OUTPUTS } from "./outputs";

/**
 * The failover flag and the traffic follower must agree. The follower moves the traffic records
 * when the database leader changes region, without touching this stack's config; a later
 * `pulumi up` whose flag nobody changed would quietly move users back to the region that lost the
 * leader. So an update refuses when the live record points at the other region's NodeBalancer
 * while the flag is what it was at the last update. Changing the flag is always deliberate:
 * adopting the move (the flag now names where traffic already is) or failing back after adopting.
 *
 * The check runs before any resource is declared, so a refused update changes nothing at all; a
 * preview (the nightly drift check included) fails with the same explanation.
 */

export interface TrafficEvidence {
  /** `<appName>.<domain>`, for the message. */
  recordName: string;
  /** The flag of this update. */
  failover: boolean;
  /** The flag at the last completed update (this stack's own previous outputs); undefined before the first. */
  appliedFailover: boolean | undefined;
  /** The A record's target as Linode serves it now; undefined when there is no record yet. */
  liveTarget: string | undefined;
  /** Each region's NodeBalancer IPv4. */
  nodeBalancers: Record<Role, string>;
}

const REGION_OF: Record<Role, string> = { primary: "region A", dr: "region B" };

/** Why this update must not run, or undefined when it may. */
export function trafficFlagProblem(e: TrafficEvidence): string | undefined {
  if (e.appliedFailover === undefined || e.liveTarget === undefined) return undefined;
  const desired: Role = e.failover ? "dr" : "primary";
  const other: Role = e.failover ? "primary" : "dr";
  if (e.liveTarget !== e.nodeBalancers[other] || e.failover !== e.appliedFailover) return undefined;
  return [
    `${e.recordName} points at ${REGION_OF[other]}'s NodeBalancer (${e.liveTarget}), but failover is ${e.failover} and was ${e.appliedFailover} at the last update:`,
    `the traffic follower on the witness moved it there because the database leader moved to ${REGION_OF[other]}.`,
    `This update would send users back to ${REGION_OF[desired]}, so it stops here and changes nothing. Either:`,
    `  - adopt the move: pulumi config set failover ${!e.failover} -s dr && pulumi up -s dr --refresh (no record and no database changes), or`,
    `  - move back deliberately: adopt first, then, once ${REGION_OF[desired]} is ready, pulumi config set failover ${e.failover} -s dr && pulumi up -s dr (a switchover back, then the records).`,
  ].join("\n");
}

/**
 * Reads the evidence (this stack's own outputs from its last completed update, through a
 * StackReference to itself, and the live A record through the Linode API) and throws the problem,
 * if any. The first update has no previous outputs: nothing to compare, nothing refused.
 */
export async function checkTrafficFlag(config: StackConfig, previous: pulumi.StackReference): Promise<void> {
  const read = (key: string) => previous.getOutputValue(key) as Promise<unknown>;
  const [applied, recordId, domainId, drIpv4, primaryIpv4] = await Promise.all([
    read(DR_OUTPUTS.failover),
    read(DR_OUTPUTS.trafficRecordId),
    read(DR_OUTPUTS.trafficDomainId),
    read(DR_OUTPUTS.nodeBalancerIpv4),
    read(DR_OUTPUTS.primaryNodeBalancerIpv4),
  ]);
  if (applied === undefined || recordId === undefined || domainId === undefined) return;
  const live = await linode.getDomainRecord({ domainId: Number(domainId), id: Number(recordId) });
  const problem = trafficFlagProblem({
    recordName: `${config.appName}.${config.domain}`,
    failover: config.failover,
    appliedFailover: Boolean(applied),
    liveTarget: live.target,
    nodeBalancers: { primary: String(primaryIpv4), dr: String(drIpv4) },
  });
  if (problem) throw new Error(problem);
}
