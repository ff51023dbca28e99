import { mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { assertDocumentationAddress } from "../addresses";
import type { Host } from "../hosts/host";
import type { LabProcess } from "../hosts/labProcess";
import { runOrThrow, waitFor } from "../process";
import { renderUnboundConfig } from "./dnsConfig";
import { queryDns } from "./dnsQuery";

/**
 * A client host's caching resolver, standing in for whatever recursive resolver a user's machine
 * asks: Unbound 1.17 (Debian package unbound) in that host's network namespace, sending queries for
 * the program's zone to the DNS stand-in and caching answers exactly as long as their TTLs (and
 * NXDOMAIN/NODATA for the SOA's negative TTL). Every other name is refused: the lab resolves only
 * its own zone. No DNSSEC validation (Linode's zones are unsigned). The host's /etc/resolv.conf
 * points at it, so the host's programs (getaddrinfo, curl, psql) resolve through its cache.
 */

/** What the resolver needs of an authoritative server; DnsStandIn has it. */
export interface AuthoritativeServer {
  domain: string;
  address: string;
  port: number;
}

export interface ResolverOptions {
  /** Where the resolver listens inside the host; default 127.0.0.1 (loopback of that namespace). */
  listen?: string;
  /** Point the host's /etc/resolv.conf at the resolver; default true. */
  resolvConf?: boolean;
}

export class DnsResolver {
  private constructor(
    readonly host: Host,
    readonly listen: string,
    readonly logFile: string,
    private readonly process: LabProcess,
    private readonly previousResolvConf: string | undefined,
    private readonly configFile: string,
    private readonly zone: string,
  ) {}

  get pid(): number {
    return this.process.pid;
  }

  static async start(
    host: Host,
    authoritative: AuthoritativeServer,
    options: ResolverOptions = {},
  ): Promise<DnsResolver> {
    const listen = options.listen ?? "127.0.0.1";
    if (listen !== "127.0.0.1") assertDocumentationAddress(listen);
    assertDocumentationAddress(authoritative.address);
    const dir = path.join(host.lab.stateDir, `resolver-${host.name}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const configFile = path.join(dir, "unbound.conf");
    writeFileSync(
      configFile,
      renderUnboundConfig({
        listen,
        outgoing: host.address,
        zone: authoritative.domain,
        authoritative: { address: authoritative.address, port: authoritative.port },
        directory: dir,
        pidFile: path.join(dir, "unbound.pid"),
        controlSocket: path.join(dir, "unbound.ctl"),
      }),
    );
    const logFile = path.join(dir, "unbound.log");
    const child = host.spawnInNetwork(["unbound", "-d", "-c", configFile], { logFile });
    try {
      await waitFor(
        `Unbound in ${host.name}`,
        async () => {
          if (!child.running) throw new Error(`unbound exited; see ${logFile}`);
          const answer = await queryDns(host, listen, authoritative.domain, "SOA").catch(() => undefined);
          return answer?.status === "NOERROR" ? true : undefined;
        },
        15_000,
        100,
      );
    } catch (error) {
      await child.stop();
      throw error;
    }
    let previous: string | undefined;
    if (options.resolvConf ?? true) {
      previous = await host.readFile("/etc/resolv.conf").catch(() => undefined);
      // Removed first: were it a symlink, writing through the host's root could follow it elsewhere.
      await host.execOrThrow(["rm", "-f", "/etc/resolv.conf"]);
      await host.writeFile("/etc/resolv.conf", `nameserver ${listen}\noptions attempts:1 timeout:2\n`);
    }
    return new DnsResolver(host, listen, logFile, child, previous, configFile, authoritative.domain);
  }

  /**
   * Forgets every cached answer for the zone, as if the client's last lookup were a TTL ago. Only
   * for setting the lab up between drills (putInTheLead), never inside a measured run.
   */
  async flushZone(): Promise<void> {
    await runOrThrow(
      ["unbound-control", "-c", this.configFile, "flush_zone", this.zone],
      { timeoutMs: 10_000 },
      `(the resolver of ${this.host.name})`,
    );
  }

  /** Stops Unbound by pid and gives the host back the resolv.conf it had. */
  async stop(): Promise<void> {
    await this.process.stop();
    if (this.previousResolvConf !== undefined && this.host.isUp)
      await this.host.writeFile("/etc/resolv.conf", this.previousResolvConf);
  }
}

/** Starts a caching resolver in `host` for `authoritative`'s zone and makes the host use it. */
export function startResolver(
  host: Host,
  authoritative: AuthoritativeServer,
  options: ResolverOptions = {},
): Promise<DnsResolver> {
  return DnsResolver.start(host, authoritative, options);
}
