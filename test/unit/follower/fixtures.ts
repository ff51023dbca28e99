import { FOLLOWER_DEFAULTS, type FollowerSettings } from "../../../follower/src/settings";

/** Settings as the program would render them for the lab's addresses (documentation ranges). */
export function followerSettings(change: Partial<FollowerSettings> = {}): FollowerSettings {
  return {
    ...FOLLOWER_DEFAULTS,
    health: { ...FOLLOWER_DEFAULTS.health },
    metrics: { ...FOLLOWER_DEFAULTS.metrics },
    domainId: 1234,
    records: { a: 501, aaaa: 502 },
    regions: {
      primary: {
        nodeBalancer: { ipv4: "198.51.100.5", ipv6: "2001:db8:a::5" },
        member: { name: "primary", serverName: "db-primary.app.example.com", restPort: 8008 },
      },
      dr: {
        nodeBalancer: { ipv4: "203.0.113.5", ipv6: "2001:db8:b::5" },
        member: { name: "dr", serverName: "db-dr.app.example.com", restPort: 8008 },
      },
    },
    ...change,
  };
}
