import { isIPv4 } from "node:net";

/**
 * The lab may only ever configure or contact the IPv4 documentation ranges (RFC 5737) and loopback:
 * nothing it does can reach a real network even if a route leaks.
 */
export const DOCUMENTATION_RANGES = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"] as const;

export interface Cidr {
  network: number;
  prefix: number;
}

export function ipToInt(address: string): number {
  if (!isIPv4(address)) throw new Error(`"${address}" is not an IPv4 address`);
  return address.split(".").reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

export function intToIp(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
}

export function parseCidr(text: string): Cidr {
  const match = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(text);
  if (!match) throw new Error(`"${text}" is not an IPv4 CIDR like 198.51.100.0/24`);
  const prefix = Number(match[2]);
  if (prefix > 30) throw new Error(`"${text}": prefix /${prefix} leaves no room for a router and hosts`);
  const size = 2 ** (32 - prefix);
  const network = ipToInt(match[1]);
  if (network % size !== 0)
    throw new Error(`"${text}" has host bits set; expected ${intToIp(network - (network % size))}/${prefix}`);
  return { network, prefix };
}

export function cidrContains(cidr: Cidr, address: string): boolean {
  const value = ipToInt(address);
  return value >= cidr.network && value < cidr.network + 2 ** (32 - cidr.prefix);
}

/** Throws unless the whole CIDR lies inside one documentation range. */
export function assertDocumentationCidr(text: string): Cidr {
  const cidr = parseCidr(text);
  const inside = DOCUMENTATION_RANGES.some((range) => {
    const outer = parseCidr(range);
    return cidr.prefix >= outer.prefix && cidrContains(outer, intToIp(cidr.network));
  });
  if (!inside)
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
  return intToIp(cidr.network + 1);
}

export function isUsableHostAddress(cidr: Cidr, address: string): boolean {
  const value = ipToInt(address);
  const broadcast = cidr.network + 2 ** (32 - cidr.prefix) - 1;
  return (
    cidrContains(cidr, address) && value !== cidr.network && value !== broadcast && value !== cidr.network + 1
  );
}
