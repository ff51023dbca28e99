/**
 * consensus.conf as cloud-init writes it for a member of scope "app" (names under
 * app.example.com, short join timeout), for the scripts under test. `addresses` adds the members'
 * IPv4 lines; a witness gets no database settings, as the program renders it. `extra` adds settings
 * (a member provisioned before a setting existed has none of it).
 */
export function consensusConf(
  self: "primary" | "dr" | "witness",
  addresses: Partial<Record<"primary" | "dr" | "witness", string>> = {},
  extra: Record<string, string> = {},
): string {
  const lines = [
    "SCOPE=app",
    `SELF=${self}`,
    "FOUNDER=false",
    "NAME_PRIMARY=db-primary.app.example.com",
    "NAME_DR=db-dr.app.example.com",
    "NAME_WITNESS=witness.app.example.com",
    ...Object.entries(addresses).map(([member, ipv4]) => `IPV4_${member.toUpperCase()}=${ipv4}`),
    "ETCD_HEARTBEAT_MS=100",
    "ETCD_ELECTION_MS=1000",
    "JOIN_TIMEOUT_SECONDS=2",
  ];
  if (self !== "witness")
    lines.push(
      "TTL=10",
      "LOOP_WAIT=2",
      "RETRY_TIMEOUT=4",
      "MAXIMUM_LAG_ON_FAILOVER=1048576",
      "SYNCHRONOUS_MODE=false",
      "AUTOMATIC_FAILOVER=true",
      "REST_USER=patroni",
    );
  lines.push(...Object.entries(extra).map(([key, value]) => `${key}=${value}`));
  return [...lines, ""].join("\n");
}
