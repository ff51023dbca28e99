import { isIPv4, isIPv6 } from "node:net";
import { RESOURCE_TYPE } from "../../components/resourceTypes";
import { LINODE_RECORD_TTLS } from "../../config/linodeTtls";
import type { RecordedResource } from "../../evaluation/mocks";

/**
 * The zone Linode DNS Manager would serve for the program's Domain and DomainRecords, as a model
 * and as an RFC 1035 zone file. Pure: the DNS stand-in (dns.ts) feeds the text to Knot DNS.
 *
 * What follows Linode (docs/facts.md#record-ttls-and-the-zones-default-ttl): TTLs are rounded up to the values
 * the API accepts and 0 means the Domain's default (86400 s when the Domain's is 0 too); the SOA's
 * own TTL and its minimum (the negative-caching TTL) are the Domain's default TTL; refresh, retry
 * and expire default to 14400, 14400 and 1209600 s. What does not: the NS records name the
 * stand-in (ns1.<domain>, with its address as glue) instead of ns1-ns5.linode.com, the serial
 * starts at a given number, and only A and AAAA records exist (all the program declares).
 */

export type RecordType = "A" | "AAAA";

export interface ZoneRecord {
  /** Relative to the zone, "" for the apex (Linode's record name). */
  name: string;
  type: RecordType;
  target: string;
  ttl: number;
}

export interface ZoneModel {
  domain: string;
  domainId: number;
  soaEmail: string;
  /** The Domain's default TTL: unset record TTLs, the SOA's TTL and its negative-caching minimum. */
  ttl: number;
  refresh: number;
  retry: number;
  expire: number;
  /** Sorted by name, then type: the zone file is the same whatever order the program registered. */
  records: ZoneRecord[];
}

export interface Nameserver {
  /** Relative name inside the zone, e.g. "ns1". */
  name: string;
  address: string;
}

export interface ZoneRenderOptions {
  nameserver: Nameserver;
  serial: number;
}

export type RecordChange =
  { kind: "set"; record: ZoneRecord } | { kind: "delete"; name: string; type: RecordType };

/** Linode rounds any other value up to the next accepted one; beyond the largest it refuses. */
export function linodeTtl(seconds: number, zeroMeans: number): number {
  if (!Number.isInteger(seconds) || seconds < 0)
    throw new Error(`TTL ${seconds} is not a whole number of seconds`);
  if (seconds === 0) return zeroMeans;
  const rounded = LINODE_RECORD_TTLS.find((ttl) => ttl >= seconds);
  if (rounded === undefined)
    throw new Error(`TTL ${seconds} exceeds Linode's largest, ${LINODE_RECORD_TTLS.at(-1)}`);
  return rounded;
}

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/** A record name relative to the zone: "" (apex) or dot-separated lowercase labels. */
export function assertRecordName(name: string): string {
  if (name !== "" && !name.split(".").every((label) => LABEL.test(label)))
    throw new Error(`record name "${name}" is not a relative name like "app" or "primary.app"`);
  return name;
}

export function assertRecord(record: ZoneRecord): ZoneRecord {
  assertRecordName(record.name);
  if (record.type !== "A" && record.type !== "AAAA")
    throw new Error(
      `record ${record.name}: type ${String(record.type)}; the stand-in serves A and AAAA only`,
    );
  const valid = record.type === "A" ? isIPv4(record.target) : isIPv6(record.target);
  if (!valid)
    throw new Error(
      `record ${record.name} ${record.type}: "${record.target}" is not an ${record.type} target`,
    );
  if (!Number.isInteger(record.ttl) || record.ttl < 1)
    throw new Error(`record ${record.name}: TTL ${record.ttl}`);
  return record;
}

function byNameAndType(a: ZoneRecord, b: ZoneRecord): number {
  return a.name === b.name ? a.type.localeCompare(b.type) : a.name.localeCompare(b.name);
}

function recordKey(record: { name: string; type: RecordType }): string {
  return `${record.name} ${record.type}`;
}

/**
 * The zone declared across the stacks' evaluations (one resource list per stack): exactly one
 * Domain, and DomainRecords whose domainId is that Domain's numeric id. The stand-in keeps one
 * record per name and type, which is what the program declares, so a change can address it.
 */
export function zoneModel(resources: readonly (readonly RecordedResource[])[]): ZoneModel {
  const all = resources.flat();
  const domains = all.filter((r) => r.type === RESOURCE_TYPE.domain);
  if (domains.length !== 1)
    throw new Error(`the stand-in serves one Domain; the stacks declare ${domains.length}`);
  const domain = domains[0];
  const inputs = domain.inputs;
  if (inputs.type !== "master")
    throw new Error(`Domain ${domain.name} is type ${String(inputs.type)}, not master`);
  const domainId = Number(domain.id);
  const ttl = linodeTtl(Number(inputs.ttlSec ?? 0), 86400);
  const records = all
    .filter((r) => r.type === RESOURCE_TYPE.domainRecord)
    .map((r): ZoneRecord => {
      if (Number(r.inputs.domainId) !== domainId)
        throw new Error(
          `DomainRecord ${r.name} has domainId ${String(r.inputs.domainId)}, which matches no Domain (${domain.name} is ${domainId})`,
        );
      return assertRecord({
        name: String(r.inputs.name ?? ""),
        type: r.inputs.recordType as RecordType,
        target: String(r.inputs.target),
        ttl: linodeTtl(Number(r.inputs.ttlSec ?? 0), ttl),
      });
    })
    .sort(byNameAndType);
  const seen = new Set<string>();
  for (const record of records) {
    if (seen.has(recordKey(record)))
      throw new Error(`two DomainRecords named "${record.name}" of type ${record.type}`);
    seen.add(recordKey(record));
  }
  return {
    domain: String(inputs.domain).toLowerCase().replace(/\.$/, ""),
    domainId,
    soaEmail: String(inputs.soaEmail),
    ttl,
    refresh: linodeTtl(Number(inputs.refreshSec ?? 0), 14400),
    retry: linodeTtl(Number(inputs.retrySec ?? 0), 14400),
    expire: linodeTtl(Number(inputs.expireSec ?? 0), 1209600),
    records,
  };
}

/** "hostmaster@example.com" as an SOA RNAME: dots of the local part escaped, "@" becomes a dot. */
export function soaMailbox(email: string): string {
  const at = email.lastIndexOf("@");
  if (at < 1) throw new Error(`SOA email "${email}" has no local part and domain`);
  return `${email.slice(0, at).replace(/\./g, "\\.")}.${email.slice(at + 1)}.`;
}

export function renderZone(
  resources: readonly (readonly RecordedResource[])[],
  options: ZoneRenderOptions,
): string {
  return renderZoneModel(zoneModel(resources), options);
}

export function renderZoneModel(model: ZoneModel, options: ZoneRenderOptions): string {
  const ns = assertRecordName(options.nameserver.name);
  if (!isIPv4(options.nameserver.address))
    throw new Error(`nameserver address ${options.nameserver.address}`);
  if (model.records.some((r) => r.name === ns))
    throw new Error(`the program declares a record "${ns}", the name of the stand-in's nameserver`);
  if (!Number.isInteger(options.serial) || options.serial < 1 || options.serial > 0xffffffff)
    throw new Error(`SOA serial ${options.serial}`);
  const origin = `${model.domain}.`;
  const owner = (name: string): string => (name === "" ? "@" : name);
  const lines = [
    `$ORIGIN ${origin}`,
    `@ ${model.ttl} IN SOA ${ns}.${origin} ${soaMailbox(model.soaEmail)} ${options.serial} ${model.refresh} ${model.retry} ${model.expire} ${model.ttl}`,
    `@ ${model.ttl} IN NS ${ns}.${origin}`,
    `${ns} ${model.ttl} IN A ${options.nameserver.address}`,
    ...model.records.map((r) => `${owner(r.name)} ${r.ttl} IN ${r.type} ${r.target}`),
  ];
  return `${lines.join("\n")}\n`;
}

/** What turns `from` into `to`: records set (new, or a changed target or TTL) and records deleted. */
export function zoneChanges(from: ZoneModel, to: ZoneModel): RecordChange[] {
  if (from.domain !== to.domain || from.domainId !== to.domainId)
    throw new Error(
      `the zone changed from ${from.domain} (${from.domainId}) to ${to.domain} (${to.domainId})`,
    );
  for (const key of ["soaEmail", "ttl", "refresh", "retry", "expire"] as const)
    if (from[key] !== to[key]) throw new Error(`Domain ${key} changed; the stand-in changes records only`);
  const before = new Map(from.records.map((r) => [recordKey(r), r]));
  const after = new Map(to.records.map((r) => [recordKey(r), r]));
  const changes: RecordChange[] = [];
  for (const [key, record] of before)
    if (!after.has(key)) changes.push({ kind: "delete", name: record.name, type: record.type });
  for (const [key, record] of after) {
    const old = before.get(key);
    if (!old || old.target !== record.target || old.ttl !== record.ttl) changes.push({ kind: "set", record });
  }
  return changes;
}

export function applyChanges(model: ZoneModel, changes: readonly RecordChange[]): ZoneModel {
  const records = new Map(model.records.map((r) => [recordKey(r), r]));
  for (const change of changes) {
    if (change.kind === "delete") records.delete(recordKey(change));
    else records.set(recordKey(change.record), assertRecord(change.record));
  }
  return { ...model, records: [...records.values()].sort(byNameAndType) };
}
