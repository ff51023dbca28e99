import { CONSENSUS_DEFAULTS, type ConsensusSettings, type MemberName } from "../../provisioning/consensus";

/** Consensus settings with the program's defaults and fixed example names, for builder tests. */
export function fixtureConsensus(
  self: MemberName,
  overrides: Partial<ConsensusSettings> = {},
): ConsensusSettings {
  return {
    scope: "linode-dr-shop",
    self,
    members: [
      { name: "primary", serverName: "db-primary.shop.example.com", ipv4: "198.51.100.10" },
      { name: "dr", serverName: "db-dr.shop.example.com", ipv4: "203.0.113.10" },
      { name: "witness", serverName: "witness.shop.example.com" },
    ],
    founder: self === "primary",
    etcd: { ...CONSENSUS_DEFAULTS.etcd },
    patroni: { ...CONSENSUS_DEFAULTS.patroni },
    restApi: { username: "patroni", password: "rest-Secret-8910" },
    joinTimeoutSeconds: CONSENSUS_DEFAULTS.joinTimeoutSeconds,
    ...overrides,
  };
}
