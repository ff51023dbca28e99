import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { run, runOrThrow, type ExecResult } from "../process";
import { LabProcess } from "./labProcess";

/**
 * The lab's WAN between sites. The kernels here have no sch_netem, so the router sends every
 * packet that crosses from one region to another through a TUN device served by
 * `linode-dr-lab-wan` (lab/wan/, C), which holds it for the link's one-way delay and jitter or loses
 * it, then hands it back to the router. A pair of regions without a link passes at once.
 *
 * What it emulates: propagation delay, uniform jitter without reordering, and random loss, the same
 * in both directions. What it does not: bandwidth limits, queueing delay under load, reordering,
 * asymmetric routes, correlated (bursty) loss.
 */

export interface WanLink {
  /** Two lab regions (names given to `Lab.addRegion`). */
  between: readonly [string, string];
  /** One-way delay, milliseconds: the round trip is twice this. */
  delayMs: number;
  /** Each packet's one-way delay is uniform in [delayMs - jitterMs, delayMs + jitterMs]. */
  jitterMs: number;
  /** Packets lost per hundred, each direction. */
  lossPercent: number;
}

/** A lab region as the WAN sees it. */
export interface WanRegion {
  name: string;
  cidrText: string;
}

export interface WanSettings {
  links: readonly WanLink[];
  /** Seeds the losses and jitter, so a run can be repeated packet for packet. */
  seed?: number;
}

/** The program, built from lab/wan by `make` on first use. */
export const WAN_SOURCE_DIR = path.join(__dirname, "..", "wan");
export const WAN_BINARY = path.join(WAN_SOURCE_DIR, "build", "linode-dr-lab-wan");
/** The TUN device in the router's namespace. */
export const WAN_DEVICE = "wan0";
/** The routing table inter-region packets take (to the TUN device), and its rules' priority:
 * after the partition's blackhole rules (priority 100), so a cut link stays cut. */
export const WAN_TABLE = "120";
export const WAN_RULE_PRIORITY = "200";

const MAX_DELAY_MS = 2000;
const MAX_LOSS_PERCENT = 50;

/**
 * The program's arguments for these settings, after checking them against the lab's regions; a
 * wrong setting is named with what was expected.
 */
export function wanArguments(regions: readonly WanRegion[], settings: WanSettings): string[] {
  const known = new Set(regions.map((r) => r.name));
  const seen = new Set<string>();
  const args = ["--tun", WAN_DEVICE, ...regions.flatMap((r) => ["--region", `${r.name}=${r.cidrText}`])];
  for (const link of settings.links) {
    const [a, b] = link.between;
    const name = `${a}-${b}`;
    for (const end of [a, b]) {
      if (!known.has(end))
        throw new Error(`WAN link ${name}: no region ${end}; the lab has ${[...known].join(", ")}`);
    }
    if (a === b) throw new Error(`WAN link ${name}: a link joins two different regions`);
    const key = [a, b].sort().join("-");
    if (seen.has(key)) throw new Error(`WAN link ${name}: declared twice`);
    seen.add(key);
    const number = (what: string, value: number, max: number): string => {
      if (!Number.isFinite(value) || value < 0 || value > max)
        throw new Error(`WAN link ${name}: ${what} ${value} is not a number from 0 to ${max}`);
      return String(value);
    };
    const delay = number("delayMs", link.delayMs, MAX_DELAY_MS);
    const jitter = number("jitterMs", link.jitterMs, link.delayMs);
    const loss = number("lossPercent", link.lossPercent, MAX_LOSS_PERCENT);
    args.push("--link", `${name}=${delay},${jitter},${loss}`);
  }
  if (settings.seed !== undefined) {
    if (!Number.isSafeInteger(settings.seed) || settings.seed < 0)
      throw new Error(`WAN seed ${settings.seed}: expected a non-negative integer`);
    args.push("--seed", String(settings.seed));
  }
  return args;
}

/** "A-B 25 ms ± 2 ms, 0.1 % lost; ..." for reports. */
export function describeWan(settings: WanSettings | undefined): string {
  if (!settings || settings.links.length === 0) return "none (regions joined without delay)";
  return settings.links
    .map(
      (l) =>
        `${l.between[0]}-${l.between[1]} round trip ${2 * l.delayMs} ms ± ${2 * l.jitterMs} ms, ${l.lossPercent} % lost each way`,
    )
    .join("; ");
}

/** Builds the program when its sources are newer than the binary (make decides). */
export async function buildWan(): Promise<void> {
  await runOrThrow(["make", "-C", WAN_SOURCE_DIR, "-s"], {}, "building the lab's WAN (lab/wan)");
}

/**
 * The TUN device (persistent: its routes outlive a restart of the program; with nobody attached it
 * drops what it is sent, so a dead WAN shows as a cut, never as a shortcut) and the routes through it.
 */
export async function ensureWanDevice(routerNetns: string, regions: readonly WanRegion[]): Promise<void> {
  const inRouter = (args: string[], context: string) =>
    runOrThrow(["ip", "-n", routerNetns, ...args], {}, context);
  const exists = await run(["ip", "-n", routerNetns, "link", "show", "dev", WAN_DEVICE]);
  if (exists.code !== 0) {
    await inRouter(["tuntap", "add", "dev", WAN_DEVICE, "mode", "tun"], "creating the WAN's TUN device");
  }
  await inRouter(["link", "set", WAN_DEVICE, "up"], "WAN device up");
  // A packet handed back by the program arrives on the TUN device from an address routed through
  // another interface: reverse-path filtering would drop it.
  for (const key of ["all", "default", WAN_DEVICE]) {
    await runOrThrow([
      "ip",
      "netns",
      "exec",
      routerNetns,
      "sysctl",
      "-q",
      "-w",
      `net.ipv4.conf.${key}.rp_filter=0`,
    ]);
  }
  for (const region of regions) {
    await inRouter(
      ["route", "replace", region.cidrText, "dev", WAN_DEVICE, "table", WAN_TABLE],
      `WAN route to ${region.name}`,
    );
  }
}

/** Adds (or removes) the rule sending what enters the router from each region to the WAN's table. */
async function setWanRules(
  routerNetns: string,
  regions: readonly WanRegion[],
  present: boolean,
): Promise<void> {
  const rules = await runOrThrow(["ip", "-n", routerNetns, "rule", "show"]);
  for (const region of regions) {
    const uplink = `r-${region.name}`;
    if (rules.stdout.includes(`iif ${uplink} lookup ${WAN_TABLE}`) === present) continue;
    const rule = ["iif", uplink, "lookup", WAN_TABLE, "priority", WAN_RULE_PRIORITY];
    await runOrThrow(
      ["ip", "-n", routerNetns, "rule", present ? "add" : "del", ...rule],
      {},
      `${present ? "adding" : "removing"} the WAN rule for ${region.name}`,
    );
  }
}

/** Sends every packet entering the router from a region through the WAN (the program running). */
export function routeThroughWan(routerNetns: string, regions: readonly WanRegion[]): Promise<void> {
  return setWanRules(routerNetns, regions, true);
}

/** Back to regions joined without delay: the rules go, the device stays (harmless without them). */
export function routeAroundWan(routerNetns: string, regions: readonly WanRegion[]): Promise<void> {
  return setWanRules(routerNetns, regions, false);
}

/** How long the program may take to attach to its device and say so. */
const START_TIMEOUT_MS = 5000;

/**
 * Starts the program in the router's namespace with `args`, logging to `logFile`; resolves once it
 * has attached to the device, or throws with its log when it exits or stays silent.
 */
export async function startWan(
  routerNetns: string,
  args: readonly string[],
  logFile: string,
  record: (pid: number) => void,
): Promise<LabProcess> {
  const fd = openSync(logFile, "a");
  const child = spawn("ip", ["netns", "exec", routerNetns, WAN_BINARY, ...args], {
    stdio: ["ignore", fd, fd],
  });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`could not start ${WAN_BINARY}`);
  record(child.pid);
  const exited = new Promise<ExecResult>((resolve) => {
    child.on("exit", (code, signal) =>
      resolve({ code: code ?? (signal === "SIGKILL" ? 137 : 143), stdout: "", stderr: "" }),
    );
  });
  const wan = new LabProcess(child.pid, exited);
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const log = readFileSync(logFile, "utf8");
    if (log.includes(`wan: forwarding on ${WAN_DEVICE}`)) return wan;
    if (!wan.running || Date.now() > deadline) {
      await wan.stop();
      throw new Error(
        `the lab's WAN did not start (${WAN_BINARY} ${args.join(" ")}); its log:\n${log.trim()}`,
      );
    }
    await sleep(50);
  }
}
