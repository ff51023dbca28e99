import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../config";
import { AddressRecords } from "../components/addressRecords";
import { Promotion } from "../components/promotion";
import { ArtifactStore } from "../components/artifactStore";
import type { DatabaseRoleConfig } from "../components/database";
import { automationKey } from "../components/hostIdentity";
import { firewallLabelPrefix, RegionSite, type AppDatabaseCredentials } from "../components/regionSite";
import { ServerCertificate } from "../components/tlsChain";
import { POSTGRES_PORT } from "../components/firewallRules";
import { buildRelease } from "../provisioning/release";
import { siteSettings } from "./siteSettings";
import { databaseServerName, regionRecordName } from "./names";
import { PRIMARY_OUTPUTS, type ReplicationCredentials } from "./outputs";

export interface DrStackArgs {
  config: StackConfig;
  project: string;
  stack: string;
}

/**
 * Stack `dr`: the DR region's site with the PostgreSQL hot standby, and the traffic controller.
 * It owns the `<app>` records users hit and the `failover` flag, the single source of truth for
 * where traffic goes.
 *
 * THE FAILOVER PATH (failover=true), in order:
 *   1. Promotion: remote.Command runs linode-dr-promote on the DR database (idempotent), over
 *      SSH with the stack's automation key and the database's pinned host key;
 *   2. the traffic records move to the DR NodeBalancer, only after the promotion succeeded, so
 *      traffic never reaches a read-only database;
 *   3. the DR app tier grows from standbyAppCount to appCount.
 * Setting the flag back to false points traffic at the primary again and shrinks the DR tier, but
 * demotes nothing: failback (pg_rewind the old primary into a standby, then a planned switchover)
 * is a procedure of its own.
 */
export class DrStack extends pulumi.ComponentResource {
  readonly outputs: Record<string, pulumi.Output<unknown>>;

  constructor(name: string, args: DrStackArgs, opts?: pulumi.ComponentResourceOptions) {
    super("linode-dr:index:DrStack", name, {}, opts);
    const { config } = args;
    if (!config.primaryStack) {
      throw new Error("DrStack needs config.primaryStack (validated by parseConfig)");
    }

    const primary = new pulumi.StackReference(
      `${name}-primary-ref`,
      { name: config.primaryStack },
      { parent: this },
    );
    const fromPrimary = (key: string): pulumi.Output<string> =>
      primary.requireOutput(key).apply((v) => String(v));
    const primaryDatabaseIpv4 = fromPrimary(PRIMARY_OUTPUTS.databasePublicIpv4);
    const primaryServerName = fromPrimary(PRIMARY_OUTPUTS.databaseServerName);
    const caCertPem = fromPrimary(PRIMARY_OUTPUTS.caCertPem);
    const caPrivateKeyPem = pulumi.secret(fromPrimary(PRIMARY_OUTPUTS.caPrivateKeyPem));
    const replication = pulumi.secret(
      primary.requireOutput(PRIMARY_OUTPUTS.replication) as pulumi.Output<ReplicationCredentials>,
    );
    // Roles replicate physically, so the DR app tier logs in with the primary's app credentials.
    const appDatabase = pulumi.secret(
      primary.requireOutput(PRIMARY_OUTPUTS.appDatabase) as pulumi.Output<AppDatabaseCredentials>,
    );

    // The standby gets its own certificate now: once promoted, the old primary will replicate from it.
    const serverCert = new ServerCertificate(
      `${name}-db-cert`,
      { serverName: databaseServerName("dr", config.appName, config.domain), caCertPem, caPrivateKeyPem },
      { parent: this },
    );

    const databaseConfig: pulumi.Output<DatabaseRoleConfig> = pulumi.secret(
      pulumi
        .all([
          caCertPem,
          serverCert.certPem,
          serverCert.privateKeyPem,
          replication,
          appDatabase,
          primaryDatabaseIpv4,
          primaryServerName,
        ])
        .apply(([ca, serverCertPem, serverKeyPem, repl, app, hostaddr, serverName]) => ({
          role: "replica" as const,
          postgresVersion: config.postgres.version,
          walKeepSize: config.postgres.walKeepSize,
          maxSlotWalKeepSize: config.postgres.maxSlotWalKeepSize,
          tls: { caCertPem: ca, serverCertPem, serverKeyPem },
          replication: repl,
          // The role itself arrives by replication; the standby needs the app's pg_hba line so
          // that its own app tier can log in the moment it is promoted.
          app,
          upstream: {
            hostaddr,
            serverName,
            port: POSTGRES_PORT,
            waitTimeoutSeconds: config.postgres.replicaWaitTimeoutSeconds,
          },
        })),
    );

    // The dr stack's own bucket: a DR app Linode created at failover time fetches from it even
    // when the primary stack is gone or destroyed.
    const artifacts = new ArtifactStore(
      `${name}-artifacts`,
      {
        region: config.artifactRegion,
        labelPrefix: firewallLabelPrefix(args.project, args.stack),
        release: buildRelease(),
      },
      { parent: this },
    );

    const site = new RegionSite(
      `${name}-site`,
      {
        ...siteSettings(config, args.project, args.stack),
        appCount: config.failover ? config.appCount : config.standbyAppCount,
        databaseConfig,
        appDatabase,
        // Admitted now so that, after a failover, the old primary can be rewound into a standby.
        replicationPeerIpv4: primaryDatabaseIpv4,
        release: artifacts.releaseSource,
        automation: automationKey(name, this),
      },
      { parent: this },
    );

    const domainId = fromPrimary(PRIMARY_OUTPUTS.domainId);
    new AddressRecords(
      `${name}-region-records`,
      {
        domainId,
        recordName: regionRecordName("dr", config.appName),
        ipv4: site.loadBalancer.ipv4,
        ipv6: site.loadBalancer.ipv6,
        ttlSeconds: config.recordTtlSeconds,
      },
      { parent: this },
    );

    const promotion = config.failover
      ? new Promotion(
          `${name}-promotion`,
          {
            target: {
              host: site.database.publicIpv4,
              hostPublicKey: site.database.hostPublicKey,
              privateKey: site.automation.privateKeyOpenssh,
            },
            after: [site.databaseConverge, site.firewalls.database],
          },
          { parent: this },
        )
      : undefined;

    const traffic = new AddressRecords(
      `${name}-traffic`,
      {
        domainId,
        recordName: config.appName,
        ipv4: config.failover ? site.loadBalancer.ipv4 : fromPrimary(PRIMARY_OUTPUTS.nodeBalancerIpv4),
        ipv6: config.failover ? site.loadBalancer.ipv6 : fromPrimary(PRIMARY_OUTPUTS.nodeBalancerIpv6),
        ttlSeconds: config.recordTtlSeconds,
      },
      { parent: this, ...(promotion ? { dependsOn: [promotion] } : {}) },
    );

    this.outputs = {
      role: pulumi.output("dr"),
      region: pulumi.output(config.region),
      failover: pulumi.output(config.failover),
      trafficTarget: pulumi.output(config.failover ? "dr" : "primary"),
      trafficIpv4: traffic.a.target,
      nodeBalancerIpv4: site.loadBalancer.ipv4,
      nodeBalancerIpv6: site.loadBalancer.ipv6,
      databasePublicIpv4: site.database.publicIpv4,
      appCount: pulumi.output(site.appTier.hosts.length),
      ...(promotion ? { promotionLog: promotion.stdout } : {}),
      releaseSha256: artifacts.releaseSource.apply((r) => r.sha256),
      databaseHostKey: site.database.hostPublicKey,
    };
    this.registerOutputs(this.outputs);
  }
}
