import * as command from "@pulumi/command";
import * as linode from "@pulumi/linode";
import * as pulumi from "@pulumi/pulumi";
import { convergeCommandLine, renderDesiredState } from "../provisioning/converge";
import type { ClusterMember } from "../provisioning/consensus";
import type { ReleaseSource } from "../provisioning/host";
import type { ServerTls } from "../provisioning/serverTls";
import { renderWitnessUserData, type WitnessUserDataInput } from "../provisioning/witness";
import { DATABASE_IGNORED_INPUTS } from "./database";
import { witnessFirewallRules } from "./firewallRules";
import {
  authorizedKeysWith,
  hostIdentity,
  hostPrivateKeys,
  hostUserData,
  pinnedHostPublicKey,
  type AutomationKey,
} from "./hostIdentity";
import { publicIpv4Of, toLinodeId } from "./ids";
import { LINODE_SECRET_OUTPUTS, linodeInstanceArgs } from "./linodeInstance";
import { pinnedConnection } from "./remoteCommand";

/** The witness's etcd settings; the release and SSH access are added here. */
export type WitnessRoleConfig = Omit<WitnessUserDataInput, "release" | "access">;

export interface WitnessArgs {
  region: string;
  instanceType: string;
  image: string;
  tags: string[];
  sshPublicKeys: string[];
  config: pulumi.Input<WitnessRoleConfig>;
  release: pulumi.Output<ReleaseSource>;
  automation: AutomationKey;
  /** Host key generations (hostKeys): the first is pinned, all are installed. */
  hostKeys: readonly number[];
  /** Deleting or replacing the witness takes away the third vote; protected like the databases. */
  protect: boolean;
}

/** The Linode of a Witness named `witness` (its host key and password: hostIdentityChildNames(witness)). */
export function witnessInstanceName(witness: string): string {
  return `${witness}-linode`;
}

/**
 * The third site: a small Linode in a region of its own running one etcd member and nothing that
 * needs a database. With it, the two database regions are two of three votes: the side that keeps
 * two sites keeps the leader lease, and a region cut off alone fences itself. Declared by the dr
 * stack, so its state survives the loss of region A. Like a database, it is never replaced for a
 * routine change (its etcd data is a member's identity).
 */
export class Witness extends pulumi.ComponentResource {
  readonly instance: linode.Instance;
  readonly publicIpv4: pulumi.Output<string>;
  readonly hostPublicKey: pulumi.Output<string>;
  /** Every listed host key's private half, for converge (secret). */
  readonly hostPrivateKeys: pulumi.Output<string[]>;
  readonly authorizedKeys: pulumi.Output<string[]>;
  readonly release: pulumi.Output<ReleaseSource>;
  readonly automation: AutomationKey;
  /** Its TLS identity as the program last issued it (secret): converge keeps the host's current. */
  readonly tls: pulumi.Output<ServerTls>;

  constructor(name: string, args: WitnessArgs, opts?: pulumi.ComponentResourceOptions) {
    super("linode-dr:index:Witness", name, {}, opts);

    const identity = hostIdentity(name, this, args.hostKeys);
    const authorizedKeys = authorizedKeysWith(args.automation, args.sshPublicKeys);
    const cloudConfig = hostUserData(
      identity,
      { config: args.config, release: args.release, authorizedKeys },
      (config, host) => renderWitnessUserData({ ...config, ...host }),
    );
    this.instance = new linode.Instance(
      witnessInstanceName(name),
      linodeInstanceArgs({
        region: args.region,
        instanceType: args.instanceType,
        image: args.image,
        cloudConfig,
        rootPassword: identity.rootPassword.result,
        tags: args.tags,
      }),
      {
        parent: this,
        protect: args.protect,
        additionalSecretOutputs: LINODE_SECRET_OUTPUTS,
        ignoreChanges: [...DATABASE_IGNORED_INPUTS],
      },
    );
    this.publicIpv4 = publicIpv4Of(this.instance.ipv4s);
    this.hostPublicKey = pinnedHostPublicKey(identity);
    this.hostPrivateKeys = hostPrivateKeys(identity);
    this.authorizedKeys = authorizedKeys;
    this.release = args.release;
    this.automation = args.automation;
    this.tls = pulumi.secret(pulumi.output(args.config).apply((c) => c.tls));
    this.registerOutputs({ publicIpv4: this.publicIpv4, hostPublicKey: this.hostPublicKey });
  }
}

export interface WitnessAccessArgs {
  witness: Witness;
  labelPrefix: string;
  adminCidrs: string[];
  tags: string[];
  /** Both databases' public IPv4s as far as known: the only etcd clients and peers it admits. */
  databaseIpv4s: pulumi.Input<string | undefined>[];
  /** Members known by now, for its /etc/hosts (converge). */
  peers: pulumi.Input<ClusterMember[]>;
  /**
   * Converge commands of the same stack's other members, run first: a new CA bundle restarts each
   * member's etcd, and two members restarting at once would lose the quorum.
   */
  after?: pulumi.Resource[];
}

/** What a WitnessAccess named `access` names its firewall and converge command. */
export function witnessAccessChildNames(access: string): { firewall: string; converge: string } {
  return { firewall: `${access}-fw`, converge: `${access}-converge` };
}

/**
 * The witness's Cloud Firewall and converge command. Separate from the Linode because they need
 * the DR database's address, while the DR database's own firewall needs the witness's: the Linodes
 * come first, then what admits them to each other.
 */
export class WitnessAccess extends pulumi.ComponentResource {
  readonly firewall: linode.Firewall;
  readonly converge: command.remote.Command;

  constructor(name: string, args: WitnessAccessArgs, opts?: pulumi.ComponentResourceOptions) {
    super("linode-dr:index:WitnessAccess", name, {}, opts);
    const { witness } = args;
    const names = witnessAccessChildNames(name);

    this.firewall = new linode.Firewall(
      names.firewall,
      {
        label: `${args.labelPrefix}-witness`,
        inboundPolicy: "DROP",
        outboundPolicy: "ACCEPT",
        inbounds: pulumi.all(args.databaseIpv4s).apply((ipv4s) =>
          witnessFirewallRules({
            adminCidrs: args.adminCidrs,
            databaseIpv4s: ipv4s.filter((a): a is string => Boolean(a)),
          }),
        ),
        linodes: [toLinodeId(witness.instance.id)],
        tags: args.tags,
      },
      { parent: this },
    );

    this.converge = new command.remote.Command(
      names.converge,
      {
        connection: pinnedConnection({
          host: witness.publicIpv4,
          hostPublicKey: witness.hostPublicKey,
          privateKey: witness.automation.privateKeyOpenssh,
        }),
        create: witness.release.apply((r) => convergeCommandLine("witness", r.sha256)),
        stdin: pulumi.secret(
          pulumi
            .all([witness.authorizedKeys, pulumi.output(args.peers), witness.tls, witness.hostPrivateKeys])
            .apply(([keys, peers, tls, hostKeys]) =>
              renderDesiredState({ authorizedKeys: keys, hostKeys, peers, tls }),
            ),
        ),
        logging: "stdoutAndStderr",
      },
      {
        parent: this,
        dependsOn: [this.firewall, ...(args.after ?? [])],
        additionalSecretOutputs: ["connection", "stdin"],
      },
    );
    this.registerOutputs({ firewallId: this.firewall.id });
  }
}
