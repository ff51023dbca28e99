import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import type { StackConfig } from "../config";
import { AddressRecords } from "../components/addressRecords";
import { DnsZone } from "../components/dnsZone";
import { resourceTags } from "../components/ids";
import { ArtifactStore } from "../components/artifactStore";
import type { DatabaseRoleConfig } from "../components/database";
import { automationKey, leadershipKey } from "../components/hostIdentity";
import { firewallLabelPrefix, RegionSite, type AppDatabaseCredentials } from "../components/regionSite";
import { ServerCertificate } from "../components/tlsChain";
import { caOutputs, stackCas, trustBundle } from "./certificateAuthorities";
import { buildRelease } from "../provisioning/release";
import {
  APP_DATABASE,
  APP_DATABASE_USER,
  databaseServerName,
  regionRecordName,
  REPLICATION_USER,
} from "./names";
import { clusterMembers, consensusSettings, knownPeers } from "./consensus";
import {
  KEY_OUTPUTS,
  CA_OUTPUTS,
  DR_OUTPUTS,
  PRIMARY_OUTPUTS,
  SITE_OUTPUTS,
  asIpv4List,
  type ClusterSecrets,
  type ReplicationCredentials,
} from "./outputs";
import { stackChildNames } from "./resourceNames";
import { siteSettings } from "./siteSettings";

export interface PrimaryStackArgs {
  config: StackConfig;
  project: string;
  stack: string;
}

/**
 * Stack `primary`: the primary region's site with the PostgreSQL primary, the DNS zone and the
 * region's own record. It never touches the traffic records: the dr stack owns those, because it
 * is the side that survives a disaster.
 */
export class PrimaryStack extends pulumi.ComponentResource {
  readonly outputs: Record<string, pulumi.Output<unknown>>;

  constructor(name: string, args: PrimaryStackArgs, opts?: pulumi.ComponentResourceOptions) {
    super("linode-dr:index:PrimaryStack", name, {}, opts);
    const { config } = args;
    const names = stackChildNames(name);

    const zone = new DnsZone(
      `${name}-zone`,
      { domain: config.domain, soaEmail: config.soaEmail, tags: resourceTags(args.stack, "primary", "dns") },
      { parent: this },
    );

    const cas = stackCas(
      name,
      { role: "primary", domain: config.domain, generations: config.tls.authorities },
      this,
    );
    const serverName = databaseServerName("primary", config.appName, config.domain);
    const serverCert = new ServerCertificate(
      names.databaseCertificate,
      {
        serverName,
        caCertPem: cas.signing.certPem,
        caPrivateKeyPem: cas.signing.privateKeyPem,
        generation: config.tls.generation,
      },
      { parent: this },
    );

    // Alphanumeric only: these go into libpq conninfo strings and SQL literals. A new generation
    // (passwordGeneration) replaces them, and the converge commands rotate them in place on the
    // running Linodes (linode-dr-secret-install: the leader first, then each member and app), so a
    // replacement is a rotation, not a lock-out: they are not protected.
    const keepers = { generation: String(config.passwordGeneration) };
    const clusterPassword = (suffix: string) =>
      new random.RandomPassword(
        `${name}-${suffix}`,
        { length: 40, special: false, keepers },
        { parent: this },
      );
    const replicationPassword = clusterPassword("replication-password");
    const appPassword = clusterPassword("app-db-password");
    const superuserPassword = clusterPassword("superuser-password");
    const restApiPassword = clusterPassword("rest-api-password");

    const replication: pulumi.Output<ReplicationCredentials> = pulumi.secret(
      pulumi.all([replicationPassword.result]).apply(([password]) => ({ user: REPLICATION_USER, password })),
    );
    const clusterSecrets: pulumi.Output<ClusterSecrets> = pulumi.secret(
      pulumi
        .all([superuserPassword.result, restApiPassword.result])
        .apply(([superuser, restApi]) => ({ superuserPassword: superuser, restApiPassword: restApi })),
    );
    const appDatabase: pulumi.Output<AppDatabaseCredentials> = pulumi.secret(
      appPassword.result.apply((password) => ({ database: APP_DATABASE, user: APP_DATABASE_USER, password })),
    );

    // Pulumi cannot reference a stack that does not exist yet (the reference fails the whole
    // update), so the dr stack is read only once `drStack` is set: see the README bring-up order.
    const drRef = config.drStack
      ? new pulumi.StackReference(`${name}-dr-ref`, { name: config.drStack }, { parent: this })
      : undefined;
    const fromDr = (key: string): pulumi.Output<string | undefined> =>
      drRef ? drRef.requireOutput(key).apply((v) => String(v)) : pulumi.output(undefined);
    const drDatabasePublicIpv4 = fromDr(DR_OUTPUTS.databasePublicIpv4);
    // The members trust the dr stack's CAs once it is read (bring-up step 3 admits its members).
    const drCaCertsPem = drRef
      ? drRef.getOutput(CA_OUTPUTS.caCertsPem).apply((v) => (v === undefined ? undefined : String(v)))
      : pulumi.output(undefined);
    const caBundle = pulumi.all([cas.certsPem, drCaCertsPem]).apply(([own, dr]) => trustBundle(own, dr));
    const drCaGenerations: pulumi.Output<number[]> = drRef
      ? drRef.getOutput(CA_OUTPUTS.caGenerations).apply((v) => (Array.isArray(v) ? (v as number[]) : []))
      : pulumi.output([]);
    const witnessPublicIpv4 = fromDr(DR_OUTPUTS.witnessPublicIpv4);
    const members = pulumi
      .all([drDatabasePublicIpv4, witnessPublicIpv4])
      .apply(([dr, witness]) => clusterMembers(config, { dr, witness }));

    // This database founds both the etcd cluster and the PostgreSQL cluster; the dr stack's
    // members join it. Its user data is first-boot only: members that exist later reach its
    // /etc/hosts through the converge command (peers).
    const databaseConfig: pulumi.Output<DatabaseRoleConfig> = pulumi.secret(
      pulumi
        .all([
          caBundle,
          serverCert.certPem,
          serverCert.privateKeyPem,
          replication,
          appDatabase,
          clusterSecrets,
          members,
        ])
        .apply(([caCertPem, serverCertPem, serverKeyPem, repl, app, secrets, known]) => ({
          postgresVersion: config.postgres.version,
          walKeepSize: config.postgres.walKeepSize,
          maxSlotWalKeepSize: config.postgres.maxSlotWalKeepSize,
          tls: { caCertPem, serverCertPem, serverKeyPem },
          replication: repl,
          superuser: { password: secrets.superuserPassword },
          app,
          consensus: consensusSettings(config, "primary", known, secrets.restApiPassword),
        })),
    );

    const artifacts = new ArtifactStore(
      names.artifacts,
      {
        region: config.artifactRegion,
        labelPrefix: firewallLabelPrefix(args.project, args.stack),
        release: buildRelease(),
      },
      { parent: this },
    );

    // The dr stack's way onto this database for the failover flag's command (and nothing else).
    const leadership = leadershipKey(name, this);
    const automation = automationKey(name, this, config.automationKeys);
    const site = new RegionSite(
      names.site,
      {
        ...siteSettings(config, args.project, args.stack),
        appCount: config.appCount,
        databaseConfig,
        appDatabase,
        replicationPeerIpv4: drDatabasePublicIpv4,
        databaseCaPem: caBundle,
        peerAppIpv4s: drRef
          ? drRef.getOutput(SITE_OUTPUTS.appPublicIpv4s).apply(asIpv4List)
          : pulumi.output(undefined),
        witnessIpv4: witnessPublicIpv4,
        peers: members.apply((known) => knownPeers(known, "primary")),
        release: artifacts.releaseSource,
        automation,
        leadershipPublicKey: leadership.publicKeyOpenssh,
      },
      { parent: this },
    );

    new AddressRecords(
      names.regionRecords,
      {
        domainId: zone.domainId,
        recordName: regionRecordName("primary", config.appName),
        ipv4: site.loadBalancer.ipv4,
        ipv6: site.loadBalancer.ipv6,
        ttlSeconds: config.recordTtlSeconds,
      },
      { parent: this },
    );

    this.outputs = {
      role: pulumi.output("primary"),
      region: pulumi.output(config.region),
      [PRIMARY_OUTPUTS.domainId]: zone.domainId,
      [PRIMARY_OUTPUTS.nodeBalancerIpv4]: site.loadBalancer.ipv4,
      [PRIMARY_OUTPUTS.nodeBalancerIpv6]: site.loadBalancer.ipv6,
      [PRIMARY_OUTPUTS.databasePublicIpv4]: site.database.publicIpv4,
      [SITE_OUTPUTS.appPublicIpv4s]: pulumi.all(site.appTier.publicIpv4s),
      [PRIMARY_OUTPUTS.databaseServerName]: pulumi.output(serverName),
      ...caOutputs("primary", cas.certsPem, config.tls.authorities, drCaGenerations),
      [PRIMARY_OUTPUTS.replication]: replication,
      [PRIMARY_OUTPUTS.appDatabase]: appDatabase,
      [PRIMARY_OUTPUTS.clusterSecrets]: clusterSecrets,
      replicationPeerIpv4: drDatabasePublicIpv4.apply(
        (v) => v ?? "not admitted yet: set drStack and run up again",
      ),
      witnessIpv4: witnessPublicIpv4.apply((v) => v ?? "not admitted yet: set drStack and run up again"),
      releaseSha256: artifacts.releaseSource.apply((r) => r.sha256),
      [PRIMARY_OUTPUTS.databaseHostKey]: site.database.hostPublicKey,
      [PRIMARY_OUTPUTS.leadershipPrivateKey]: leadership.privateKeyOpenssh,
      [PRIMARY_OUTPUTS.drStack]: pulumi.output(config.drStack ?? ""),
      [KEY_OUTPUTS.authorizedAutomationKeys]: pulumi.output([...config.automationKeys]),
      [KEY_OUTPUTS.servedHostKeys]: pulumi.output([...config.hostKeys]),
    };
    this.registerOutputs(this.outputs);
  }
}
