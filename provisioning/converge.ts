import { authorizedKeys, openSshPrivateKey, password, sha256, sshPublicKey } from "../validation/formats";
import { InputCheck } from "../validation/inputError";
import { integer, listOf, oneOf, refined } from "../validation/kit";
import { checkAppInput, renderAppArtifactEnv, renderAppEnv, type AppUserDataInput } from "./app";
import { checkMember, MEMBER_LIST, type ClusterMember } from "./consensus";
import { CONVERGE_PATH, FETCH_RELEASE_PATH } from "./host";
import { checkServerTls, type ServerTls } from "./serverTls";

/**
 * The day-2 path of every Linode: a remote command (pinned host key) that fetches the current
 * release and runs linode-dr-converge with the desired state on stdin. User data is first-boot
 * only, so this is how a running Linode gets new keys, scripts, app versions and configuration
 * without being replaced.
 */

/** Bounds the whole SSH session; first boot alone may take many minutes on a new Linode. */
export const CONVERGE_TIMEOUT_SECONDS = 3600;

export const CONVERGE_ROLES = ["database", "app", "witness"] as const;
export type ConvergeRole = (typeof CONVERGE_ROLES)[number];

export function convergeCommandLine(role: ConvergeRole, releaseSha256: string): string {
  const check = new InputCheck("convergeCommandLine");
  check.field("role", role, oneOf(CONVERGE_ROLES));
  check.field("releaseSha256", releaseSha256, sha256);
  check.throwIfAny();
  return (
    `timeout ${CONVERGE_TIMEOUT_SECONDS} ${FETCH_RELEASE_PATH} ${releaseSha256} && ` +
    `timeout ${CONVERGE_TIMEOUT_SECONDS} ${CONVERGE_PATH} ${role}`
  );
}

export interface DesiredState {
  authorizedKeys: string[];
  /**
   * The host's SSH host keys (OpenSSH private keys), every listed generation: installed in
   * /etc/ssh and served by sshd, keys of other generations removed. Remote commands pin the first.
   */
  hostKeys?: string[];
  /**
   * Database hosts of the primary stack: the dr stack's leadership key, which may run only the
   * failover flag's command there (linode-dr-leader-gate), so that the flag can make region A lead
   * without going through region B.
   */
  leadershipKey?: string;
  app?: { input: AppUserDataInput; drainSeconds: number };
  /**
   * Database and witness hosts: the cluster members' current addresses, kept in the managed
   * /etc/hosts block that resolves their certificate names. Members without an ipv4 are skipped.
   */
  peers?: ClusterMember[];
  /**
   * Database and witness hosts: the member's TLS identity as the program last issued it. A renewed
   * or rotated certificate reaches the running host this way (user data is first-boot only) and is
   * reloaded in place by linode-dr-tls-install.
   */
  tls?: ServerTls;
  /**
   * Database hosts: the cluster's passwords as the program last generated them. A rotated one
   * reaches the running members this way and is changed in place by linode-dr-secret-install.
   */
  passwords?: DatabasePasswords;
}

/** The passwords a database member holds (the app Linodes get theirs in app_env). */
export interface DatabasePasswords {
  replication: string;
  superuser: string;
  app: string;
  rest: string;
}

/** One key, or two during a rotation (the old and the new, of different types). */
const HOST_KEY_LIST = refined(listOf(openSshPrivateKey), (keys) =>
  keys.length >= 1 && keys.length <= 2 ? undefined : "one or two host keys (two only during a rotation)",
);

const PASSWORD_NAMES = ["replication", "superuser", "app", "rest"] as const;

function checkState(state: DesiredState): void {
  const check = new InputCheck("DesiredState");
  check.field("authorizedKeys", state.authorizedKeys, authorizedKeys);
  if (state.hostKeys !== undefined) check.field("hostKeys", state.hostKeys, HOST_KEY_LIST);
  if (state.leadershipKey !== undefined) check.field("leadershipKey", state.leadershipKey, sshPublicKey);
  if (state.leadershipKey !== undefined && state.app !== undefined)
    check.refuse(
      "leadershipKey",
      state.leadershipKey,
      "no leadership key in an app host's state (database hosts only)",
    );
  if (state.app !== undefined) {
    const app = check.object("app", state.app, "{ input, drainSeconds }");
    if (app) {
      checkAppInput(app.under("input"), state.app.input);
      app.field("drainSeconds", state.app.drainSeconds, integer(0, 9999));
    }
  }
  if (state.tls !== undefined) {
    if (state.app !== undefined)
      check.refuse(
        "tls",
        "(a TLS identity)",
        "no TLS identity in an app host's state (cluster members only)",
      );
    else checkServerTls(check.under("tls"), state.tls);
  }
  if (state.passwords !== undefined) {
    if (state.app !== undefined)
      check.refuse(
        "passwords",
        "(the database passwords)",
        "no database passwords in an app host's state (database hosts only)",
      );
    else {
      const passwords = check.object("passwords", state.passwords, `{ ${PASSWORD_NAMES.join(", ")} }`);
      for (const name of PASSWORD_NAMES) passwords?.field(name, state.passwords[name], password);
    }
  }
  if (state.peers !== undefined && check.field("peers", state.peers, MEMBER_LIST))
    state.peers.forEach((peer, i) => checkMember(check.under(`peers[${i}]`), peer));
  check.throwIfAny();
}

/** linode-dr-converge's stdin: one item per line (see scripts/converge.sh). */
export function renderDesiredState(state: DesiredState): string {
  checkState(state);
  const lines = state.authorizedKeys.map((key) => `authorized_key ${key}`);
  for (const key of state.hostKeys ?? []) lines.push(`host_key ${Buffer.from(key).toString("base64")}`);
  if (state.leadershipKey !== undefined) lines.push(`leadership_key ${state.leadershipKey}`);
  if (state.app) {
    const { input, drainSeconds } = state.app;
    lines.push(`app_env ${Buffer.from(renderAppEnv(input)).toString("base64")}`);
    lines.push(`app_ca ${Buffer.from(input.database.caCertPem).toString("base64")}`);
    if (input.artifact) {
      lines.push(`app_artifact ${Buffer.from(renderAppArtifactEnv(input.artifact)).toString("base64")}`);
    }
    lines.push(`drain_seconds ${drainSeconds}`);
  }
  for (const peer of state.peers ?? []) {
    if (peer.ipv4 !== undefined) lines.push(`peer ${peer.name} ${peer.serverName} ${peer.ipv4}`);
  }
  if (state.tls) {
    const base64 = (pem: string) => Buffer.from(pem).toString("base64");
    lines.push(`tls_ca ${base64(state.tls.caCertPem)}`);
    lines.push(`tls_cert ${base64(state.tls.serverCertPem)}`);
    lines.push(`tls_key ${base64(state.tls.serverKeyPem)}`);
  }
  if (state.passwords) {
    for (const name of PASSWORD_NAMES)
      lines.push(`secret ${name} ${Buffer.from(state.passwords[name]).toString("base64")}`);
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
