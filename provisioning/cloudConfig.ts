import { gzipSync } from "node:zlib";
import { stringify } from "yaml";
import { absolutePath, fileMode } from "../validation/formats";
import { InputCheck } from "../validation/inputError";

/**
 * A pure, deterministic cloud-config renderer.
 *
 * Linode treats `metadata.user_data` as ForceNew: a single changed byte replaces the Linode. So the
 * output depends only on the arguments (no timestamps, no random values, no map-order surprises,
 * nothing taken from the operating system that runs `pulumi`), and every caller gets the same bytes
 * for the same inputs.
 */

export interface WriteFile {
  path: string;
  content: string;
  /** Octal string as cloud-init expects it, e.g. "0600". */
  permissions: string;
  owner?: string;
  /** gzip+base64 the payload (cloud-init's `gz+b64`); the gzip header is normalised, see gzipPortable. */
  compress?: boolean;
}

/** The cloud-init `ssh` module's settings; the module runs before sshd starts on first boot. */
export interface SshSettings {
  /** OpenSSH host key pair installed as the host's only host key (pinned by every remote command). */
  /** The key sshd serves at first boot (later ones arrive through converge). */
  hostKey: { type: "ed25519" | "ecdsa"; privateKey: string; publicKey: string };
}

export interface CloudConfig {
  /** What the Linode is, named in errors ("database (primary)", "app"). */
  role: string;
  writeFiles: WriteFile[];
  /** Commands run once, on first boot, in order; each is an argv list (no shell parsing). */
  runcmd: string[][];
  ssh?: SshSettings;
}

/**
 * The user-data limit we build for, in decoded bytes. Linode's API text is self-contradictory
 * ("65535 bytes, or about 16kb encoded"), and Linode's own Cluster API provider enforces 16,384
 * decoded bytes for cloud-init (maxBootstrapDataBytesCloudInit), so that is the limit that is known
 * to be accepted.
 */
export const USER_DATA_LIMIT_BYTES = 16_384;

/** The gzip header's OS byte (RFC 1952): 3 = Unix. zlib writes the platform's own otherwise. */
const GZIP_OS_BYTE_OFFSET = 9;
const GZIP_OS_UNIX = 0x03;

/**
 * gzip whose bytes do not depend on the platform: zlib stamps the header with the OS it runs on
 * (Linux 0x03, macOS 0x13, Windows 0x0a; nodejs/node#48690), which would make user data rendered
 * on a Mac differ from the same program rendered on Linux, and replace the Linode.
 */
export function gzipPortable(data: Buffer): Buffer {
  const out = Buffer.from(gzipSync(data, { level: 9 }));
  out[GZIP_OS_BYTE_OFFSET] = GZIP_OS_UNIX;
  return out;
}

export class UserDataTooLargeError extends Error {
  constructor(
    readonly role: string,
    readonly size: number,
  ) {
    super(
      `user data for the ${role} Linode is ${size} bytes; Linode accepts at most ${USER_DATA_LIMIT_BYTES} ` +
        `bytes (decoded). User data configures and fetches: move programs into the release bundle`,
    );
    this.name = "UserDataTooLargeError";
  }
}

/** Every file once, at an absolute path, with an octal mode: cloud-init would fail on first boot otherwise. */
function checkWriteFiles(files: WriteFile[]): void {
  const check = new InputCheck("CloudConfig");
  const seen = new Set<string>();
  files.forEach((file, i) => {
    const entry = check.under(`writeFiles[${i}]`);
    entry.field("path", file.path, absolutePath);
    if (seen.has(file.path)) entry.refuse("path", file.path, "a path no other entry writes (each file once)");
    seen.add(file.path);
    entry.field("permissions", file.permissions, fileMode);
  });
  check.throwIfAny();
}

export function renderCloudConfig(config: CloudConfig): string {
  checkWriteFiles(config.writeFiles);
  const writeFiles = config.writeFiles.map((file) => {
    const entry: Record<string, string> = { path: file.path, permissions: file.permissions };
    if (file.owner !== undefined) entry.owner = file.owner;
    if (file.compress) {
      entry.encoding = "gz+b64";
      entry.content = gzipPortable(Buffer.from(file.content, "utf8")).toString("base64");
    } else {
      entry.content = file.content;
    }
    return entry;
  });

  const document: Record<string, unknown> = {};
  if (config.ssh) {
    // Password logins off; the program's host key replaces whatever the image generated, and no
    // other key type is generated, so the only key sshd offers is the one remote commands pin.
    document.ssh_pwauth = false;
    document.disable_root = false;
    document.ssh_deletekeys = true;
    // Only the type ssh_keys provides: nothing is generated.
    const { type, privateKey, publicKey } = config.ssh.hostKey;
    document.ssh_genkeytypes = [type];
    document.ssh_keys = { [`${type}_private`]: privateKey, [`${type}_public`]: publicKey };
  }
  document.write_files = writeFiles;
  document.runcmd = config.runcmd.map((argv) => [...argv]);

  const rendered = `#cloud-config\n${stringify(document, { lineWidth: 0, blockQuote: "literal" })}`;
  const size = Buffer.byteLength(rendered, "utf8");
  if (size > USER_DATA_LIMIT_BYTES) {
    throw new UserDataTooLargeError(config.role, size);
  }
  return rendered;
}

/** Linode wants user data base64-encoded in `metadata.user_data`. */
export function toLinodeUserData(cloudConfig: string): string {
  return Buffer.from(cloudConfig, "utf8").toString("base64");
}
