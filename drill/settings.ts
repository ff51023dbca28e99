import type { WanSettings } from "../lab/hosts/wan";
import { DEFAULT_PUBLISH_DELAY_MS } from "../lab/standins/dns";
import { DEFAULT_WAN } from "../lab/wanDefaults";

/** What a drill run may be tuned by; `DEFAULT_SETTINGS` are the program's real defaults. */
export interface DrillSettings {
  /** DNS Manager's delay between accepting a record change and serving it (not documented by Linode). */
  publishDelayMs: number;
  /** Orders per second the client sends, over all its workers. */
  clientRate: number;
  clientWorkers: number;
  /** A client attempt with no answer within this is a failure (and retried with its key). */
  clientTimeoutMs: number;
  /** Orders acknowledged through the serving region after the fault before a run may end. */
  settleOrders: number;
  /** An expected phase not reached within this after the fault is a stuck phase: the drill fails. */
  phaseTimeoutMs: number;
  /** How long the flapping drill flaps region A's link. */
  flappingForMs: number;
  /** How long the partition-then-loss drills cut A from B before the heal. */
  partitionForMs: number;
  /** Raw config for both stacks on top of the example config (e.g. { leaderTtl: "20" }). */
  config: Record<string, string>;
  /** Delay, jitter and loss between the sites; undefined joins them without delay. */
  wan: WanSettings | undefined;
}

export const DEFAULT_SETTINGS: DrillSettings = {
  publishDelayMs: DEFAULT_PUBLISH_DELAY_MS,
  clientRate: 10,
  clientWorkers: 2,
  clientTimeoutMs: 2000,
  settleOrders: 20,
  phaseTimeoutMs: 240_000,
  flappingForMs: 120_000,
  partitionForMs: 60_000,
  // A database member that cannot join gives up within 5 minutes instead of an hour: a drill
  // that cannot start should say so while someone is still watching.
  config: { replicaWaitTimeoutSeconds: "300" },
  wan: DEFAULT_WAN,
};
