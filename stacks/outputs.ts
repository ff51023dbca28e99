/**
 * Stack output names one stack publishes and the other reads through a StackReference.
 * Keeping them in one place is what keeps the two stacks in agreement.
 */
export const PRIMARY_OUTPUTS = {
  domainId: "domainId",
  nodeBalancerIpv4: "nodeBalancerIpv4",
  nodeBalancerIpv6: "nodeBalancerIpv6",
  databasePublicIpv4: "databasePublicIpv4",
  databaseServerName: "databaseServerName",
  caCertPem: "caCertPem",
  caPrivateKeyPem: "caPrivateKeyPem",
  replication: "replication",
  appDatabase: "appDatabase",
} as const;

export const DR_OUTPUTS = {
  databasePublicIpv4: "databasePublicIpv4",
} as const;

export interface ReplicationCredentials {
  user: string;
  password: string;
  slotName: string;
}
