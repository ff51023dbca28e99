import type * as linode from "@pulumi/linode";
import * as pulumi from "@pulumi/pulumi";
import { toLinodeUserData } from "../provisioning/cloudConfig";

/** What every Linode of this project is made of; the tiers differ only in resource options. */
export interface LinodeSpec {
  region: string;
  instanceType: string;
  image: string;
  /** The rendered #cloud-config; secret because it carries credentials and the host key. */
  cloudConfig: pulumi.Input<string>;
  rootPassword: pulumi.Input<string>;
  tags: string[];
}

/** User data and the root password are secret outputs: both would otherwise sit in state in plaintext. */
export const LINODE_SECRET_OUTPUTS = ["metadatas", "rootPass"];

/**
 * Instance inputs that force a new Linode when they change
 * (docs/facts.md#instance-inputs-that-replace-a-linode). Not among them: region (a migration) and
 * type (a resize), disruptive as both are (the Linode is offline meanwhile), and label (updated in
 * place). Database Linodes ignore every input of this list that they set; app Linodes ignore user
 * data, whose changes reach them through linode-dr-converge one node at a time.
 */
export const FORCE_NEW_INSTANCE_INPUTS = [
  "metadatas",
  "image",
  "rootPass",
  "authorizedKeys",
  "authorizedUsers",
  "stackscriptId",
  "stackscriptData",
  "firewallId",
  "ipv4s",
  "diskEncryption",
  "backupId",
] as const;

export function linodeInstanceArgs(spec: LinodeSpec): linode.InstanceArgs {
  return {
    region: spec.region,
    type: spec.instanceType,
    image: spec.image,
    rootPass: spec.rootPassword,
    // Root's SSH keys come from user data and are kept current by linode-dr-converge; the
    // instance's authorized_keys field would replace the Linode on every key rotation.
    // Private IPv4s are how NodeBalancers reach app Linodes and app Linodes reach their database.
    privateIp: true,
    // Linodes are found by tags, never by a fixed label: labels are unique per account, and a fixed
    // one would make a create-before-delete replacement fail (pulumi-linode#882).
    tags: spec.tags,
    metadatas: [{ userData: pulumi.output(spec.cloudConfig).apply(toLinodeUserData) }],
  };
}
