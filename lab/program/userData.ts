import { baseConfig } from "./configs";
import { evaluateStack, userDataOf, type Evaluation } from "./evaluate";
import { regionAddressPlan, type AddressPlan } from "./mocks";

/**
 * The user data the lab runs comes from the Pulumi program itself, evaluated under mocks whose
 * addresses are the lab's: region A (primary, us-ord) is 198.51.100.0/24 and region B (dr, us-sea)
 * is 203.0.113.0/24. A lab host has one address, so a Linode's private and public IPv4 coincide.
 * Host octets follow the mocks: database .10, app Linodes .20, .21, ...
 */
export const LAB_REGIONS = {
  A: { cidr: "198.51.100.0/24", prefix: "198.51.100", linodeRegion: "us-ord" },
  B: { cidr: "203.0.113.0/24", prefix: "203.0.113", linodeRegion: "us-sea" },
  /** The third site: Object Storage (artifactRegion), users and operators. */
  C: { cidr: "192.0.2.0/24", prefix: "192.0.2", linodeRegion: "us-iad" },
} as const;

export const LAB_ADDRESSES = {
  primaryDatabase: "198.51.100.10",
  primaryApp: (index: number) => `198.51.100.${20 + index}`,
  primaryNodeBalancer: "198.51.100.5",
  drDatabase: "203.0.113.10",
  drApp: (index: number) => `203.0.113.${20 + index}`,
  drNodeBalancer: "203.0.113.5",
  /** Where users and the operator's `pulumi up` stand. */
  client: "192.0.2.10",
  /** The witness Linode (stack dr, witnessRegion): one etcd member. */
  witness: "192.0.2.40",
  /** The Object Storage stand-in serving both stacks' release buckets. */
  objectStorage: "192.0.2.30",
  /** The DNS stand-in: the program's zone, as Linode DNS Manager's nameservers serve it. */
  dns: "192.0.2.53",
} as const;

export function labAddressPlan(): AddressPlan {
  return regionAddressPlan({
    "us-ord": {
      publicPrefix: LAB_REGIONS.A.prefix,
      privatePrefix: LAB_REGIONS.A.prefix,
      ipv6Prefix: "2001:db8:a::",
    },
    "us-sea": {
      publicPrefix: LAB_REGIONS.B.prefix,
      privatePrefix: LAB_REGIONS.B.prefix,
      ipv6Prefix: "2001:db8:b::",
    },
    "us-iad": {
      publicPrefix: LAB_REGIONS.C.prefix,
      privatePrefix: LAB_REGIONS.C.prefix,
      ipv6Prefix: "2001:db8:c::",
    },
  });
}

export interface ProgramUserData {
  primaryDatabase: string;
  primaryApp: string;
  drDatabase: string;
  drApp: string;
  witness: string;
  /** Stack primary after bring-up step 3 (drStack set: the dr database and witness admitted). */
  primary: Evaluation;
  dr: Evaluation;
}

/**
 * The bring-up order of the README: stack primary (step 1), stack dr reading primary's outputs
 * (step 2), stack primary again with drStack set (step 3), and each Linode's decoded #cloud-config.
 * The primary database's user data is step 3's: it knows the other members' addresses, as a
 * database Linode created after bring-up would (on a real bring-up the converge command delivers
 * them). `primaryOverrides`/`drOverrides` are raw config values, e.g. { replicaWaitTimeoutSeconds: "120" }.
 */
export async function programUserData(
  primaryOverrides: Record<string, string> = {},
  drOverrides: Record<string, string> = {},
): Promise<ProgramUserData> {
  const plan = labAddressPlan();
  const primary = await evaluateStack({
    stack: "primary",
    config: baseConfig("primary", primaryOverrides),
    addressPlan: plan,
  });
  const dr = await evaluateStack({
    stack: "dr",
    config: baseConfig("dr", drOverrides),
    addressPlan: plan,
    stackOutputs: {
      "acme/linode-dr/primary": { outputs: primary.outputs, secretOutputNames: [...primary.secretOutputs] },
    },
  });
  const admitted = await evaluateStack({
    stack: "primary",
    config: baseConfig("primary", { ...primaryOverrides, drStack: "acme/linode-dr/dr" }),
    addressPlan: plan,
    stackOutputs: {
      "acme/linode-dr/dr": { outputs: dr.outputs, secretOutputNames: [...dr.secretOutputs] },
    },
  });
  return {
    primaryDatabase: userDataOf(admitted.byName("primary-site-db-linode")),
    primaryApp: userDataOf(admitted.byName("primary-site-app-0")),
    drDatabase: userDataOf(dr.byName("dr-site-db-linode")),
    drApp: userDataOf(dr.byName("dr-site-app-0")),
    witness: userDataOf(dr.byName("dr-witness-linode")),
    primary: admitted,
    dr,
  };
}
