import { familyOf, parseCidr } from "../../validation/cidr";

/**
 * The API may spell an IPv6 target otherwise than the settings do (zeros, case): addresses are
 * compared in their canonical spelling.
 */
export function canonicalAddress(address: string): string {
  const family = familyOf(address);
  if (family === undefined) return address;
  return parseCidr(`${address}/${family === "ipv4" ? 32 : 128}`)?.address ?? address;
}

export function sameAddress(a: string, b: string): boolean {
  return canonicalAddress(a) === canonicalAddress(b);
}
