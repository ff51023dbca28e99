import { isIPv4 } from "node:net";
import {
  addressAt,
  cidrContains as contains,
  cidrText,
  cidrWithin,
  hasHostBits,
  networkOf,
  parseCidr as parseAnyCidr,
  sameAddress,
  type Cidr,
} from "../validation/cidr";

export type { Cidr } from "../validation/cidr";

/**
 * The lab may only ever configure or contact the IPv4 documentation ranges (RFC 5737) and loopback:
 * nothing it does can reach a real network even if a route leaks. The CIDR arithmetic is the
 * program's own (validation/cidr.ts); this adds the lab's rules on top.
 */
export const DOCUMENTATION_RANGES = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"] as const;

/** An IPv4 region of the lab: room for a router and hosts, written as its network address. */
export function parseCidr(text: string): Cidr {
  const cidr = parseAnyCidr(text);
  if (cidr?.family !== "ipv4") throw new Error(`"${text}" is not an IPv4 CIDR like 198.51.100.0/24`);
  if (cidr.prefix > 30)
    throw new Error(`"${text}": prefix /${cidr.prefix} leaves no room for a router and hosts`);
  if (hasHostBits(cidr))
    throw new Error(`"${text}" has host bits set; expected ${cidrText(networkOf(cidr))}`);
  return cidr;
}

function requireIpv4(address: string): void {
  if (!isIPv4(address)) throw new Error(`"${address}" is not an IPv4 address`);
}

export function cidrContains(cidr: Cidr, address: string): boolean {
  requireIpv4(address);
  return contains(cidr, address);
}

/** Throws unless the whole CIDR lies inside one documentation range. */
export function assertDocumentationCidr(text: string): Cidr {
  const cidr = parseCidr(text);
  if (!DOCUMENTATION_RANGES.some((range) => cidrWithin(cidr, parseCidr(range))))
    throw new Error(`"${text}" is outside the documentation ranges ${DOCUMENTATION_RANGES.join(", ")}`);
  return cidr;
}

export function assertDocumentationAddress(address: string): string {
  if (!DOCUMENTATION_RANGES.some((range) => cidrContains(parseCidr(range), address))) {
    throw new Error(`"${address}" is outside the documentation ranges ${DOCUMENTATION_RANGES.join(", ")}`);
  }
  return address;
}

/** The region's router takes the first address, as in docs/architecture.md's address plan. */
export function gatewayOf(cidr: Cidr): string {
  return addressAt(cidr, 1);
}

/** Inside the region, and neither its network, its router nor its broadcast address. */
export function isUsableHostAddress(cidr: Cidr, address: string): boolean {
  const reserved = [addressAt(cidr, 0), gatewayOf(cidr), addressAt(cidr, -1)];
  return cidrContains(cidr, address) && !reserved.some((r) => sameAddress(r, address));
}
