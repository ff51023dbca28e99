import * as linode from "@pulumi/linode";
import * as pulumi from "@pulumi/pulumi";
import { renderDatabaseUserData, type DatabaseUserDataInput } from "../provisioning/database";
import type { ReleaseSource } from "../provisioning/host";
import { hostIdentity, hostPrivateKeys, hostUserData, pinnedHostPublicKey } from "./hostIdentity";
import { publicIpv4Of } from "./ids";
import { FORCE_NEW_INSTANCE_INPUTS, LINODE_SECRET_OUTPUTS, linodeInstanceArgs } from "./linodeInstance";

/** The database's role settings; the release and SSH access are added here. */
export type DatabaseRoleConfig = Omit<DatabaseUserDataInput, "release" | "access">;

export interface DatabaseNodeArgs {
  region: string;
  instanceType: string;
  image: string;
  tags: string[];
  config: pulumi.Input<DatabaseRoleConfig>;
  release: pulumi.Input<ReleaseSource>;
  /** root's keys at first boot; later sets arrive through linode-dr-converge. */
  authorizedKeys: pulumi.Input<string[]>;
  /** Host key generations (hostKeys): the first is pinned, all are installed. */
  hostKeys: readonly number[];
  /** Guards against `pulumi destroy` or an accidental replacement deleting the data. */
  protect: boolean;
}

/**
 * Everything the Linode sets that would force a new one. A database Linode is provisioned once,
 * by cloud-init on first boot; afterwards it changes only through idempotent commands, because a
 * replacement destroys the data. So no routine change (a rotated key or secret, a new image
 * default, a new setting or peer address) may replace it: the tests pin this list against the
 * inputs the Linode sets.
 */
export const DATABASE_IGNORED_INPUTS = FORCE_NEW_INSTANCE_INPUTS.filter((input) =>
  ["metadatas", "image", "rootPass"].includes(input),
);

/** The Linode of a DatabaseNode named `node` (its host key and password: hostIdentityChildNames(node)). */
export function databaseInstanceName(node: string): string {
  return `${node}-linode`;
}

/** A PostgreSQL Linode with its own host key and root password. */
export class DatabaseNode extends pulumi.ComponentResource {
  readonly instance: linode.Instance;
  readonly instanceId: pulumi.Output<string>;
  readonly publicIpv4: pulumi.Output<string>;
  readonly privateIpv4: pulumi.Output<string>;
  readonly hostPublicKey: pulumi.Output<string>;
  /** Every listed host key's private half, for converge (secret). */
  readonly hostPrivateKeys: pulumi.Output<string[]>;

  constructor(name: string, args: DatabaseNodeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("linode-dr:index:DatabaseNode", name, {}, opts);

    const identity = hostIdentity(name, this, args.hostKeys);
    const cloudConfig = hostUserData(identity, args, (config, host) =>
      renderDatabaseUserData({ ...config, ...host }),
    );

    this.instance = new linode.Instance(
      databaseInstanceName(name),
      linodeInstanceArgs({
        region: args.region,
        instanceType: args.instanceType,
        image: args.image,
        cloudConfig,
        rootPassword: identity.rootPassword.result,
        tags: args.tags,
      }),
      {
        parent: this,
        protect: args.protect,
        additionalSecretOutputs: LINODE_SECRET_OUTPUTS,
        ignoreChanges: [...DATABASE_IGNORED_INPUTS],
      },
    );

    this.instanceId = this.instance.id;
    this.publicIpv4 = publicIpv4Of(this.instance.ipv4s);
    this.privateIpv4 = this.instance.privateIpAddress;
    this.hostPublicKey = pinnedHostPublicKey(identity);
    this.hostPrivateKeys = hostPrivateKeys(identity);
    this.registerOutputs({
      instanceId: this.instanceId,
      publicIpv4: this.publicIpv4,
      privateIpv4: this.privateIpv4,
      hostPublicKey: this.hostPublicKey,
    });
  }
}
