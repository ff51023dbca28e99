import { ROLES } from "../config/keySpec";
import { linodeRoleOf, stackResourceNames } from "../stacks/resourceNames";

/**
 * Where the mocks put each Linode and NodeBalancer: a region's prefixes plus a host octet taken
 * from the resource's role. Unit tests use documentation ranges for public addresses and Linode's
 * private range; the lab passes its own regions (lab/addressPlan.ts).
 */

export interface LinodeAddresses {
  publicIpv4: string;
  privateIpv4: string;
  ipv6: string;
}

export interface AddressPlan {
  /** `replacement`: how many times the Linode was replaced (0: the original). */
  linode(resourceName: string, region: string, replacement?: number): LinodeAddresses;
  nodeBalancer(resourceName: string, region: string): { ipv4: string; ipv6: string };
}

export interface RegionAddresses {
  /** First three octets of public IPv4s, e.g. "198.51.100". */
  publicPrefix: string;
  /** First three octets of private IPv4s, e.g. "192.168.128". */
  privatePrefix: string;
  /** Added to the host octet of private addresses (lets a lab put both in one /24). */
  privateHostOffset?: number;
  /** IPv6 prefix without the host part, e.g. "2001:db8:a::". */
  ipv6Prefix: string;
}

/**
 * Host octets by role, so an address depends on what a resource is, never on creation order. The
 * lab's address plan (lab/addressPlan.ts) places its hosts by the same octets.
 */
export const HOST_OCTETS = {
  nodeBalancer: 5,
  database: 10,
  app: (index: number): number => 20 + index,
  witness: 40,
} as const;

/**
 * A replaced Linode gets other addresses than the one it replaces, as on Linode (a destroyed
 * Linode's addresses go back to the pool): each replacement moves its host octets up by this
 * step, so an address still says which role holds it.
 */
export const REPLACEMENT_OCTET_STEP = 100;
/** Replacements one role can have in a /24 before its octets would pass 254. */
export const MAX_REPLACEMENTS = 2;

function replacedOctet(octet: number, replacement: number, resourceName: string): number {
  if (!Number.isInteger(replacement) || replacement < 0 || replacement > MAX_REPLACEMENTS)
    throw new Error(
      `address plan: ${resourceName} replaced ${replacement} times; expected a whole number from 0 to ${MAX_REPLACEMENTS}`,
    );
  return octet + replacement * REPLACEMENT_OCTET_STEP;
}

function linodeOctet(resourceName: string): number {
  const role = linodeRoleOf(resourceName);
  if (!role) throw new Error(`address plan: ${resourceName} is none of the program's Linodes`);
  switch (role.tier) {
    case "database":
      return HOST_OCTETS.database;
    case "app":
      return HOST_OCTETS.app(role.index);
    case "witness":
      return HOST_OCTETS.witness;
  }
}

function nodeBalancerOctet(resourceName: string): number {
  if (!ROLES.some((role) => stackResourceNames(role).loadBalancer.nodeBalancer === resourceName))
    throw new Error(`address plan: ${resourceName} is none of the program's NodeBalancers`);
  return HOST_OCTETS.nodeBalancer;
}

/**
 * Deterministic addresses: a region's prefix plus a host octet taken from the resource's role.
 * Unit tests default to documentation ranges for public addresses and Linode's private range.
 */
export function regionAddressPlan(regions: Record<string, RegionAddresses>): AddressPlan {
  const of = (region: string): RegionAddresses => {
    const found = regions[region];
    if (!found) throw new Error(`address plan has no addresses for region "${region}"`);
    return found;
  };
  return {
    linode(name, region, replacement = 0) {
      const r = of(region);
      const host = replacedOctet(linodeOctet(name), replacement, name);
      return {
        publicIpv4: `${r.publicPrefix}.${host}`,
        privateIpv4: `${r.privatePrefix}.${host + (r.privateHostOffset ?? 0)}`,
        ipv6: `${r.ipv6Prefix}${host}/128`,
      };
    },
    nodeBalancer(name, region) {
      const r = of(region);
      const host = nodeBalancerOctet(name);
      return { ipv4: `${r.publicPrefix}.${host}`, ipv6: `${r.ipv6Prefix}${host}` };
    },
  };
}

export function unitTestAddressPlan(): AddressPlan {
  return regionAddressPlan({
    "us-ord": { publicPrefix: "198.51.100", privatePrefix: "192.168.128", ipv6Prefix: "2001:db8:a::" },
    "us-sea": { publicPrefix: "203.0.113", privatePrefix: "192.168.129", ipv6Prefix: "2001:db8:b::" },
    "us-iad": { publicPrefix: "192.0.2", privatePrefix: "192.168.130", ipv6Prefix: "2001:db8:c::" },
  });
}
