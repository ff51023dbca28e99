import { RESOURCE_TYPE } from "../../components/resourceTypes";
import type { RecordedResource } from "../../evaluation/mocks";
import { linodeTtl, zoneModel, type RecordType } from "./dnsZone";

/**
 * The Domain Records the Linode API stand-in serves, seeded from the program's recorded resources
 * (one evaluation's resources per stack) and shaped as the API's DomainRecord. Pure; plain data so
 * it can be handed to the server process as JSON.
 */

export interface ApiRecord {
  /** The DomainRecord's id (the mocks give numeric strings, the API numbers). */
  id: number;
  name: string;
  type: RecordType;
  target: string;
  /** As the API reports it: rounded up to Linode's table, 0 meaning the Domain's default. */
  ttl_sec: number;
  /** Epoch milliseconds. */
  created: number;
  updated: number;
}

export interface ApiDomain {
  domain: string;
  id: number;
  /** The Domain's default TTL: what a record's ttl_sec of 0 is served with. */
  ttl: number;
  /** Sorted by id, the order the API lists them in. */
  records: ApiRecord[];
}

/** A record's ttl_sec as the API stores it: 0 stays 0 (the Domain's default), others rounded up. */
export function apiTtl(seconds: number): number {
  return linodeTtl(seconds, 0);
}

/** The TTL the nameservers serve a record with. */
export function servedTtl(domain: ApiDomain, record: ApiRecord): number {
  return record.ttl_sec === 0 ? domain.ttl : record.ttl_sec;
}

/** The API's time format: UTC, to the second, without a zone designator. */
export function apiTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19);
}

/** The DomainRecord object the API answers with; the fields other record types use are empty. */
export function recordJson(record: ApiRecord): Record<string, unknown> {
  return {
    id: record.id,
    type: record.type,
    name: record.name,
    target: record.target,
    priority: 0,
    weight: 0,
    port: 0,
    service: null,
    protocol: null,
    tag: null,
    ttl_sec: record.ttl_sec,
    created: apiTime(record.created),
    updated: apiTime(record.updated),
  };
}

/**
 * The Domain and its records as the API holds them after `pulumi up` of every stack: the zone is
 * checked as the DNS stand-in checks it (one Domain, records of that Domain, A and AAAA targets),
 * and every record is stamped created and updated at `now`.
 */
export function apiDomain(resources: readonly (readonly RecordedResource[])[], now: number): ApiDomain {
  const zone = zoneModel(resources);
  const records = resources
    .flat()
    .filter((r) => r.type === RESOURCE_TYPE.domainRecord)
    .map((r): ApiRecord => {
      if (!/^[1-9]\d{0,14}$/.test(r.id))
        throw new Error(`DomainRecord ${r.name} has id "${r.id}"; the API's ids are positive integers`);
      return {
        id: Number(r.id),
        name: String(r.inputs.name ?? ""),
        type: r.inputs.recordType as RecordType,
        target: String(r.inputs.target),
        ttl_sec: apiTtl(Number(r.inputs.ttlSec ?? 0)),
        created: now,
        updated: now,
      };
    })
    .sort((a, b) => a.id - b.id);
  for (let i = 1; i < records.length; i++)
    if (records[i - 1].id === records[i].id) throw new Error(`two DomainRecords have id ${records[i].id}`);
  return { domain: zone.domain, id: zone.domainId, ttl: zone.ttl, records };
}
