import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { HostAccess, ReleaseSource } from "../../provisioning/host";

/**
 * The release source and SSH access every user-data builder needs, for tests of the builders on
 * their own (the program's evaluation supplies real ones from its ArtifactStore and key resources).
 */

let hostKey: HostAccess["hostKey"] | undefined;

/** A real ed25519 key from ssh-keygen, made once per test process. */
export function fixtureHostKey(): HostAccess["hostKey"] {
  if (!hostKey) {
    const dir = mkdtempSync(join(tmpdir(), "linode-dr-hostkey-"));
    try {
      execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", join(dir, "key")]);
      hostKey = {
        privateKeyOpenssh: readFileSync(join(dir, "key"), "utf8"),
        publicKeyOpenssh: readFileSync(join(dir, "key.pub"), "utf8").trim(),
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return hostKey;
}

export function fixtureRelease(overrides: Partial<ReleaseSource> = {}): ReleaseSource {
  return {
    baseUrl: "https://linode-dr-primary-abcd1234.us-iad-1.linodeobjects.com/releases",
    sha256: "0123456789abcdef".repeat(4),
    cluster: "us-iad-1",
    accessKey: "READONLYACCESSKEY123",
    secretKey: "readOnlySecretKeyForTestsOnly0123456789ab",
    ...overrides,
  };
}

export function fixtureHost(): { release: ReleaseSource; access: HostAccess } {
  return {
    release: fixtureRelease(),
    access: {
      hostKey: fixtureHostKey(),
      authorizedKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMockKeyForTestsOnly ops@example.com"],
    },
  };
}
