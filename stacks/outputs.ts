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
  /** PostgreSQL superuser (Patroni: bootstrap, pg_rewind) and Patroni REST API passwords. */
  clusterSecrets: "clusterSecrets",
} as const;

export const DR_OUTPUTS = {
  databasePublicIpv4: "databasePublicIpv4",
  witnessPublicIpv4: "witnessPublicIpv4",
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
