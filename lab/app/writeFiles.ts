import { execFileSync } from "node:child_process";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { gunzipSync } from "node:zlib";
import { parse } from "yaml";
import { buildRelease, SBIN_COMMANDS } from "../../provisioning/release";

interface WriteFileEntry {
  path: string;
  content: string;
  encoding?: string;
  permissions: string;
}

/**
 * Lays a #cloud-config's write_files out under `root`, as cloud-init's write_files module would
 * under /, for tests that run the provisioning scripts outside a lab host.
 */
export function materializeWriteFiles(cloudConfig: string, root: string): void {
  const doc = parse(cloudConfig) as { write_files: WriteFileEntry[] };
  for (const file of doc.write_files) {
    const dest = path.join(root, file.path);
    mkdirSync(path.dirname(dest), { recursive: true });
    const content =
      file.encoding === "gz+b64"
        ? gunzipSync(Buffer.from(file.content, "base64"))
        : Buffer.from(file.content);
    writeFileSync(dest, content, { mode: parseInt(file.permissions, 8) });
  }
}

/**
 * Lays the release out under `root` as linode-dr-fetch-release would under /: unpacked in
 * /opt/linode-dr/releases/<sha256>, made current, its commands linked in /usr/local/sbin.
 */
export function materializeRelease(root: string): string {
  const release = buildRelease();
  const dir = path.join(root, "opt/linode-dr/releases", release.sha256);
  mkdirSync(dir, { recursive: true });
  const tar = path.join(root, "release.tar");
  writeFileSync(tar, release.tar);
  execFileSync("tar", ["-xf", tar, "-C", dir, "--no-same-owner"]);
  symlinkSync(`releases/${release.sha256}`, path.join(root, "opt/linode-dr/current"));
  mkdirSync(path.join(root, "usr/local/sbin"), { recursive: true });
  for (const [name, target] of Object.entries(SBIN_COMMANDS)) {
    symlinkSync(path.join(root, "opt/linode-dr/current", target), path.join(root, "usr/local/sbin", name));
  }
  return release.sha256;
}
