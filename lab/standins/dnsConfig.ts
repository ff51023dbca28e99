import { isIPv4 } from "node:net";

/**
 * Configuration files for the DNS stand-in's two daemons, rendered from plain values (pure). Both
 * run as root in a lab host's network namespace on this machine's filesystem, in the foreground,
 * with every file under the lab's state directory: nothing of Debian's /etc/knot or /etc/unbound
 * is read, and neither package's system service is involved.
 */

export interface KnotConfigOptions {
  address: string;
  port: number;
  /** The zone's apex without the trailing dot, e.g. "example.com". */
  zone: string;
  /** Holds `<zone>.zone`, which Knot only reads: run-time changes live in its journal. */
  zoneDir: string;
  /** Knot's journal, timers and pid file. */
  stateDir: string;
  controlSocket: string;
}

function quoted(value: string): string {
  if (/["\\\n]/.test(value)) throw new Error(`cannot quote ${JSON.stringify(value)} in a config file`);
  return `"${value}"`;
}

function assertListenAddress(address: string): void {
  if (!isIPv4(address)) throw new Error(`listen address ${address} is not IPv4`);
}

export function renderKnotConfig(options: KnotConfigOptions): string {
  assertListenAddress(options.address);
  return [
    "server:",
    `    rundir: ${quoted(options.stateDir)}`,
    // UDP and TCP on this one address only, so nothing listens outside the documentation ranges.
    `    listen: ${options.address}@${options.port}`,
    "",
    "control:",
    `    listen: ${quoted(options.controlSocket)}`,
    "",
    "database:",
    `    storage: ${quoted(options.stateDir)}`,
    "",
    "log:",
    "  - target: stderr",
    "    any: info",
    "",
    "template:",
    "  - id: default",
    `    storage: ${quoted(options.zoneDir)}`,
    '    file: "%s.zone"',
    // The rendered zone file stays as rendered; knotc transactions go to the journal.
    "    zonefile-sync: -1",
    "    journal-content: changes",
    // A committed transaction that leaves the SOA alone gets the next serial, as secondaries expect.
    "    serial-policy: increment",
    "",
    "zone:",
    `  - domain: ${quoted(`${options.zone}.`)}`,
    "",
  ].join("\n");
}

export interface UnboundConfigOptions {
  /** Where clients ask, inside the client host's network namespace (127.0.0.1 or its address). */
  listen: string;
  /** Source address of queries to the authoritative server: the client host's own. */
  outgoing: string;
  zone: string;
  authoritative: { address: string; port: number };
  directory: string;
  pidFile: string;
  /**
   * Unix socket of unbound-control (no TCP, no certificates): the drill's reset flushes the cache
   * with it. Absent: no control at all.
   */
  controlSocket?: string;
}

export function renderUnboundConfig(options: UnboundConfigOptions): string {
  for (const address of [options.listen, options.outgoing, options.authoritative.address])
    assertListenAddress(address);
  const zone = `${options.zone}.`;
  return [
    "server:",
    "    verbosity: 1",
    "    num-threads: 1",
    `    interface: ${options.listen}`,
    "    port: 53",
    "    do-ip4: yes",
    "    do-ip6: no",
    "    do-udp: yes",
    "    do-tcp: yes",
    `    outgoing-interface: ${options.outgoing}`,
    "    access-control: 127.0.0.0/8 allow",
    `    access-control: ${options.listen}/32 allow`,
    "    do-daemonize: no",
    '    username: ""',
    '    chroot: ""',
    `    directory: ${quoted(options.directory)}`,
    `    pidfile: ${quoted(options.pidFile)}`,
    '    logfile: ""',
    "    use-syslog: no",
    "    log-time-ascii: yes",
    // Linode's zones are unsigned and the lab has no trust anchor: no validator module at all.
    '    module-config: "iterator"',
    // cache-min-ttl, cache-max-ttl, prefetch and serve-expired stay at their defaults (0, 86400,
    // no, no), so an answer is cached exactly as long as the record's TTL says.
    // Every other name is refused rather than sent to the root servers: the lab contacts nothing
    // outside the documentation ranges.
    '    local-zone: "." refuse',
    `    local-zone: ${quoted(zone)} transparent`,
    "",
    "stub-zone:",
    `    name: ${quoted(zone)}`,
    `    stub-addr: ${options.authoritative.address}@${options.authoritative.port}`,
    "    stub-prime: no",
    "    stub-first: no",
    "",
    "remote-control:",
    ...(options.controlSocket
      ? ["    control-enable: yes", `    control-interface: ${quoted(options.controlSocket)}`]
      : ["    control-enable: no"]),
    "",
  ].join("\n");
}
