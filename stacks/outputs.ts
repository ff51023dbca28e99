/**
 * Stack output names one stack publishes and the other reads through a StackReference.
 * Keeping them in one place is what keeps the two stacks in agreement.
 */
export const PRIMARY_OUTPUTS = {
  domainId: "domainId",
  nodeBalancerIpv4: "nodeBalancerIpv4",
  nodeBalancerIpv6: "nodeBalancerIpv6",
  databasePublicIpv4: "databasePublicIpv4",
  /** The primary database's SSH host key, which the dr stack pins when the flag names region A. */
  databaseHostKey: "databaseHostKey",
  /**
   * The private half of the leadership key (secret): it may run only the failover flag's command
   * on the primary database (linode-dr-leader-gate).
   */
  leadershipPrivateKey: "leadershipPrivateKey",
  databaseServerName: "databaseServerName",
  replication: "replication",
  appDatabase: "appDatabase",
  /** PostgreSQL superuser (Patroni: bootstrap, pg_rewind) and Patroni REST API passwords. */
  clusterSecrets: "clusterSecrets",
  /** The dr stack the last update read ("" before drStack was set): stacks/founderGuard.ts reads it back. */
  drStack: "drStack",
} as const;

export const DR_OUTPUTS = {
  databasePublicIpv4: "databasePublicIpv4",
  witnessPublicIpv4: "witnessPublicIpv4",
  /** The flag as the last update applied it; the next update reads it back (stacks/trafficGuard.ts). */
  failover: "failover",
  /** The traffic A record and its domain, so the next update can read what Linode serves now. */
  trafficRecordId: "trafficRecordId",
  trafficDomainId: "trafficDomainId",
  /** Each region's NodeBalancer as the last update saw them: where the follower may point traffic. */
  nodeBalancerIpv4: "nodeBalancerIpv4",
  primaryNodeBalancerIpv4: "primaryNodeBalancerIpv4",
} as const;

/**
 * What both stacks publish about their CAs (stacks/certificateAuthorities.ts): never a private key.
 * The other stack puts `caCertsPem` in its members' bundle; both read `trustedCaGenerations` back
 * before a CA roll step (stacks/caGuard.ts).
 */
export const CA_OUTPUTS = {
  /** This stack's CA certificates, the signing one first. */
  caCertsPem: "caCertsPem",
  /** This stack's CA generations as applied, the signing one first. */
  caGenerations: "caGenerations",
  /** Which generations of each stack's CAs this stack's members were given to trust. */
  trustedCaGenerations: "trustedCaGenerations",
} as const;

/** What both stacks publish about their region for the other's database firewall. */
export const SITE_OUTPUTS = {
  /** The app Linodes' public IPv4s: the other region's database admits them (apps write to the leader). */
  appPublicIpv4s: "appPublicIpv4s",
} as const;

/** Reads a SITE_OUTPUTS.appPublicIpv4s value back; a stack from before it existed has none. */
export function asIpv4List(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((v) => typeof v === "string") ? (value as string[]) : undefined;
}

/** What both stacks publish about the SSH keys they rotate (stacks/keyGuard.ts reads it back). */
export const KEY_OUTPUTS = {
  /** The automation key generations this stack's Linodes authorize, the one commands log in with first. */
  authorizedAutomationKeys: "authorizedAutomationKeys",
  /** The host key generations this stack's Linodes serve, the one commands pin first. */
  servedHostKeys: "servedHostKeys",
} as const;

export interface ReplicationCredentials {
  user: string;
  password: string;
}

/** Shared by every member of the cluster, made once by the primary stack. */
export interface ClusterSecrets {
  superuserPassword: string;
  restApiPassword: string;
}
