import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { AppArtifact, HealthCheckSettings, Role } from "../config";
import type { AppUserDataInput } from "../provisioning/app";
import { convergeCommandLine, drainSecondsFor, renderDesiredState } from "../provisioning/converge";
import type { ClusterMember } from "../provisioning/consensus";
import type { ReleaseSource } from "../provisioning/host";
import { AppTier } from "./appTier";
import { DatabaseNode, type DatabaseRoleConfig } from "./database";
import { POSTGRES_PORT } from "./firewallRules";
import { authorizedKeysWith, type AutomationKey } from "./hostIdentity";
import { resourceTags } from "./ids";
import { LoadBalancer } from "./loadBalancer";
import { pinnedConnection } from "./remoteCommand";
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
  clientConnThrottle: number;
  adminCidrs: string[];
  sshPublicKeys: string[];
  /** Host key generations of every Linode of the site (hostKeys): the first is pinned. */
  hostKeys: readonly number[];
  protectDatabase: boolean;
  /** This region's database settings (primary or replica role). */
  databaseConfig: pulumi.Input<DatabaseRoleConfig>;
  appDatabase: pulumi.Input<AppDatabaseCredentials>;
  appArtifact?: AppArtifact;
  replicationPeerIpv4: pulumi.Input<string | undefined>;
  /** The names in the members' certificates: this region's database's and the other region's. */
  databaseServerNames: { own: string; peer: string };
  /** The CAs the apps verify the members' certificates with (both stacks'). */
  databaseCaPem: pulumi.Input<string>;
  /**
   * The other region's app Linodes (public IPv4s): their apps write through whichever member
   * leads, so this database admits them. Absent until the other stack is known.
   */
  peerAppIpv4s: pulumi.Input<string[] | undefined>;
  /** The witness (etcd), admitted by the database firewall once known. */
  witnessIpv4: pulumi.Input<string | undefined>;
  /** The other cluster members known by now, for the database's /etc/hosts (converge). */
  peers: pulumi.Input<ClusterMember[]>;
  /** The release every Linode of the site runs (the stack's ArtifactStore). */
  release: pulumi.Output<ReleaseSource>;
  automation: AutomationKey;
  /**
   * The primary stack's leadership key: installed on this site's database by converge (not in
   * user data, which would replace the Linode), restricted to the failover flag's command.
   */
  leadershipPublicKey?: pulumi.Input<string>;
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

export interface RegionSiteChildNames {
  database: string;
  databaseConverge: string;
  appTier: string;
  /** App Linode `index`'s converge command. */
  appConverge(index: number): string;
  firewalls: string;
  loadBalancer: string;
}

/** What a RegionSite named `site` names its components and commands. */
export function regionSiteChildNames(site: string): RegionSiteChildNames {
  return {
    database: `${site}-db`,
    databaseConverge: `${site}-db-converge`,
    appTier: `${site}-app`,
    appConverge: (index) => `${site}-app-converge-${index}`,
    firewalls: `${site}-fw`,
    loadBalancer: `${site}-lb`,
  };
}

/**
 * One region: its PostgreSQL Linode, app Linodes, NodeBalancer and Cloud Firewalls, and the
 * commands that keep the running Linodes converged (keys, release, app version) without
 * replacing them.
 */
export class RegionSite extends pulumi.ComponentResource {
  readonly database: DatabaseNode;
  readonly appTier: AppTier;
  readonly loadBalancer: LoadBalancer;
  readonly firewalls: SiteFirewalls;
  /** Runs on the database after every change of keys or release; the promotion waits for it. */
  readonly databaseConverge: command.remote.Command;
  readonly automation: AutomationKey;

  constructor(name: string, args: RegionSiteArgs, opts?: pulumi.ComponentResourceOptions) {
    super("linode-dr:index:RegionSite", name, {}, opts);
    this.automation = args.automation;
    const names = regionSiteChildNames(name);

    const authorizedKeys = authorizedKeysWith(args.automation, args.sshPublicKeys);
    const releaseSha256 = args.release.apply((r) => r.sha256);

    this.database = new DatabaseNode(
      names.database,
      {
        region: args.region,
        instanceType: args.databaseInstanceType,
        image: args.image,
        config: args.databaseConfig,
        release: args.release,
        authorizedKeys,
        protect: args.protectDatabase,
        hostKeys: args.hostKeys,
        tags: resourceTags(args.stackName, args.role, "db"),
      },
      { parent: this },
    );

    const timeouts = appTimeoutsFor(args.healthCheck);
    // This region's member first, over the private network; the other region's, once known, at its
    // public address: the apps write through whichever leads.
    const appConfig: pulumi.Output<AppUserDataInput> = pulumi.secret(
      pulumi
        .all([
          this.database.privateIpv4,
          pulumi.output(args.replicationPeerIpv4),
          pulumi.output(args.appDatabase),
          pulumi.output(args.databaseCaPem),
        ])
        .apply(([ownAddress, peerAddress, credentials, caCertPem]) => ({
          listenPort: args.appPort,
          region: args.region,
          database: {
            members: [
              { serverName: args.databaseServerNames.own, address: ownAddress },
              ...(peerAddress ? [{ serverName: args.databaseServerNames.peer, address: peerAddress }] : []),
            ],
            port: POSTGRES_PORT,
            name: credentials.database,
            user: credentials.user,
            password: credentials.password,
            caCertPem,
          },
          dbTimeoutMs: timeouts.dbTimeoutMs,
          healthCacheMs: timeouts.healthCacheMs,
          ...(args.appArtifact ? { artifact: args.appArtifact } : {}),
        })),
    );

    this.appTier = new AppTier(
      names.appTier,
      {
        region: args.region,
        count: args.appCount,
        instanceType: args.appInstanceType,
        image: args.image,
        config: appConfig,
        release: args.release,
        authorizedKeys,
        hostKeys: args.hostKeys,
        tags: resourceTags(args.stackName, args.role, "app"),
      },
      { parent: this },
    );

    this.firewalls = new SiteFirewalls(
      names.firewalls,
      {
        labelPrefix: args.labelPrefix,
        appPort: args.appPort,
        adminCidrs: args.adminCidrs,
        appInstanceIds: this.appTier.instanceIds,
        appPrivateIpv4s: this.appTier.privateIpv4s,
        databaseInstanceId: this.database.instanceId,
        replicationPeerIpv4: args.replicationPeerIpv4,
        peerAppIpv4s: args.peerAppIpv4s,
        witnessIpv4: args.witnessIpv4,
        tags: resourceTags(args.stackName, args.role, "firewall"),
      },
      { parent: this },
    );

    // Commands wait for the firewall that admits the operator: in an update that changes
    // adminCidrs, SSH would otherwise race the new rules.
    this.databaseConverge = new command.remote.Command(
      names.databaseConverge,
      {
        connection: pinnedConnection({
          host: this.database.publicIpv4,
          hostPublicKey: this.database.hostPublicKey,
          privateKey: args.automation.privateKeyOpenssh,
        }),
        create: releaseSha256.apply((sha) => convergeCommandLine("database", sha)),
        stdin: pulumi.secret(
          pulumi
            .all([
              authorizedKeys,
              pulumi.output(args.peers),
              pulumi.output(args.leadershipPublicKey),
              pulumi.output(args.databaseConfig),
              this.database.hostPrivateKeys,
            ])
            .apply(([keys, peers, leadershipKey, database, hostKeys]) =>
              renderDesiredState({
                authorizedKeys: keys,
                hostKeys,
                peers,
                tls: database.tls,
                passwords: {
                  replication: database.replication.password,
                  superuser: database.superuser.password,
                  app: database.app.password,
                  rest: database.consensus.restApi.password,
                },
                ...(leadershipKey !== undefined ? { leadershipKey } : {}),
              }),
            ),
        ),
        logging: "stdoutAndStderr",
      },
      {
        parent: this,
        dependsOn: [this.firewalls.database],
        additionalSecretOutputs: ["connection", "stdin"],
      },
    );

    // One node at a time: each node's deploy waits for the previous one, and a failure stops
    // the rollout (dependents of a failed resource are not updated).
    const drainSeconds = drainSecondsFor(args.healthCheck);
    const appConverge: command.remote.Command[] = [];
    this.appTier.hosts.forEach((host, index) => {
      appConverge.push(
        new command.remote.Command(
          names.appConverge(index),
          {
            connection: pinnedConnection({
              host: host.publicIpv4,
              hostPublicKey: host.hostPublicKey,
              privateKey: args.automation.privateKeyOpenssh,
            }),
            create: releaseSha256.apply((sha) => convergeCommandLine("app", sha)),
            stdin: pulumi.secret(
              pulumi
                .all([authorizedKeys, appConfig, host.hostPrivateKeys])
                .apply(([keys, input, hostKeys]) =>
                  renderDesiredState({ authorizedKeys: keys, hostKeys, app: { input, drainSeconds } }),
                ),
            ),
            logging: "stdoutAndStderr",
          },
          {
            parent: this,
            // After the database's: a rotated app password is the role's before an app uses it.
            dependsOn: [
              this.firewalls.app,
              ...(index > 0 ? [appConverge[index - 1]] : [this.databaseConverge]),
            ],
            additionalSecretOutputs: ["connection", "stdin"],
          },
        ),
      );
    });

    this.loadBalancer = new LoadBalancer(
      names.loadBalancer,
      {
        region: args.region,
        appPort: args.appPort,
        healthCheck: args.healthCheck,
        clientConnThrottle: args.clientConnThrottle,
        backends: this.appTier.privateIpv4s.map((privateIpv4, index) => ({
          privateIpv4,
          // A node joins only once its app has been verified healthy on the host.
          ready: appConverge[index],
        })),
        tags: resourceTags(args.stackName, args.role, "lb"),
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
