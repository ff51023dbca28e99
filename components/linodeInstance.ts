import type * as linode from "@pulumi/linode";
import * as pulumi from "@pulumi/pulumi";
import { toLinodeUserData } from "../provisioning/cloudConfig";

/** What every Linode of this project is made of; the tiers differ only in resource options. */
export interface LinodeSpec {
  region: string;
  instanceType: string;
  image: string;
  /** The rendered #cloud-config; secret because it carries credentials. */
  cloudConfig: pulumi.Input<string>;
  rootPassword: pulumi.Input<string>;
  authorizedKeys: string[];
  tags: string[];
}

/** User data and the root password are secret outputs: both would otherwise sit in state in plaintext. */
export const LINODE_SECRET_OUTPUTS = ["metadatas", "rootPass"];

export function linodeInstanceArgs(spec: LinodeSpec): linode.InstanceArgs {
  return {
    region: spec.region,
    type: spec.instanceType,
    image: spec.image,
    rootPass: spec.rootPassword,
    authorizedKeys: spec.authorizedKeys,
    // Private IPv4s are how NodeBalancers reach app Linodes and app Linodes reach their database.
    privateIp: true,
    // Linodes are found by tags, never by a fixed label: labels are unique per account, and a fixed
    // one would make a create-before-delete replacement fail (pulumi-linode#882).
    tags: spec.tags,
    metadatas: [{ userData: pulumi.output(spec.cloudConfig).apply(toLinodeUserData) }],
  };
}
