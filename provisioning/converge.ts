import { renderAppArtifactEnv, renderAppEnv, validateAppInput, type AppUserDataInput } from "./app";
import { isIPv4 } from "node:net";
import { DNS_NAME, MEMBER_NAMES, type ClusterMember } from "./consensus";
import { CONVERGE_PATH, FETCH_RELEASE_PATH, SSH_PUBLIC_KEY } from "./host";

/**
 * The day-2 path of every Linode: a remote command (pinned host key) that fetches the current
 * release and runs linode-dr-converge with the desired state on stdin. User data is first-boot
 * only, so this is how a running Linode gets new keys, scripts, app versions and configuration
 * without being replaced.
 */

/** Bounds the whole SSH session; first boot alone may take many minutes on a new Linode. */
export const CONVERGE_TIMEOUT_SECONDS = 3600;

export type ConvergeRole = "database" | "app" | "witness";

export function convergeCommandLine(role: ConvergeRole, releaseSha256: string): string {
  if (!/^[0-9a-f]{64}$/.test(releaseSha256)) {
    throw new Error(`release sha256 must be 64 lower-case hex characters; received "${releaseSha256}"`);
  }
  return (
    `timeout ${CONVERGE_TIMEOUT_SECONDS} ${FETCH_RELEASE_PATH} ${releaseSha256} && ` +
    `timeout ${CONVERGE_TIMEOUT_SECONDS} ${CONVERGE_PATH} ${role}`
  );
}

export interface DesiredState {
  authorizedKeys: string[];
  app?: { input: AppUserDataInput; drainSeconds: number };
  /**
   * Database and witness hosts: the cluster members' current addresses, kept in the managed
   * /etc/hosts block that resolves their certificate names. Members without an ipv4 are skipped.
   */
  peers?: ClusterMember[];
}

/** linode-dr-converge's stdin: one item per line (see scripts/converge.sh). */
export function renderDesiredState(state: DesiredState): string {
  if (state.authorizedKeys.length === 0) {
    throw new Error("DesiredState.authorizedKeys: received an empty list; expected at least one key");
  }
  const lines = state.authorizedKeys.map((key) => {
    if (!SSH_PUBLIC_KEY.test(key)) {
      throw new Error(
        `DesiredState.authorizedKeys: received "${key.slice(0, 40)}"; expected OpenSSH public key lines`,
      );
    }
    return `authorized_key ${key}`;
  });
  if (state.app) {
    const input = validateAppInput(state.app.input);
    const drain = state.app.drainSeconds;
    if (!Number.isInteger(drain) || drain < 0 || drain > 9999) {
      throw new Error(`DesiredState.app.drainSeconds: received ${drain}; expected an integer from 0 to 9999`);
    }
    lines.push(`app_env ${Buffer.from(renderAppEnv(input)).toString("base64")}`);
    if (input.artifact) {
      lines.push(`app_artifact ${Buffer.from(renderAppArtifactEnv(input.artifact)).toString("base64")}`);
    }
    lines.push(`drain_seconds ${drain}`);
  }
  for (const [i, peer] of (state.peers ?? []).entries()) {
    if (!MEMBER_NAMES.includes(peer.name))
      throw new Error(
        `DesiredState.peers[${i}].name: received ${JSON.stringify(peer.name)}; expected primary, dr or witness`,
      );
    if (!DNS_NAME.test(peer.serverName))
      throw new Error(
        `DesiredState.peers[${i}].serverName: received "${peer.serverName}"; expected a DNS name`,
      );
    if (peer.ipv4 === undefined) continue;
    if (!isIPv4(peer.ipv4))
      throw new Error(`DesiredState.peers[${i}].ipv4: received "${peer.ipv4}"; expected an IPv4 literal`);
    lines.push(`peer ${peer.name} ${peer.serverName} ${peer.ipv4}`);
  }
  return lines.map((l) => `${l}\n`).join("");
}

/**
 * How long a NodeBalancer needs to notice a node's health change: the service shows the change
 * within its 1 s health cache, the first check to see it comes within one interval, and
 * `attempts` of them (the last up to `timeout`) take the node out. One more interval of margin:
 * Linode does not document how its checks are scheduled, and waiting is cheap next to a failed
 * request.
 */
export function drainSecondsFor(check: {
  intervalSeconds: number;
  timeoutSeconds: number;
  attempts: number;
}): number {
  return check.intervalSeconds * (check.attempts + 1) + check.timeoutSeconds + 1;
}
