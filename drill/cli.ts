/**
 * `sudo npm run drill -- [scenario...] [--runs N] [--publish-delay S] [--out DIR]`: boots both
 * regions and the witness from the program's own user data on lab hosts, runs each named disaster
 * against them while a client writes orders by name, and writes a report per scenario.
 */
import { spawnSync } from "node:child_process";
import { cpus, totalmem } from "node:os";
import * as path from "node:path";
import { cleanLab } from "../lab/lab";
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

const USAGE = `usage: sudo npm run drill -- [scenario...] [--runs N] [--publish-delay SECONDS] [--out DIR]
       sudo npm run drill -- --list
With no scenario, runs region-loss. Reports go to drill-reports/<timestamp>-<scenario>/.`;

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
    else if (arg === "--out") {
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

/** Brings the world back to its starting layout (region A leads, traffic on A) after a scenario moved it. */
async function resetIfNeeded(
  world: World,
  scenario: Scenario,
  settings: DrillSettings,
  progress: Progress,
): Promise<void> {
  if (scenario.leaderAfter === "primary") return;
  progress.mark("reset: failing back to region A before the next run");
  const back = await runScenario(world, scenarioNamed("failback"), 0, settings, progress);
  const broken = back.invariants.filter((i) => !i.ok);
  if (broken.length > 0)
    throw new Error(
      `the failback between runs broke: ${broken.map((i) => `${i.name}: ${i.detail}`).join("; ")}`,
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
    progress.phase("booting both regions and the witness from the program's user data");
    world = await World.boot({
      labName: LAB_NAME,
      publishDelayMs: args.settings.publishDelayMs,
      config: args.settings.config,
      log: (line) => progress.mark(line),
    });
    progress.mark("world booted");
    for (const scenario of args.scenarios) {
      const runs: DrillRun[] = [];
      for (let run = 1; run <= args.runs; run++) {
        progress.mark(`${scenario.name} run ${run}/${args.runs}`);
        const result = await runScenario(world, scenario, run, args.settings, progress);
        runs.push(result);
        if (run < args.runs || args.scenarios.length > 1)
          await resetIfNeeded(world, scenario, args.settings, progress);
      }
      const report = reportOf(scenario, runs, args, argv);
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
      console.error(error instanceof UsageError ? error.message : error);
      process.exit(error instanceof UsageError ? 2 : 1);
    },
  );
}
