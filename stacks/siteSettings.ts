import type { StackConfig } from "../config";
import { firewallLabelPrefix, type RegionSiteArgs } from "../components/regionSite";
import { databaseServerName } from "./names";

/** The RegionSite settings that come straight from config, identical for both roles. */
export type SiteSettings = Omit<
  RegionSiteArgs,
  | "appCount"
  | "databaseConfig"
  | "appDatabase"
  | "replicationPeerIpv4"
  | "databaseCaPem"
  | "peerAppIpv4s"
  | "witnessIpv4"
  | "peers"
  | "release"
  | "automation"
>;

export function siteSettings(config: StackConfig, project: string, stack: string): SiteSettings {
  return {
    role: config.role,
    region: config.region,
    labelPrefix: firewallLabelPrefix(project, stack),
    stackName: stack,
    appInstanceType: config.appInstanceType,
    databaseInstanceType: config.databaseInstanceType,
    image: config.image,
    appPort: config.appPort,
    healthCheck: config.healthCheck,
    clientConnThrottle: config.clientConnThrottle,
    adminCidrs: config.adminCidrs,
    sshPublicKeys: config.sshPublicKeys,
    hostKeys: config.hostKeys,
    protectDatabase: config.protectDatabases,
    databaseServerNames: {
      own: databaseServerName(config.role, config.appName, config.domain),
      peer: databaseServerName(config.role === "primary" ? "dr" : "primary", config.appName, config.domain),
    },
    ...(config.appArtifact ? { appArtifact: config.appArtifact } : {}),
  };
}
