/**
 * `sudo npm run drill -- [scenario...] [--runs N] [--publish-delay S] [--config K=V] [--out DIR]`: boots both
 * regions and the witness from the program's own user data on lab hosts, runs each named disaster
 * against them while a client writes orders by name, and writes a report per scenario.
 */
import { spawnSync } from "node:child_process";
import { parseArgs } from "node:util";
import { cpus, totalmem } from "node:os";
import * as path from "node:path";
import { cleanLab } from "../lab/hosts/cleanup";
import { ConfigError, type StackConfig } from "../config";
import { describeWan } from "../lab/hosts/wan";
import { DEFAULT_WAN } from "../lab/wanDefaults";
import { World } from "../lab/world/world";
import { Progress, renderSummary, writeReport, type DrillReport, type DrillRun } from "./report";
import { putInTheLead } from "./reset";
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

const USAGE = `usage: sudo npm run drill -- [scenario...] [--runs N] [--publish-delay SECONDS] [--partition-for SECONDS] [--wan default|off] [--config KEY=VALUE]... [--out DIR]
       sudo npm run drill -- --list
With no scenario, runs region-loss. --config sets a stack config key for both stacks (validated as
\`pulumi up\` would), so you can rehearse your own settings. --partition-for is how long the
partition-then-loss drills partition A from B (default 60). --wan off joins the sites without
delay (default: the round trips of lab/wanDefaults.ts). Reports go to drill-reports/<timestamp>-<scenario>/.`;

export class UsageError extends Error {}

function integerArgument(flag: string, text: string | undefined, min: number, max: number): number {
  const value = Number(text);
  if (text === undefined || !/^\d+$/.test(text) || value < min || value > max)
    throw new UsageError(
      `${flag} expects a whole number from ${min} to ${max}; received ${JSON.stringify(text ?? "")}`,
    );
  return value;
}

const OPTIONS = {
  list: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  runs: { type: "string" },
  "publish-delay": { type: "string" },
  "partition-for": { type: "string" },
  wan: { type: "string" },
  config: { type: "string", multiple: true },
  out: { type: "string" },
} as const;

/** util.parseArgs, its errors turned into ours: what was wrong and what was expected. */
function parse(argv: readonly string[]) {
  try {
    return parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    const { code, message } = error as { code?: string; message: string };
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
      const option = /'([^']+)'/.exec(message)?.[1] ?? message;
      throw new UsageError(`unknown option ${option}\n${USAGE}`);
    }
    if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
      const flag = /'(--[a-z-]+)/.exec(message)?.[1];
      if (flag === "--runs") integerArgument("--runs", undefined, 1, 50);
      if (flag === "--publish-delay") integerArgument("--publish-delay", undefined, 0, 3600);
      if (flag === "--partition-for") integerArgument("--partition-for", undefined, 1, 3600);
      throw new UsageError(`${flag ?? "an option"} expects a value\n${USAGE}`);
    }
    throw error;
  }
}

/** Parses the command line; throws UsageError naming what was wrong and what was expected. */
export function parseArguments(argv: readonly string[]): DrillArguments {
  const { values, positionals } = parse(argv);
  if (values.help) throw new UsageError(USAGE);
  const settings: DrillSettings = { ...DEFAULT_SETTINGS, config: { ...DEFAULT_SETTINGS.config } };
  if (values["publish-delay"] !== undefined)
    settings.publishDelayMs = integerArgument("--publish-delay", values["publish-delay"], 0, 3600) * 1000;
  if (values["partition-for"] !== undefined)
    settings.partitionForMs = integerArgument("--partition-for", values["partition-for"], 1, 3600) * 1000;
  if (values.wan !== undefined) {
    if (values.wan !== "default" && values.wan !== "off")
      throw new UsageError(`--wan expects default or off; received ${JSON.stringify(values.wan)}`);
    settings.wan = values.wan === "off" ? undefined : DEFAULT_WAN;
  }
  for (const pair of values.config ?? []) {
    const match = /^([A-Za-z][A-Za-z0-9]*)=(.*)$/.exec(pair);
    if (!match)
      throw new UsageError(
        `--config expects KEY=VALUE (a stack config key); received ${JSON.stringify(pair)}`,
      );
    settings.config[match[1]] = match[2];
  }
  const scenarios = positionals.map((name) => {
    try {
      return scenarioNamed(name);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  });
  if (scenarios.length === 0) scenarios.push(scenarioNamed("region-loss"));
  return {
    scenarios,
    runs: values.runs === undefined ? 1 : integerArgument("--runs", values.runs, 1, 50),
    settings,
    outDir: values.out === undefined ? path.join(REPO_ROOT, "drill-reports") : path.resolve(values.out),
    list: values.list === true,
  };
}

export function listing(): string {
  const width = Math.max(...SCENARIOS.map((s) => s.name.length));
  return SCENARIOS.map((s) => `${s.name.padEnd(width)}  ${s.description}`).join("\n");
}

function machine(): string {
  return `Debian 12 lab hosts (network namespaces) on ${cpus().length} vCPU, ${Math.round(totalmem() / 2 ** 30)} GiB`;
}

const SETUP = path.join(REPO_ROOT, "lab", "setup.sh");

/**
 * Root, then the Debian packages: what is missing is installed (lab/setup.sh says which and why)
 * before anything boots; what cannot be fixed here (no network namespaces, say) stops the drill.
 */
function preflight(): void {
  if (process.getuid?.() !== 0)
    throw new UsageError("the drill builds network namespaces: run it as root (sudo npm run drill)");
  const check = spawnSync("bash", [SETUP, "--check"], { encoding: "utf8" });
  if (check.status === 0) return;
  if (/missing Debian packages/.test(check.stderr)) {
    console.error(`${check.stderr.trim()}\ninstalling them first (lab/setup.sh):`);
    const install = spawnSync("bash", [SETUP, "--install"], { stdio: "inherit" });
    if (install.status === 0) return;
  }
  const again = spawnSync("bash", [SETUP, "--check"], { encoding: "utf8" });
  if (again.status !== 0)
    throw new UsageError(
      `this machine is not ready for the drill:\n${again.stderr}${again.stdout}`.trimEnd(),
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
          wan: args.settings.wan,
          log: (line) => progress.mark(line),
        });
        bootedWith = JSON.stringify(config);
        progress.mark(`world booted (config: ${bootedWith})`);
      }
      const settings = { ...args.settings, config };
      const runs: DrillRun[] = [];
      for (let run = 1; run <= args.runs; run++) {
        await putInTheLead(world, scenario.leaderBefore, progress);
        progress.mark(`${scenario.name} run ${run}/${args.runs}`);
        const result = await runScenario(world, scenario, run, settings, progress);
        runs.push(result);
      }
      const report = reportOf(scenario, runs, { ...args, settings }, argv, world.drConfig);
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
  // The program's own reading of the world's config: its defaults, not restated here.
  config: StackConfig,
): DrillReport {
  const s = args.settings;
  return {
    scenario: scenario.name,
    description: scenario.description,
    command: ["sudo npm run drill --", ...argv].join(" "),
    machine: machine(),
    settings: [
      { name: "DNS publish delay", value: `${s.publishDelayMs / 1000} s`, assumption: true },
      { name: "WAN between the sites", value: describeWan(s.wan), assumption: s.wan !== undefined },
      { name: "Record TTL", value: `${config.recordTtlSeconds} s` },
      {
        name: "Leader TTL / loop wait / retry timeout",
        value: `${config.leadership.ttlSeconds} s / ${config.leadership.loopWaitSeconds} s / ${config.leadership.retryTimeoutSeconds} s`,
      },
      ...(scenario.name.startsWith("partition-then-loss")
        ? [
            { name: "Partition A↔B before the loss", value: `${s.partitionForMs / 1000} s` },
            { name: "Data-loss budget", value: `${config.leadership.maximumDataLossSeconds} s` },
          ]
        : []),
      {
        name: "Replication",
        value: config.leadership.synchronous ? "synchronous (Patroni synchronous mode)" : "asynchronous",
      },
      {
        name: "Client",
        value: `${s.clientRate} orders/s over ${s.clientWorkers} workers, ${s.clientTimeoutMs} ms timeout, retried with the same Idempotency-Key`,
      },
      config.follower.apiToken === undefined
        ? {
            name: "Traffic follower",
            value:
              "none (followerApiToken unset): the drill applies the flag when the new leader accepts writes",
            assumption: true,
          }
        : {
            name: "Traffic follower",
            value: `on the witness, through the Linode API stand-in: debounce ${config.follower.debounceSeconds} s, cooldown ${config.follower.cooldownSeconds} s`,
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
