import { DatabaseUserDataInput, renderDatabaseUserData } from "../provisioning/database";
import { fixtureHost } from "./program/hostFixture";
import { releaseStoreEvaluation } from "./program/release";
import type { Evaluation } from "./program/evaluate";
import { makeTestPki } from "./tls";

/** Where the lab puts the two database hosts (docs/architecture.md's lab address plan). */
export interface LabDatabasePlan {
  primaryAddress: string;
  replicaAddress: string;
  /** How long the replica's provisioning waits for the primary. */
  waitTimeoutSeconds: number;
}

/** User data for both database hosts plus what a lab client needs to talk to them. */
export interface LabDatabaseUserData {
  primary: string;
  replica: string;
  postgresVersion: number;
  slotName: string;
  app: { database: string; user: string; password: string };
  /** The stack evaluations whose release buckets the lab's Object Storage stand-in must serve. */
  evaluations: Evaluation[];
}

export type LabDatabaseUserDataSource = (plan: LabDatabasePlan) => Promise<LabDatabaseUserData>;

export interface BuilderUserDataOptions {
  postgresVersion?: number;
  /** Gives the replica a different replication password than the primary's (a deployment mistake). */
  replicaReplicationPassword?: string;
}

export const LAB_PRIMARY_SERVER_NAME = "db-primary.shop.lab.example";
export const LAB_REPLICA_SERVER_NAME = "db-dr.shop.lab.example";
export const LAB_REPLICATION_PASSWORD = "lab-repl:pa\\ss'word";

/**
 * User data straight from `renderDatabaseUserData`, with a throwaway CA. Fixed lab credentials: the
 * hosts exist only inside this machine's namespaces, and the odd characters exercise the quoting in
 * the passfile and in psql.
 */
export function builderUserData(options: BuilderUserDataOptions = {}): LabDatabaseUserDataSource {
  return async (plan) => {
    const pki = await makeTestPki([LAB_PRIMARY_SERVER_NAME, LAB_REPLICA_SERVER_NAME]);
    const postgresVersion = options.postgresVersion ?? 15;
    const replicationPassword = LAB_REPLICATION_PASSWORD;
    const app = { database: "orders", user: "orders_app", password: "lab-app-password" };
    // The release and its bucket come from the program; only the database settings are hand-built.
    const store = await releaseStoreEvaluation();
    const { access } = fixtureHost();
    const common: Omit<DatabaseUserDataInput, "role" | "tls" | "replication" | "access"> = {
      postgresVersion,
      walKeepSize: "64MB",
      maxSlotWalKeepSize: "1GB",
      app,
      release: store.release,
    };
    const replication = { user: "replicator", password: replicationPassword, slotName: "dr_standby" };
    const primary = renderDatabaseUserData({
      ...common,
      role: "primary",
      tls: {
        caCertPem: pki.caCertPem,
        serverCertPem: pki.servers[LAB_PRIMARY_SERVER_NAME].certPem,
        serverKeyPem: pki.servers[LAB_PRIMARY_SERVER_NAME].keyPem,
      },
      replication,
      access,
    });
    const replica = renderDatabaseUserData({
      ...common,
      role: "replica",
      tls: {
        caCertPem: pki.caCertPem,
        serverCertPem: pki.servers[LAB_REPLICA_SERVER_NAME].certPem,
        serverKeyPem: pki.servers[LAB_REPLICA_SERVER_NAME].keyPem,
      },
      replication: { ...replication, password: options.replicaReplicationPassword ?? replicationPassword },
      upstream: {
        hostaddr: plan.primaryAddress,
        serverName: LAB_PRIMARY_SERVER_NAME,
        port: 5432,
        waitTimeoutSeconds: plan.waitTimeoutSeconds,
      },
      access,
    });
    return {
      primary,
      replica,
      postgresVersion,
      slotName: replication.slotName,
      app,
      evaluations: [store.evaluation],
    };
  };
}
