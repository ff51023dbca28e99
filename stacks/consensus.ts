import type { StackConfig } from "../config";
import {
  CONSENSUS_DEFAULTS,
  type ClusterMember,
  type ConsensusSettings,
  type MemberName,
} from "../provisioning/consensus";
import { clusterScope, databaseServerName, PATRONI_REST_USER, witnessServerName } from "./names";

/** The three members, addressed by the names in their certificates; ipv4 where known. */
export function clusterMembers(
  config: StackConfig,
  ipv4s: Partial<Record<MemberName, string | undefined>>,
): ClusterMember[] {
  const names: Record<MemberName, string> = {
    primary: databaseServerName("primary", config.appName, config.domain),
    dr: databaseServerName("dr", config.appName, config.domain),
    witness: witnessServerName(config.appName, config.domain),
  };
  return (["primary", "dr", "witness"] as const).map((name) => ({
    name,
    serverName: names[name],
    ...(ipv4s[name] ? { ipv4: ipv4s[name] } : {}),
  }));
}

/** The members other than `self` whose addresses are known: the converge command's peer lines. */
export function knownPeers(members: ClusterMember[], self: MemberName): ClusterMember[] {
  return members.filter((m) => m.name !== self && m.ipv4 !== undefined);
}

/**
 * Whether `self` founds the cluster (a new etcd cluster, then Patroni's initdb). Only the primary's
 * database does, and only at the first bring-up: the one time the evidence says no cluster exists
 * is that the dr stack has published neither of its members. Once either is known (drStack set,
 * the dr stack up), a new primary database is a rebuild and joins the cluster that survived it;
 * not reaching its peers (whose firewalls do not admit a new address yet) proves nothing.
 */
export function foundsCluster(self: MemberName, members: ClusterMember[]): boolean {
  return self === "primary" && members.every((m) => m.name === "primary" || m.ipv4 === undefined);
}

export function consensusSettings(
  config: StackConfig,
  self: MemberName,
  members: ClusterMember[],
  restApiPassword: string,
): ConsensusSettings {
  const l = config.leadership;
  return {
    scope: clusterScope(config.appName),
    self,
    members,
    founder: foundsCluster(self, members),
    // Not a config key: tuned for a cross-region round trip of 30-120 ms (docs/consensus.md).
    etcd: { ...CONSENSUS_DEFAULTS.etcd },
    patroni: {
      ttl: l.ttlSeconds,
      loopWait: l.loopWaitSeconds,
      retryTimeout: l.retryTimeoutSeconds,
      maximumLagOnFailover: l.maximumLagOnFailoverBytes,
      maximumDataLossSeconds: l.maximumDataLossSeconds,
      synchronousMode: l.synchronous,
      automaticFailover: l.automatic,
    },
    restApi: { username: PATRONI_REST_USER, password: restApiPassword },
    joinTimeoutSeconds: config.postgres.replicaWaitTimeoutSeconds,
  };
}
