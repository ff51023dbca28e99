import { setTimeout as sleep } from "node:timers/promises";
import type { Backoff } from "./backoff";
import { startMetricsServer } from "./metrics";
import type { Network } from "./observe";
import { Follower } from "./service";
import type { FollowerSettings } from "./settings";

export interface RunOptions {
  settings: FollowerSettings;
  network: Network;
  log: (line: string) => void;
  /** Aborted: the loop stops after its current step. */
  signal: AbortSignal;
  now?: () => number;
  moveRetry?: Backoff;
}

/**
 * `run`: a step every pollMs (counted from the start of the previous one) and /metrics, until
 * the signal; then the metrics server is closed. A step that throws is logged and the loop goes on.
 */
export async function runService(options: RunOptions): Promise<void> {
  const { settings, signal } = options;
  const now = options.now ?? Date.now;
  const follower = await Follower.start({ ...options, now });
  const server = await startMetricsServer(settings.metrics.address, settings.metrics.port, () =>
    follower.metrics(),
  );
  const host = settings.metrics.address.includes(":")
    ? `[${settings.metrics.address}]`
    : settings.metrics.address;
  follower.log({
    event: "listening",
    metrics: `http://${host}:${server.port}/metrics`,
    poll_ms: settings.pollMs,
  });
  try {
    while (!signal.aborted) {
      const started = now();
      try {
        await follower.step();
        follower.clearError("step");
      } catch (error) {
        follower.noteError("step", error);
      }
      const wait = Math.max(0, settings.pollMs - (now() - started));
      await sleep(wait, undefined, { signal }).catch(() => undefined);
    }
  } finally {
    await server.close();
    follower.log({ event: "stop" });
  }
}
