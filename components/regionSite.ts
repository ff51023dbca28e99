import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import type { AppArtifact, HealthCheckSettings, Role } from "../config";
import { renderAppUserData } from "../provisioning/app";
import { AppTier } from "./appTier";
import { DatabaseNode } from "./database";
import { POSTGRES_PORT } from "./firewallRules";
import { resourceTags } from "./ids";
import { LoadBalancer } from "./loadBalancer";
import { SiteFirewalls } from "./siteFirewalls";

export interface AppDatabaseCredentials {
  database: string;
  user: string;
  password: string;
}

export interface RegionSiteArgs {
  role: Role;
  region: string;
  /** Prefix for account-unique labels (firewalls); derived from project and stack. */
  labelPrefix: string;
  stackName: string;
  appCount: number;
  appInstanceType: string;
  databaseInstanceType: string;
  image: string;
  appPort: number;
  healthCheck: HealthCheckSettings;
  adminCidrs: string[];
  sshPublicKeys: string[];
  protectDatabase: boolean;
  /** Rendered #cloud-config for this region's database (primary or replica role). */
  databaseCloudConfig: pulumi.Input<string>;
  appDatabase: pulumi.Input<AppDatabaseCredentials>;
  appArtifact?: AppArtifact;
  replicationPeerIpv4: pulumi.Input<string | undefined>;
}

export interface AppTimeouts {
  dbTimeoutMs: number;
  healthCacheMs: number;
}

/**
 * The C service must answer /healthz inside the NodeBalancer's check timeout even when the
 * database hangs, so its own database timeout is half the check timeout (at most 1.5 s) and it
 * serves a cached verdict for up to a second.
 */
export function appTimeoutsFor(healthCheck: HealthCheckSettings): AppTimeouts {
  return {
    dbTimeoutMs: Math.min(1500, Math.floor((healthCheck.timeoutSeconds * 1000) / 2)),
    healthCacheMs: 1000,
  };
}

/** Firewall labels: 3-32 characters of letters, digits, '-', '_' and '.'. */
export function firewallLabelPrefix(project: string, stack: string): string {
  const cleaned = `${project}-${stack}`.replace(/[^A-Za-z0-9_.-]/g, "-").replace(/^[^A-Za-z0-9]+/, "");
  return cleaned.slice(0, 28).replace(/[^A-Za-z0-9]+$/, "");
}

/** One region: its PostgreSQL Linode, app Linodes, NodeBalancer and Cloud Firewalls. */
export class RegionSite extends pulumi.ComponentResource {
  readonly database: DatabaseNode;
  readonly appTier: AppTier;
  readonly loadBalancer: LoadBalancer;
  readonly firewalls: SiteFirewalls;
  readonly rootPassword: pulumi.Output<string>;

  constructor(name: string, args: RegionSiteArgs, opts?: pulumi.ComponentResourceOptions) {
    super("linode-dr:index:RegionSite", name, {}, opts);

    // Root login is for the Lish console in an emergency; SSH itself is key-only.
    const rootPassword = new random.RandomPassword(
      `${name}-root-password`,
      { length: 32, special: true, overrideSpecial: "-_.,:+=" },
      { parent: this },
    );
    this.rootPassword = rootPassword.result;

    this.database = new DatabaseNode(
      `${name}-db`,
      {
        region: args.region,
        instanceType: args.databaseInstanceType,
        image: args.image,
        cloudConfig: args.databaseCloudConfig,
        rootPassword: this.rootPassword,
        authorizedKeys: args.sshPublicKeys,
        protect: args.protectDatabase,
        tags: resourceTags(args.stackName, args.role, "db"),
      },
      { parent: this },
    );

    const timeouts = appTimeoutsFor(args.healthCheck);
    const appCloudConfig = pulumi
      .all([this.database.privateIpv4, pulumi.output(args.appDatabase)])
      .apply(([host, credentials]) =>
        renderAppUserData({
          listenPort: args.appPort,
          region: args.region,
          database: {
            host,
            port: POSTGRES_PORT,
            name: credentials.database,
            user: credentials.user,
            password: credentials.password,
          },
          dbTimeoutMs: timeouts.dbTimeoutMs,
          healthCacheMs: timeouts.healthCacheMs,
          ...(args.appArtifact ? { artifact: args.appArtifact } : {}),
        }),
      );

    this.appTier = new AppTier(
      `${name}-app`,
      {
        region: args.region,
        count: args.appCount,
        instanceType: args.appInstanceType,
        image: args.image,
        cloudConfig: pulumi.secret(appCloudConfig),
        rootPassword: this.rootPassword,
        authorizedKeys: args.sshPublicKeys,
        tags: resourceTags(args.stackName, args.role, "app"),
      },
      { parent: this },
    );

    this.loadBalancer = new LoadBalancer(
      `${name}-lb`,
      {
        region: args.region,
        appPort: args.appPort,
        healthCheck: args.healthCheck,
        backendPrivateIpv4s: this.appTier.privateIpv4s,
        tags: resourceTags(args.stackName, args.role, "lb"),
      },
      { parent: this },
    );

    this.firewalls = new SiteFirewalls(
      `${name}-fw`,
      {
        labelPrefix: args.labelPrefix,
        appPort: args.appPort,
        adminCidrs: args.adminCidrs,
        appInstanceIds: this.appTier.instanceIds,
        appPrivateIpv4s: this.appTier.privateIpv4s,
        databaseInstanceId: this.database.instanceId,
        replicationPeerIpv4: args.replicationPeerIpv4,
        tags: resourceTags(args.stackName, args.role, "firewall"),
      },
      { parent: this },
    );

    this.registerOutputs({
      nodeBalancerIpv4: this.loadBalancer.ipv4,
      nodeBalancerIpv6: this.loadBalancer.ipv6,
      databasePublicIpv4: this.database.publicIpv4,
      databasePrivateIpv4: this.database.privateIpv4,
    });
  }
}
