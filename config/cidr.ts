/** CIDR checks for adminCidrs: the firewall admits exactly what is written, so typos must stop the run. */

export function isIpv4Cidr(value: string): boolean {
  const m = /^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\/([0-9]{1,2})$/.exec(value);
  if (!m) return false;
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  return octets.every((o) => o <= 255) && prefix <= 32;
}

function ipv4ToInt(address: string): number {
  return address.split(".").reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

export function ipv4NetworkOf(cidr: string): string {
  const [address, prefixText] = cidr.split("/");
  const size = 2 ** (32 - Number(prefixText));
  const network = ipv4ToInt(address) - (ipv4ToInt(address) % size);
  return `${[24, 16, 8, 0].map((shift) => Math.floor(network / 2 ** shift) % 256).join(".")}/${prefixText}`;
}

/** "10.0.0.1/8" admits 10.0.0.0/8 on the firewall: almost certainly not what was meant. */
export function ipv4HostBitsSet(cidr: string): boolean {
  return ipv4NetworkOf(cidr) !== cidr;
}

export function isIpv6Cidr(value: string): boolean {
  const m = /^([0-9a-fA-F:]+)\/([0-9]{1,3})$/.exec(value);
  if (!m || Number(m[2]) > 128) return false;
  const groups = m[1].split("::");
  if (groups.length > 2) return false;
  const parts = groups.flatMap((g) => (g === "" ? [] : g.split(":")));
  if (!parts.every((p) => /^[0-9a-fA-F]{1,4}$/.test(p))) return false;
  return groups.length === 2 ? parts.length < 8 : parts.length === 8;
}
