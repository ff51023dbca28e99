import * as linode from "@pulumi/linode";
import * as pulumi from "@pulumi/pulumi";
import { renderAppUserData, type AppUserDataInput } from "../provisioning/app";
import type { ReleaseSource } from "../provisioning/host";
import { hostIdentity, hostPrivateKeys, hostUserData, pinnedHostPublicKey } from "./hostIdentity";
import { publicIpv4Of } from "./ids";
import { LINODE_SECRET_OUTPUTS, linodeInstanceArgs } from "./linodeInstance";

export interface AppTierArgs {
  region: string;
  instanceType: string;
  image: string;
  tags: string[];
  /** How many app Linodes run now; indices are stable, so growing only adds the highest ones. */
  count: number;
  config: pulumi.Input<AppUserDataInput>;
  release: pulumi.Input<ReleaseSource>;
  authorizedKeys: pulumi.Input<string[]>;
  /** Host key generations (hostKeys): the first is pinned, all are installed. */
  hostKeys: readonly number[];
}

export interface AppHost {
  instance: linode.Instance;
  publicIpv4: pulumi.Output<string>;
  hostPublicKey: pulumi.Output<string>;
  /** Every listed host key's private half, for converge (secret). */
  hostPrivateKeys: pulumi.Output<string[]>;
}

/** App Linode `index` of an AppTier named `tier`; its host key and password are named after it. */
export function appInstanceName(tier: string, index: number): string {
  return `${tier}-${index}`;
}

/** Which app Linode of `tier` `resourceName` is, if any: appInstanceName read backwards. */
export function appIndexOf(tier: string, resourceName: string): number | undefined {
  const prefix = `${tier}-`;
  if (!resourceName.startsWith(prefix)) return undefined;
  const index = Number(resourceName.slice(prefix.length));
  return Number.isInteger(index) && index >= 0 && appInstanceName(tier, index) === resourceName
    ? index
    : undefined;
}

/**
 * App Linodes. Replacing one is harmless but never needed: user data (which would force a new
 * Linode) is read at first boot only; a new release or configuration reaches running nodes
 * through linode-dr-converge, one node at a time (see RegionSite), so a deploy never takes a
 * region's whole app tier down at once.
 */
export class AppTier extends pulumi.ComponentResource {
  readonly hosts: AppHost[];
  readonly instanceIds: pulumi.Output<string>[];
  readonly privateIpv4s: pulumi.Output<string>[];
  /** Where the other region's database sees this tier's connections come from. */
  readonly publicIpv4s: pulumi.Output<string>[];

  constructor(name: string, args: AppTierArgs, opts?: pulumi.ComponentResourceOptions) {
    super("linode-dr:index:AppTier", name, {}, opts);

    this.hosts = [];
    for (let index = 0; index < args.count; index++) {
      const instanceName = appInstanceName(name, index);
      const identity = hostIdentity(instanceName, this, args.hostKeys);
      const cloudConfig = hostUserData(identity, args, renderAppUserData);
      const instance = new linode.Instance(
        instanceName,
        linodeInstanceArgs({
          region: args.region,
          instanceType: args.instanceType,
          image: args.image,
          cloudConfig,
          rootPassword: identity.rootPassword.result,
          tags: args.tags,
        }),
        { parent: this, additionalSecretOutputs: LINODE_SECRET_OUTPUTS, ignoreChanges: ["metadatas"] },
      );
      this.hosts.push({
        instance,
        publicIpv4: publicIpv4Of(instance.ipv4s),
        hostPublicKey: pinnedHostPublicKey(identity),
        hostPrivateKeys: hostPrivateKeys(identity),
      });
    }
    this.instanceIds = this.hosts.map((h) => h.instance.id);
    this.privateIpv4s = this.hosts.map((h) => h.instance.privateIpAddress);
    this.publicIpv4s = this.hosts.map((h) => h.publicIpv4);
    this.registerOutputs({
      instanceIds: this.instanceIds,
      privateIpv4s: this.privateIpv4s,
      publicIpv4s: this.publicIpv4s,
    });
  }
}
