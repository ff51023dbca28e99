import * as linode from "@pulumi/linode";
import * as pulumi from "@pulumi/pulumi";
import { publicIpv4Of } from "./ids";
import { LINODE_SECRET_OUTPUTS, linodeInstanceArgs, type LinodeSpec } from "./linodeInstance";

export interface DatabaseNodeArgs extends LinodeSpec {
  /** Guards against `pulumi destroy` or an accidental replacement deleting the data. */
  protect: boolean;
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

    this.instance = new linode.Instance(`${name}-linode`, linodeInstanceArgs(args), {
      parent: this,
      protect: args.protect,
      additionalSecretOutputs: LINODE_SECRET_OUTPUTS,
      // User data is first-boot only: Linode cannot update it in place, so a change (a rotated
      // secret, a new setting, a new peer address) would destroy the database. Such changes go
      // through commands on the running host instead.
      ignoreChanges: ["metadatas"],
    });

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
