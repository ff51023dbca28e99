import type { StackConfig } from "../config";
import { firewallLabelPrefix, type RegionSiteArgs } from "../components/regionSite";

/** The RegionSite settings that come straight from config, identical for both roles. */
export type SiteSettings = Omit<
  RegionSiteArgs,
  | "appCount"
  | "databaseConfig"
  | "appDatabase"
  | "replicationPeerIpv4"
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
    ...(config.appArtifact ? { appArtifact: config.appArtifact } : {}),
  };
}
