import * as linode from "@pulumi/linode";
import * as pulumi from "@pulumi/pulumi";
import { toLinodeUserData } from "../provisioning/cloudConfig";
import { publicIpv4Of } from "./ids";

export interface DatabaseNodeArgs {
  region: string;
  instanceType: string;
  image: string;
  /** The rendered #cloud-config (primary or replica); a secret because it carries credentials. */
  cloudConfig: pulumi.Input<string>;
  rootPassword: pulumi.Input<string>;
  authorizedKeys: string[];
  /** Guards against `pulumi destroy` or an accidental replacement deleting the data. */
  protect: boolean;
  tags: string[];
}

/**
 * A PostgreSQL Linode. It is provisioned once, by cloud-init on first boot; afterwards it changes
 * only through idempotent commands, because new user data would replace the Linode and its data.
 */
export class DatabaseNode extends pulumi.ComponentResource {
  readonly instance: linode.Instance;
  readonly instanceId: pulumi.Output<string>;
  readonly publicIpv4: pulumi.Output<string>;
  readonly privateIpv4: pulumi.Output<string>;

  constructor(name: string, args: DatabaseNodeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("linode-dr:index:DatabaseNode", name, {}, opts);

    this.instance = new linode.Instance(
      `${name}-linode`,
      {
        region: args.region,
        type: args.instanceType,
        image: args.image,
        rootPass: args.rootPassword,
        authorizedKeys: args.authorizedKeys,
        privateIp: true,
        // Database Linodes are found by tags, never by a fixed label: labels are unique per account,
        // and a fixed one would make a create-before-delete replacement fail (pulumi-linode#882).
        tags: args.tags,
        metadatas: [{ userData: pulumi.output(args.cloudConfig).apply(toLinodeUserData) }],
      },
      {
        parent: this,
        protect: args.protect,
        additionalSecretOutputs: ["metadatas", "rootPass"],
        // User data is first-boot only: Linode cannot update it in place, so a change (a rotated
        // secret, a new setting, a new peer address) would destroy the database. Such changes go
        // through commands on the running host instead.
        ignoreChanges: ["metadatas"],
      },
    );

    this.instanceId = this.instance.id;
    this.publicIpv4 = publicIpv4Of(this.instance.ipv4s);
    this.privateIpv4 = this.instance.privateIpAddress;
    this.registerOutputs({
      instanceId: this.instanceId,
      publicIpv4: this.publicIpv4,
      privateIpv4: this.privateIpv4,
    });
  }
}
