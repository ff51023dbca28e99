import * as pulumi from "@pulumi/pulumi";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../config";
import { baseConfig } from "../../lab/program/configs";

/** What the CLI hands the program: "<project>:<key>" entries, secrets listed separately. */
function setStackConfig(raw: Record<string, string | undefined>, secrets: Record<string, string> = {}): void {
  const all: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...raw, ...secrets })) {
    if (value !== undefined) all[`linode-dr:${key}`] = value;
  }
  pulumi.runtime.setAllConfig(
    all,
    Object.keys(secrets).map((k) => `linode-dr:${k}`),
  );
}

function isSecret(output: pulumi.Output<unknown>): Promise<boolean> {
  return (output as unknown as { isSecret: Promise<boolean> }).isSecret;
}

afterEach(() => pulumi.runtime.setAllConfig({}));

describe("loadConfig", () => {
  it("reads the primary stack's keys, including lists, through pulumi.Config", async () => {
    await pulumi.runtime.setMocks(
      { newResource: () => ({ id: "1", state: {} }), call: () => ({}) },
      "linode-dr",
      "primary",
    );
    setStackConfig(baseConfig("primary", { appCount: "3" }));
    const { config, secrets } = loadConfig();
    expect(config).toMatchObject({ role: "primary", appCount: 3, adminCidrs: ["192.0.2.0/28"] });
    expect(secrets).toEqual({});
  });

  it("keeps the dr stack's SSH private key a secret", async () => {
    await pulumi.runtime.setMocks(
      { newResource: () => ({ id: "1", state: {} }), call: () => ({}) },
      "linode-dr",
      "dr",
    );
    setStackConfig(baseConfig("dr"), { sshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----" });
    const { secrets } = loadConfig();
    expect(secrets.sshPrivateKey).toBeDefined();
    expect(await isSecret(secrets.sshPrivateKey as pulumi.Output<string>)).toBe(true);
  });

  it("stops a dr stack without the SSH private key, saying how to set it as a secret", async () => {
    await pulumi.runtime.setMocks(
      { newResource: () => ({ id: "1", state: {} }), call: () => ({}) },
      "linode-dr",
      "dr",
    );
    setStackConfig(baseConfig("dr"));
    expect(() => loadConfig()).toThrow(ConfigError);
    expect(() => loadConfig()).toThrow(
      /sshPrivateKey: received nothing \(key not set\); .*pulumi config set --secret sshPrivateKey/,
    );
  });
});
