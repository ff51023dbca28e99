import * as linode from "@pulumi/linode";
import * as pulumi from "@pulumi/pulumi";
import { toLinodeId } from "./ids";

export interface AddressRecordsArgs {
  domainId: pulumi.Input<string>;
  /** Relative name within the zone, e.g. "app" or "primary.app". */
  recordName: string;
  ipv4: pulumi.Input<string>;
  ipv6: pulumi.Input<string>;
  ttlSeconds: number;
}

/** What an AddressRecords named `records` names its A and AAAA records. */
export function addressRecordsChildNames(records: string): { a: string; aaaa: string } {
  return { a: `${records}-a`, aaaa: `${records}-aaaa` };
}

/**
 * An A and an AAAA record for one name. Targets and TTL update in place; the record type and
 * domain never change, since either would delete and recreate the record (a window with no
 * answer, negatively cached for the zone's default TTL).
 */
export class AddressRecords extends pulumi.ComponentResource {
  readonly a: linode.DomainRecord;
  readonly aaaa: linode.DomainRecord;

  constructor(name: string, args: AddressRecordsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("linode-dr:index:AddressRecords", name, {}, opts);
    const names = addressRecordsChildNames(name);
    const domainId = toLinodeId(args.domainId);
    // Explicit on each record: the failover path relies on the records waiting for the promotion,
    // and a component's dependsOn alone does not order its children.
    const childOpts: pulumi.CustomResourceOptions = {
      parent: this,
      ...(opts?.dependsOn ? { dependsOn: opts.dependsOn } : {}),
    };

    this.a = new linode.DomainRecord(
      names.a,
      { domainId, name: args.recordName, recordType: "A", target: args.ipv4, ttlSec: args.ttlSeconds },
      childOpts,
    );
    this.aaaa = new linode.DomainRecord(
      names.aaaa,
      {
        domainId,
        name: args.recordName,
        recordType: "AAAA",
        // NodeBalancers report IPv6 without a prefix length, Linodes with "/128"; records want neither.
        target: pulumi.output(args.ipv6).apply((v) => v.replace(/\/128$/, "")),
        ttlSec: args.ttlSeconds,
      },
      childOpts,
    );
    this.registerOutputs({ aTarget: this.a.target, aaaaTarget: this.aaaa.target });
  }
}
