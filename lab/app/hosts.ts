import { setTimeout as sleep } from "node:timers/promises";
import { Host } from "../hosts/host";
import { waitFor } from "../process";

/**
 * What a lab test needs to observe and control on hosts provisioned from the program's user data:
 * the C service the install script started (there is no systemd in a lab host, so the script runs
 * it in the background and records its pid), and the host's PostgreSQL cluster. Every process is
 * addressed by pid inside the host's pid namespace, never by name.
 */

export const APP_BINARY_PATH = "/usr/local/bin/linode-dr-app";
export const APP_PID_FILE = "/run/linode-dr/app.pid";
export const APP_LOG_FILE = "/var/log/linode-dr-app.log";
export const CLOUD_INIT_OUTPUT = "/var/log/cloud-init-output.log";

/** The sha256 of every binary the install script reported installing, in order. */
export function installedSha256s(installLog: string): string[] {
  return [...installLog.matchAll(/linode-dr-app-install: installed \S+ sha256=([0-9a-f]{64})$/gm)].map(
    (match) => match[1],
  );
}

/** Process state letter (R, S, T, Z, ...) inside the host, or undefined when there is no such pid. */
async function processState(host: Host, pid: number): Promise<string | undefined> {
  const stat = await host.exec(["cat", `/proc/${pid}/stat`]);
  if (stat.code !== 0) return undefined;
  // The command name may contain spaces and parentheses; the state follows the last ")".
  return stat.stdout.slice(stat.stdout.lastIndexOf(")") + 2).split(" ")[0];
}

async function alive(host: Host, pid: number): Promise<boolean> {
  const state = await processState(host, pid);
  return state !== undefined && state !== "Z" && state !== "X";
}

/** The running service's pid (host namespace), checked to be the installed binary. */
export async function appPid(host: Host): Promise<number> {
  const text = (await host.readFile(APP_PID_FILE)).trim();
  if (!/^\d+$/.test(text)) throw new Error(`${APP_PID_FILE} on ${host.name} holds "${text}", not a pid`);
  const pid = Number(text);
  const exe = await host.exec(["readlink", `/proc/${pid}/exe`]);
  if (exe.code !== 0 || exe.stdout.trim() !== APP_BINARY_PATH) {
    throw new Error(
      `pid ${pid} from ${APP_PID_FILE} on ${host.name} is not ${APP_BINARY_PATH} (exe: ${exe.stdout.trim() || exe.stderr.trim()})`,
    );
  }
  return pid;
}

/**
 * SIGTERM to the service by pid, SIGKILL after `graceMs`. Returns true when it exited on SIGTERM.
 * A host that is already down has nothing left to stop.
 */
export async function stopApp(host: Host, pid: number, graceMs = 10_000): Promise<boolean> {
  if (!host.isUp || !(await alive(host, pid))) return false;
  await host.exec(["kill", "-TERM", String(pid)]);
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!(await alive(host, pid))) return true;
    await sleep(100);
  }
  await host.exec(["kill", "-KILL", String(pid)]);
  await waitFor(
    `pid ${pid} on ${host.name} to die`,
    async () => ((await alive(host, pid)) ? undefined : true),
    10_000,
  );
  return false;
}

/** Written by linode-dr-db-provision on every database Linode. */
export const PATRONI_CONFIG = "/etc/linode-dr/patroni.yml";

/**
 * A database host's PostgreSQL, which Patroni manages (data directory as Debian lays it out). To hang
 * it without a failover (lab/faults processFreeze), pause Patroni first, as an operator would:
 * otherwise the hung primary loses its lease and the other region takes over, which is a drill.
 */
export class HostPostgres {
  constructor(
    readonly host: Host,
    readonly version = 15,
    readonly cluster = "main",
  ) {}

  get dataDir(): string {
    return `/var/lib/postgresql/${this.version}/${this.cluster}`;
  }

  async psql(sql: string, database = "postgres"): Promise<string> {
    const result = await this.host.execOrThrow(
      ["psql", "-h", "/var/run/postgresql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql],
      { user: "postgres" },
    );
    return result.stdout.trim();
  }

  /** The postmaster and all its children: the processes that together are "the database". */
  async pids(): Promise<number[]> {
    const first = (await this.host.readFile(`${this.dataDir}/postmaster.pid`)).split("\n")[0].trim();
    if (!/^\d+$/.test(first))
      throw new Error(`${this.dataDir}/postmaster.pid on ${this.host.name} starts with "${first}"`);
    const postmaster = Number(first);
    const children = await this.host.execOrThrow(["cat", `/proc/${postmaster}/task/${postmaster}/children`]);
    return [postmaster, ...children.stdout.split(/\s+/).filter(Boolean).map(Number)];
  }

  /** Patroni's maintenance mode: it keeps its lease but neither starts, stops nor fails over. */
  async pause(): Promise<void> {
    await this.host.execOrThrow(["patronictl", "-c", PATRONI_CONFIG, "pause", "--wait"]);
  }

  async unpause(): Promise<void> {
    await this.host.execOrThrow(["patronictl", "-c", PATRONI_CONFIG, "resume", "--wait"]);
  }
}
