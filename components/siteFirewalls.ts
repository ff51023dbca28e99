import * as linode from "@pulumi/linode";
import * as pulumi from "@pulumi/pulumi";
import { appFirewallRules, databaseFirewallRules } from "./firewallRules";
import { toLinodeId } from "./ids";

export interface SiteFirewallsArgs {
  /** Unique per account; derived from the stack so two stacks never collide. */
  labelPrefix: string;
  appPort: number;
  adminCidrs: string[];
  appInstanceIds: pulumi.Input<string>[];
  appPrivateIpv4s: pulumi.Input<string>[];
  databaseInstanceId: pulumi.Input<string>;
  /** The other region's database (public IPv4), admitted for replication; absent until known. */
  replicationPeerIpv4: pulumi.Input<string | undefined>;
  /** The other region's app Linodes (public IPv4), admitted to PostgreSQL; absent until known. */
  peerAppIpv4s: pulumi.Input<string[] | undefined>;
  /** The witness (third site, etcd); absent until the dr stack exists. */
  witnessIpv4: pulumi.Input<string | undefined>;
  tags: string[];
}

/** What a SiteFirewalls named `firewalls` names its two firewalls. */
export function siteFirewallsChildNames(firewalls: string): { app: string; database: string } {
  return { app: `${firewalls}-app`, database: `${firewalls}-db` };
}

/**
 * Cloud Firewalls for one region, inbound DROP by default. They are attached through
 * `Firewall.linodes` rather than `Instance.firewallId`, which would force a new Linode; rules and
 * attachments update in place, which is how a new peer address is admitted after bring-up.
 */
export class SiteFirewalls extends pulumi.ComponentResource {
  readonly app: linode.Firewall;
  readonly database: linode.Firewall;

  constructor(name: string, args: SiteFirewallsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("linode-dr:index:SiteFirewalls", name, {}, opts);
    const names = siteFirewallsChildNames(name);

    this.app = new linode.Firewall(
      names.app,
      {
        label: `${args.labelPrefix}-app`,
        inboundPolicy: "DROP",
        outboundPolicy: "ACCEPT",
        inbounds: appFirewallRules({ appPort: args.appPort, adminCidrs: args.adminCidrs }),
        linodes: args.appInstanceIds.map(toLinodeId),
        tags: args.tags,
      },
      { parent: this },
    );

    this.database = new linode.Firewall(
      names.database,
      {
        label: `${args.labelPrefix}-db`,
        inboundPolicy: "DROP",
        outboundPolicy: "ACCEPT",
        inbounds: pulumi
          .all([
            pulumi.all(args.appPrivateIpv4s),
            pulumi.output(args.replicationPeerIpv4),
            pulumi.output(args.peerAppIpv4s),
            pulumi.output(args.witnessIpv4),
          ])
          .apply(([appPrivateIpv4s, replicationPeerIpv4, peerAppIpv4s, witnessIpv4]) =>
            databaseFirewallRules({
              adminCidrs: args.adminCidrs,
              appPrivateIpv4s,
              ...(replicationPeerIpv4 ? { replicationPeerIpv4 } : {}),
              ...(peerAppIpv4s ? { peerAppIpv4s } : {}),
              ...(witnessIpv4 ? { witnessIpv4 } : {}),
            }),
          ),
        linodes: [toLinodeId(args.databaseInstanceId)],
        tags: args.tags,
      },
      { parent: this },
    );

    this.registerOutputs({ appFirewallId: this.app.id, databaseFirewallId: this.database.id });
  }
}
