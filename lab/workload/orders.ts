import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import type { Host } from "../hosts/host";
import type { LabProcess } from "../hosts/labProcess";

const REPO_ROOT = path.resolve(__dirname, "..", "..");
const CLIENT = path.join(__dirname, "orderClient.ts");
const TSX_LOADER = pathToFileURL(path.join(REPO_ROOT, "node_modules", "tsx", "dist", "loader.mjs")).href;

/** One attempt of the order client (see orderClient.ts); times are epoch ms. */
export interface OrderAttempt {
  seq: number;
  attempt: number;
  start: number;
  end: number;
  address: string | null;
  status: number;
  id?: number;
  replayed?: boolean;
  error?: string;
}

export interface OrderClientOptions {
  /** The name users reach, e.g. app.example.com. */
  name: string;
  /** Orders per second over all workers. */
  rate: number;
  workers: number;
  timeoutMs: number;
  /** Idempotency keys are `<prefix>-<seq>`: unique per drill run. */
  prefix: string;
}

/**
 * The order client running in a host's network namespace, resolving through that host's resolver
 * (127.0.0.1 there). Started and stopped by pid; its log is read from this machine.
 */
export class OrderClient {
  private constructor(
    private readonly process: LabProcess,
    readonly logFile: string,
    readonly options: OrderClientOptions,
  ) {}

  static start(host: Host, options: OrderClientOptions): OrderClient {
    const logFile = path.join(host.lab.stateDir, `orders-${options.prefix}.jsonl`);
    const child = host.spawnInNetwork([process.execPath, "--import", TSX_LOADER, CLIENT], {
      logFile: `${logFile}.stderr`,
      env: {
        ORDER_NAME: options.name,
        ORDER_DNS: "127.0.0.1",
        ORDER_LOG: logFile,
        ORDER_RATE: String(options.rate),
        ORDER_WORKERS: String(options.workers),
        ORDER_TIMEOUT_MS: String(options.timeoutMs),
        ORDER_PREFIX: options.prefix,
      },
    });
    return new OrderClient(child, logFile, options);
  }

  get running(): boolean {
    return this.process.running;
  }

  /** Every attempt logged so far (a line still being written is skipped). */
  attempts(): OrderAttempt[] {
    if (!existsSync(this.logFile)) return [];
    const out: OrderAttempt[] = [];
    for (const line of readFileSync(this.logFile, "utf8").split("\n")) {
      if (!line.endsWith("}")) continue;
      try {
        out.push(JSON.parse(line) as OrderAttempt);
      } catch {
        // A torn line at the end of the file: read again later.
      }
    }
    return out;
  }

  /** The client's own errors (bad settings, crashes), for messages. */
  stderr(): string {
    return existsSync(`${this.logFile}.stderr`) ? readFileSync(`${this.logFile}.stderr`, "utf8") : "";
  }

  /** SIGTERM: it finishes the orders in flight (a few more attempts each), then exits. */
  async stop(graceMs = 15_000): Promise<void> {
    await this.process.stop(graceMs);
  }
}
