import {
  ETCD_CLIENT_PORT,
  ETCD_PEER_PORT,
  PATRONI_REST_PORT,
  POSTGRES_PORT,
} from "../provisioning/consensus";

/**
 * Pure builders for Cloud Firewall inbound rules. Policies are DROP inbound, so every rule here is
 * an explicit admission; the first matching rule wins and a firewall holds at most 25 rules.
 */

export interface FirewallRule {
  label: string;
  action: "ACCEPT";
  protocol: "TCP";
  ports: string;
  ipv4s?: string[];
  ipv6s?: string[];
}

/** NodeBalancers reach their backends from this range (Linode documentation). */
export const NODEBALANCER_SOURCE_CIDR = "192.168.255.0/24";
export { POSTGRES_PORT };
/** etcd's client and peer ports (TLS with client certificates from the project CA). */
export const ETCD_PORTS = `${ETCD_CLIENT_PORT}-${ETCD_PEER_PORT}`;
export const MAX_RULES_PER_FIREWALL = 25;
export const MAX_ADDRESSES_PER_RULE = 255;

function splitFamilies(cidrs: string[]): { ipv4s?: string[]; ipv6s?: string[] } {
  const ipv4s = cidrs.filter((c) => !c.includes(":"));
  const ipv6s = cidrs.filter((c) => c.includes(":"));
  return { ...(ipv4s.length ? { ipv4s } : {}), ...(ipv6s.length ? { ipv6s } : {}) };
}

function hostCidr(ipv4: string): string {
  return `${ipv4}/32`;
}

function checkLimits(rules: FirewallRule[]): FirewallRule[] {
  if (rules.length > MAX_RULES_PER_FIREWALL) {
    throw new Error(
      `a Cloud Firewall holds at most ${MAX_RULES_PER_FIREWALL} rules; this one needs ${rules.length}`,
    );
  }
  for (const rule of rules) {
    const count = (rule.ipv4s?.length ?? 0) + (rule.ipv6s?.length ?? 0);
    if (count > MAX_ADDRESSES_PER_RULE) {
      throw new Error(
        `rule ${rule.label} lists ${count} addresses; a rule holds at most ${MAX_ADDRESSES_PER_RULE}`,
      );
    }
  }
  return rules;
}

function sshRule(adminCidrs: string[]): FirewallRule {
  return { label: "ssh-admin", action: "ACCEPT", protocol: "TCP", ports: "22", ...splitFamilies(adminCidrs) };
}

export function appFirewallRules(args: { appPort: number; adminCidrs: string[] }): FirewallRule[] {
  return checkLimits([
    {
      label: "app-from-nodebalancer",
      action: "ACCEPT",
      protocol: "TCP",
      ports: String(args.appPort),
      ipv4s: [NODEBALANCER_SOURCE_CIDR],
    },
    sshRule(args.adminCidrs),
  ]);
}

/**
 * The database admits PostgreSQL only from this region's app Linodes (their private /32s: the
 * private range is shared with other customers in the data center) and, for replication, from the
 * peer region's database and the peer region's app Linodes (their public /32s: apps write through
 * whichever member leads, so theirs reach this one across regions); etcd only from the other two
 * sites (the peer database and the witness);
 * Patroni's REST API from the peer database (members check each other through it), the witness
 * (the traffic follower reads who leads) and the admins.
 * Peers are absent until the other stack exists.
 */
export function databaseFirewallRules(args: {
  adminCidrs: string[];
  appPrivateIpv4s: string[];
  replicationPeerIpv4?: string;
  peerAppIpv4s?: string[];
  witnessIpv4?: string;
}): FirewallRule[] {
  const rules: FirewallRule[] = [sshRule(args.adminCidrs)];
  if (args.appPrivateIpv4s.length > 0) {
    rules.push({
      label: "pg-from-app",
      action: "ACCEPT",
      protocol: "TCP",
      ports: String(POSTGRES_PORT),
      ipv4s: [...args.appPrivateIpv4s].sort().map(hostCidr),
    });
  }
  if (args.replicationPeerIpv4) {
    rules.push({
      label: "pg-replication-peer",
      action: "ACCEPT",
      protocol: "TCP",
      ports: String(POSTGRES_PORT),
      ipv4s: [hostCidr(args.replicationPeerIpv4)],
    });
  }
  if (args.peerAppIpv4s && args.peerAppIpv4s.length > 0) {
    rules.push({
      label: "pg-from-peer-apps",
      action: "ACCEPT",
      protocol: "TCP",
      ports: String(POSTGRES_PORT),
      ipv4s: [...args.peerAppIpv4s].sort().map(hostCidr),
    });
  }
  const consensusPeers = [args.replicationPeerIpv4, args.witnessIpv4].filter((a): a is string => Boolean(a));
  if (consensusPeers.length > 0) {
    rules.push({
      label: "etcd-from-sites",
      action: "ACCEPT",
      protocol: "TCP",
      ports: ETCD_PORTS,
      ipv4s: consensusPeers.map(hostCidr),
    });
  }
  // The witness reads both members' views there to know who leads (the traffic follower).
  const restClients = [...consensusPeers.map(hostCidr), ...args.adminCidrs];
  rules.push({
    label: "patroni-rest",
    action: "ACCEPT",
    protocol: "TCP",
    ports: String(PATRONI_REST_PORT),
    ...splitFamilies(restClients),
  });
  return checkLimits(rules);
}

/** The witness runs one etcd member: etcd from both databases, SSH from the admins, nothing else. */
export function witnessFirewallRules(args: {
  adminCidrs: string[];
  databaseIpv4s: string[];
}): FirewallRule[] {
  const rules: FirewallRule[] = [sshRule(args.adminCidrs)];
  if (args.databaseIpv4s.length > 0) {
    rules.push({
      label: "etcd-from-sites",
      action: "ACCEPT",
      protocol: "TCP",
      ports: ETCD_PORTS,
      ipv4s: [...args.databaseIpv4s].sort().map(hostCidr),
    });
  }
  return checkLimits(rules);
}
