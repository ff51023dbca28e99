import type { StackConfig } from "../config";
import type { ClusterMember, ConsensusSettings, MemberName } from "../provisioning/database";
import { clusterScope, databaseServerName, PATRONI_REST_USER, witnessServerName } from "./names";

/**
 * etcd timing for members one cross-region round trip (30-120 ms) apart: a heartbeat slower than
 * the round trip (150 ms) so followers do not call elections on a slow link, and an election
 * timeout of 10 heartbeats (1.5 s), the ratio etcd recommends, far below Patroni's lease (10 s),
 * so a lost etcd leader is replaced long before a Patroni lease could lapse because of it.
 */
export const ETCD_TIMING = { heartbeatMs: 150, electionMs: 1500 } as const;

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
    founder: self === "primary",
    etcd: { ...ETCD_TIMING },
    patroni: {
      ttl: l.ttlSeconds,
      loopWait: l.loopWaitSeconds,
      retryTimeout: l.retryTimeoutSeconds,
      maximumLagOnFailover: l.maximumLagOnFailoverBytes,
      synchronousMode: l.synchronous,
      automaticFailover: l.automatic,
    },
    restApi: { username: PATRONI_REST_USER, password: restApiPassword },
    joinTimeoutSeconds: config.postgres.replicaWaitTimeoutSeconds,
  };
}
