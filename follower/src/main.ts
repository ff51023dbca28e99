import { runCli } from "./cli";

/**
 * The follower's entry: `node follower/src/main.js <run|status|pause|resume|dry-run> [--settings
 * <file>] [--json]` (cli.ts has the commands). The exit status is set, not forced, so that `run`
 * ends only once its metrics server has closed.
 */
runCli(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `follower: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
