import * as linode from "@pulumi/linode";
import * as pulumi from "@pulumi/pulumi";

export interface DnsZoneArgs {
  domain: string;
  soaEmail: string;
  tags: string[];
}

/**
 * The zone in Linode DNS Manager, owned by the primary stack. Its default TTL is also the SOA
 * minimum that resolvers use to cache "no such record", which is why failover records are created
 * in advance and only their targets ever move.
 *
 * Protected: deleting it (an obvious `pulumi destroy -s primary` after losing region A) would take
 * the live traffic records with it. See the README's region-loss runbook.
 */
export class DnsZone extends pulumi.ComponentResource {
  readonly domain: linode.Domain;
  readonly domainId: pulumi.Output<string>;

  constructor(name: string, args: DnsZoneArgs, opts?: pulumi.ComponentResourceOptions) {
    super("linode-dr:index:DnsZone", name, {}, opts);
    this.domain = new linode.Domain(
      `${name}-domain`,
      { domain: args.domain, type: "master", soaEmail: args.soaEmail, ttlSec: 300, tags: args.tags },
      { parent: this, protect: true },
    );
    this.domainId = this.domain.id;
    this.registerOutputs({ domainId: this.domainId });
  }
}
