import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { FollowerSettings } from "../follower/src/settings";
import {
  FOLLOWER_REMOVE_COMMAND,
  followerCommandLine,
  renderFollowerDesiredState,
} from "../provisioning/follower";
import { pinnedConnection, type PinnedHost } from "./remoteCommand";

export interface TrafficFollowerArgs {
  /** The witness: it sees both regions and the quorum from the third site. */
  target: PinnedHost;
  releaseSha256: pulumi.Input<string>;
  settings: pulumi.Input<FollowerSettings>;
  /** The Linode API token with the domains:read_write scope only (secret). */
  token: pulumi.Input<string>;
  /** The witness's converge command (first boot done, current release) and the traffic records it moves. */
  after: pulumi.Resource[];
}

/** The remote.Command of a TrafficFollower named `follower`. */
export function followerCommandName(follower: string): string {
  return `${follower}-install`;
}

/**
 * The traffic follower on the witness: it points the traffic records at the region whose database
 * leads, through the Linode API, with nobody acting (follower/). Installed, updated and restarted
 * by its own remote command whenever its settings, token or the release change; removed by the
 * command's delete when the token is taken out of the config.
 */
export class TrafficFollower extends pulumi.ComponentResource {
  readonly stdout: pulumi.Output<string>;

  constructor(name: string, args: TrafficFollowerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("linode-dr:index:TrafficFollower", name, {}, opts);
    const install = new command.remote.Command(
      followerCommandName(name),
      {
        connection: pinnedConnection(args.target),
        create: pulumi.output(args.releaseSha256).apply(followerCommandLine),
        delete: FOLLOWER_REMOVE_COMMAND,
        stdin: pulumi.secret(
          pulumi
            .all([args.settings, args.token])
            .apply(([settings, token]) => renderFollowerDesiredState(settings, token)),
        ),
        // The installer logs what it did, never the token (which only ever sits in its 0600 file).
        logging: "stdoutAndStderr",
      },
      { parent: this, dependsOn: args.after, additionalSecretOutputs: ["connection", "stdin"] },
    );
    this.stdout = install.stdout;
    this.registerOutputs({ stdout: this.stdout });
  }
}
