import { spawn } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  writeFileSync,
} from "node:fs";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import {
  CommandError,
  ExecResult,
  processCmdline,
  processStat,
  run,
  signalQuietly,
  waitFor,
} from "../process";
import type { Lab } from "./lab";
import { LabProcess } from "./labProcess";
import { initMarker } from "./names";

/**
 * One simulated Linode: a network namespace plus private mount/pid/uts/ipc namespaces over an
 * overlay of this machine's root (built by lab/host-boot.sh). Its disk (the overlay's upper layer)
 * survives a crash.
 */

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

  /**
   * A paused VM, as near as a shared kernel allows: the NIC unplugged, then every process of the
   * host stopped (SIGSTOP, its pid 1 too), so nothing in it runs, answers or sends. Unlike a
   * hypervisor's pause the clock keeps running for the stopped processes: on resume their timers
   * are already due, where a paused guest's clock usually stands still and catches up later.
   */
  async pause(): Promise<void> {
    const pid = this.requirePid();
    await this.lab.setHostLink(this.name, false);
    // A process forked while the others were being stopped escapes one pass: stop until a pass
    // finds nothing left running. Commands the lab itself runs in the host (`exec`, entered with
    // nsenter: the drill's observers) are left alone; a paused VM could not run them at all, and
    // stopped they would hang their callers.
    for (let pass = 0; pass < 20; pass++) {
      const running = ownProcessesOf(pid).filter((p) => {
        const state = processStat(p)?.state;
        return state !== undefined && state !== "T" && state !== "Z";
      });
      if (running.length === 0) return;
      for (const p of running) signalQuietly(p, "SIGSTOP");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`host ${this.name}: processes kept starting while it was being paused`);
  }

  /** Ends a pause: every process continues at once, then the NIC is plugged back. */
  async resume(): Promise<void> {
    const pid = this.requirePid();
    for (const p of pidsInNamespaceOf(pid)) signalQuietly(p, "SIGCONT");
    await this.lab.setHostLink(this.name, true);
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

const HOST_BOOT_SCRIPT = path.join(__dirname, "..", "host-boot.sh");

/** Every process of this machine in the same pid namespace as `pid` (a host's pid 1). */
function pidsInNamespaceOf(pid: number): number[] {
  const namespace = readlinkSync(`/proc/${pid}/ns/pid`);
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((p) => {
      try {
        return readlinkSync(`/proc/${p}/ns/pid`) === namespace;
      } catch {
        return false; // exited meanwhile
      }
    });
}

/**
 * The host's own processes: those descending from its pid 1 within its pid namespace. A command
 * entered from outside (nsenter) is in the namespace too, but its chain of parents leaves the
 * namespace before reaching pid 1.
 */
function ownProcessesOf(pid1: number): number[] {
  const inside = new Set(pidsInNamespaceOf(pid1));
  const own = new Map<number, boolean>([[pid1, true]]);
  const isOwn = (p: number): boolean => {
    const known = own.get(p);
    if (known !== undefined) return known;
    own.set(p, false); // a cycle cannot happen, but a process that exits mid-walk must not recurse
    const parent = processStat(p)?.parent;
    const result = parent !== undefined && inside.has(parent) && isOwn(parent);
    own.set(p, result);
    return result;
  };
  return [...inside].filter(isOwn);
}

function hasSshKeys(userData: string): boolean {
  const config: unknown = parseYaml(userData);
  return typeof config === "object" && config !== null && "ssh_keys" in config;
}
