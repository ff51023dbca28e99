import * as linode from "@pulumi/linode";
import * as pulumi from "@pulumi/pulumi";
import { LINODE_SECRET_OUTPUTS, linodeInstanceArgs, type LinodeSpec } from "./linodeInstance";

export interface AppTierArgs extends LinodeSpec {
  /** How many app Linodes run now; indices are stable, so growing only adds the highest ones. */
  count: number;
}

/** App Linodes are cattle: user data builds and starts the C service, so replacing one is harmless. */
export class AppTier extends pulumi.ComponentResource {
  readonly instances: linode.Instance[];
  readonly instanceIds: pulumi.Output<string>[];
  readonly privateIpv4s: pulumi.Output<string>[];

  constructor(name: string, args: AppTierArgs, opts?: pulumi.ComponentResourceOptions) {
    super("linode-dr:index:AppTier", name, {}, opts);

    const instanceArgs = linodeInstanceArgs(args);
    this.instances = [];
    for (let index = 0; index < args.count; index++) {
      this.instances.push(
        new linode.Instance(`${name}-${index}`, instanceArgs, {
          parent: this,
          additionalSecretOutputs: LINODE_SECRET_OUTPUTS,
        }),
      );
    }
    this.instanceIds = this.instances.map((i) => i.id);
    this.privateIpv4s = this.instances.map((i) => i.privateIpAddress);
    this.registerOutputs({ instanceIds: this.instanceIds, privateIpv4s: this.privateIpv4s });
  }
}
