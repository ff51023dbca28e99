import { mkdirSync, writeFileSync, rmSync } from "node:fs";
import * as path from "node:path";
import {
  assertDocumentationAddress,
  assertDocumentationCidr,
  Cidr,
  cidrContains,
  gatewayOf,
  isUsableHostAddress,
} from "../addresses";
import { processStartTime, runOrThrow } from "../process";
import { cleanLab } from "./cleanup";
import { Host } from "./host";
import { HOST_NAME, LAB_NAME, netnsPrefix, REGION_NAME } from "./names";
import type { LabProcess } from "./labProcess";
import { DEFAULT_STATE_ROOT, LabState, stateDirOf, stateFileOf } from "./state";
import {
  buildWan,
  ensureWanDevice,
  routeAroundWan,
  routeThroughWan,
  startWan,
  wanArguments,
  type WanSettings,
} from "./wan";

/**
 * The local proving ground: each simulated Linode is a "host" made of a network namespace plus
 * private mount/pid/uts/ipc namespaces over an overlay of this machine's root, so it runs the real
 * Debian packages, the real cloud-init and the real scripts. Regions are bridges behind one router;
 * cutting a region takes its uplink down.
 *
 * Everything the lab creates is named after the lab (netns `ldr-<lab>-*`, process markers
 * `ldr-init:<lab>:*`) and recorded in its state directory, so `Lab.create` and `lab/cli.ts clean`
 * can remove what a crashed run left behind.
 */

export interface LabOptions {
  name: string;
  stateRoot?: string;
}

export interface HostOptions {
  name: string;
  region: string;
  address: string;
}

interface RegionRecord {
  name: string;
  cidrText: string;
  cidr: Cidr;
  index: number;
  created: boolean;
}

async function ip(args: string[], context: string): Promise<void> {
  await runOrThrow(["ip", ...args], {}, context);
}

export class Lab {
  private readonly regions = new Map<string, RegionRecord>();
  private readonly hosts = new Map<string, Host>();
  private readonly state: LabState = { netns: [], processes: [] };
  private routerReady = false;
  private wan?: { process: LabProcess; settings: WanSettings };
  private destroyed = false;
  /** Switch-port numbers are never reused, so a host added after a removal gets a fresh one. */
  private portsUsed = 0;

  private constructor(
    readonly name: string,
    readonly stateDir: string,
  ) {}

  /** Removes whatever an earlier run of a lab with this name left behind, then starts empty. */
  static async create(options: LabOptions): Promise<Lab> {
    if (!LAB_NAME.test(options.name)) throw new Error(`lab name "${options.name}" must match ${LAB_NAME}`);
    if (process.getuid?.() !== 0) throw new Error("the lab needs root (network and mount namespaces)");
    const root = options.stateRoot ?? DEFAULT_STATE_ROOT;
    await cleanLab(options.name, root);
    const lab = new Lab(options.name, stateDirOf(root, options.name));
    mkdirSync(path.join(lab.stateDir, "hosts"), { recursive: true });
    lab.saveState();
    return lab;
  }

  get routerNetns(): string {
    return `${netnsPrefix(this.name)}rt`;
  }

  private switchNetns(region: string): string {
    return `${netnsPrefix(this.name)}sw-${region}`;
  }

  private saveState(): void {
    writeFileSync(stateFileOf(this.stateDir), JSON.stringify(this.state, null, 2));
  }

  /** @internal Hosts register every process they start so a crashed run can be cleaned up. */
  recordProcess(pid: number, what: string): void {
    const start = processStartTime(pid);
    if (start === undefined) return;
    this.state.processes.push({ pid, start, what });
    this.saveState();
  }

  private async addNetns(name: string): Promise<void> {
    this.state.netns.push(name);
    this.saveState();
    await ip(["netns", "add", name], `creating netns ${name}`);
    await ip(["-n", name, "link", "set", "lo", "up"], `lo up in ${name}`);
  }

  /** Disables IPv6 so nothing but the IPv4 documentation ranges ever appears on a lab link. */
  private async ipv4Only(netns: string, device = "all"): Promise<void> {
    const keys = device === "all" ? ["all", "default"] : [device];
    for (const key of keys) {
      await runOrThrow([
        "ip",
        "netns",
        "exec",
        netns,
        "sysctl",
        "-q",
        "-w",
        `net.ipv6.conf.${key}.disable_ipv6=1`,
      ]);
    }
  }

  private async ensureRouter(): Promise<void> {
    if (this.routerReady) return;
    await this.addNetns(this.routerNetns);
    await this.ipv4Only(this.routerNetns);
    await runOrThrow([
      "ip",
      "netns",
      "exec",
      this.routerNetns,
      "sysctl",
      "-q",
      "-w",
      "net.ipv4.ip_forward=1",
    ]);
    this.routerReady = true;
  }

  addRegion(name: string, cidr: string): void {
    if (!REGION_NAME.test(name)) throw new Error(`region name "${name}" must match ${REGION_NAME}`);
    if (this.regions.has(name)) throw new Error(`region ${name} exists already`);
    const parsed = assertDocumentationCidr(cidr);
    for (const other of this.regions.values()) {
      if (cidrContains(other.cidr, gatewayOf(parsed)) || cidrContains(parsed, gatewayOf(other.cidr))) {
        throw new Error(`region ${name} (${cidr}) overlaps region ${other.name} (${other.cidrText})`);
      }
    }
    this.regions.set(name, { name, cidrText: cidr, cidr: parsed, index: this.regions.size, created: false });
  }

  hasRegion(name: string): boolean {
    return this.regions.has(name);
  }

  private region(name: string): RegionRecord {
    const region = this.regions.get(name);
    if (!region) throw new Error(`no region ${name}; add it with addRegion first`);
    return region;
  }

  private async ensureRegion(region: RegionRecord): Promise<void> {
    if (region.created) return;
    await this.ensureRouter();
    const sw = this.switchNetns(region.name);
    await this.addNetns(sw);
    await this.ipv4Only(sw);
    await ip(["-n", sw, "link", "add", "br0", "type", "bridge"], `bridge in ${sw}`);
    await ip(["-n", sw, "link", "set", "br0", "up"], `bridge up in ${sw}`);
    const routerSide = `r-${region.name}`;
    await ip(
      ["-n", sw, "link", "add", "up0", "type", "veth", "peer", "name", routerSide, "netns", this.routerNetns],
      `uplink of ${region.name}`,
    );
    await ip(["-n", sw, "link", "set", "up0", "master", "br0"], `uplink into bridge`);
    await ip(["-n", sw, "link", "set", "up0", "up"], `uplink up`);
    await this.ipv4Only(this.routerNetns, routerSide);
    await ip(
      [
        "-n",
        this.routerNetns,
        "addr",
        "add",
        `${gatewayOf(region.cidr)}/${region.cidr.prefix}`,
        "dev",
        routerSide,
      ],
      `router address in ${region.name}`,
    );
    await ip(["-n", this.routerNetns, "link", "set", routerSide, "up"], `router side up`);
    region.created = true;
  }

  async addHost(options: HostOptions): Promise<Host> {
    if (this.destroyed) throw new Error(`lab ${this.name} is destroyed`);
    if (!HOST_NAME.test(options.name)) throw new Error(`host name "${options.name}" must match ${HOST_NAME}`);
    if (this.hosts.has(options.name)) throw new Error(`host ${options.name} exists already`);
    const region = this.region(options.region);
    assertDocumentationAddress(options.address);
    if (!isUsableHostAddress(region.cidr, options.address)) {
      throw new Error(
        `host address ${options.address} is not a usable host address of region ${region.name} (${region.cidrText}, router at ${gatewayOf(region.cidr)})`,
      );
    }
    for (const other of this.hosts.values()) {
      if (other.address === options.address)
        throw new Error(`address ${options.address} is taken by host ${other.name}`);
    }
    await this.ensureRegion(region);
    const netns = `${netnsPrefix(this.name)}h-${options.name}`;
    const sw = this.switchNetns(region.name);
    const host = new Host(
      this,
      options.name,
      region.name,
      options.address,
      netns,
      path.join(this.stateDir, "hosts", options.name),
      this.portsUsed++,
    );
    this.hosts.set(options.name, host);
    await this.addNetns(netns);
    await ip(
      ["-n", sw, "link", "add", host.switchPort, "type", "veth", "peer", "name", "eth0", "netns", netns],
      `link for ${options.name}`,
    );
    await ip(["-n", sw, "link", "set", host.switchPort, "master", "br0"], `port into bridge`);
    await ip(["-n", sw, "link", "set", host.switchPort, "up"], `port up`);
    await this.ipv4Only(netns, "eth0");
    await ip(
      ["-n", netns, "addr", "add", `${options.address}/${region.cidr.prefix}`, "dev", "eth0"],
      `address of ${options.name}`,
    );
    await ip(["-n", netns, "link", "set", "eth0", "up"], `eth0 up`);
    await ip(
      ["-n", netns, "route", "add", "default", "via", gatewayOf(region.cidr)],
      `default route of ${options.name}`,
    );
    await host.start();
    return host;
  }

  /**
   * Removes a host as deleting its Linode would: every process in it dies (SIGKILL to its pid 1),
   * its network namespace and disk go. The name and address can be used again by a new host.
   */
  async removeHost(name: string): Promise<void> {
    const host = this.host(name);
    if (host.isUp) await host.crash();
    await ip(["netns", "del", host.netns], `removing netns ${host.netns}`);
    this.state.netns = this.state.netns.filter((n) => n !== host.netns);
    this.saveState();
    rmSync(host.dir, { recursive: true, force: true });
    this.hosts.delete(name);
  }

  host(name: string): Host {
    const host = this.hosts.get(name);
    if (!host) throw new Error(`no host ${name}`);
    return host;
  }

  /**
   * Unplugs (or plugs back) one host's network cable at its region's switch: nothing reaches the
   * host and nothing leaves it, as with a paused VM's NIC; its own addresses and routes stay.
   */
  async setHostLink(name: string, up: boolean): Promise<void> {
    const host = this.host(name);
    await ip(
      ["-n", this.switchNetns(host.region), "link", "set", host.switchPort, up ? "up" : "down"],
      `${up ? "plugging" : "unplugging"} ${name}`,
    );
  }

  /** The region's link to the rest of the world goes down; traffic inside the region still flows. */
  async cutRegion(name: string): Promise<void> {
    const region = this.region(name);
    await this.ensureRegion(region);
    await ip(["-n", this.switchNetns(name), "link", "set", "up0", "down"], `cutting region ${name}`);
  }

  async restoreRegion(name: string): Promise<void> {
    const region = this.region(name);
    await this.ensureRegion(region);
    await ip(["-n", this.switchNetns(name), "link", "set", "up0", "up"], `restoring region ${name}`);
  }

  /**
   * Drops all traffic between two regions in the router (both directions) while each still reaches
   * every other region: a partition between two sites. Policy rules with the blackhole action, so
   * nothing but the two documentation ranges is ever named.
   */
  async cutLink(a: string, b: string): Promise<void> {
    for (const [from, to] of this.linkPairs(a, b)) {
      await ip(
        ["-n", this.routerNetns, "rule", "add", "from", from, "to", to, "blackhole", "priority", "100"],
        `cutting ${a}<->${b}`,
      );
    }
  }

  async restoreLink(a: string, b: string): Promise<void> {
    for (const [from, to] of this.linkPairs(a, b)) {
      await ip(
        ["-n", this.routerNetns, "rule", "del", "from", from, "to", to, "blackhole", "priority", "100"],
        `restoring ${a}<->${b}`,
      );
    }
  }

  private linkPairs(a: string, b: string): [string, string][] {
    const ra = this.region(a);
    const rb = this.region(b);
    return [
      [ra.cidrText, rb.cidrText],
      [rb.cidrText, ra.cidrText],
    ];
  }

  /** The WAN between the regions now (see wan.ts); undefined while they are joined without delay. */
  get wanSettings(): WanSettings | undefined {
    return this.wan?.settings;
  }

  /**
   * Puts a WAN between the regions that exist now (wan.ts), replacing the one before: packets in
   * the old one's queues are lost, as in a route change. Undefined joins them without delay again.
   * Settings are checked before anything changes.
   */
  async setWan(settings: WanSettings | undefined): Promise<void> {
    const regions = [...this.regions.values()];
    const args = settings && settings.links.length > 0 ? wanArguments(regions, settings) : undefined;
    if (args) await buildWan();
    if (!args && this.routerReady) await routeAroundWan(this.routerNetns, regions);
    if (this.wan) {
      await this.wan.process.stop();
      this.wan = undefined;
    }
    if (!args || !settings) return;
    for (const region of regions) await this.ensureRegion(region);
    await ensureWanDevice(this.routerNetns, regions);
    const process = await startWan(this.routerNetns, args, path.join(this.stateDir, "wan.log"), (pid) =>
      this.recordProcess(pid, "the lab's WAN in the router"),
    );
    this.wan = { process, settings };
    await routeThroughWan(this.routerNetns, regions);
  }

  /** Stops every process of the lab by pid and removes its namespaces and state. Safe to call twice. */
  async destroy(): Promise<void> {
    this.destroyed = true;
    await cleanLab(this.name, path.dirname(this.stateDir));
  }
}
