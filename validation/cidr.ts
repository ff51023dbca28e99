import { BlockList, isIPv4, isIPv6 } from "node:net";

/**
 * CIDRs, IPv4 and IPv6: the firewall's admin ranges (config) and the lab's address plan. Node
 * decides what an address is (isIPv4, isIPv6) and what a range contains (BlockList); the arithmetic
 * here only finds a range's network and its n-th address.
 */

export type IpFamily = "ipv4" | "ipv6";

export interface Cidr {
  readonly family: IpFamily;
  /** The address before the slash, in its canonical spelling (IPv6 lower-case and compressed). */
  readonly address: string;
  readonly prefix: number;
}

const BITS: Record<IpFamily, number> = { ipv4: 32, ipv6: 128 };

export function familyOf(address: string): IpFamily | undefined {
  if (isIPv4(address)) return "ipv4";
  // A zone ("fe80::1%eth0") names an interface of one machine: meaningless in a range.
  if (isIPv6(address) && !address.includes("%")) return "ipv6";
  return undefined;
}

/** WHATWG URL serialises IPv6 as RFC 5952 does: lower-case, zeros compressed, no dotted tail. */
function canonicalIpv6(address: string): string {
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

function canonical(address: string, family: IpFamily): string {
  return family === "ipv4" ? address : canonicalIpv6(address);
}

function toBigInt(address: string, family: IpFamily): bigint {
  if (family === "ipv4") return address.split(".").reduce((acc, octet) => (acc << 8n) | BigInt(octet), 0n);
  const [head, tail] = canonicalIpv6(address).split("::");
  const groups = (part: string | undefined): string[] => (part ? part.split(":") : []);
  const zeros =
    tail === undefined ? [] : Array<string>(8 - groups(head).length - groups(tail).length).fill("0");
  return [...groups(head), ...zeros, ...groups(tail)].reduce(
    (acc, group) => (acc << 16n) | BigInt(`0x${group}`),
    0n,
  );
}

function fromBigInt(value: bigint, family: IpFamily): string {
  const [parts, width, radix] = family === "ipv4" ? [4, 8n, 10] : [8, 16n, 16];
  const mask = (1n << width) - 1n;
  const words = Array.from({ length: parts }, (_, i) =>
    ((value >> (width * BigInt(parts - 1 - i))) & mask).toString(radix),
  );
  return family === "ipv4" ? words.join(".") : canonicalIpv6(words.join(":"));
}

/** "address/prefix" with a decimal prefix the family allows, or undefined. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.lastIndexOf("/");
  const prefixText = text.slice(slash + 1);
  if (slash < 0 || !/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) return undefined;
  const address = text.slice(0, slash);
  const family = familyOf(address);
  const prefix = Number(prefixText);
  if (family === undefined || prefix > BITS[family]) return undefined;
  return { family, address: canonical(address, family), prefix };
}

export function cidrText(cidr: Cidr): string {
  return `${cidr.address}/${cidr.prefix}`;
}

/** How many addresses the range holds. */
export function cidrSize(cidr: Cidr): bigint {
  return 1n << BigInt(BITS[cidr.family] - cidr.prefix);
}

/** The range with its host bits cleared: "10.0.0.1/8" is in 10.0.0.0/8. */
export function networkOf(cidr: Cidr): Cidr {
  const value = toBigInt(cidr.address, cidr.family);
  return { ...cidr, address: fromBigInt(value - (value % cidrSize(cidr)), cidr.family) };
}

/** "10.0.0.1/8" admits all of 10.0.0.0/8 on a firewall: almost certainly not what was meant. */
export function hasHostBits(cidr: Cidr): boolean {
  return networkOf(cidr).address !== cidr.address;
}

/** The range's address `index` places after its network address; a negative index counts from the end (-1: the last). */
export function addressAt(cidr: Cidr, index: number): string {
  const network = toBigInt(networkOf(cidr).address, cidr.family);
  const offset = index < 0 ? cidrSize(cidr) + BigInt(index) : BigInt(index);
  return fromBigInt(network + offset, cidr.family);
}

/** Whether two spellings name the same address ("2001:DB8::1" and "2001:db8:0::1" do). */
export function sameAddress(a: string, b: string): boolean {
  const family = familyOf(a);
  return family !== undefined && family === familyOf(b) && canonical(a, family) === canonical(b, family);
}

/** An address of the range's own family inside it; anything else, including a non-address, is not. */
export function cidrContains(cidr: Cidr, address: string): boolean {
  if (familyOf(address) !== cidr.family) return false;
  const range = new BlockList();
  range.addSubnet(networkOf(cidr).address, cidr.prefix, cidr.family);
  return range.check(address, cidr.family);
}

/** Whether every address of `inner` lies in `outer`. */
export function cidrWithin(inner: Cidr, outer: Cidr): boolean {
  return inner.prefix >= outer.prefix && cidrContains(outer, networkOf(inner).address);
}
