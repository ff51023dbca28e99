import * as pulumi from "@pulumi/pulumi";

/**
 * Linode resource ids are strings in Pulumi, but every reference input of @pulumi/linode
 * (domainId, nodebalancerId, configId, Firewall.linodes, ...) is a number. This is the one place
 * that conversion happens, so a malformed id fails loudly instead of becoming NaN.
 */
export function toLinodeId(id: pulumi.Input<string>): pulumi.Output<number> {
  return pulumi.output(id).apply(parseLinodeId);
}

export function parseLinodeId(value: string): number {
  if (!/^[0-9]+$/.test(value)) {
    throw new Error(`expected a numeric Linode id; received "${value}"`);
  }
  return Number(value);
}

/** Tags make resources findable in Cloud Manager without fixed labels (labels must be unique). */
export function resourceTags(stack: string, role: string, tier: string): string[] {
  return ["linode-dr", `linode-dr-stack:${stack}`, `linode-dr-role:${role}`, `linode-dr-tier:${tier}`];
}

/** The NodeBalancer's backends must be private IPv4s; Linode reports public and private together. */
const LINODE_PRIVATE_IPV4 = /^192\.168\.(1[2-9][0-9]|2[0-5][0-9])\./;

export function publicIpv4Of(ipv4s: pulumi.Input<string[]>): pulumi.Output<string> {
  return pulumi.output(ipv4s).apply((addresses) => {
    const found = addresses.find((a) => !LINODE_PRIVATE_IPV4.test(a));
    if (found === undefined) {
      throw new Error(
        `expected a public IPv4 among the Linode's addresses; received ${JSON.stringify(addresses)}`,
      );
    }
    return found;
  });
}
