import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
// The path the release links the promote script at; one definition for both.
import { PROMOTE_PATH } from "../provisioning/database";
import { pinnedConnection, type PinnedHost } from "./remoteCommand";

/** The promote script itself waits up to 60 s in pg_promote; this bounds the whole SSH session. */
export const PROMOTE_TIMEOUT_SECONDS = 180;

export interface PromotionArgs {
  /** The DR database, its pinned host key and the stack's automation key. */
  target: PinnedHost;
  /** The database's converge command (current scripts) and the firewall admitting the operator. */
  after: pulumi.Resource[];
}

/**
 * Failover step "promote the standby". Runs only while the dr stack's `failover` flag is true.
 * The script is idempotent (an already promoted database reports so and exits 0), which matters
 * because a failed create is not saved and the next `pulumi up` runs it again. There is
 * deliberately no delete command: flipping the flag back must never demote a database that may
 * hold the only copy of recent writes; failback is its own procedure.
 */
export class Promotion extends pulumi.ComponentResource {
  readonly stdout: pulumi.Output<string>;

  constructor(name: string, args: PromotionArgs, opts?: pulumi.ComponentResourceOptions) {
    super("linode-dr:index:Promotion", name, {}, opts);
    const promote = new command.remote.Command(
      `${name}-promote`,
      {
        connection: pinnedConnection(args.target),
        // remote.Command has no timeout of its own.
        create: `timeout ${PROMOTE_TIMEOUT_SECONDS} ${PROMOTE_PATH}`,
        // The script prints LSNs and timestamps only, never credentials, and operators need them
        // during a failover; the connection (private key) is secret and never logged.
        logging: "stdoutAndStderr",
      },
      { parent: this, dependsOn: args.after, additionalSecretOutputs: ["connection"] },
    );
    this.stdout = promote.stdout;
    this.registerOutputs({ stdout: this.stdout });
  }
}
