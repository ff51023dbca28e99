import { renderFollowerSettings, type FollowerSettings } from "../follower/src/settings";
import { linodeApiToken } from "../validation/formats";
import { InputCheck } from "../validation/inputError";
import { FETCH_RELEASE_PATH } from "./host";

/**
 * The traffic follower's way onto the witness: its own remote command, which fetches the current
 * release and runs linode-dr-follower-install with the settings and the API token on stdin. The
 * token never goes into user data (the metadata service serves that to any local process for the
 * Linode's life) nor onto a command line.
 */

export const FOLLOWER_INSTALL_PATH = "/usr/local/sbin/linode-dr-follower-install";
/** Where the follower logs without systemd (the lab); follower-install.sh writes it, journald otherwise. */
export const FOLLOWER_LOG_PATH = "/var/log/linode-dr-follower.log";
/** Bounds each half of the command; installing nodejs on a fresh witness is the slow part. */
const FOLLOWER_TIMEOUT_SECONDS = 900;

export function followerCommandLine(releaseSha256: string): string {
  return (
    `timeout ${FOLLOWER_TIMEOUT_SECONDS} ${FETCH_RELEASE_PATH} ${releaseSha256} && ` +
    `timeout ${FOLLOWER_TIMEOUT_SECONDS} ${FOLLOWER_INSTALL_PATH}`
  );
}

export const FOLLOWER_REMOVE_COMMAND = `timeout 120 ${FOLLOWER_INSTALL_PATH} --remove`;

/** linode-dr-follower-install's stdin: the settings file and the token, each one base64 line. */
export function renderFollowerDesiredState(settings: FollowerSettings, token: string): string {
  const check = new InputCheck("FollowerDesiredState");
  check.field("token", token, linodeApiToken);
  check.throwIfAny();
  const base64 = (text: string) => Buffer.from(text).toString("base64");
  return `settings ${base64(renderFollowerSettings(settings))}\ntoken ${base64(token)}\n`;
}
