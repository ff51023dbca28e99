import { readFileSync } from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import type { Host } from "./hosts/host";
import type { LabProcess } from "./hosts/labProcess";
import { waitFor } from "./process";

/** A request the load generator made, as recorded in its results file. */
export interface LoadResult {
  atMs: number;
  status: number;
  ms: number;
  detail: string;
}

const REPO_ROOT = path.resolve(__dirname, "..");
const LOAD = path.join(__dirname, "workload", "httpLoad.ts");
const TSX_LOADER = pathToFileURL(path.join(REPO_ROOT, "node_modules", "tsx", "dist", "loader.mjs")).href;

/** Steady client load from a lab host (lab/workload/httpLoad.ts), stopped by pid. */
export class HttpLoad {
  private constructor(
    private readonly process: LabProcess,
    readonly resultsFile: string,
    readonly logFile: string,
  ) {}

  static async start(host: Host, url: string, workers = 4): Promise<HttpLoad> {
    const resultsFile = path.join(host.lab.stateDir, `load-${host.name}-${Date.now()}.tsv`);
    const logFile = `${resultsFile}.log`;
    const child = host.spawnInNetwork([process.execPath, "--import", TSX_LOADER, LOAD], {
      logFile,
      env: { LOAD_URL: url, LOAD_WORKERS: String(workers), LOAD_RESULTS: resultsFile },
    });
    const load = new HttpLoad(child, resultsFile, logFile);
    try {
      await waitFor(
        "the load's first answers",
        () => {
          if (!child.running) throw new Error(`the load generator exited; see ${logFile}`);
          return load.results().length >= workers ? true : undefined;
        },
        30_000,
        100,
      );
    } catch (error) {
      await child.stop();
      throw error;
    }
    return load;
  }

  results(): LoadResult[] {
    let text: string;
    try {
      text = readFileSync(this.resultsFile, "utf8");
    } catch {
      return [];
    }
    return text
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => {
        const [atMs, status, ms, detail] = line.split("\t");
        return { atMs: Number(atMs), status: Number(status), ms: Number(ms), detail: detail ?? "" };
      });
  }

  /** Stops the generator (it finishes the requests in flight) and returns every result. */
  async stop(): Promise<LoadResult[]> {
    await this.process.stop(15_000);
    return this.results();
  }
}
