import { HOST_OCTETS, regionAddressPlan, type AddressPlan } from "../evaluation/addressPlan";
import { bringUp, type BringUp } from "../evaluation/bringUp";
import type { Site } from "./faults/roles";

/**
 * The lab's address plan, the only place it is written down. Region A (primary, us-ord) is
 * 198.51.100.0/24, region B (dr, us-sea) 203.0.113.0/24, the third site (us-iad: the witness,
 * Object Storage, DNS, users and the operator) 192.0.2.0/24. A lab host has one address, so a
 * Linode's private and public IPv4 coincide. Linodes and NodeBalancers sit at the host octets the
 * program's mocks give their roles (evaluation/addressPlan.ts); the rest are the lab's own.
 */
export const LAB_REGIONS = {
  A: { cidr: "198.51.100.0/24", prefix: "198.51.100", linodeRegion: "us-ord", ipv6Prefix: "2001:db8:a::" },
  B: { cidr: "203.0.113.0/24", prefix: "203.0.113", linodeRegion: "us-sea", ipv6Prefix: "2001:db8:b::" },
  C: { cidr: "192.0.2.0/24", prefix: "192.0.2", linodeRegion: "us-iad", ipv6Prefix: "2001:db8:c::" },
} as const;

/** Which lab region stands for each site of the program. */
export const SITE_REGIONS = { primary: "A", dr: "B", witness: "C" } as const satisfies Record<
  Site,
  keyof typeof LAB_REGIONS
>;

const at = (region: keyof typeof LAB_REGIONS, octet: number): string =>
  `${LAB_REGIONS[region].prefix}.${octet}`;

export const LAB_ADDRESSES = {
  primaryDatabase: at("A", HOST_OCTETS.database),
  primaryApp: (index: number) => at("A", HOST_OCTETS.app(index)),
  primaryNodeBalancer: at("A", HOST_OCTETS.nodeBalancer),
  drDatabase: at("B", HOST_OCTETS.database),
  drApp: (index: number) => at("B", HOST_OCTETS.app(index)),
  drNodeBalancer: at("B", HOST_OCTETS.nodeBalancer),
  /** The witness Linode (stack dr, witnessRegion): one etcd member. */
  witness: at("C", HOST_OCTETS.witness),
  /** Where users and the operator's `pulumi up` stand. */
  client: at("C", 10),
  /** The Object Storage stand-in serving both stacks' release buckets. */
  objectStorage: at("C", 30),
  /** The DNS stand-in: the program's zone, as Linode DNS Manager's nameservers serve it. */
  dns: at("C", 53),
  /** The Linode API stand-in (api.linode.com): domain records, for the traffic follower. */
  linodeApi: at("C", 60),
} as const;

export function labAddressPlan(): AddressPlan {
  return regionAddressPlan(
    Object.fromEntries(
      Object.values(LAB_REGIONS).map((r) => [
        r.linodeRegion,
        { publicPrefix: r.prefix, privatePrefix: r.prefix, ipv6Prefix: r.ipv6Prefix },
      ]),
    ),
  );
}

export type ProgramUserData = BringUp;

/** The README's bring-up evaluated with the lab's addresses (see evaluation/bringUp.ts). */
export function programUserData(
  primaryOverrides: Record<string, string> = {},
  drOverrides: Record<string, string> = {},
): Promise<ProgramUserData> {
  return bringUp(labAddressPlan(), primaryOverrides, drOverrides);
}
