import type { StackConfig } from "../config";
import { HEALTH_CHECK_PATH } from "../components/loadBalancer";
import { FOLLOWER_DEFAULTS, type FollowerSettings } from "../follower/src/settings";
import { PATRONI_REST_PORT } from "../provisioning/consensus";
import { databaseServerName } from "./names";

/** What the follower learns from the stacks: the records it moves and each region's NodeBalancer. */
export interface FollowerTargets {
  domainId: number;
  records: { a: number; aaaa: number };
  nodeBalancers: Record<"primary" | "dr", { ipv4: string; ipv6: string }>;
}

/** Linode reports a NodeBalancer's IPv6 as an address; a record's target never carries a prefix. */
function bareIpv6(address: string): string {
  return address.replace(/\/128$/, "");
}

/**
 * The follower's settings file from the stack config: the same health request as the NodeBalancer's
 * own check, each member's REST API by the name in its certificate, the config's timing.
 */
export function followerSettings(config: StackConfig, targets: FollowerTargets): FollowerSettings {
  const region = (role: "primary" | "dr") => ({
    nodeBalancer: {
      ipv4: targets.nodeBalancers[role].ipv4,
      ipv6: bareIpv6(targets.nodeBalancers[role].ipv6),
    },
    member: {
      name: role,
      serverName: databaseServerName(role, config.appName, config.domain),
      restPort: PATRONI_REST_PORT,
    },
  });
  return {
    ...FOLLOWER_DEFAULTS,
    apiUrl: config.follower.apiUrl,
    domainId: targets.domainId,
    records: targets.records,
    regions: { primary: region("primary"), dr: region("dr") },
    health: {
      port: 80,
      path: HEALTH_CHECK_PATH,
      timeoutMs: config.healthCheck.timeoutSeconds * 1000,
    },
    debounceSeconds: config.follower.debounceSeconds,
    cooldownSeconds: config.follower.cooldownSeconds,
  };
}
