import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import { javascriptEntries } from "./javascript";
import { writeTar, type TarEntry } from "./tar";

/**
 * The release bundle: every program that runs on the Linodes (the provisioning scripts, the C
 * service's source and the traffic follower's JavaScript), packed as one reproducible tar. User
 * data only names a release by its sha256 and fetches it; it never carries the programs (user data
 * is limited to 16 KiB and is ForceNew).
 *
 * The tar is uncompressed on purpose: its bytes depend only on the repository's files, not on the
 * zlib build or the operating system of whoever runs `pulumi`, so every operator computes the same
 * sha256 and a preview never shows a spurious new release.
 */

const REPO_ROOT = path.join(__dirname, "..");
const SCRIPTS_DIR = path.join(__dirname, "scripts");
const APP_DIR = path.join(REPO_ROOT, "app");

/**
 * Commands the release installs under /usr/local/sbin (the on-host contract other code relies
 * on), each a link to a script in the release. fetch-release reads this table from the bundle.
 */
export const SBIN_COMMANDS: Readonly<Record<string, string>> = Object.freeze({
  "linode-dr-db-provision": "scripts/db-provision.sh",
  "linode-dr-etcd-member": "scripts/etcd-member.sh",
  "linode-dr-leader": "scripts/leader.sh",
  "linode-dr-leader-gate": "scripts/leader-gate.sh",
  "linode-dr-app-install": "scripts/app-install.sh",
  "linode-dr-app-rollout": "scripts/app-rollout.sh",
  "linode-dr-converge": "scripts/converge.sh",
  "linode-dr-metadata-guard": "scripts/metadata-guard.sh",
  "linode-dr-tls-install": "scripts/tls-install.sh",
  "linode-dr-secret-install": "scripts/secret-install.sh",
  "linode-dr-follower-install": "scripts/follower-install.sh",
  "linode-dr-follower": "scripts/follower.sh",
  "linode-dr-heartbeat": "scripts/heartbeat.py",
  "linode-dr-promotion-check": "scripts/promotion-check.py",
});

export const SBIN_LIST_PATH = "sbin.list";

export interface Release {
  tar: Buffer;
  sha256: string;
  /** Paths inside the bundle, in order. */
  paths: string[];
}

function listFiles(dir: string, prefix: string, keep: (rel: string) => boolean): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    const rel = `${prefix}/${name}`;
    if (statSync(full).isDirectory()) out.push(...listFiles(full, rel, keep));
    else if (keep(rel)) out.push(rel);
  }
  return out;
}

/** Every file of the release, from this repository, sorted by path. */
export function releaseEntries(): TarEntry[] {
  const scripts = listFiles(SCRIPTS_DIR, "scripts", (rel) => /\.(sh|py)$/.test(rel));
  const app = [
    "app/Makefile",
    "app/linode-dr-app.service",
    ...listFiles(path.join(APP_DIR, "src"), "app/src", (rel) => /\.[ch]$/.test(rel)),
  ];
  const commands = new Set(Object.values(SBIN_COMMANDS));
  for (const target of commands) {
    if (!scripts.includes(target)) throw new Error(`SBIN_COMMANDS names ${target}, which is not a script`);
  }
  const files: TarEntry[] = [...scripts, ...app].map((rel) => {
    const source = rel.startsWith("scripts/") ? path.join(__dirname, rel) : path.join(REPO_ROOT, rel);
    const executable = rel.endsWith(".sh") || commands.has(rel);
    return { path: rel, content: readFileSync(source), mode: executable ? 0o755 : 0o644 };
  });
  files.push(...javascriptEntries());
  const sbinList = Object.entries(SBIN_COMMANDS)
    .map(([name, target]) => `${name} ${target}\n`)
    .join("");
  files.push({ path: SBIN_LIST_PATH, content: Buffer.from(sbinList), mode: 0o644 });
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

let cached: Release | undefined;

export function packRelease(entries: TarEntry[]): Release {
  const tar = writeTar(entries);
  return { tar, sha256: createHash("sha256").update(tar).digest("hex"), paths: entries.map((e) => e.path) };
}

/** Built once per program run: two renders in one run must name the same release. */
export function buildRelease(): Release {
  cached ??= packRelease(releaseEntries());
  return cached;
}

/** Object key of a release: content-addressed, so a key never changes meaning. */
export function releaseObjectKey(sha256: string): string {
  return `releases/${sha256}.tar`;
}
