import { ipv4HostBitsSet, ipv4NetworkOf, isIpv4Cidr, isIpv6Cidr } from "./cidr";
import { LINODE_RECORD_TTLS } from "./linodeTtls";
import { integer, matching, refined, stringList, type Mismatch, type Validator } from "./validators";

/** The shapes of this project's values, named once so that the schema table reads as prose. */

export { LINODE_RECORD_TTLS };

const DNS_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

export const region = matching(
  /^[a-z]{2}-[a-z]+(-[0-9])?$/,
  'a Linode region id such as "us-ord" or "de-fra-2" (see GET /v4/regions)',
);

export const instanceType = matching(
  /^g[0-9]+-[a-z0-9-]+$/,
  'a Linode type id such as "g6-nanode-1" or "g6-standard-2"',
);

export const dnsLabel = matching(DNS_LABEL, "a lower-case DNS label (letters, digits, hyphens)");

const DOMAIN_EXPECTED = 'a lower-case domain name you control, such as "example.com"';

export const domainName: Validator<string> = {
  pulumiType: "string",
  expected: DOMAIN_EXPECTED,
  placeholder: "",
  check(text) {
    const labels = text.split(".");
    const valid = text.length <= 253 && labels.length >= 2 && labels.every((l) => DNS_LABEL.test(l));
    return valid
      ? { ok: true, value: text }
      : { ok: false, mismatches: [{ received: text, expected: DOMAIN_EXPECTED }] };
  },
};

export const debianImage = refined(
  matching(/^[a-z0-9-]+\/[a-z0-9.-]+$/, 'a Linode image id such as "linode/debian12"'),
  (image) =>
    image === "linode/debian12"
      ? undefined
      : '"linode/debian12": provisioning scripts are written and tested for Debian 12 only',
);

export const recordTtl = refined(integer(1, 2419200), (ttl) =>
  (LINODE_RECORD_TTLS as readonly number[]).includes(ttl)
    ? undefined
    : `one of the TTLs Linode honours (${LINODE_RECORD_TTLS.join(", ")}); others are rounded and every preview shows a change`,
);

export function postgresSize(example: string): Validator<string> {
  return matching(/^[1-9][0-9]*(kB|MB|GB|TB)$/, `a PostgreSQL size such as "${example}"`);
}

export const stackName = matching(
  /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/,
  'a fully qualified stack name "<org>/<project>/<stack>", such as "acme/linode-dr/primary"',
);

export const email = matching(
  /^[^@\s]+@[^@\s]+\.[^@\s]+$/,
  'an e-mail address for the zone\'s SOA record, such as "hostmaster@example.com"',
);

export const httpsUrl = matching(/^https:\/\/[^\s]+$/, "an https:// URL of a prebuilt linode-dr-app binary");

export const sha256 = matching(/^[0-9a-f]{64}$/, "64 lower-case hex characters (sha256 of the binary)");

function adminCidr(cidr: string): Mismatch | undefined {
  if (!isIpv4Cidr(cidr) && !isIpv6Cidr(cidr)) {
    return { received: cidr, expected: 'an IPv4 or IPv6 CIDR such as "203.0.113.7/32"' };
  }
  if (isIpv4Cidr(cidr) && ipv4HostBitsSet(cidr)) {
    return {
      received: cidr,
      expected: `a network address without host bits (did you mean "${ipv4NetworkOf(cidr)}", or "${cidr.split("/")[0]}/32" for one host?)`,
    };
  }
  if (/\/0$/.test(cidr)) {
    return {
      received: cidr,
      expected: "a specific operator or CI range: SSH to the databases must not be open to the world",
    };
  }
  return undefined;
}

export const adminCidrs = stringList(adminCidr);

const SSH_KEY =
  /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/=]+( [^\n\r]*)?$/;

export const sshPublicKeys = stringList((key) =>
  SSH_KEY.test(key)
    ? undefined
    : {
        // The start names the key type and is enough to find the line; the rest is long.
        received: key.slice(0, 40),
        expected: 'an OpenSSH public key line such as "ssh-ed25519 AAAA... you@host"',
      },
);
