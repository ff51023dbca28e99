import { setTimeout as sleep } from "node:timers/promises";
import { mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { assertDocumentationAddress } from "../addresses";
import type { Host } from "../hosts/host";
import type { LabProcess } from "../hosts/labProcess";
import { runOrThrow, waitFor } from "../process";
import type { RecordedResource } from "../../evaluation/mocks";
import { renderKnotConfig } from "./dnsConfig";
import { queryDns } from "./dnsQuery";
import {
  applyChanges,
  assertRecord,
  renderZoneModel,
  zoneChanges,
  zoneModel,
  type RecordChange,
  type RecordType,
  type ZoneModel,
} from "./dnsZone";

/**
 * Linode DNS Manager stand-in: Knot DNS 3.2 (`knotd`, Debian package knot) in a lab host's network
 * namespace, authoritative on UDP and TCP port 53 of one documentation address for the program's
 * Domain and DomainRecords (see dnsZone.ts for the zone and how it differs from Linode's).
 *
 * Emulated: the records with their TTLs, SOA and negative caching from the Domain's default TTL,
 * record changes made by the API (`setRecord`, or `applyRecords` with the resources a later
 * `pulumi up` declares) becoming visible only after a publish delay, each publication a Knot zone
 * transaction that increments the SOA serial. The publish delay defaults to 30 s, a guess: Linode
 * says under 60 s to reach ns1-ns5.linode.com, older sources say up to 15-30 min, and it has not
 * been measured (docs/facts.md#dns-publish-delay-is-not-documented); tests shorten it. Not emulated: the Linode API itself, ns1-ns5.linode.com
 * (one server, named ns1.<domain>) and the caching layer in front of them, record types other than
 * A and AAAA, Domain changes (SOA email, default TTL), zone imports and transfers, IPv6 transport,
 * an account without Linodes having its zones stopped. `setRecord` accepts any TTL of 1 s or more
 * so tests can watch caches expire quickly; Linode would round it up to 30 s.
 */

export interface DnsStandInOptions {
  /** Where the server answers; default the host's own address. Another address is added to eth0. */
  address?: string;
  port?: number;
  /** How long a change takes to go live after the API accepted it; default 30 000 ms (unknown for Linode). */
  publishDelayMs?: number;
  /** Relative name of the stand-in's nameserver in the zone; default "ns1". */
  nameserverName?: string;
  /** The SOA serial of the rendered zone; default 1. */
  initialSerial?: number;
}

export interface Publication {
  /** When the API call was made (the change was accepted). */
  requestedAt: Date;
  /** When the authoritative server first answered with the change: "traffic change published". */
  publishedAt: Date;
  /** The SOA serial after the change. */
  serial: number;
  changes: RecordChange[];
}

export const DEFAULT_PUBLISH_DELAY_MS = 30_000;

function knotcArgv(socket: string, args: readonly string[]): string[] {
  return ["knotc", "-s", socket, "-t", "10", ...args];
}

export class DnsStandIn {
  /** Every publication so far, oldest first. */
  readonly publications: Publication[] = [];
  private current: ZoneModel;
  /** What the program declared last: `pulumi up` compares with its state, not with the live zone. */
  private declared: ZoneModel;
  private serialNow: number;
  /** Knot allows one transaction per zone at a time; publications queue here. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly host: Host,
    readonly address: string,
    readonly port: number,
    readonly publishDelayMs: number,
    readonly controlSocket: string,
    readonly logFile: string,
    model: ZoneModel,
    serial: number,
    private readonly process: LabProcess,
  ) {
    this.current = model;
    this.declared = model;
    this.serialNow = serial;
  }

  /**
   * Starts Knot in `host`'s network namespace serving the zone declared by `resources` (one
   * evaluation's resources per stack, e.g. [primary.resources, dr.resources]).
   */
  static async start(
    host: Host,
    resources: readonly (readonly RecordedResource[])[],
    options: DnsStandInOptions = {},
  ): Promise<DnsStandIn> {
    const model = zoneModel(resources);
    const address = assertDocumentationAddress(options.address ?? host.address);
    const port = options.port ?? 53;
    const serial = options.initialSerial ?? 1;
    const zoneText = renderZoneModel(model, {
      nameserver: { name: options.nameserverName ?? "ns1", address },
      serial,
    });
    if (address !== host.address)
      await host.execOrThrow(["ip", "addr", "add", `${address}/32`, "dev", "eth0"]);
    const dir = path.join(host.lab.stateDir, `dns-${host.name}`);
    const zoneDir = path.join(dir, "zones");
    const stateDir = path.join(dir, "knot");
    for (const d of [zoneDir, stateDir]) mkdirSync(d, { recursive: true, mode: 0o700 });
    writeFileSync(path.join(zoneDir, `${model.domain}.zone`), zoneText);
    const controlSocket = path.join(dir, "knot.sock");
    const configFile = path.join(dir, "knot.conf");
    writeFileSync(
      configFile,
      renderKnotConfig({ address, port, zone: model.domain, zoneDir, stateDir, controlSocket }),
    );
    await runOrThrow(["knotc", "-c", configFile, "conf-check"], {}, "checking the Knot configuration");
    const logFile = path.join(dir, "knotd.log");
    const child = host.spawnInNetwork(["knotd", "-c", configFile], { logFile });
    const standIn = new DnsStandIn(
      host,
      address,
      port,
      options.publishDelayMs ?? DEFAULT_PUBLISH_DELAY_MS,
      controlSocket,
      logFile,
      model,
      serial,
      child,
    );
    try {
      await waitFor(
        `Knot DNS for ${model.domain} in ${host.name}`,
        async () => {
          if (!child.running) throw new Error(`knotd exited; see ${logFile}`);
          return (await standIn.servedSerial().catch(() => undefined)) === serial ? true : undefined;
        },
        15_000,
        100,
      );
    } catch (error) {
      await child.stop();
      throw error;
    }
    return standIn;
  }

  get pid(): number {
    return this.process.pid;
  }

  get domain(): string {
    return this.current.domain;
  }

  /** The zone as last published. */
  get zone(): ZoneModel {
    return this.current;
  }

  get serial(): number {
    return this.serialNow;
  }

  /** The SOA serial the server answers with right now (asked over UDP from the server's host). */
  async servedSerial(): Promise<number> {
    const answer = await queryDns(this.host, this.address, this.domain, "SOA", { port: this.port });
    const soa = answer.answers.find((a) => a.type === "SOA");
    if (answer.status !== "NOERROR" || !soa) throw new Error(`no SOA for ${this.domain}: ${answer.status}`);
    // MNAME RNAME SERIAL REFRESH RETRY EXPIRE MINIMUM
    const serial = Number(soa.data.split(/\s+/)[2]);
    if (!Number.isInteger(serial)) throw new Error(`unreadable SOA for ${this.domain}: ${soa.data}`);
    return serial;
  }

  /**
   * What an API update (or creation) of the record `name`/`type` does: after the publish delay,
   * the server answers `target` with `ttl`. Resolves once that is live.
   */
  setRecord(name: string, type: RecordType, target: string, ttl: number): Promise<Publication> {
    const record = assertRecord({ name, type, target, ttl });
    return this.publish([{ kind: "set", record }]);
  }

  /**
   * Applies what a `pulumi up` declaring `resources` (one evaluation's resources per stack) would
   * change, compared with what the program declared before (its state, as `pulumi up` without
   * --refresh does): records with a new target or TTL, new records, records no longer declared.
   * Records made with `setRecord` and never declared by the program are left alone, as Pulumi
   * leaves records it does not manage; a declared record updated in place is written whole.
   */
  async applyRecords(resources: readonly (readonly RecordedResource[])[]): Promise<Publication> {
    const next = zoneModel(resources);
    const changes = zoneChanges(this.declared, next);
    // Declared at once, as the API accepts the change at once: a second update in the same
    // `pulumi up` (the AAAA record after the A record) must not publish the first one's change again.
    this.declared = next;
    return this.publish(changes);
  }

  private async publish(changes: RecordChange[]): Promise<Publication> {
    const requestedAt = new Date();
    if (changes.length === 0)
      return { requestedAt, publishedAt: requestedAt, serial: this.serialNow, changes };
    await sleep(this.publishDelayMs);
    const done = this.queue.then(() => this.transaction(requestedAt, changes));
    this.queue = done.catch(() => undefined);
    return done;
  }

  private async knotc(args: readonly string[]): Promise<void> {
    await runOrThrow(knotcArgv(this.controlSocket, args), {}, `knotc ${args.join(" ")}`);
  }

  private async transaction(requestedAt: Date, changes: RecordChange[]): Promise<Publication> {
    const zone = `${this.domain}.`;
    const exists = (name: string, type: RecordType): boolean =>
      this.current.records.some((r) => r.name === name && r.type === type);
    const owner = (name: string): string => (name === "" ? "@" : name);
    const steps: string[][] = [];
    for (const change of changes) {
      const name = change.kind === "set" ? change.record.name : change.name;
      const type = change.kind === "set" ? change.record.type : change.type;
      if (exists(name, type)) steps.push(["zone-unset", zone, owner(name), type]);
      if (change.kind === "set")
        steps.push(["zone-set", zone, owner(name), String(change.record.ttl), type, change.record.target]);
    }
    // Nothing to change in the live zone (a delete of a record already gone): nothing to publish.
    if (steps.length === 0) return { requestedAt, publishedAt: new Date(), serial: this.serialNow, changes };
    await this.knotc(["zone-begin", zone]);
    try {
      for (const step of steps) await this.knotc(step);
      await this.knotc(["zone-commit", zone]);
    } catch (error) {
      await runOrThrow(knotcArgv(this.controlSocket, ["zone-abort", zone])).catch(() => undefined);
      throw error;
    }
    // Knot swaps in the new zone contents and serial together, so the new serial means the change is live.
    const previous = this.serialNow;
    const serial = await waitFor(
      `the change to ${this.domain} to go live`,
      async () => {
        const served = await this.servedSerial().catch(() => undefined);
        return served !== undefined && served !== previous ? served : undefined;
      },
      10_000,
      20,
    );
    const publication: Publication = { requestedAt, publishedAt: new Date(), serial, changes };
    this.current = applyChanges(this.current, changes);
    this.serialNow = serial;
    this.publications.push(publication);
    return publication;
  }

  async stop(): Promise<void> {
    await this.process.stop();
  }
}
