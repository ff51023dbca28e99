/**
 * `sudo npm run drill -- [scenario...] [--runs N] [--publish-delay S] [--config K=V] [--out DIR]`: boots both
 * regions and the witness from the program's own user data on lab hosts, runs each named disaster
 * against them while a client writes orders by name, and writes a report per scenario.
 */
import { spawnSync } from "node:child_process";
import { cpus, totalmem } from "node:os";
import * as path from "node:path";
import { cleanLab } from "../lab/hosts/cleanup";
import { ConfigError } from "../config";
import { CONSENSUS_DEFAULTS } from "../provisioning/consensus";
import { World } from "../lab/world/world";
import { Progress, renderSummary, writeReport, type DrillReport, type DrillRun } from "./report";
import { runScenario, type Scenario } from "./run";
import { SCENARIOS, scenarioNamed } from "./scenarios";
import { DEFAULT_SETTINGS, type DrillSettings } from "./settings";

const REPO_ROOT = path.resolve(__dirname, "..");
const LAB_NAME = "drill";

export interface DrillArguments {
  scenarios: Scenario[];
  runs: number;
  settings: DrillSettings;
  outDir: string;
  list: boolean;
}

const USAGE = `usage: sudo npm run drill -- [scenario...] [--runs N] [--publish-delay SECONDS] [--config KEY=VALUE]... [--out DIR]
       sudo npm run drill -- --list
With no scenario, runs region-loss. --config sets a stack config key for both stacks (validated as
\`pulumi up\` would), so you can rehearse your own settings. Reports go to drill-reports/<timestamp>-<scenario>/.`;

export class UsageError extends Error {}

function integerArgument(flag: string, text: string | undefined, min: number, max: number): number {
  const value = Number(text);
  if (text === undefined || !/^\d+$/.test(text) || value < min || value > max)
    throw new UsageError(
      `${flag} expects a whole number from ${min} to ${max}; received ${JSON.stringify(text ?? "")}`,
    );
  return value;
}

/** Parses the command line; throws UsageError naming what was wrong and what was expected. */
export function parseArguments(argv: readonly string[]): DrillArguments {
  const scenarios: Scenario[] = [];
  const settings: DrillSettings = { ...DEFAULT_SETTINGS, config: { ...DEFAULT_SETTINGS.config } };
  let runs = 1;
  let outDir = path.join(REPO_ROOT, "drill-reports");
  let list = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--list") list = true;
    else if (arg === "--runs") runs = integerArgument("--runs", argv[++i], 1, 50);
    else if (arg === "--publish-delay")
      settings.publishDelayMs = integerArgument("--publish-delay", argv[++i], 0, 3600) * 1000;
    else if (arg === "--config") {
      const pair = argv[++i] ?? "";
      const match = /^([A-Za-z][A-Za-z0-9]*)=(.*)$/.exec(pair);
      if (!match)
        throw new UsageError(
          `--config expects KEY=VALUE (a stack config key); received ${JSON.stringify(pair)}`,
        );
      settings.config[match[1]] = match[2];
    } else if (arg === "--out") {
      const dir = argv[++i];
      if (!dir) throw new UsageError("--out expects a directory");
      outDir = path.resolve(dir);
    } else if (arg === "--help" || arg === "-h") throw new UsageError(USAGE);
    else if (arg.startsWith("-")) throw new UsageError(`unknown option ${arg}\n${USAGE}`);
    else {
      try {
        scenarios.push(scenarioNamed(arg));
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
    }
  }
  if (scenarios.length === 0) scenarios.push(scenarioNamed("region-loss"));
  return { scenarios, runs, settings, outDir, list };
}

export function listing(): string {
  const width = Math.max(...SCENARIOS.map((s) => s.name.length));
  return SCENARIOS.map((s) => `${s.name.padEnd(width)}  ${s.description}`).join("\n");
}

function machine(): string {
  return `Debian 12 lab hosts (network namespaces) on ${cpus().length} vCPU, ${Math.round(totalmem() / 2 ** 30)} GiB`;
}

function preflight(): void {
  if (process.getuid?.() !== 0)
    throw new UsageError("the drill builds network namespaces: run it as root (sudo npm run drill)");
  const check = spawnSync("bash", [path.join(REPO_ROOT, "lab", "setup.sh"), "--check"], { encoding: "utf8" });
  if (check.status !== 0)
    throw new UsageError(
      `this machine is not ready for the drill:\n${check.stderr}${check.stdout}`.trimEnd(),
    );
}

/**
 * Brings the world to the layout `scenario` starts from (which member leads, where traffic goes)
 * with the planned drill that gets there, run like any other but not reported: a failed reset
 * stops the drill, since what follows would measure a broken system.
 */
async function prepare(
  world: World,
  scenario: Scenario,
  settings: DrillSettings,
  progress: Progress,
): Promise<void> {
  const leading = (await world.writable("primary")) ? "primary" : "dr";
  if (leading === scenario.leaderBefore) return;
  const reset = scenarioNamed(scenario.leaderBefore === "primary" ? "failback" : "switchover");
  progress.mark(`reset: ${reset.name} to put ${scenario.leaderBefore} in the lead for ${scenario.name}`);
  const result = await runScenario(world, reset, 0, settings, progress);
  const broken = result.invariants.filter((i) => !i.ok);
  if (broken.length > 0)
    throw new Error(
      `the reset (${reset.name}) broke: ${broken.map((i) => `${i.name}: ${i.detail}`).join("; ")}`,
    );
}

export async function main(argv: readonly string[]): Promise<number> {
  const args = parseArguments(argv);
  if (args.list) {
    console.log(listing());
    return 0;
  }
  preflight();
  const progress = new Progress(process.stderr);
  // A crashed earlier run left hosts and processes behind: remove them first.
  await cleanLab(LAB_NAME);
  let world: World | undefined;
  const stop = () => {
    progress.stop();
    console.error("\ninterrupted: tearing the lab down");
    void (world ? world.destroy() : cleanLab(LAB_NAME)).finally(() => process.exit(130));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  let broken = 0;
  try {
    let bootedWith = "";
    for (const scenario of args.scenarios) {
      const config = { ...args.settings.config, ...(scenario.config ?? {}) };
      if (!world || JSON.stringify(config) !== bootedWith) {
        // Program config is fixed at bring-up (Patroni's settings apply at cluster creation).
        await world?.destroy();
        world = undefined;
        progress.phase("booting both regions and the witness from the program's user data");
        world = await World.boot({
          labName: LAB_NAME,
          publishDelayMs: args.settings.publishDelayMs,
          config,
          log: (line) => progress.mark(line),
        });
        bootedWith = JSON.stringify(config);
        progress.mark(`world booted (config: ${bootedWith})`);
      }
      const settings = { ...args.settings, config };
      const runs: DrillRun[] = [];
      for (let run = 1; run <= args.runs; run++) {
        await prepare(world, scenario, settings, progress);
        progress.mark(`${scenario.name} run ${run}/${args.runs}`);
        const result = await runScenario(world, scenario, run, settings, progress);
        runs.push(result);
      }
      const report = reportOf(scenario, runs, { ...args, settings }, argv);
      const dir = writeReport(args.outDir, report, new Date());
      progress.stop();
      console.log(renderSummary(report, dir));
      broken += runs.filter((r) => r.invariants.some((i) => !i.ok)).length;
    }
  } finally {
    progress.stop();
    await world?.destroy();
  }
  return broken === 0 ? 0 : 1;
}

function reportOf(
  scenario: Scenario,
  runs: DrillRun[],
  args: DrillArguments,
  argv: readonly string[],
): DrillReport {
  const s = args.settings;
  return {
    scenario: scenario.name,
    description: scenario.description,
    command: ["sudo npm run drill --", ...argv].join(" "),
    machine: machine(),
    settings: [
      { name: "DNS publish delay", value: `${s.publishDelayMs / 1000} s`, assumption: true },
      { name: "Record TTL", value: "30 s (the program's recordTtl default)" },
      {
        name: "Leader TTL / loop wait / retry timeout",
        value: `${s.config.leaderTtl ?? CONSENSUS_DEFAULTS.patroni.ttl} s / ${s.config.leaderLoopWait ?? CONSENSUS_DEFAULTS.patroni.loopWait} s / ${s.config.leaderRetryTimeout ?? CONSENSUS_DEFAULTS.patroni.retryTimeout} s`,
      },
      {
        name: "Client",
        value: `${s.clientRate} orders/s over ${s.clientWorkers} workers, ${s.clientTimeoutMs} ms timeout, retried with the same Idempotency-Key`,
      },
      {
        name: "Traffic follower",
        value: "emulated by the drill: the flag is applied when the new leader accepts writes",
        assumption: true,
      },
    ],
    runs,
  };
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      // A usage or configuration problem is said in one message; only a lab failure needs its stack.
      console.error(error instanceof UsageError || error instanceof ConfigError ? error.message : error);
      process.exit(error instanceof UsageError ? 2 : 1);
    },
  );
}
