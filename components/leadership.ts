import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { leaderCommandLine } from "../provisioning/consensus";
import { pinnedConnection, type PinnedHost } from "./remoteCommand";

export interface LeadershipArgs {
  /** Where the `failover` flag says the primary is. */
  desired: "primary" | "dr";
  /**
   * The database the flag names: the command runs there, so making a region lead never needs the
   * region it moves away from (that region may be the one that was lost).
   */
  target: PinnedHost;
  /**
   * automaticFailover=false only: the other database, where the same command runs once the named
   * one leads and puts Patroni's nofailover tag back on it (only the flag's member may lead).
   * Nothing waits for it: with that region lost it fails, after the records have moved.
   */
  other?: PinnedHost;
  /** forceFailover: skip the lag guard (never the other refusals). */
  force: boolean;
  /** Commands that must have run first (the members' converge: current scripts and peers). */
  after: pulumi.Resource[];
}

/** The remote.Commands of a Leadership named `leadership`. */
export function leaderCommandName(leadership: string): string {
  return `${leadership}-leader`;
}
export function otherMemberCommandName(leadership: string): string {
  return `${leadership}-other`;
}

/**
 * The `failover` flag made real: a command on the named region's database that makes it the
 * Patroni leader, rerun whenever the flag changes. It does nothing when that member leads already,
 * a switchover (no acknowledged write lost) when the current leader is healthy, a failover when it
 * is not, and refuses when the member is unhealthy, never finished its initial copy, or lags
 * beyond the guard. There is no delete command: removing it must never move leadership.
 */
export class Leadership extends pulumi.ComponentResource {
  /** The named member's command: the traffic records wait for it, and for nothing else. */
  readonly leader: command.remote.Command;
  readonly stdout: pulumi.Output<string>;

  constructor(name: string, args: LeadershipArgs, opts?: pulumi.ComponentResourceOptions) {
    super("linode-dr:index:Leadership", name, {}, opts);
    const commandLine = leaderCommandLine(args.desired, { force: args.force });
    this.leader = new command.remote.Command(
      leaderCommandName(name),
      {
        connection: pinnedConnection(args.target),
        create: commandLine,
        // The command prints the cluster's state and what it did, never credentials.
        logging: "stdoutAndStderr",
      },
      { parent: this, dependsOn: args.after, additionalSecretOutputs: ["connection"] },
    );
    if (args.other) {
      new command.remote.Command(
        otherMemberCommandName(name),
        { connection: pinnedConnection(args.other), create: commandLine, logging: "stdoutAndStderr" },
        { parent: this, dependsOn: [this.leader], additionalSecretOutputs: ["connection"] },
      );
    }
    this.stdout = this.leader.stdout;
    this.registerOutputs({ stdout: this.stdout });
  }
}
