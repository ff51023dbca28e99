import type { Role } from "../config";

/** Identifiers both stacks and the provisioning scripts agree on. */
export const REPLICATION_USER = "replicator";
export const APP_DATABASE = "app";
export const APP_DATABASE_USER = "app";

/** The DNS name in a database's certificate; peers verify it (sslmode=verify-full). */
export function databaseServerName(role: Role, appName: string, domain: string): string {
  return `db-${role}.${appName}.${domain}`;
}

/** The witness's name in its certificate; etcd peers verify it. */
export function witnessServerName(appName: string, domain: string): string {
  return `witness.${appName}.${domain}`;
}

/** Patroni's scope and etcd's cluster token: one cluster per app. */
export function clusterScope(appName: string): string {
  return `linode-dr-${appName}`;
}

/** The user Patroni's REST API admits (basic auth, over TLS). */
export const PATRONI_REST_USER = "linode-dr";

/** The record naming a region's own NodeBalancer, e.g. "primary.app". */
export function regionRecordName(role: Role, appName: string): string {
  return `${role}.${appName}`;
}
