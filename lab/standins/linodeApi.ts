import { readFileSync, statSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { assertDocumentationAddress } from "../addresses";
import { pointNamesAt } from "../hosts/etcHosts";
import type { Host } from "../hosts/host";
import type { LabProcess } from "../hosts/labProcess";
import { makeServerPki } from "../tls";
import type { RecordedResource } from "../../evaluation/mocks";
import type { DnsStandIn, Publication } from "./dns";
import type { RecordType } from "./dnsZone";
import type { AcceptedChange, ApiState, FailureOrder } from "./linodeApiHandler";
import { apiDomain, type ApiDomain } from "./linodeApiRecords";
import { parseScopes } from "./linodeApiScopes";
import type { LoggedRequest } from "./linodeApiServer";
import { controlRequest, startStandInProgram } from "./standInProcess";

/**
 * Linode API stand-in: the part of API v4 the traffic follower uses, served over HTTPS as
 * https://api.linode.com/v4 from a lab host's network namespace (a certificate from a lab CA, which
 * `trustLabCa` installs where it should be trusted; `resolveOn` points the name at the stand-in).
 *
 * Emulated: listing a Domain's Records (paginated), viewing one and updating its target and
 * ttl_sec (linodeApiHandler.ts: validation, TTL rounding, error envelope, what is assumed), for
 * the one Domain and the Records the program declares (ids from the evaluation); bearer tokens with
 * Linode's scopes (GET needs domains:read_only, PUT domains:read_write); failures as injected (429
 * with Retry-After or 5xx, for a number of requests or a time; connections refused); a request log
 * and a change log. Every accepted change is handed, in order, to the DNS stand-in, which publishes
 * it after its publish delay: the API answers with the new target at once, the nameservers later.
 *
 * Not emulated: every other endpoint (Domains themselves, creating and deleting records, ...),
 * X-Filter, real rate limits and their X-RateLimit headers, OAuth logins and token expiry, the API's
 * latency and any eventual consistency between its answers, IPv6 transport. It holds what the
 * program declared when it started plus what was PUT through it: the world's `pulumi up` PUTs its
 * record changes here too (World.updateRecord), as the provider does; `DnsStandIn.applyRecords`
 * bypasses it.
 */

export const LINODE_API_HOSTNAME = "api.linode.com";

export interface LinodeApiStandInOptions {
  /** Where accepted changes go, to be published after its publish delay. */
  dns: DnsStandIn;
  /** Every token the API knows, with its scopes in Linode's format ("domains:read_write", "*"). */
  tokens: Readonly<Record<string, string>>;
  /** Where the service answers; default the host's own address. Another address is added to eth0. */
  address?: string;
  port?: number;
}

/** One request the API answered. */
export interface ApiRequestRecord extends Omit<LoggedRequest, "at"> {
  at: Date;
}

/** A change the API accepted, and what became of it. */
export interface ApiRecordChange extends Omit<AcceptedChange, "acceptedAt"> {
  /** When the API accepted it (the client's 200 followed). */
  acceptedAt: Date;
  /** When it was handed to the DNS stand-in (within about 20 ms of acceptedAt). */
  handedAt: Date;
  /** Resolves once the nameserver answers with it: publishDelayMs after handedAt, and a little. */
  publication: Promise<Publication>;
}

const SERVER = path.join(__dirname, "linodeApiServer.ts");
const WHAT = "the Linode API stand-in";
/** How often the change log is read: the hand-off to DNS lags acceptance by at most this. */
const PICK_UP_MS = 20;

function readLines(file: string): string[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line !== "");
}

export class LinodeApiStandIn {
  private readonly accepted: ApiRecordChange[] = [];
  /** Bytes of the change log already handed on. */
  private changesRead = 0;
  private readonly pickUp: NodeJS.Timeout;

  private constructor(
    readonly host: Host,
    readonly address: string,
    readonly port: number,
    readonly caCertPem: string,
    /** The Domain and Records as seeded at start. */
    readonly domain: ApiDomain,
    readonly logFile: string,
    private readonly files: { control: string; requests: string; changes: string },
    private readonly dns: DnsStandIn,
    private readonly process: LabProcess,
  ) {
    this.pickUp = setInterval(() => this.handOnChanges(), PICK_UP_MS);
    this.pickUp.unref();
  }

  /**
   * Starts the server in `host`'s network namespace serving the Domain and Records declared by
   * `resources` (one evaluation's resources per stack, e.g. [primary.resources, dr.resources]).
   */
  static async start(
    host: Host,
    resources: readonly (readonly RecordedResource[])[],
    options: LinodeApiStandInOptions,
  ): Promise<LinodeApiStandIn> {
    const tokens = Object.entries(options.tokens);
    if (tokens.length === 0) throw new Error(`${WHAT} needs at least one token`);
    for (const [i, [token, scopes]] of tokens.entries()) {
      if (!/^\S+$/.test(token)) throw new Error(`${WHAT}: token ${i + 1} is empty or has whitespace`);
      parseScopes(scopes);
    }
    const address = assertDocumentationAddress(options.address ?? host.address);
    const port = options.port ?? 443;
    if (address !== host.address)
      await host.execOrThrow(["ip", "addr", "add", `${address}/32`, "dev", "eth0"]);
    const domain = apiDomain(resources, Date.now());
    const { caCertPem, server } = makeServerPki([LINODE_API_HOSTNAME]);
    const base = path.join(host.lab.stateDir, `linode-api-${host.name}`);
    const settingsFile = `${base}.json`;
    const state: ApiState = { domain, tokens: { ...options.tokens } };
    writeFileSync(
      settingsFile,
      JSON.stringify({ address, port, certPem: server.certPem, keyPem: server.keyPem, state }),
      { mode: 0o600 },
    );
    const files = {
      control: `${base}.sock`,
      requests: `${base}.requests.jsonl`,
      changes: `${base}.changes.jsonl`,
    };
    // A stand-in started again on the same host starts with empty logs.
    for (const log of [files.requests, files.changes]) writeFileSync(log, "");
    const logFile = `${base}.log`;
    const child = await startStandInProgram(host, {
      what: WHAT,
      script: SERVER,
      env: {
        API_SETTINGS: settingsFile,
        API_CONTROL: files.control,
        API_REQUESTS: files.requests,
        API_CHANGES: files.changes,
      },
      logFile,
      controlSocket: files.control,
    });
    return new LinodeApiStandIn(host, address, port, caCertPem, domain, logFile, files, options.dns, child);
  }

  get pid(): number {
    return this.process.pid;
  }

  /** The API's base URL, as clients are configured with it. */
  get url(): string {
    return `https://${LINODE_API_HOSTNAME}${this.port === 443 ? "" : `:${this.port}`}/v4`;
  }

  /** A seeded record's id, as a client configured for it would know it. */
  recordId(name: string, type: RecordType): number {
    const record = this.domain.records.find((r) => r.name === name && r.type === type);
    if (!record) throw new Error(`${WHAT} has no ${type} record named "${name}"`);
    return record.id;
  }

  /** Makes `host` resolve api.linode.com to the stand-in (its /etc/hosts; trust comes from trustLabCa). */
  async resolveOn(host: Host): Promise<void> {
    await pointNamesAt(host, this.address, [LINODE_API_HOSTNAME], "Linode API stand-in");
  }

  /**
   * From now on the API answers `status` (429 or 5xx, with Retry-After when given; a 429 needs it)
   * to the next `requests` requests or for `forMs`, whatever they ask, replacing any earlier failure.
   */
  async injectFailure(failure: FailureOrder): Promise<void> {
    await this.control("POST", "/failure", JSON.stringify(failure));
  }

  async clearFailure(): Promise<void> {
    await this.control("DELETE", "/failure");
  }

  /** Unavailable refuses connections (the listener closes and open connections are cut) until set back. */
  async setAvailable(available: boolean): Promise<void> {
    await this.control("POST", "/available", JSON.stringify({ available }));
  }

  /** Every request answered so far, oldest first. */
  requests(): ApiRequestRecord[] {
    return readLines(this.files.requests).map((line) => {
      const logged = JSON.parse(line) as LoggedRequest;
      return { ...logged, at: new Date(logged.at) };
    });
  }

  /** Every change accepted so far, oldest first (read up to this moment). */
  changes(): ApiRecordChange[] {
    this.handOnChanges();
    return [...this.accepted];
  }

  /** Stops the server by pid; changes it accepted before are still handed on. */
  async stop(): Promise<void> {
    await this.process.stop();
    clearInterval(this.pickUp);
    this.handOnChanges();
  }

  private async control(method: string, pathname: string, body = ""): Promise<void> {
    const status = await controlRequest(WHAT, this.files.control, method, pathname, body);
    if (status !== 200) throw new Error(`${WHAT}: ${method} ${pathname} answered ${status}`);
  }

  /** Hands each complete line of the change log not yet seen to the DNS stand-in, in order. */
  private handOnChanges(): void {
    if (statSync(this.files.changes).size === this.changesRead) return;
    const text = readFileSync(this.files.changes).subarray(this.changesRead);
    const complete = text.lastIndexOf(0x0a) + 1;
    this.changesRead += complete;
    for (const line of text.subarray(0, complete).toString("utf8").split("\n")) {
      if (line === "") continue;
      const change = JSON.parse(line) as AcceptedChange;
      const publication = this.dns.setRecord(change.name, change.type, change.target, change.ttl);
      // Whoever awaits it sees a failure; nobody awaiting it must not crash the lab.
      publication.catch(() => undefined);
      this.accepted.push({
        ...change,
        acceptedAt: new Date(change.acceptedAt),
        handedAt: new Date(),
        publication,
      });
    }
  }
}
