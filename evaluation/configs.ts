import type { RawConfig } from "../config";

/** A complete, valid config for each role, as the stack files would hold it. */
export function baseConfig(
  role: "primary" | "dr",
  overrides: Record<string, string | undefined> = {},
): RawConfig {
  const common: Record<string, string> = {
    primaryRegion: "us-ord",
    drRegion: "us-sea",
    domain: "example.com",
    appName: "app",
    adminCidrs: JSON.stringify(["192.0.2.0/28"]),
    sshPublicKeys: JSON.stringify([
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMockKeyForTestsOnly ops@example.com",
    ]),
  };
  const roleSpecific: Record<string, string> =
    role === "primary" ? { role: "primary" } : { role: "dr", primaryStack: "acme/linode-dr/primary" };
  const merged: Record<string, string | undefined> = { ...common, ...roleSpecific, ...overrides };
  return merged;
}
