import { readFileSync } from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { LabDatabaseUserData, LabDatabaseUserDataSource } from "./databaseUserData";
import { Host, Lab, LabProcess } from "./lab";
import { ExecResult, waitFor } from "./process";
import { LAB_REGIONS } from "./program/userData";
import { bootFromUserData, startReleaseStore } from "./releaseStore";
import type { ObjectStorageStandIn } from "./standins/objectStorage";

/**
 * The two-region database layout on lab hosts: the primary and an app host in region A
 * ("primary", 198.51.100.0/24), the DR replica in region B ("dr", 203.0.113.0/24). Both database
 * hosts start as a real Linode does after `apt-get install postgresql-15`: with cluster 15/main.
 */
export const REGION_PRIMARY = "A";
export const REGION_DR = "B";
export const PRIMARY_ADDRESS = "198.51.100.10";
export const APP_ADDRESS = "198.51.100.20";
export const REPLICA_ADDRESS = "203.0.113.10";

export interface DatabasePairOptions {
  labName: string;
  userData: LabDatabaseUserDataSource;
  waitTimeoutSeconds?: number;
  log?: (line: string) => void;
}

export interface ReplicationStatus {
  applicationName: string;
  state: string;
  ssl: boolean;
  /** WAL the primary has written that the standby has not replayed yet. */
  lagBytes: number;
  replayLagMs: number | null;
}

export interface Ack {
  seq: number;
  atMs: number;
}

const REPO_ROOT = path.resolve(__dirname, "..");
const WRITER = path.join(__dirname, "workload", "writer.ts");
const TSX_LOADER = pathToFileURL(path.join(REPO_ROOT, "node_modules", "tsx", "dist", "loader.mjs")).href;

export class Writer {
  constructor(
    private readonly process: LabProcess,
    readonly ackFile: string,
    readonly logFile: string,
  ) {}

  get running(): boolean {
    return this.process.running;
  }

  async stop(): Promise<void> {
    await this.process.stop();
  }

  acks(): Ack[] {
    return readFileSync(this.ackFile, "utf8")
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => {
        const [seq, atMs] = line.split("\t").map(Number);
        return { seq, atMs };
      });
  }

  log(): string {
    return readFileSync(this.logFile, "utf8");
  }
}

export class DatabasePair {
  private constructor(
    readonly lab: Lab,
    readonly primary: Host,
    readonly replica: Host,
    readonly app: Host,
    readonly userData: LabDatabaseUserData,
    readonly store: ObjectStorageStandIn,
    private readonly log: (line: string) => void,
  ) {}

  /** Builds the hosts and obtains their user data; provisioning is up to the caller. */
  static async create(options: DatabasePairOptions): Promise<DatabasePair> {
    const log = options.log ?? (() => undefined);
    const lab = await Lab.create({ name: options.labName });
    try {
      lab.addRegion(REGION_PRIMARY, LAB_REGIONS.A.cidr);
      lab.addRegion(REGION_DR, LAB_REGIONS.B.cidr);
      const userData = await options.userData({
        primaryAddress: PRIMARY_ADDRESS,
        replicaAddress: REPLICA_ADDRESS,
        waitTimeoutSeconds: options.waitTimeoutSeconds ?? 120,
      });
      const store = await startReleaseStore(lab, userData.evaluations);
      const primary = await lab.addHost({ name: "pg-a", region: REGION_PRIMARY, address: PRIMARY_ADDRESS });
      const replica = await lab.addHost({ name: "pg-b", region: REGION_DR, address: REPLICA_ADDRESS });
      const app = await lab.addHost({ name: "app-a", region: REGION_PRIMARY, address: APP_ADDRESS });
      await Promise.all([
        primary.simulatePackageInstall(userData.postgresVersion),
        replica.simulatePackageInstall(userData.postgresVersion),
      ]);
      log(
        `lab ${options.labName}: hosts up, cluster ${userData.postgresVersion}/main created on both database hosts`,
      );
      return new DatabasePair(lab, primary, replica, app, userData, store, log);
    } catch (error) {
      await lab.destroy();
      throw error;
    }
  }

  async provisionPrimary(): Promise<ExecResult> {
    const result = await bootFromUserData(this.store, this.primary, this.userData.primary);
    if (result.code !== 0)
      throw new Error(`primary provisioning failed (exit ${result.code}):\n${result.stdout}${result.stderr}`);
    this.log("primary provisioned");
    return result;
  }

  tryProvisionReplica(): Promise<ExecResult> {
    return bootFromUserData(this.store, this.replica, this.userData.replica);
  }

  /** Both at once, as one `pulumi up` boots them: the replica has to wait for the primary. */
  async provisionBoth(): Promise<void> {
    const [, replica] = await Promise.all([this.provisionPrimary(), this.tryProvisionReplica()]);
    if (replica.code !== 0)
      throw new Error(`replica provisioning failed:\n${replica.stdout}${replica.stderr}`);
    this.log("replica provisioned");
  }

  /** Runs SQL as the postgres superuser over the host's local socket; returns unaligned rows. */
  async psql(host: Host, sql: string, database = "postgres"): Promise<string> {
    const result = await host.execOrThrow(
      ["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql],
      {
        user: "postgres",
      },
    );
    return result.stdout.trim();
  }

  async tryPsql(host: Host, sql: string, database = "postgres"): Promise<ExecResult> {
    return host.exec(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql], {
      user: "postgres",
    });
  }

  async replicationStatus(): Promise<ReplicationStatus | undefined> {
    const row = await this.psql(
      this.primary,
      `SELECT r.application_name, r.state, s.ssl, pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn),
              round(extract(epoch FROM r.replay_lag) * 1000, 3)
         FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)
        WHERE r.application_name = '${this.userData.slotName}'`,
    );
    if (row === "") return undefined;
    const [applicationName, state, ssl, lagBytes, replayLag] = row.split("|");
    return {
      applicationName,
      state,
      ssl: ssl === "t",
      lagBytes: Number(lagBytes),
      replayLagMs: replayLag === "" ? null : Number(replayLag),
    };
  }

  async waitForStreaming(timeoutMs = 60_000): Promise<ReplicationStatus> {
    return waitFor(
      "the replica to stream from the primary",
      async () => {
        const status = await this.replicationStatus();
        return status?.state === "streaming" ? status : undefined;
      },
      timeoutMs,
      250,
    );
  }

  /** Starts the steady-rate writer from the app host in region A, against the primary. */
  async startWriter(rate: number, workers = 4): Promise<Writer> {
    const ackFile = path.join(this.lab.stateDir, "writer-acks.tsv");
    const logFile = path.join(this.lab.stateDir, "writer.log");
    const child = this.app.spawnInNetwork([process.execPath, "--import", TSX_LOADER, WRITER], {
      logFile,
      env: {
        PGHOST: PRIMARY_ADDRESS,
        PGPORT: "5432",
        PGUSER: this.userData.app.user,
        PGPASSWORD: this.userData.app.password,
        PGDATABASE: this.userData.app.database,
        WRITER_RATE: String(rate),
        WRITER_WORKERS: String(workers),
        WRITER_ACK_FILE: ackFile,
      },
    });
    const writer = new Writer(child, ackFile, logFile);
    try {
      await waitFor(
        "the writer's first acknowledged rows",
        () => {
          if (!writer.running) throw new Error(`writer exited early:\n${writer.log()}`);
          try {
            return writer.acks().length >= 10 ? true : undefined;
          } catch {
            return undefined;
          }
        },
        30_000,
        100,
      );
    } catch (error) {
      await writer.stop();
      throw error;
    }
    this.log(`writer running at ${rate} rows/s from ${APP_ADDRESS}`);
    return writer;
  }

  async destroy(): Promise<void> {
    await this.lab.destroy();
  }
}
