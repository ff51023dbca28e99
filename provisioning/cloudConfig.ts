import { gzipSync } from "node:zlib";
import { stringify } from "yaml";

/**
 * A pure, deterministic cloud-config renderer.
 *
 * Linode treats `metadata.user_data` as ForceNew: a single changed byte replaces the Linode. So the
 * output depends only on the arguments (no timestamps, no random values, no map-order surprises),
 * and every caller gets the same bytes for the same inputs.
 */

export interface WriteFile {
  path: string;
  content: string;
  /** Octal string as cloud-init expects it, e.g. "0600". */
  permissions: string;
  owner?: string;
  /** Compress large payloads (gzip+base64) to stay far below the metadata size limit. */
  compress?: boolean;
}

export interface CloudConfig {
  writeFiles: WriteFile[];
  /** Commands run once, on first boot, in order; each is an argv list (no shell parsing). */
  runcmd: string[][];
  packages?: string[];
}

/** Linode's metadata API limit for user data, in bytes before base64 encoding. */
export const USER_DATA_LIMIT_BYTES = 65_535;

const PERMISSIONS = /^0[0-7]{3}$/;

export function renderCloudConfig(config: CloudConfig): string {
  const seen = new Set<string>();
  const writeFiles = config.writeFiles.map((file) => {
    if (!file.path.startsWith("/")) {
      throw new Error(`write_files path must be absolute; received "${file.path}"`);
    }
    if (seen.has(file.path)) {
      throw new Error(`write_files path "${file.path}" is written twice; each path must appear once`);
    }
    seen.add(file.path);
    if (!PERMISSIONS.test(file.permissions)) {
      throw new Error(
        `write_files permissions for "${file.path}" must be an octal string like "0600"; received "${file.permissions}"`,
      );
    }
    const entry: Record<string, string> = { path: file.path, permissions: file.permissions };
    if (file.owner !== undefined) entry.owner = file.owner;
    if (file.compress) {
      // mtime 0 and a fixed OS byte keep the gzip stream byte-identical run after run.
      entry.encoding = "gz+b64";
      entry.content = gzipSync(Buffer.from(file.content, "utf8"), { level: 9 }).toString("base64");
    } else {
      entry.content = file.content;
    }
    return entry;
  });

  const document: Record<string, unknown> = {};
  if (config.packages && config.packages.length > 0) {
    document.package_update = true;
    document.packages = [...config.packages];
  }
  document.write_files = writeFiles;
  document.runcmd = config.runcmd.map((argv) => [...argv]);

  const rendered = `#cloud-config\n${stringify(document, { lineWidth: 0, blockQuote: "literal" })}`;
  const size = Buffer.byteLength(rendered, "utf8");
  if (size > USER_DATA_LIMIT_BYTES) {
    throw new Error(
      `rendered user data is ${size} bytes; Linode accepts at most ${USER_DATA_LIMIT_BYTES} bytes before encoding`,
    );
  }
  return rendered;
}

/** Linode wants user data base64-encoded in `metadata.user_data`. */
export function toLinodeUserData(cloudConfig: string): string {
  return Buffer.from(cloudConfig, "utf8").toString("base64");
}
