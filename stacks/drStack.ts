import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../config";
import { AddressRecords } from "../components/addressRecords";
import { Promotion } from "../components/promotion";
import { RegionSite, type AppDatabaseCredentials } from "../components/regionSite";
import { ServerCertificate } from "../components/tlsChain";
import { POSTGRES_PORT } from "../components/firewallRules";
import { renderDatabaseUserData } from "../provisioning/database";
import { siteSettings } from "./siteSettings";
import { databaseServerName, regionRecordName } from "./names";
import { PRIMARY_OUTPUTS, type ReplicationCredentials } from "./outputs";

export interface DrStackArgs {
  config: StackConfig;
  project: string;
  stack: string;
  /** Used by the failover promotion only; required when config.failover is true. */
  sshPrivateKey?: pulumi.Input<string>;
}

/**
 * Stack `dr`: the DR region's site with the PostgreSQL hot standby, and the traffic controller.
 * It owns the `<app>` records users hit and the `failover` flag, the single source of truth for
 * where traffic goes.
 *
 * THE FAILOVER PATH (failover=true), in order:
 *   1. Promotion: remote.Command runs linode-dr-promote on the DR database (idempotent);
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
    if (config.failover && args.sshPrivateKey === undefined) {
      throw new Error("failover=true needs the sshPrivateKey secret to run the promotion");
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

    const databaseCloudConfig = pulumi.secret(
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
        .apply(([ca, serverCertPem, serverKeyPem, repl, app, hostaddr, serverName]) =>
          renderDatabaseUserData({
            role: "replica",
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
          }),
        ),
    );

    const site = new RegionSite(
      `${name}-site`,
      {
        ...siteSettings(config, args.project, args.stack),
        appCount: config.failover ? config.appCount : config.standbyAppCount,
        databaseCloudConfig,
        appDatabase,
        // Admitted now so that, after a failover, the old primary can be rewound into a standby.
        replicationPeerIpv4: primaryDatabaseIpv4,
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
          { host: site.database.publicIpv4, sshPrivateKey: args.sshPrivateKey as pulumi.Input<string> },
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
      appCount: pulumi.output(site.appTier.instances.length),
      ...(promotion ? { promotionLog: promotion.stdout } : {}),
      rootPassword: pulumi.secret(site.rootPassword),
    };
    this.registerOutputs(this.outputs);
  }
}
