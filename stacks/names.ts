import type { Role } from "../config";

/** Identifiers both stacks and the provisioning scripts agree on. */
export const REPLICATION_USER = "replicator";
export const REPLICATION_SLOT = "dr_replica";
export const APP_DATABASE = "app";
export const APP_DATABASE_USER = "app";

/** The DNS name in a database's certificate; peers verify it (sslmode=verify-full). */
export function databaseServerName(role: Role, appName: string, domain: string): string {
  return `db-${role}.${appName}.${domain}`;
}

/** The record naming a region's own NodeBalancer, e.g. "primary.app". */
export function regionRecordName(role: Role, appName: string): string {
  return `${role}.${appName}`;
}
