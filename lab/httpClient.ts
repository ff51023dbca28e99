import { request } from "node:http";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { Host } from "./hosts/host";
import { LabProcess } from "./hosts/labProcess";
import { waitFor } from "./process";

/**
 * HTTP from a lab host's point of view. The machine's root namespace cannot reach lab addresses,
 * so requests are relayed by a small node process (lab/workload/httpRelay.ts) started in the
 * host's network namespace; this side talks to it over a Unix socket in the lab's state directory.
 */

export interface LabHttpResult {
  status: number;
  body: string;
  /** Response headers, lower-case names. */
  headers: Record<string, string>;
  /** Time from opening the connection to the end of the response, measured inside the lab. */
  ms: number;
}

export interface LabHttpFailure {
  /** Why no HTTP answer arrived (refused, unreachable, timed out). */
  error: string;
  ms: number;
}

export interface LabHttpRequest {
  method?: string;
  body?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

const REPO_ROOT = path.resolve(__dirname, "..");
const RELAY = path.join(__dirname, "workload", "httpRelay.ts");
const TSX_LOADER = pathToFileURL(path.join(REPO_ROOT, "node_modules", "tsx", "dist", "loader.mjs")).href;

export class LabHttpClient {
  private constructor(
    private readonly process: LabProcess,
    readonly host: Host,
    readonly socketPath: string,
    readonly logFile: string,
  ) {}

  /** Starts the relay in `host`'s network namespace and waits until it answers. */
  static async start(host: Host): Promise<LabHttpClient> {
    const socketPath = path.join(host.lab.stateDir, `http-${host.name}.sock`);
    const logFile = path.join(host.lab.stateDir, `http-${host.name}.log`);
    const child = host.spawnInNetwork([process.execPath, "--import", TSX_LOADER, RELAY], {
      logFile,
      env: { RELAY_SOCKET: socketPath },
    });
    const client = new LabHttpClient(child, host, socketPath, logFile);
    try {
      await waitFor(
        `the HTTP relay in ${host.name}`,
        async () => {
          if (!child.running) throw new Error(`the HTTP relay in ${host.name} exited; see ${logFile}`);
          return (await client.relay("/ready", "").catch(() => undefined)) === undefined ? undefined : true;
        },
        30_000,
        100,
      );
    } catch (error) {
      await child.stop();
      throw error;
    }
    return client;
  }

  get pid(): number {
    return this.process.pid;
  }

  private relay(pathname: string, payload: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = request(
        { socketPath: this.socketPath, path: pathname, method: "POST", agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            if (res.statusCode === 200) resolve(text);
            else reject(new Error(`HTTP relay in ${this.host.name}: ${text}`));
          });
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(payload);
    });
  }

  /** One request from the host; resolves with the answer or with why there was none. */
  async tryRequest(url: string, init: LabHttpRequest = {}): Promise<LabHttpResult | LabHttpFailure> {
    return JSON.parse(await this.relay("/", JSON.stringify({ url, ...init }))) as
      LabHttpResult | LabHttpFailure;
  }

  /** Like fetch: rejects when no HTTP answer arrived. */
  async request(url: string, init: LabHttpRequest = {}): Promise<LabHttpResult> {
    const answer = await this.tryRequest(url, init);
    if ("error" in answer) {
      throw new Error(
        `${init.method ?? "GET"} ${url} from ${this.host.name} (${this.host.address}): ${answer.error} after ${answer.ms.toFixed(0)} ms`,
      );
    }
    return answer;
  }

  async stop(): Promise<void> {
    await this.process.stop();
  }
}
