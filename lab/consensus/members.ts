import {
  CONSENSUS_DEFAULTS,
  LEADER_PATH,
  PATRONI_REST_PORT,
  type ConsensusSettings,
  type MemberName,
} from "../../provisioning/consensus";
import { renderDatabaseUserData, TLS_CA_PATH } from "../../provisioning/database";
import { renderWitnessUserData } from "../../provisioning/witness";
import { fixtureHost } from "../../evaluation/fixtures/host";
import type { RecordedResource } from "../../evaluation/mocks";
import { releaseFixtureResources } from "../../evaluation/fixtures/release";
import { LAB_ADDRESSES, LAB_REGIONS, SITE_REGIONS } from "../addressPlan";
import { requestFrom } from "../hosts/curl";
import { Host } from "../hosts/host";
import { Lab } from "../hosts/lab";
import { type ExecResult } from "../process";
import { bootFromUserData } from "../releaseStore";
import { ObjectStorageStandIn } from "../standins/objectStorage";
import { makeTestPki } from "../tls";

/**
 * The three consensus members alone (the two databases and the witness), booted one by one from
 * user data the builders render directly, for what the whole world cannot show: a bring-up in the
 * wrong order, or with a deployment mistake (a replication password the founder does not have).
 * Everything else runs on lab/world with the program's own user data.
 */

const ADDRESSES: Record<MemberName, string> = {
  primary: LAB_ADDRESSES.primaryDatabase,
  dr: LAB_ADDRESSES.drDatabase,
  witness: LAB_ADDRESSES.witness,
};

export const MEMBER_SERVER_NAMES: Record<MemberName, string> = {
  primary: "db-primary.shop.lab.example",
  dr: "db-dr.shop.lab.example",
  witness: "witness.shop.lab.example",
};

export const LAB_REPLICATION_PASSWORD = "lab-repl:pa\\ss'word";

export interface MemberOptions {
  /** A replication password for dr that the founder does not have (a deployment mistake). */
  drReplicationPassword?: string;
}

/** Each member's user data straight from the builders, with a throwaway CA and fixed lab credentials. */
async function memberUserData(
  options: MemberOptions,
): Promise<{ userData: Record<MemberName, string>; releaseResources: RecordedResource[] }> {
  const pki = await makeTestPki(Object.values(MEMBER_SERVER_NAMES));
  const { resources, release } = releaseFixtureResources();
  const { access } = fixtureHost();
  const members = (["primary", "dr", "witness"] as const).map((name) => ({
    name,
    serverName: MEMBER_SERVER_NAMES[name],
    ipv4: ADDRESSES[name],
  }));
  const consensus = (self: MemberName): ConsensusSettings => ({
    scope: "linode-dr-shop",
    self,
    members,
    // A first bring-up, as the program renders it before the dr stack exists: the primary founds.
    founder: self === "primary",
    etcd: { ...CONSENSUS_DEFAULTS.etcd },
    patroni: { ...CONSENSUS_DEFAULTS.patroni },
    restApi: { username: "patroni", password: 'lab-rest-pass"word' },
    joinTimeoutSeconds: 600,
  });
  const tls = (self: MemberName) => ({
    caCertPem: pki.caCertPem,
    serverCertPem: pki.servers[MEMBER_SERVER_NAMES[self]].certPem,
    serverKeyPem: pki.servers[MEMBER_SERVER_NAMES[self]].keyPem,
  });
  const database = (self: "primary" | "dr", replicationPassword: string) =>
    renderDatabaseUserData({
      postgresVersion: 15,
      walKeepSize: "64MB",
      maxSlotWalKeepSize: "1GB",
      tls: tls(self),
      replication: { user: "replicator", password: replicationPassword },
      superuser: { password: "lab-superuser-password" },
      app: { database: "orders", user: "orders_app", password: "lab-app-password" },
      consensus: consensus(self),
      release,
      access,
    });
  return {
    userData: {
      primary: database("primary", LAB_REPLICATION_PASSWORD),
      dr: database("dr", options.drReplicationPassword ?? LAB_REPLICATION_PASSWORD),
      witness: renderWitnessUserData({
        tls: tls("witness"),
        consensus: consensus("witness"),
        release,
        access,
      }),
    },
    releaseResources: resources,
  };
}

export class ConsensusMembers {
  private constructor(
    readonly lab: Lab,
    private readonly hosts: Record<MemberName, Host>,
    private readonly userData: Record<MemberName, string>,
    private readonly store: ObjectStorageStandIn,
  ) {}

  /** The hosts and the release store, nothing booted: the caller decides the order. */
  static async create(labName: string, options: MemberOptions = {}): Promise<ConsensusMembers> {
    const lab = await Lab.create({ name: labName });
    try {
      for (const region of ["A", "B", "C"] as const) lab.addRegion(region, LAB_REGIONS[region].cidr);
      const { userData, releaseResources } = await memberUserData(options);
      const storeHost = await lab.addHost({
        name: "objstore",
        region: "C",
        address: LAB_ADDRESSES.objectStorage,
      });
      const store = await ObjectStorageStandIn.start(storeHost, releaseResources);
      const hosts = {} as Record<MemberName, Host>;
      for (const member of ["primary", "dr", "witness"] as const)
        hosts[member] = await lab.addHost({
          name: member,
          region: SITE_REGIONS[member],
          address: ADDRESSES[member],
        });
      await Promise.all([hosts.primary.simulatePackageInstall(15), hosts.dr.simulatePackageInstall(15)]);
      return new ConsensusMembers(lab, hosts, userData, store);
    } catch (error) {
      await lab.destroy();
      throw error;
    }
  }

  host(member: MemberName): Host {
    return this.hosts[member];
  }

  /** First boot of a member from its user data (the real cloud-init). */
  boot(member: MemberName): Promise<ExecResult> {
    return bootFromUserData(this.store, this.hosts[member], this.userData[member]);
  }

  /** Patroni's leader as `from`'s REST API reports it (TLS, verified against the project CA). */
  async leader(from: "primary" | "dr"): Promise<string | undefined> {
    const answer = await requestFrom(
      this.hosts[from],
      `https://${MEMBER_SERVER_NAMES[from]}:${PATRONI_REST_PORT}/cluster`,
      {
        cacert: TLS_CA_PATH,
        maxTimeSeconds: 3,
      },
    );
    if (answer.status !== 200) return undefined;
    const view = JSON.parse(answer.body) as { members: { name: string; role: string }[] };
    return view.members.find((m) => m.role === "leader")?.name;
  }

  /** true once `member`'s WAL receiver streams from the leader. */
  async streaming(member: "primary" | "dr"): Promise<boolean> {
    const result = await this.hosts[member].exec(
      ["psql", "-h", "/var/run/postgresql", "-X", "-At", "-c", "SELECT status FROM pg_stat_wal_receiver"],
      { user: "postgres", timeoutMs: 10_000 },
    );
    return result.code === 0 && result.stdout.trim() === "streaming";
  }

  /** The failover flag's command on `on`, as the program's leader command runs it. */
  leaderCommand(
    desired: "primary" | "dr",
    options: { force?: boolean; on: MemberName },
  ): Promise<ExecResult> {
    return this.hosts[options.on].exec(
      ["timeout", "300", LEADER_PATH, desired, ...(options.force ? ["--force"] : [])],
      {
        timeoutMs: 320_000,
      },
    );
  }

  destroy(): Promise<void> {
    return this.lab.destroy();
  }
}
