/**
 * What a release carries to run the follower: these TypeScript files, repo-relative, each
 * transpiled on its own to CommonJS (typescript.transpileModule) and kept at the same relative
 * path with a .js extension. The witness then runs `node follower/src/main.js run` from the
 * release's root, on Debian 12's Node 18 with no npm packages. test/unit/follower/release.test.ts
 * checks that this list is exactly what follower/src/main.ts imports, transitively.
 */
export const FOLLOWER_ENTRY = "follower/src/main.ts";

export const FOLLOWER_SOURCES = [
  "follower/src/addresses.ts",
  "follower/src/backoff.ts",
  "follower/src/cli.ts",
  "follower/src/decide.ts",
  "follower/src/dryRun.ts",
  "follower/src/evidence.ts",
  "follower/src/http.ts",
  "follower/src/linodeApi.ts",
  "follower/src/load.ts",
  "follower/src/logLine.ts",
  "follower/src/main.ts",
  "follower/src/metrics.ts",
  "follower/src/move.ts",
  "follower/src/network.ts",
  "follower/src/observe.ts",
  "follower/src/patroni.ts",
  "follower/src/report.ts",
  "follower/src/run.ts",
  "follower/src/service.ts",
  "follower/src/settings.ts",
  "follower/src/state.ts",
  "follower/src/words.ts",
  "validation/cidr.ts",
  "validation/formats.ts",
  "validation/inputError.ts",
  "validation/kit.ts",
] as const;
