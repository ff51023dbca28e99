import { spawn } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import {
  assertDocumentationAddress,
  assertDocumentationCidr,
  Cidr,
  cidrContains,
  gatewayOf,
  isUsableHostAddress,
} from "./addresses";
import {
  CommandError,
  ExecResult,
  processCmdline,
  processStartTime,
  run,
  runOrThrow,
  sleep,
  waitFor,
} from "./process";

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

export const DEFAULT_STATE_ROOT = "/var/tmp/linode-dr-lab";
const LAB_NAME = /^[a-z][a-z0-9]{0,11}$/;
const REGION_NAME = /^[A-Za-z][A-Za-z0-9]{0,7}$/;
const HOST_NAME = /^[a-z][a-z0-9-]{0,19}$/;
const HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** Directories of this machine that a fresh Debian host would not have (or would have empty). */
const HIDDEN_ON_FIRST_BOOT = [
  "/etc/postgresql",
  "/var/lib/postgresql",
  "/var/log/postgresql",
  "/var/lib/cloud",
  "/var/log/cloud-init.log",
  "/var/log/cloud-init-output.log",
  "/etc/linode-dr",
  "/var/lib/linode-dr",
  "/etc/cloud/cloud.cfg.d/90-linode-dr-lab.cfg",
];

export interface LabOptions {
  name: string;
  stateRoot?: string;
}

export interface HostOptions {
  name: string;
  region: string;
  address: string;
}

export interface HostExecOptions {
  user?: string;
  input?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
}

export interface SpawnOptions {
  env?: Record<string, string>;
  /** stdout and stderr go here (appended); without it they are discarded. */
  logFile?: string;
}

interface LabState {
  netns: string[];
  processes: { pid: number; start: string; what: string }[];
}

interface RegionRecord {
  name: string;
  cidrText: string;
  cidr: Cidr;
  index: number;
  created: boolean;
}

function netnsPrefix(lab: string): string {
  return `ldr-${lab}-`;
}

function initMarker(lab: string, host: string): string {
  return `ldr-init:${lab}:${host}`;
}

function stateDirOf(root: string, lab: string): string {
  return path.join(root, lab);
}

async function ip(args: string[], context: string): Promise<void> {
  await runOrThrow(["ip", ...args], {}, context);
}

/** A process started inside a host's network namespace (but on this machine's filesystem). */
export class LabProcess {
  readonly exited: Promise<ExecResult>;
  private done = false;

  constructor(
    readonly pid: number,
    exited: Promise<ExecResult>,
  ) {
    this.exited = exited.finally(() => {
      this.done = true;
    });
  }

  get running(): boolean {
    return !this.done;
  }

  kill(signal: NodeJS.Signals = "SIGTERM"): void {
    if (this.done) return;
    try {
      process.kill(this.pid, signal);
    } catch {
      // Already gone between the check and the signal.
    }
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 5000): Promise<ExecResult> {
    this.kill("SIGTERM");
    const timer = setTimeout(() => this.kill("SIGKILL"), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

export class Host {
  private pid1: number | undefined;
  private booted = false;
  private portIndex: number;

  constructor(
    readonly lab: Lab,
    readonly name: string,
    readonly region: string,
    readonly address: string,
    readonly netns: string,
    readonly dir: string,
    portIndex: number,
  ) {
    this.portIndex = portIndex;
  }

  get switchPort(): string {
    return `p${this.portIndex}`;
  }

  /** The host's pid 1 as seen from this machine; undefined while it is down. */
  get pid(): number | undefined {
    return this.pid1;
  }

  get isUp(): boolean {
    return this.pid1 !== undefined;
  }

  private requirePid(): number {
    if (this.pid1 === undefined) throw new Error(`host ${this.name} is down`);
    return this.pid1;
  }

  /** Boots the host (again, after a crash: the disk, i.e. the overlay's upper layer, survives). */
  async start(): Promise<void> {
    if (this.pid1 !== undefined) throw new Error(`host ${this.name} is already up`);
    const upper = path.join(this.dir, "upper");
    const work = path.join(this.dir, "work");
    const root = path.join(this.dir, "root");
    for (const dir of [upper, work, root]) mkdirSync(dir, { recursive: true });
    const fresh = !this.booted && !existsSync(path.join(this.dir, "initialized"));
    const bootLog = path.join(this.dir, "boot.log");
    const logFd = openSync(bootLog, "a");
    const child = spawn(
      "ip",
      [
        "netns",
        "exec",
        this.netns,
        "unshare",
        "--mount",
        "--pid",
        "--fork",
        "--uts",
        "--ipc",
        "--mount-proc=/proc",
        "bash",
        HOST_BOOT_SCRIPT,
        root,
        upper,
        work,
        this.name,
        fresh ? "1" : "0",
        initMarker(this.lab.name, this.name),
        HIDDEN_ON_FIRST_BOOT.join(":"),
      ],
      { detached: true, stdio: ["ignore", logFd, logFd], env: { PATH: HOST_PATH, LANG: "C.UTF-8" } },
    );
    closeSync(logFd);
    child.unref();
    const unsharePid = child.pid;
    if (unsharePid === undefined) throw new Error(`could not start host ${this.name}`);
    this.lab.recordProcess(unsharePid, `unshare for ${this.name}`);
    let exited = false;
    child.on("exit", () => {
      exited = true;
    });
    const marker = initMarker(this.lab.name, this.name);
    const pid1 = await waitFor(
      `host ${this.name} to boot`,
      () => {
        if (exited) throw new Error(`host ${this.name} failed to boot:\n${readFileSync(bootLog, "utf8")}`);
        let children: string;
        try {
          children = readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, "utf8").trim();
        } catch {
          return undefined;
        }
        const pid = Number(children.split(" ")[0]);
        if (!pid) return undefined;
        // The boot script carries the marker too; only after `exec chroot` is the host's root in place.
        const cmdline = processCmdline(pid);
        return cmdline?.at(-1) === marker && !cmdline.includes(HOST_BOOT_SCRIPT) ? pid : undefined;
      },
      15_000,
      20,
    );
    this.pid1 = pid1;
    this.booted = true;
    this.lab.recordProcess(pid1, `pid 1 of ${this.name}`);
    writeFileSync(path.join(this.dir, "initialized"), "");
  }

  /** Power loss: every process of the host is SIGKILLed at once (killing a pid namespace's init does that). */
  async crash(): Promise<void> {
    const pid = this.requirePid();
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already dead.
    }
    await waitFor(
      `host ${this.name} to die`,
      () => (existsSync(`/proc/${pid}`) ? undefined : true),
      10_000,
      20,
    );
    this.pid1 = undefined;
  }

  private nsenter(argv: readonly string[], user?: string): string[] {
    const pid = this.requirePid();
    return [
      "nsenter",
      "-t",
      String(pid),
      "-a",
      "-r",
      "-w",
      "--",
      ...(user ? ["runuser", "-u", user, "--"] : []),
      ...argv,
    ];
  }

  /** Runs a command inside the host (its filesystem, network, pid namespace). */
  exec(argv: readonly string[], options: HostExecOptions = {}): Promise<ExecResult> {
    return run(this.nsenter(argv, options.user), {
      input: options.input,
      timeoutMs: options.timeoutMs,
      env: { PATH: HOST_PATH, LANG: "C.UTF-8", HOME: options.user ? "/tmp" : "/root", ...options.env },
    });
  }

  async execOrThrow(argv: readonly string[], options: HostExecOptions = {}): Promise<ExecResult> {
    const result = await this.exec(argv, options);
    if (result.code !== 0) throw new CommandError(argv, result, `on host ${this.name}`);
    return result;
  }

  /** Path of a host file as reachable from this machine (through the host's pid 1 root). */
  private outside(hostPath: string): string {
    if (!hostPath.startsWith("/")) throw new Error(`host path must be absolute; received "${hostPath}"`);
    return `/proc/${this.requirePid()}/root${hostPath}`;
  }

  async writeFile(hostPath: string, content: string, mode = 0o644): Promise<void> {
    const target = this.outside(hostPath);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, content, { mode });
    await chmod(target, mode);
  }

  async readFile(hostPath: string): Promise<string> {
    return readFile(this.outside(hostPath), "utf8");
  }

  fileExists(hostPath: string): boolean {
    return existsSync(this.outside(hostPath));
  }

  /** What Debian's postgresql-<v> postinst does on a real Linode: create and start cluster <v>/main. */
  async simulatePackageInstall(postgresVersion = 15): Promise<void> {
    await this.execOrThrow(["pg_createcluster", "--start", String(postgresVersion), "main"]);
  }

  /**
   * Runs user data the way a Linode's first boot does, with the real cloud-init: schema check, the
   * NoCloud datasource (seeded with this text), the write_files module, the ssh module when the
   * user data brings host keys (`ssh_keys`), and the runcmd script (written by the runcmd module and
   * executed by scripts_user). Returns the runcmd result.
   */
  async tryProvision(userData: string): Promise<ExecResult> {
    const seed = "/var/lib/cloud/seed/nocloud";
    await this.writeFile(`${seed}/user-data`, userData, 0o600);
    await this.writeFile(
      `${seed}/meta-data`,
      `instance-id: ${this.lab.name}-${this.name}\nlocal-hostname: ${this.name}\n`,
    );
    // Only the modules provisioning needs: the stock module lists would also create users, SSH host
    // keys and network configuration, which belong to the machine, not to this host.
    await this.writeFile(
      "/etc/cloud/cloud.cfg.d/90-linode-dr-lab.cfg",
      [
        "datasource_list: [ NoCloud ]",
        "network: {config: disabled}",
        "cloud_init_modules: []",
        "cloud_config_modules: []",
        "cloud_final_modules: []",
        "",
      ].join("\n"),
    );
    await this.execOrThrow(["cloud-init", "schema", "--config-file", `${seed}/user-data`]);
    // The ssh module runs only for user data that brings its host keys: otherwise it would delete
    // the host keys this host inherited and generate new ones, which no lab test asked for. It runs
    // after write_files and before runcmd, as in Debian's cloud_init_modules. In a lab host it
    // installs ssh_keys exactly, then logs "Applying SSH credentials failed!" because the distro's
    // default user (created by users-groups on a Linode) does not exist here. That step installs the
    // datasource's keys (NoCloud has none) and, with disable_root: true, restricts root's keys; with
    // disable_root: false and root's keys in write_files, as the program does, nothing is lost.
    const sshModule = hasSshKeys(userData) ? [["cloud-init", "single", "--name", "ssh"]] : [];
    for (const step of [
      ["cloud-init", "init", "--local"],
      ["cloud-init", "init"],
      ["cloud-init", "single", "--name", "write_files"],
      ...sshModule,
      ["cloud-init", "single", "--name", "runcmd"],
    ]) {
      await this.execOrThrow(step);
    }
    return this.exec(["cloud-init", "single", "--name", "scripts_user"]);
  }

  async provision(userData: string): Promise<ExecResult> {
    const result = await this.tryProvision(userData);
    if (result.code !== 0)
      throw new CommandError(
        ["cloud-init", "single", "--name", "scripts_user"],
        result,
        `provisioning ${this.name}`,
      );
    return result;
  }

  /**
   * Starts a program of this machine inside the host's network namespace only: it sees the lab
   * network as the host does, and this machine's files (node, the repository).
   */
  spawnInNetwork(argv: readonly string[], options: SpawnOptions = {}): LabProcess {
    const fd = options.logFile ? openSync(options.logFile, "a") : "ignore";
    const child = spawn("ip", ["netns", "exec", this.netns, ...argv], {
      stdio: ["ignore", fd, fd],
      env: { ...process.env, ...options.env },
    });
    if (typeof fd === "number") closeSync(fd);
    if (child.pid === undefined) throw new Error(`could not start ${argv.join(" ")}`);
    this.lab.recordProcess(child.pid, `${argv[0]} in ${this.name}`);
    const exited = new Promise<ExecResult>((resolve) => {
      child.on("exit", (code, signal) =>
        resolve({ code: code ?? (signal === "SIGKILL" ? 137 : 143), stdout: "", stderr: "" }),
      );
    });
    return new LabProcess(child.pid, exited);
  }
}

const HOST_BOOT_SCRIPT = path.join(__dirname, "host-boot.sh");

function hasSshKeys(userData: string): boolean {
  const config: unknown = parseYaml(userData);
  return typeof config === "object" && config !== null && "ssh_keys" in config;
}

export class Lab {
  private readonly regions = new Map<string, RegionRecord>();
  private readonly hosts = new Map<string, Host>();
  private readonly state: LabState = { netns: [], processes: [] };
  private routerReady = false;
  private destroyed = false;

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
    writeFileSync(path.join(this.stateDir, "state.json"), JSON.stringify(this.state, null, 2));
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
      this.hosts.size,
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

  host(name: string): Host {
    const host = this.hosts.get(name);
    if (!host) throw new Error(`no host ${name}`);
    return host;
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

  /** Stops every process of the lab by pid and removes its namespaces and state. Safe to call twice. */
  async destroy(): Promise<void> {
    this.destroyed = true;
    await cleanLab(this.name, path.dirname(this.stateDir));
  }
}

function listLabNetns(lab: string): string[] {
  try {
    return readdirSync("/run/netns").filter((name) => name.startsWith(netnsPrefix(lab)));
  } catch {
    return [];
  }
}

function killIfSame(pid: number, start: string | undefined): number | undefined {
  if (start !== undefined && processStartTime(pid) !== start) return undefined;
  try {
    process.kill(pid, "SIGKILL");
    return pid;
  } catch {
    return undefined;
  }
}

/**
 * Removes everything a lab of this name may have left: processes recorded in its state file, any
 * process inside its network namespaces, its namespaces and its state directory. Each process is
 * checked by pid and start time (recorded ones) or by namespace membership, never by name.
 */
export async function cleanLab(
  lab: string,
  stateRoot = DEFAULT_STATE_ROOT,
): Promise<{ killed: number; netns: number }> {
  if (!LAB_NAME.test(lab)) throw new Error(`lab name "${lab}" must match ${LAB_NAME}`);
  const dir = stateDirOf(stateRoot, lab);
  const killed = new Set<number>();
  const stateFile = path.join(dir, "state.json");
  if (existsSync(stateFile)) {
    try {
      const state = JSON.parse(readFileSync(stateFile, "utf8")) as LabState;
      for (const entry of state.processes) {
        const pid = killIfSame(entry.pid, entry.start);
        if (pid) killed.add(pid);
      }
    } catch {
      // A half-written state file: the namespace scan below still finds the processes.
    }
  }
  const namespaces = listLabNetns(lab);
  for (const netns of namespaces) {
    const pids = await run(["ip", "netns", "pids", netns]);
    for (const text of pids.stdout.split(/\s+/).filter(Boolean)) {
      const pid = killIfSame(Number(text), undefined);
      if (pid) killed.add(pid);
    }
  }
  await waitFor(
    "lab processes to exit",
    () =>
      [...killed].some((pid) => processStartTime(pid) !== undefined && !isZombie(pid)) ? undefined : true,
    15_000,
    20,
  );
  for (const netns of namespaces) {
    const result = await run(["ip", "netns", "del", netns]);
    if (result.code !== 0 && listLabNetns(lab).includes(netns)) {
      throw new Error(`could not delete netns ${netns}: ${result.stderr.trim()}`);
    }
  }
  // The hosts' overlay mounts lived in their own mount namespaces and went away with them.
  for (let attempt = 0; ; attempt++) {
    try {
      rmSync(dir, { recursive: true, force: true });
      break;
    } catch (error) {
      if (attempt >= 20) throw error;
      await sleep(100);
    }
  }
  return { killed: killed.size, netns: namespaces.length };
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}
