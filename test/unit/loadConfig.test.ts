import * as pulumi from "@pulumi/pulumi";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../config";
import { baseConfig } from "../../evaluation/configs";

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

beforeEach(async () => {
  await pulumi.runtime.setMocks(
    { newResource: () => ({ id: "1", state: {} }), call: () => ({}) },
    "linode-dr",
    "primary",
  );
});
afterEach(() => pulumi.runtime.setAllConfig({}));

describe("loadConfig", () => {
  it("reads the stack's keys, including lists, from the stack config", () => {
    setStackConfig(baseConfig("primary", { appCount: "3" }));
    expect(loadConfig()).toMatchObject({ role: "primary", appCount: 3, adminCidrs: ["192.0.2.0/28"] });
  });

  it("ignores other projects' and providers' keys (linode:token belongs to the provider)", () => {
    setStackConfig(baseConfig("primary"));
    pulumi.runtime.setConfig("linode:token", "provider-token");
    pulumi.runtime.setConfig("other-project:appcount", "3");
    expect(loadConfig().role).toBe("primary");
  });

  it("rejects a misspelt key by name, lists the known keys, and never shows the value", () => {
    setStackConfig(baseConfig("primary"), { appcount: "s3cret-looking-value" });
    expect(() => loadConfig()).toThrow(ConfigError);
    let message = "";
    try {
      loadConfig();
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('appcount: unknown key; expected "appCount" (keys are case-sensitive)');
    expect(message).toContain("one of the known keys: role, primaryRegion");
    expect(message).not.toContain("s3cret-looking-value");
  });
});
