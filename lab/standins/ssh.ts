import { spawn } from "node:child_process";
import { chmodSync, closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { assertDocumentationAddress } from "../addresses";
import type { Host } from "../hosts/host";
import { run, waitFor, type ExecResult } from "../process";

/**
 * sshd on lab hosts and a remote-command runner over real OpenSSH: the stand-ins for a Linode's
 * ssh.service and for `@pulumi/command`'s `remote.Command` with `connection.hostKey` pinned.
 *
 * Emulated: sshd started as ssh.service starts it (`sshd -D -e`, /run/sshd), with the host's own
 * /etc/ssh (host keys from cloud-init's ssh module, drop-ins from write_files); public-key login,
 * strict host-key checking against exactly one pinned key (and only its type offered, as
 * remote.Command sets HostKeyAlgorithms), no password or keyboard-interactive
 * fallback, stdin, exit code, stdout and stderr. Not emulated: remote.Command's dial retries
 * (`dialErrorLimit`, `perDialTimeout`), its `environment` (AcceptEnv), agent forwarding, jump
 * hosts, Pulumi's secret handling of stdout; systemd's restart of a crashed sshd.
 */

export interface SshTarget {
  host: string;
  user: string;
  /** OpenSSH private key (PEM or OpenSSH format), as `connection.privateKey`. */
  privateKey: string;
  /** The host's public key, "ssh-ed25519 AAAA..." or "ecdsa-sha2-nistp256 AAAA...", as `connection.hostKey`. */
  hostKey: string;
  port?: number;
}

export interface RemoteCommandOptions {
  stdin?: string;
  timeoutMs?: number;
  /** Extra `-o` options; they come first, and for ssh the first value of an option wins. */
  sshOptions?: string[];
}

export interface Sshd {
  /** sshd's pid as this machine sees it. */
  pid: number;
  stop(): Promise<void>;
}

const SSHD = "/usr/sbin/sshd";
const HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function childOf(pid: number): number | undefined {
  try {
    const first = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(" ")[0];
    return first ? Number(first) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts sshd inside `host` (its filesystem, network and pid namespace), in the foreground as
 * ssh.service does, logging to `<lab state>/sshd-<host>.log`. Resolves once sshd accepts
 * connections on port 22.
 */
export async function startSshd(host: Host): Promise<Sshd> {
  const pid1 = host.pid;
  if (pid1 === undefined) throw new Error(`host ${host.name} is down`);
  // systemd's RuntimeDirectory=sshd makes this on a Linode; sshd refuses to start without it.
  await host.execOrThrow(["install", "-d", "-m", "0755", "/run/sshd"]);
  await host.execOrThrow([SSHD, "-t"]);
  const logFile = path.join(host.lab.stateDir, `sshd-${host.name}.log`);
  const fd = openSync(logFile, "a");
  // nsenter forks to enter the pid namespace; sshd is its child, and is what we signal.
  const child = spawn("nsenter", ["-t", String(pid1), "-a", "-r", "-w", "--", SSHD, "-D", "-e"], {
    stdio: ["ignore", fd, fd],
    env: { PATH: HOST_PATH, LANG: "C.UTF-8" },
  });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`could not start sshd in ${host.name}`);
  const nsenterPid = child.pid;
  host.lab.recordProcess(nsenterPid, `nsenter for sshd in ${host.name}`);
  let exited = false;
  const done = new Promise<void>((resolve) =>
    child.on("exit", () => {
      exited = true;
      resolve();
    }),
  );
  const sshdPid = await waitFor(
    `sshd in ${host.name}`,
    () => {
      if (exited) throw new Error(`sshd in ${host.name} exited; see ${logFile}`);
      return childOf(nsenterPid);
    },
    10_000,
    20,
  );
  host.lab.recordProcess(sshdPid, `sshd in ${host.name}`);
  const stop = async () => {
    if (exited) return;
    try {
      process.kill(sshdPid, "SIGTERM");
    } catch {
      // Gone already.
    }
    const timer = setTimeout(() => {
      try {
        process.kill(sshdPid, "SIGKILL");
      } catch {
        // Gone already.
      }
    }, 5000);
    await done;
    clearTimeout(timer);
  };
  try {
    await waitFor(
      `sshd in ${host.name} to listen on port 22`,
      async () => {
        if (exited) throw new Error(`sshd in ${host.name} exited; see ${logFile}`);
        const listening = await host.exec(["ss", "-Htln", "sport = :22"]);
        return listening.stdout.trim() !== "" ? true : undefined;
      },
      10_000,
      50,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { pid: sshdPid, stop };
}

/** known_hosts names a non-standard port as [host]:port. */
export function knownHostsLine(target: SshTarget): string {
  const port = target.port ?? 22;
  const name = port === 22 ? target.host : `[${target.host}]:${port}`;
  const [type, key] = target.hostKey.trim().split(/\s+/);
  if (!type || !key) throw new Error(`host key "${target.hostKey}" is not "<type> <base64>"`);
  return `${name} ${type} ${key}\n`;
}

/** The ssh command line: only the given key, only the pinned host key, never a prompt. */
export function sshArgv(
  target: SshTarget,
  keyFile: string,
  knownHostsFile: string,
  command: string,
  extraOptions: readonly string[] = [],
): string[] {
  const sshOptions = [
    ...extraOptions,
    // As remote.Command does: it offers only the pinned key's type, so a host serving an old and a
    // new key of another type (a rotation) is verified against the pinned one.
    `HostKeyAlgorithms=${target.hostKey.trim().split(/\s+/)[0]}`,
    `UserKnownHostsFile=${knownHostsFile}`,
    "GlobalKnownHostsFile=/dev/null",
    "StrictHostKeyChecking=yes",
    "BatchMode=yes",
    "PasswordAuthentication=no",
    "KbdInteractiveAuthentication=no",
    "IdentitiesOnly=yes",
    "ConnectTimeout=10",
    "LogLevel=ERROR",
  ];
  return [
    "ssh",
    "-F",
    "/dev/null",
    "-i",
    keyFile,
    "-p",
    String(target.port ?? 22),
    ...sshOptions.flatMap((o) => ["-o", o]),
    "--",
    `${target.user}@${target.host}`,
    command,
  ];
}

/**
 * Runs `command` on the target over OpenSSH from `from`'s network namespace (the operator's
 * machine), trusting only the pinned host key. Returns ssh's exit code (the command's, or 255 when
 * ssh itself failed), stdout and stderr.
 */
export async function runRemoteCommand(
  from: Host,
  target: SshTarget,
  command: string,
  options: RemoteCommandOptions = {},
): Promise<ExecResult> {
  assertDocumentationAddress(target.host);
  const dir = mkdtempSync(path.join(tmpdir(), "linode-dr-ssh-"));
  try {
    chmodSync(dir, 0o700);
    const key = path.join(dir, "id");
    const knownHosts = path.join(dir, "known_hosts");
    writeFileSync(key, target.privateKey.endsWith("\n") ? target.privateKey : `${target.privateKey}\n`, {
      mode: 0o600,
    });
    writeFileSync(knownHosts, knownHostsLine(target), { mode: 0o600 });
    const argv = [
      "ip",
      "netns",
      "exec",
      from.netns,
      ...sshArgv(target, key, knownHosts, command, options.sshOptions),
    ];
    return await run(argv, {
      input: options.stdin,
      timeoutMs: options.timeoutMs ?? 60_000,
      env: { PATH: HOST_PATH, LANG: "C.UTF-8", HOME: dir },
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
