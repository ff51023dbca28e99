import { PATRONI_CONFIG } from "../app/hosts";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import {
  CONSENSUS_DEFAULTS,
  LEADER_PATH,
  type ConsensusSettings,
  type MemberName,
} from "../../provisioning/consensus";
import { DB_PROVISION_PATH, renderDatabaseUserData } from "../../provisioning/database";
import { renderWitnessUserData, WITNESS_ENTRY } from "../../provisioning/witness";
import { Host } from "../hosts/host";
import { Lab } from "../hosts/lab";
import { LabProcess } from "../hosts/labProcess";
import { ExecResult, sleep, waitFor } from "../process";
import { fixtureHost } from "../../evaluation/fixtures/host";
import type { RecordedResource } from "../../evaluation/mocks";
import { releaseFixtureResources } from "../../evaluation/fixtures/release";
import { LAB_ADDRESSES, LAB_REGIONS } from "../addressPlan";
import { bootFromUserData } from "../releaseStore";
import { ObjectStorageStandIn } from "../standins/objectStorage";
import { makeTestPki } from "../tls";

/**
 * The three-site consensus layout on lab hosts: the primary database and an app host in region A
 * (198.51.100.0/24), the DR database in region B (203.0.113.0/24), the witness, the release store
 * and a client in region C (192.0.2.0/24). etcd runs on the three members, Patroni on the two
 * databases; every host boots from user data with the real cloud-init.
 */

export const REGION_OF: Record<MemberName | "app" | "client", string> = {
  primary: "A",
  dr: "B",
  witness: "C",
  app: "A",
  client: "C",
};

export const CLUSTER_ADDRESSES: Record<MemberName | "app" | "client", string> = {
  primary: LAB_ADDRESSES.primaryDatabase,
  dr: LAB_ADDRESSES.drDatabase,
  witness: LAB_ADDRESSES.witness,
  app: LAB_ADDRESSES.primaryApp(0),
  client: LAB_ADDRESSES.client,
};

export const CLUSTER_SERVER_NAMES: Record<MemberName, string> = {
  primary: "db-primary.shop.lab.example",
  dr: "db-dr.shop.lab.example",
  witness: "witness.shop.lab.example",
};

const HOST_NAMES: Record<MemberName | "app" | "client", string> = {
  primary: "db-a",
  dr: "db-b",
  witness: "witness",
  app: "app-a",
  client: "client",
};

export const LAB_SCOPE = "linode-dr-shop";

export interface ClusterUserData {
  primary: string;
  dr: string;
  witness: string;
  postgresVersion: number;
  app: { database: string; user: string; password: string };
  patroni: ConsensusSettings["patroni"];
  /** Recorded Object Storage resources holding the release the hosts fetch. */
  releaseResources: RecordedResource[];
}

export type ClusterUserDataSource = () => Promise<ClusterUserData>;

export interface BuilderOptions {
  patroni?: Partial<ConsensusSettings["patroni"]>;
  etcd?: Partial<ConsensusSettings["etcd"]>;
  /** A replication password for dr that the founder does not have (a deployment mistake). */
  drReplicationPassword?: string;
  /** Members whose IPv4 user data leaves out (converge delivers it). */
  unknownIpv4?: MemberName[];
  joinTimeoutSeconds?: number;
}

export const LAB_REPLICATION_PASSWORD = "lab-repl:pa\\ss'word";

/** User data straight from the builders, with a throwaway CA and fixed lab credentials. */
export function builderClusterUserData(options: BuilderOptions = {}): ClusterUserDataSource {
  return async () => {
    const names = Object.values(CLUSTER_SERVER_NAMES);
    const pki = await makeTestPki(names);
    const { resources, release } = releaseFixtureResources();
    const { access } = fixtureHost();
    const app = { database: "orders", user: "orders_app", password: "lab-app-password" };
    const patroni = { ...CONSENSUS_DEFAULTS.patroni, ...options.patroni };
    const members = (["primary", "dr", "witness"] as const).map((name) => ({
      name,
      serverName: CLUSTER_SERVER_NAMES[name],
      ...(options.unknownIpv4?.includes(name) ? {} : { ipv4: CLUSTER_ADDRESSES[name] }),
    }));
    const consensus = (self: MemberName): ConsensusSettings => ({
      scope: LAB_SCOPE,
      self,
      members,
      founder: self === "primary",
      etcd: { ...CONSENSUS_DEFAULTS.etcd, ...options.etcd },
      patroni,
      restApi: { username: "patroni", password: 'lab-rest-pass"word' },
      joinTimeoutSeconds: options.joinTimeoutSeconds ?? 600,
    });
    const tls = (self: MemberName) => ({
      caCertPem: pki.caCertPem,
      serverCertPem: pki.servers[CLUSTER_SERVER_NAMES[self]].certPem,
      serverKeyPem: pki.servers[CLUSTER_SERVER_NAMES[self]].keyPem,
    });
    const database = (self: "primary" | "dr", replicationPassword: string) =>
      renderDatabaseUserData({
        postgresVersion: 15,
        walKeepSize: "64MB",
        maxSlotWalKeepSize: "1GB",
        tls: tls(self),
        replication: { user: "replicator", password: replicationPassword },
        superuser: { password: "lab-superuser-password" },
        app,
        consensus: consensus(self),
        release,
        access,
      });
    return {
      primary: database("primary", LAB_REPLICATION_PASSWORD),
      dr: database("dr", options.drReplicationPassword ?? LAB_REPLICATION_PASSWORD),
      witness: renderWitnessUserData({
        tls: tls("witness"),
        consensus: consensus("witness"),
        release,
        access,
      }),
      postgresVersion: 15,
      app,
      patroni,
      releaseResources: resources,
    };
  };
}

export interface Ack {
  seq: number;
  atMs: number;
  host: string;
}

const REPO_ROOT = path.resolve(__dirname, "..", "..");
const WRITER = path.join(REPO_ROOT, "lab", "workload", "writer.ts");
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
    let text: string;
    try {
      text = readFileSync(this.ackFile, "utf8");
    } catch {
      return [];
    }
    return text
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => {
        const [seq, atMs, host] = line.split("\t");
        return { seq: Number(seq), atMs: Number(atMs), host: host ?? "" };
      });
  }

  log(): string {
    return readFileSync(this.logFile, "utf8");
  }
}

export interface PatroniMember {
  name: string;
  role: string;
  state: string;
  timeline?: number;
  lag?: number | string;
}

export interface PatroniView {
  members: PatroniMember[];
  pause?: boolean;
}

export interface ClusterOptions {
  labName: string;
  userData: ClusterUserDataSource;
  log?: (line: string) => void;
}

export class Cluster {
  private writers = 0;

  private constructor(
    readonly lab: Lab,
    readonly hosts: Record<MemberName | "app" | "client", Host>,
    readonly userData: ClusterUserData,
    readonly store: ObjectStorageStandIn,
    readonly log: (line: string) => void,
  ) {}

  static async create(options: ClusterOptions): Promise<Cluster> {
    const log = options.log ?? (() => undefined);
    const lab = await Lab.create({ name: options.labName });
    try {
      lab.addRegion("A", LAB_REGIONS.A.cidr);
      lab.addRegion("B", LAB_REGIONS.B.cidr);
      lab.addRegion("C", LAB_REGIONS.C.cidr);
      const userData = await options.userData();
      const storeHost = await lab.addHost({
        name: "objstore",
        region: "C",
        address: LAB_ADDRESSES.objectStorage,
      });
      const store = await ObjectStorageStandIn.start(storeHost, userData.releaseResources);
      const hosts = {} as Record<MemberName | "app" | "client", Host>;
      for (const role of ["primary", "dr", "witness", "app", "client"] as const) {
        hosts[role] = await lab.addHost({
          name: HOST_NAMES[role],
          region: REGION_OF[role],
          address: CLUSTER_ADDRESSES[role],
        });
      }
      await Promise.all([
        hosts.primary.simulatePackageInstall(userData.postgresVersion),
        hosts.dr.simulatePackageInstall(userData.postgresVersion),
      ]);
      log(`lab ${options.labName}: hosts up; cluster 15/main created by the package on both database hosts`);
      return new Cluster(lab, hosts, userData, store, log);
    } catch (error) {
      await lab.destroy();
      throw error;
    }
  }

  host(member: MemberName | "app" | "client"): Host {
    return this.hosts[member];
  }

  /** First boot of a member from its user data (the real cloud-init). */
  boot(member: MemberName): Promise<ExecResult> {
    return bootFromUserData(this.store, this.hosts[member], this.userData[member]);
  }

  /** All three at once, as one bring-up creates them; throws with the output of any that failed. */
  async bootAll(): Promise<void> {
    const members = ["primary", "dr", "witness"] as const;
    const results = await Promise.all(members.map((m) => this.boot(m)));
    const failed = results
      .map((r, i) => ({ r, m: members[i] }))
      .filter(({ r }) => r.code !== 0)
      .map(({ r, m }) => `${m} (exit ${r.code}):\n${r.stdout}${r.stderr}`);
    if (failed.length > 0) throw new Error(`first boot failed on ${failed.join("\n\n")}`);
    this.log("all three members booted");
  }

  /** What a Linode's init does after a power cut: the host comes back and its services start. */
  async restart(member: MemberName): Promise<ExecResult> {
    const host = this.hosts[member];
    if (!host.isUp) await host.start();
    return host.execOrThrow([member === "witness" ? `/usr/local/sbin/${WITNESS_ENTRY}` : DB_PROVISION_PATH]);
  }

  async psql(member: MemberName, sql: string, database = "postgres"): Promise<string> {
    const result = await this.hosts[member].execOrThrow(
      ["psql", "-h", "/var/run/postgresql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql],
      { user: "postgres" },
    );
    return result.stdout.trim();
  }

  tryPsql(member: MemberName, sql: string, database = "postgres"): Promise<ExecResult> {
    return this.hosts[member].exec(
      ["psql", "-h", "/var/run/postgresql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql],
      { user: "postgres", timeoutMs: 10_000 },
    );
  }

  /** true when the member's PostgreSQL answers and is not in recovery. */
  async writable(member: MemberName): Promise<boolean> {
    if (!this.hosts[member].isUp) return false;
    const result = await this.tryPsql(member, "SELECT pg_is_in_recovery()");
    return result.code === 0 && result.stdout.trim() === "f";
  }

  /** Patroni's view of the cluster (GET /cluster over TLS), asked from `from` or any database host. */
  async view(from?: MemberName): Promise<PatroniView | undefined> {
    const order: MemberName[] = from ? [from] : ["dr", "primary"];
    for (const m of order) {
      const host = this.hosts[m];
      if (!host.isUp) continue;
      const result = await host.exec(
        [
          "curl",
          "-sS",
          "--fail",
          "--max-time",
          "3",
          "--cacert",
          "/etc/linode-dr/tls/ca.crt",
          `https://${CLUSTER_SERVER_NAMES[m]}:8008/cluster`,
        ],
        { timeoutMs: 5000 },
      );
      if (result.code === 0) return JSON.parse(result.stdout) as PatroniView;
    }
    return undefined;
  }

  async leader(from?: MemberName): Promise<PatroniMember | undefined> {
    const view = await this.view(from);
    return view?.members.find((m) => m.role === "leader");
  }

  async waitForLeader(member: MemberName, timeoutMs = 120_000): Promise<void> {
    await waitFor(
      `${member} to lead and accept writes`,
      async () =>
        (await this.leader())?.name === member && (await this.writable(member)) ? true : undefined,
      timeoutMs,
      250,
    );
  }

  /** Waits until `member` streams from the leader (its WAL receiver) and Patroni shows it running. */
  async waitForStreaming(member: MemberName, timeoutMs = 180_000): Promise<void> {
    await waitFor(
      `${member} to stream from the leader`,
      async () => {
        const status = await this.tryPsql(member, "SELECT status FROM pg_stat_wal_receiver");
        if (status.stdout.trim() !== "streaming") return undefined;
        const view = await this.view();
        return view?.members.find((m) => m.name === member)?.state === "running" ? true : undefined;
      },
      timeoutMs,
      500,
    );
  }

  /** The leader's timeline: it grows by one with every promotion (failover or switchover). */
  async timeline(): Promise<number> {
    const leader = await this.leader();
    if (!leader?.timeline) throw new Error(`no leader with a timeline: ${JSON.stringify(leader)}`);
    return leader.timeline;
  }

  /**
   * A steady-rate writer on `from`, writing to `targets` (member addresses; a failed write moves it
   * to the next one, as a client following the leader does).
   */
  async startWriter(
    from: "app" | "client",
    targets: MemberName[],
    options: { rate?: number; workers?: number } = {},
  ): Promise<Writer> {
    const index = this.writers++;
    const ackFile = path.join(this.lab.stateDir, `writer-${index}-acks.tsv`);
    const logFile = path.join(this.lab.stateDir, `writer-${index}.log`);
    const rate = options.rate ?? 200;
    const child = this.hosts[from].spawnInNetwork([process.execPath, "--import", TSX_LOADER, WRITER], {
      logFile,
      env: {
        WRITER_HOSTS: targets.map((m) => CLUSTER_ADDRESSES[m]).join(","),
        WRITER_SSL: "1",
        WRITER_SEQ_OFFSET: String(index * 1_000_000_000),
        PGPORT: "5432",
        PGUSER: this.userData.app.user,
        PGPASSWORD: this.userData.app.password,
        PGDATABASE: this.userData.app.database,
        WRITER_RATE: String(rate),
        WRITER_WORKERS: String(options.workers ?? 4),
        WRITER_ACK_FILE: ackFile,
      },
    });
    const writer = new Writer(child, ackFile, logFile);
    try {
      await waitFor(
        "the writer's first acknowledged rows",
        () => {
          if (!writer.running) throw new Error(`writer exited early:\n${writer.log()}`);
          return writer.acks().length >= 10 ? true : undefined;
        },
        30_000,
        100,
      );
    } catch (error) {
      await writer.stop();
      throw error;
    }
    return writer;
  }

  /** Sequence numbers present in lab_writes on `member`. */
  async presentSeqs(member: MemberName): Promise<Set<number>> {
    const text = await this.psql(member, "SELECT seq FROM lab_writes", this.userData.app.database);
    return new Set(text.split("\n").filter(Boolean).map(Number));
  }

  /** Runs the failover flag's command on `on` (default: the DR database, which survives region A). */
  leaderCommand(
    desired: "primary" | "dr",
    options: { force?: boolean; on?: MemberName } = {},
  ): Promise<ExecResult> {
    return this.hosts[options.on ?? "dr"].exec(
      ["timeout", "300", LEADER_PATH, desired, ...(options.force ? ["--force"] : [])],
      { timeoutMs: 320_000 },
    );
  }

  /** Sets a Patroni dynamic setting (patronictl edit-config) and waits for it to show in /config. */
  async setDynamic(key: string, value: string): Promise<void> {
    const on: MemberName = this.hosts.dr.isUp ? "dr" : "primary";
    await this.hosts[on].execOrThrow([
      "patronictl",
      "-c",
      PATRONI_CONFIG,
      "edit-config",
      "--force",
      "-s",
      `${key}=${value}`,
    ]);
    await sleep(3000);
  }

  async destroy(): Promise<void> {
    await this.lab.destroy();
  }
}
