import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { leaderCommandLine } from "../provisioning/consensus";
import { pinnedConnection, type PinnedHost } from "./remoteCommand";

export interface LeadershipArgs {
  /** The DR database: the command asks the cluster from there (it outlives region A). */
  target: PinnedHost;
  /** Where the `failover` flag says the primary is. */
  desired: "primary" | "dr";
  /** forceFailover: skip the lag guard (never the other refusals). */
  force: boolean;
  /** The database's converge command (current scripts and peers; it waits for the firewall admitting the operator). */
  after: pulumi.Resource[];
}

/** The remote.Command of a Leadership named `leadership`. */
export function leaderCommandName(leadership: string): string {
  return `${leadership}-leader`;
}

/**
 * The `failover` flag made real: a command that makes the named region's database the Patroni
 * leader, and is rerun whenever the flag changes. It does nothing when that member leads already,
 * a switchover (no acknowledged write lost) when the current leader is healthy, a failover when it
 * is not, and refuses when the member is unhealthy, never finished its initial copy, or lags
 * beyond the guard. There is no delete command: removing it must never move leadership.
 */
export class Leadership extends pulumi.ComponentResource {
  readonly stdout: pulumi.Output<string>;

  constructor(name: string, args: LeadershipArgs, opts?: pulumi.ComponentResourceOptions) {
    super("linode-dr:index:Leadership", name, {}, opts);
    const leader = new command.remote.Command(
      leaderCommandName(name),
      {
        connection: pinnedConnection(args.target),
        create: leaderCommandLine(args.desired, { force: args.force }),
        // The command prints the cluster's state and what it did, never credentials.
        logging: "stdoutAndStderr",
      },
      { parent: this, dependsOn: args.after, additionalSecretOutputs: ["connection"] },
    );
    this.stdout = leader.stdout;
    this.registerOutputs({ stdout: this.stdout });
  }
}
