import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../config";
import { AddressRecords } from "../components/addressRecords";
import { Leadership } from "../components/leadership";
import { TrafficFollower } from "../components/trafficFollower";
import { Witness, WitnessAccess } from "../components/witness";
import { resourceTags } from "../components/ids";
import { ArtifactStore } from "../components/artifactStore";
import type { DatabaseRoleConfig } from "../components/database";
import { automationKey } from "../components/hostIdentity";
import type { PinnedHost } from "../components/remoteCommand";
import { firewallLabelPrefix, RegionSite, type AppDatabaseCredentials } from "../components/regionSite";
import { ServerCertificate } from "../components/tlsChain";
import { buildRelease } from "../provisioning/release";
import { siteSettings } from "./siteSettings";
import { clusterMembers, consensusSettings, knownPeers } from "./consensus";
import { databaseServerName, regionRecordName, witnessServerName } from "./names";
import { stackChildNames } from "./resourceNames";
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
import { caOutputs, stackCas, trustBundle } from "./certificateAuthorities";
import { followerSettings } from "./followerSettings";

export interface DrStackArgs {
  config: StackConfig;
  project: string;
  stack: string;
}

/**
 * Stack `dr`: the DR region's site with the PostgreSQL standby, the witness in the third region,
 * and the traffic controller. It owns the `<app>` records users hit and the `failover` flag, the
 * single source of truth for where the primary is; it is the side that survives region A.
 *
 * Leadership itself is decided by quorum: Patroni on both databases holds its leader lease in an
 * etcd cluster of three members (primary, dr, witness). A region cut off from the other two can
 * neither renew the lease (its primary demotes itself) nor take it; the side with two sites can.
 *
 * THE FAILOVER PATH: the `failover` flag names the primary region, and `pulumi up` converges:
 *   1. Leadership: remote.Command runs linode-dr-leader on the database the flag names (pinned
 *      host key; region A's through the primary stack's leadership key, which may run nothing
 *      else), so it never needs the region it moves away from. It does nothing when that member
 *      leads already (automatic failover may have done it), a switchover (no acknowledged write
 *      lost) when the other leader is healthy, a failover when it is not, and refuses when the
 *      named member is unhealthy, lags beyond the guard (unless forceFailover) or never completed
 *      its copy; with automaticFailover=false it then runs on the other member too (its tag);
 *   2. the traffic records follow, only after the named member's command succeeded, so traffic
 *      never reaches a database that is not the leader (and never waits on the other region);
 *   3. the DR app tier grows from standbyAppCount to appCount (or shrinks back).
 * Flipping the flag back is the same path in reverse: a switchover back once the old primary has
 * rejoined (Patroni rewinds it with pg_rewind).
 */
export class DrStack extends pulumi.ComponentResource {
  readonly outputs: Record<string, pulumi.Output<unknown>>;

  constructor(name: string, args: DrStackArgs, opts?: pulumi.ComponentResourceOptions) {
    super("linode-dr:index:DrStack", name, {}, opts);
    const { config } = args;
    const names = stackChildNames(name);
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
    // This stack's own CAs sign its members; the primary stack's key never leaves its state.
    const cas = stackCas(
      name,
      { role: "dr", domain: config.domain, generations: config.tls.authorities },
      this,
    );
    // The witness's certificate has an issuer of its own, which etcd trusts on the peer port only.
    const witnessCas = stackCas(
      name,
      { role: "witness", domain: config.domain, generations: config.tls.authorities },
      this,
    );
    // What this stack publishes and trusts: both, so every member still verifies the witness as a peer.
    const ownCertsPem = pulumi.all([cas.certsPem, witnessCas.certsPem]).apply(([db, w]) => db + w);
    const caBundle = pulumi
      .all([ownCertsPem, fromPrimary(CA_OUTPUTS.caCertsPem)])
      .apply(([own, primaryCas]) => trustBundle(own, primaryCas));
    const primaryCaGenerations = primary.requireOutput(CA_OUTPUTS.caGenerations).apply((v) => v as number[]);
    const caPrivateKeyPem = cas.signing.privateKeyPem;
    const replication = pulumi.secret(
      primary.requireOutput(PRIMARY_OUTPUTS.replication) as pulumi.Output<ReplicationCredentials>,
    );
    const clusterSecrets = pulumi.secret(
      primary.requireOutput(PRIMARY_OUTPUTS.clusterSecrets) as pulumi.Output<ClusterSecrets>,
    );
    const automation = automationKey(name, this, config.automationKeys);
    // Roles replicate physically, so the DR app tier logs in with the primary's app credentials.
    const appDatabase = pulumi.secret(
      primary.requireOutput(PRIMARY_OUTPUTS.appDatabase) as pulumi.Output<AppDatabaseCredentials>,
    );

    // The standby gets its own certificate now: once promoted, the old primary will replicate from it.
    const serverCert = new ServerCertificate(
      names.databaseCertificate,
      {
        serverName: databaseServerName("dr", config.appName, config.domain),
        caCertPem: cas.signing.certPem,
        caPrivateKeyPem,
        generation: config.tls.generation,
      },
      { parent: this },
    );

    // The dr stack's own bucket: a DR app Linode created at failover time fetches from it even
    // when the primary stack is gone or destroyed.
    const artifacts = new ArtifactStore(
      names.artifacts,
      {
        region: config.artifactRegion,
        labelPrefix: firewallLabelPrefix(args.project, args.stack),
        release: buildRelease(),
      },
      { parent: this },
    );

    // The third site first: the DR database's firewall and /etc/hosts need its address.
    const witnessCert = new ServerCertificate(
      names.witnessCertificate,
      {
        serverName: witnessServerName(config.appName, config.domain),
        caCertPem: witnessCas.signing.certPem,
        caPrivateKeyPem: witnessCas.signing.privateKeyPem,
        generation: config.tls.generation,
      },
      { parent: this },
    );
    const witnessMembers = primaryDatabaseIpv4.apply((primaryIpv4) =>
      clusterMembers(config, { primary: primaryIpv4 }),
    );
    const witness = new Witness(
      names.witness,
      {
        region: config.witnessRegion,
        instanceType: config.witnessInstanceType,
        image: config.image,
        tags: resourceTags(args.stack, "witness", "witness"),
        sshPublicKeys: config.sshPublicKeys,
        hostKeys: config.hostKeys,
        config: pulumi.secret(
          pulumi
            .all([caBundle, witnessCert.certPem, witnessCert.privateKeyPem, clusterSecrets, witnessMembers])
            .apply(([ca, certPem, keyPem, secrets, members]) => ({
              tls: { caCertPem: ca, serverCertPem: certPem, serverKeyPem: keyPem },
              consensus: consensusSettings(config, "witness", members, secrets.restApiPassword),
            })),
        ),
        release: artifacts.releaseSource,
        automation,
        protect: config.protectDatabases,
      },
      { parent: this },
    );

    // The DR database joins the cluster the primary founded: Patroni copies the data from the
    // leader (over TLS, verify-full) and keeps it streaming.
    const members = pulumi
      .all([primaryDatabaseIpv4, witness.publicIpv4])
      .apply(([primaryIpv4, witnessIpv4]) =>
        clusterMembers(config, { primary: primaryIpv4, witness: witnessIpv4 }),
      );
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
        .apply(([ca, serverCertPem, serverKeyPem, repl, app, secrets, known]) => ({
          postgresVersion: config.postgres.version,
          walKeepSize: config.postgres.walKeepSize,
          maxSlotWalKeepSize: config.postgres.maxSlotWalKeepSize,
          tls: { caCertPem: ca, serverCertPem, serverKeyPem },
          replication: repl,
          superuser: { password: secrets.superuserPassword },
          app,
          consensus: consensusSettings(config, "dr", known, secrets.restApiPassword),
        })),
    );

    const site = new RegionSite(
      names.site,
      {
        ...siteSettings(config, args.project, args.stack),
        appCount: config.failover ? config.appCount : config.standbyAppCount,
        databaseConfig,
        appDatabase,
        // Admitted now so that, after a failover, the old primary can be rewound into a standby.
        replicationPeerIpv4: primaryDatabaseIpv4,
        databaseCaPem: caBundle,
        peerAppIpv4s: primary.getOutput(SITE_OUTPUTS.appPublicIpv4s).apply(asIpv4List),
        witnessIpv4: witness.publicIpv4,
        peers: members.apply((known) => knownPeers(known, "dr")),
        release: artifacts.releaseSource,
        automation,
      },
      { parent: this },
    );

    const domainId = fromPrimary(PRIMARY_OUTPUTS.domainId);
    new AddressRecords(
      names.regionRecords,
      {
        domainId,
        recordName: regionRecordName("dr", config.appName),
        ipv4: site.loadBalancer.ipv4,
        ipv6: site.loadBalancer.ipv6,
        ttlSeconds: config.recordTtlSeconds,
      },
      { parent: this },
    );

    const witnessAccess = new WitnessAccess(
      names.witness,
      {
        witness,
        labelPrefix: firewallLabelPrefix(args.project, args.stack),
        adminCidrs: config.adminCidrs,
        tags: resourceTags(args.stack, "witness", "firewall"),
        databaseIpv4s: [primaryDatabaseIpv4, site.database.publicIpv4],
        peers: pulumi
          .all([primaryDatabaseIpv4, site.database.publicIpv4])
          .apply(([primaryIpv4, drIpv4]) =>
            knownPeers(clusterMembers(config, { primary: primaryIpv4, dr: drIpv4 }), "witness"),
          ),
        after: [site.databaseConverge],
      },
      { parent: this },
    );

    // Each database as the flag's command reaches it: its own with the stack's automation key, the
    // primary stack's through the leadership key, which may run nothing else there.
    const databases: Record<"primary" | "dr", PinnedHost> = {
      dr: {
        host: site.database.publicIpv4,
        hostPublicKey: site.database.hostPublicKey,
        privateKey: automation.privateKeyOpenssh,
      },
      primary: {
        host: primaryDatabaseIpv4,
        hostPublicKey: fromPrimary(PRIMARY_OUTPUTS.databaseHostKey),
        privateKey: pulumi.secret(fromPrimary(PRIMARY_OUTPUTS.leadershipPrivateKey)),
      },
    };
    const desired = config.failover ? "dr" : "primary";
    const leadership = new Leadership(
      names.leadership,
      {
        desired,
        target: databases[desired],
        ...(config.leadership.automatic ? {} : { other: databases[desired === "dr" ? "primary" : "dr"] }),
        force: config.leadership.force,
        // Not the database firewall itself: the converge command already waits for it when both
        // are created, and on a flip the firewall is updated to admit the new app Linode, so
        // waiting for it would hold the promotion (and the records) until that Linode exists.
        after: [site.databaseConverge, witnessAccess.converge],
      },
      { parent: this },
    );

    const traffic = new AddressRecords(
      names.traffic,
      {
        domainId,
        recordName: config.appName,
        ipv4: config.failover ? site.loadBalancer.ipv4 : fromPrimary(PRIMARY_OUTPUTS.nodeBalancerIpv4),
        ipv6: config.failover ? site.loadBalancer.ipv6 : fromPrimary(PRIMARY_OUTPUTS.nodeBalancerIpv6),
        ttlSeconds: config.recordTtlSeconds,
      },
      { parent: this, dependsOn: [leadership.leader] },
    );

    // The traffic follower, when the stack has a token for it: traffic follows the database leader
    // with nobody acting; without one, traffic moves only with the flag.
    if (config.follower.apiToken !== undefined) {
      new TrafficFollower(
        names.follower,
        {
          target: {
            host: witness.publicIpv4,
            hostPublicKey: witness.hostPublicKey,
            privateKey: automation.privateKeyOpenssh,
          },
          releaseSha256: artifacts.releaseSource.apply((r) => r.sha256),
          settings: pulumi
            .all([
              domainId,
              traffic.a.id,
              traffic.aaaa.id,
              fromPrimary(PRIMARY_OUTPUTS.nodeBalancerIpv4),
              fromPrimary(PRIMARY_OUTPUTS.nodeBalancerIpv6),
              site.loadBalancer.ipv4,
              site.loadBalancer.ipv6,
            ])
            .apply(([domain, a, aaaa, primaryIpv4, primaryIpv6, drIpv4, drIpv6]) =>
              followerSettings(config, {
                domainId: Number(domain),
                records: { a: Number(a), aaaa: Number(aaaa) },
                nodeBalancers: {
                  primary: { ipv4: primaryIpv4, ipv6: primaryIpv6 },
                  dr: { ipv4: drIpv4, ipv6: drIpv6 },
                },
              }),
            ),
          token: pulumi.secret(config.follower.apiToken),
          after: [witnessAccess.converge, traffic],
        },
        { parent: this },
      );
    }

    this.outputs = {
      role: pulumi.output("dr"),
      region: pulumi.output(config.region),
      [DR_OUTPUTS.failover]: pulumi.output(config.failover),
      trafficTarget: pulumi.output(config.failover ? "dr" : "primary"),
      trafficIpv4: traffic.a.target,
      [DR_OUTPUTS.trafficRecordId]: traffic.a.id,
      [DR_OUTPUTS.trafficDomainId]: domainId,
      [DR_OUTPUTS.nodeBalancerIpv4]: site.loadBalancer.ipv4,
      [DR_OUTPUTS.primaryNodeBalancerIpv4]: fromPrimary(PRIMARY_OUTPUTS.nodeBalancerIpv4),
      nodeBalancerIpv6: site.loadBalancer.ipv6,
      databasePublicIpv4: site.database.publicIpv4,
      [SITE_OUTPUTS.appPublicIpv4s]: pulumi.all(site.appTier.publicIpv4s),
      appCount: pulumi.output(site.appTier.hosts.length),
      [DR_OUTPUTS.witnessPublicIpv4]: witness.publicIpv4,
      leadershipLog: leadership.stdout,
      releaseSha256: artifacts.releaseSource.apply((r) => r.sha256),
      databaseHostKey: site.database.hostPublicKey,
      ...caOutputs("dr", ownCertsPem, config.tls.authorities, primaryCaGenerations),
      [KEY_OUTPUTS.authorizedAutomationKeys]: pulumi.output([...config.automationKeys]),
      [KEY_OUTPUTS.servedHostKeys]: pulumi.output([...config.hostKeys]),
    };
    this.registerOutputs(this.outputs);
  }
}
