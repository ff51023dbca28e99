import { PROMOTE_PATH } from "../../provisioning/database";
import { DatabasePair, REGION_PRIMARY, ReplicationStatus } from "../databasePair";
import { LabDatabaseUserDataSource } from "../databaseUserData";
import { sleep } from "../process";

/**
 * The disaster this project exists for: region A (primary database and its app) loses its link to
 * the world while writes stream in; the DR replica in region B is promoted. Measures what a user
 * would ask: how far behind was the replica, how long did promotion take, and which acknowledged
 * writes are gone.
 */

export interface RegionLossOptions {
  labName?: string;
  userData: LabDatabaseUserDataSource;
  /** Target rows per second of the writer. */
  writeRate?: number;
  /** Writing time before the cut, during which lag is sampled. */
  steadyStateMs?: number;
  log?: (line: string) => void;
}

export interface LagFigures {
  /** The last sample, taken immediately before the cut. */
  lastBytes: number;
  lastReplayLagMs: number | null;
  maxBytes: number;
  maxReplayLagMs: number | null;
  samples: number;
}

export interface RegionLossReport {
  writeRateTarget: number;
  /** Acknowledged rows per second between the first ack and the cut. */
  writeRateAchieved: number;
  lagBeforeCut: LagFigures;
  replicationBeforeCut: ReplicationStatus;
  promoteMs: number;
  promoteOutput: string;
  replicaRefusedWrite: string;
  promotedAcceptedWrite: boolean;
  ackedBeforeCut: number;
  /** RPO: rows acknowledged to the client before the cut that the promoted replica does not have. */
  lostAcked: number;
  /** Time between the first and the last lost acknowledgement (0 when at most one row was lost). */
  lostSpanMs: number;
  lostSeqs: number[];
  /** Rows the isolated old primary acknowledged after the cut: lost too, and a split-brain risk. */
  ackedAfterCut: number;
}

export async function runRegionLoss(options: RegionLossOptions): Promise<RegionLossReport> {
  const log = options.log ?? (() => undefined);
  const writeRate = options.writeRate ?? 500;
  const steadyStateMs = options.steadyStateMs ?? 5000;
  const pair = await DatabasePair.create({
    labName: options.labName ?? "rloss",
    userData: options.userData,
    log,
  });
  try {
    await pair.provisionBoth();
    const replicationBeforeCut = await pair.waitForStreaming();
    const app = pair.userData.app.database;

    const refused = await pair.tryPsql(pair.replica, "CREATE TABLE refused_on_standby (id int)", app);
    if (refused.code === 0) throw new Error("the replica accepted a write before promotion");
    const replicaRefusedWrite = refused.stderr.trim();

    const writer = await pair.startWriter(writeRate);
    let cutAt: number;
    let cutDone: number;
    let lagBeforeCut: LagFigures;
    let promoteMs: number;
    let promoteOutput: string;
    try {
      lagBeforeCut = await sampleLag(pair, steadyStateMs);
      cutAt = Date.now();
      await pair.lab.cutRegion(REGION_PRIMARY);
      cutDone = Date.now();
      log(`region ${REGION_PRIMARY} cut; promoting the replica`);
      const started = process.hrtime.bigint();
      const promoted = await pair.replica.execOrThrow([PROMOTE_PATH]);
      promoteMs = Number(process.hrtime.bigint() - started) / 1e6;
      promoteOutput = promoted.stdout.trim();
    } finally {
      // The writer keeps the isolated primary busy until after promotion, as a surviving app would.
      await writer.stop();
    }

    const promotedAccepted = await pair.tryPsql(
      pair.replica,
      "INSERT INTO lab_writes (seq) VALUES (-1)",
      app,
    );
    const present = new Set(
      (await pair.psql(pair.replica, "SELECT seq FROM lab_writes WHERE seq >= 0", app))
        .split("\n")
        .filter(Boolean)
        .map(Number),
    );
    const acks = writer.acks();
    const before = acks.filter((ack) => ack.atMs < cutAt);
    const lost = before.filter((ack) => !present.has(ack.seq));
    const firstAck = before.length > 0 ? before[0].atMs : cutAt;
    return {
      writeRateTarget: writeRate,
      writeRateAchieved: before.length / Math.max((cutAt - firstAck) / 1000, 0.001),
      lagBeforeCut,
      replicationBeforeCut,
      promoteMs,
      promoteOutput,
      replicaRefusedWrite,
      promotedAcceptedWrite: promotedAccepted.code === 0,
      ackedBeforeCut: before.length,
      lostAcked: lost.length,
      lostSpanMs: lost.length > 1 ? lost[lost.length - 1].atMs - lost[0].atMs : 0,
      lostSeqs: lost.map((ack) => ack.seq),
      ackedAfterCut: acks.filter((ack) => ack.atMs >= cutDone).length,
    };
  } finally {
    await pair.destroy();
  }
}

async function sampleLag(pair: DatabasePair, durationMs: number): Promise<LagFigures> {
  const end = Date.now() + durationMs;
  let last: ReplicationStatus | undefined;
  let maxBytes = 0;
  let maxReplayLagMs: number | null = null;
  let samples = 0;
  while (Date.now() < end) {
    const status = await pair.replicationStatus();
    if (!status || status.state !== "streaming")
      throw new Error(`replica stopped streaming during the run: ${JSON.stringify(status)}`);
    last = status;
    samples++;
    maxBytes = Math.max(maxBytes, status.lagBytes);
    if (status.replayLagMs !== null) maxReplayLagMs = Math.max(maxReplayLagMs ?? 0, status.replayLagMs);
    await sleep(200);
  }
  if (!last) throw new Error("no lag sample taken");
  return { lastBytes: last.lagBytes, lastReplayLagMs: last.replayLagMs, maxBytes, maxReplayLagMs, samples };
}

export function formatRegionLossReport(report: RegionLossReport): string {
  const lag = report.lagBeforeCut;
  const ms = (value: number | null) =>
    value === null ? "NULL (standby caught up)" : `${value.toFixed(3)} ms`;
  return [
    `writes: target ${report.writeRateTarget}/s, achieved ${report.writeRateAchieved.toFixed(0)}/s, ${report.ackedBeforeCut} acknowledged before the cut`,
    `replication before cut: ${report.replicationBeforeCut.state}, TLS ${report.replicationBeforeCut.ssl ? "on" : "off"}`,
    `lag before cut: ${lag.lastBytes} bytes, replay lag ${ms(lag.lastReplayLagMs)} (max over ${lag.samples} samples: ${lag.maxBytes} bytes, ${ms(lag.maxReplayLagMs)})`,
    `promotion: ${report.promoteMs.toFixed(0)} ms (linode-dr-promote, end to end)`,
    `RPO: ${report.lostAcked} acknowledged rows lost, spanning ${report.lostSpanMs} ms${report.lostSeqs.length ? ` (seq ${report.lostSeqs[0]}..${report.lostSeqs[report.lostSeqs.length - 1]})` : ""}`,
    `isolated old primary acknowledged ${report.ackedAfterCut} more rows after the cut (lost with region A)`,
  ].join("\n");
}
