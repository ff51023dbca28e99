import { cidrText, hasHostBits, networkOf, parseCidr } from "../validation/cidr";
import * as rules from "../validation/formats";
import { accepted, integer, refined, refused, shown } from "../validation/kit";
import { LINODE_RECORD_TTLS } from "./linodeTtls";
import { integerOf, stringList, text, type Validator } from "./validators";

/**
 * The config's readers for this project's values, named once so that the schema table reads as
 * prose. Each applies the shared rule for its kind (validation/formats.ts); the refinements here
 * are what only the stack config demands.
 */

export { LINODE_RECORD_TTLS };

export const region = text(rules.regionId);

export const instanceType = text(rules.instanceType);

export const dnsLabel = text(rules.dnsLabel);

export const domainName = text(rules.domainName);

export const debianImage = text(
  refined(rules.imageId, (image) =>
    image === "linode/debian12"
      ? undefined
      : '"linode/debian12": provisioning scripts are written and tested for Debian 12 only',
  ),
);

export const recordTtl = integerOf(
  refined(integer(1, 2419200), (ttl) =>
    (LINODE_RECORD_TTLS as readonly number[]).includes(ttl)
      ? undefined
      : `one of the TTLs Linode honours (${LINODE_RECORD_TTLS.join(", ")}); others are rounded and every preview shows a change`,
  ),
  LINODE_RECORD_TTLS[0],
);

export const postgresVersion = integerOf(rules.postgresVersion, 15);

export const postgresSize = text(rules.postgresSize);

export const stackName = text(rules.stackName);

export const email = text(rules.email);

export const httpsUrl = text(rules.httpsUrl);

export const linodeApiToken = text(rules.linodeApiToken);

export const sha256 = text(rules.sha256);

/** The firewall admits exactly what is written, so a range that admits more than meant stops the run. */
const adminCidr = refined(rules.cidr, (written) => {
  const cidr = parseCidr(written);
  if (cidr?.prefix === 0) {
    return "a specific operator or CI range: SSH to the databases must not be open to the world";
  }
  if (cidr && hasHostBits(cidr)) {
    const oneHost = `${written.slice(0, written.lastIndexOf("/"))}/${cidr.family === "ipv4" ? 32 : 128}`;
    return `a network address without host bits (did you mean "${cidrText(networkOf(cidr))}", or "${oneHost}" for one host?)`;
  }
  return undefined;
});

export const adminCidrs = stringList(adminCidr);

export const sshPublicKeys = stringList(rules.sshPublicKey);

/** Up to `most` distinct generations (1-9999) as written ("2,1"); what the first one does is the key's. */
function generationList(most: number, expected: string): Validator<number[]> {
  const pattern = new RegExp(`^[1-9][0-9]{0,3}(,[1-9][0-9]{0,3}){0,${most - 1}}$`);
  return {
    pulumiType: "string",
    expected,
    placeholder: [1],
    check(text) {
      if (!pattern.test(text)) return refused(shown(text), expected);
      const generations = text.split(",").map(Number);
      if (new Set(generations).size !== generations.length)
        return refused(shown(text), `${expected}; a generation is listed twice`);
      return accepted(generations);
    },
    written: (generations) => generations.join(","),
  };
}

/** A stack's automation key generations as written ("1,2"): the first logs in, all are authorized. */
export const keyGenerations = generationList(
  2,
  'one or two key generations (1-9999), comma-separated and distinct, the one commands log in with first, e.g. "1", "1,2", "2"',
);

/** A stack's CA generations as written ("2,1"): the first signs, all are trusted. */
export const caGenerations = generationList(
  3,
  'one to three CA generations (1-9999), comma-separated and distinct, the signing one first, e.g. "1", "1,2", "2,1"',
);
