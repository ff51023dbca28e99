import * as linode from "@pulumi/linode";
import * as pulumi from "@pulumi/pulumi";
import { toLinodeUserData } from "../provisioning/cloudConfig";

export interface AppTierArgs {
  region: string;
  /** How many app Linodes run now; indices are stable, so growing only adds the highest ones. */
  count: number;
  instanceType: string;
  image: string;
  /** The rendered #cloud-config for the C service; a secret because it carries the DB password. */
  cloudConfig: pulumi.Input<string>;
  rootPassword: pulumi.Input<string>;
  authorizedKeys: string[];
  tags: string[];
}

/** App Linodes are cattle: user data builds and starts the C service, so replacing one is harmless. */
export class AppTier extends pulumi.ComponentResource {
  readonly instances: linode.Instance[];
  readonly instanceIds: pulumi.Output<string>[];
  readonly privateIpv4s: pulumi.Output<string>[];

  constructor(name: string, args: AppTierArgs, opts?: pulumi.ComponentResourceOptions) {
    super("linode-dr:index:AppTier", name, {}, opts);

    const userData = pulumi.output(args.cloudConfig).apply(toLinodeUserData);
    this.instances = [];
    for (let index = 0; index < args.count; index++) {
      this.instances.push(
        new linode.Instance(
          `${name}-${index}`,
          {
            region: args.region,
            type: args.instanceType,
            image: args.image,
            rootPass: args.rootPassword,
            authorizedKeys: args.authorizedKeys,
            privateIp: true,
            tags: args.tags,
            metadatas: [{ userData }],
          },
          { parent: this, additionalSecretOutputs: ["metadatas", "rootPass"] },
        ),
      );
    }
    this.instanceIds = this.instances.map((i) => i.id);
    this.privateIpv4s = this.instances.map((i) => i.privateIpAddress);
    this.registerOutputs({ instanceIds: this.instanceIds, privateIpv4s: this.privateIpv4s });
  }
}
