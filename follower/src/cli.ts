import * as path from "node:path";
import { parseArgs } from "node:util";
import { InputError } from "../../validation/inputError";
import { dryRun } from "./dryRun";
import { evidenceLines } from "./evidence";
import { loadCredentials, loadSettings, type Credentials } from "./load";
import { realNetwork } from "./network";
import type { Network } from "./observe";
import { decisionText, pauseText, statusLines } from "./report";
import { runService } from "./run";
import { FOLLOWER_SETTINGS_PATH, type FollowerSettings } from "./settings";
import { pause, readPause, readState, resume, STATE_FILE } from "./state";

/** The command line: linode-dr-follower <run|status|pause|resume|dry-run> [--settings <file>] [--json]. */

export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

export const USAGE = `usage: follower <command> [--settings <file>] [--json]

commands:
  run       the service: every pollMs, observe, decide, move the traffic records; /metrics
  status    the service's last observation and decision, from its state file (--json: as JSON)
  pause     hold every move (the service says so in status, log and metrics; survives a restart)
  resume    allow moves again
  dry-run   one observation and the decision the service would take, with the evidence;
            changes nothing (--json: as JSON)
  check     read the settings and the token file as run would, and say whether they are good;
            contacts nothing (the installer runs it before it (re)starts the service)

options:
  --settings <file>  default ${FOLLOWER_SETTINGS_PATH}
  --json             status and dry-run: print JSON

exit status: 0 ok, 2 bad usage or settings, 1 any other failure
`;

export interface CliDeps {
  out: (text: string) => void;
  err: (text: string) => void;
  now?: () => number;
  /** The network run and dry-run use; default the real one. */
  network?: (settings: FollowerSettings, credentials: Credentials) => Network;
  /** Stops `run`; default SIGTERM or SIGINT. */
  signal?: AbortSignal;
}

const COMMANDS = ["run", "status", "pause", "resume", "dry-run", "check"] as const;
type Command = (typeof COMMANDS)[number];

class UsageError extends Error {}

export async function runCli(argv: readonly string[], deps: CliDeps): Promise<number> {
  let command: Command;
  let options: { settings: string; json: boolean };
  try {
    ({ command, options } = parseCommandLine(argv));
  } catch (error) {
    deps.err(`${(error as Error).message}\n\n${USAGE}`);
    return EXIT.usage;
  }
  try {
    await COMMAND_RUNNERS[command](options, deps);
    return EXIT.ok;
  } catch (error) {
    if (error instanceof InputError) {
      deps.err(`bad settings in ${options.settings}:\n${error.message}\n`);
      return EXIT.usage;
    }
    deps.err(`follower ${command}: ${(error as Error).message}\n`);
    return EXIT.failure;
  }
}

function parseCommandLine(argv: readonly string[]): {
  command: Command;
  options: { settings: string; json: boolean };
} {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: { settings: { type: "string" }, json: { type: "boolean" } },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const [command, ...extra] = parsed.positionals;
  if (command === undefined) throw new UsageError("no command given");
  if (!(COMMANDS as readonly string[]).includes(command))
    throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
  const json = parsed.values.json ?? false;
  if (json && command !== "status" && command !== "dry-run")
    throw new UsageError(`--json is for status and dry-run`);
  return {
    command: command as Command,
    options: { settings: parsed.values.settings ?? FOLLOWER_SETTINGS_PATH, json },
  };
}

type Runner = (options: { settings: string; json: boolean }, deps: CliDeps) => Promise<void>;

const COMMAND_RUNNERS: Record<Command, Runner> = {
  async check(options, deps) {
    const settings = await loadSettings(options.settings);
    await loadCredentials(settings);
    deps.out(`settings ${options.settings} and token file ${settings.tokenFile}: good\n`);
  },

  async run(options, deps) {
    const settings = await loadSettings(options.settings);
    const network = await networkFor(settings, deps);
    const { signal, release } = deps.signal
      ? { signal: deps.signal, release: () => undefined }
      : stopSignals();
    try {
      await runService({ settings, network, signal, log: (line) => deps.err(`${line}\n`), now: deps.now });
    } finally {
      release();
    }
  },

  async status(options, deps) {
    const settings = await loadSettings(options.settings);
    const now = (deps.now ?? Date.now)();
    const [state, marker] = await Promise.all([readState(settings.stateDir), readPause(settings.stateDir)]);
    const statePath = path.join(settings.stateDir, STATE_FILE);
    if (options.json) {
      deps.out(`${JSON.stringify({ statePath, paused: marker ?? null, state: state ?? null }, null, 2)}\n`);
    } else if (state === undefined) {
      deps.out(
        `state:     none yet (no ${statePath}: the service has not run)\npaused:    ${pauseText(marker)}\n`,
      );
    } else {
      deps.out(`${statusLines(state, marker, statePath, now).join("\n")}\n`);
    }
    if (state === undefined) throw new Error(`no state at ${statePath}`);
  },

  async pause(options, deps) {
    const settings = await loadSettings(options.settings);
    const marker = await pause(settings.stateDir, (deps.now ?? Date.now)());
    deps.out(`paused: ${pauseText(marker)}\n`);
  },

  async resume(options, deps) {
    const settings = await loadSettings(options.settings);
    const was = await resume(settings.stateDir);
    deps.out(was ? "resumed: moves are allowed again\n" : "was not paused: moves are allowed\n");
  },

  async "dry-run"(options, deps) {
    const settings = await loadSettings(options.settings);
    const network = await networkFor(settings, deps);
    const result = await dryRun(settings, network, deps.now ?? Date.now);
    if (options.json) {
      deps.out(`${JSON.stringify(result, null, 2)}\n`);
      return;
    }
    const lines = [
      `decision:  ${decisionText(result.decision)}`,
      `paused:    ${result.paused ? "yes" : "no"}`,
      ...evidenceLines(result.observation, result.leaderSince),
      ...result.assumptions.map((a) => `assumed:   ${a}`),
      "dry run:   nothing was changed",
    ];
    deps.out(`${lines.join("\n")}\n`);
  },
};

async function networkFor(settings: FollowerSettings, deps: CliDeps): Promise<Network> {
  const credentials = await loadCredentials(settings);
  return deps.network ? deps.network(settings, credentials) : realNetwork(settings, credentials);
}

/** SIGTERM and SIGINT end `run` after its current step (systemd stops it with SIGTERM). */
function stopSignals(): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  return {
    signal: controller.signal,
    release: () => {
      process.off("SIGTERM", stop);
      process.off("SIGINT", stop);
    },
  };
}
