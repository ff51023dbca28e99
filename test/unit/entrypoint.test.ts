import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { baseConfig } from "../../evaluation/configs";
import { primaryOutputsFixture } from "../../evaluation/evaluate";
import { LinodeMocks } from "../../evaluation/mocks";
import { unitTestAddressPlan } from "../../evaluation/addressPlan";
import { drResourceNames } from "../../stacks/resourceNames";

/**
 * index.ts is what `pulumi up` runs: config read once from the stack, then the stack for its role.
 * Importing it under mocks (vitest gives each test file its own module registry) proves the
 * wiring, not just defineStack.
 */
describe("index.ts on the dr stack", () => {
  // Two whole-program evaluations (the primary's outputs, then the dr stack): seconds, more than
  // vitest's 5 s default on a busy 2-vCPU machine.
  it("reads the stack config, builds the dr stack and exports its outputs", async () => {
    const fixture = await primaryOutputsFixture();
    // The dr stack also reads its own previous outputs: none yet, as on its first update.
    const mocks = new LinodeMocks(unitTestAddressPlan(), {
      ...fixture,
      "acme/linode-dr/dr": { outputs: {} },
    });
    await pulumi.runtime.setMocks(mocks, "linode-dr", "dr", false, "acme");
    const raw = baseConfig("dr", { failover: "true" });
    const config: Record<string, string> = {};
    for (const [key, value] of Object.entries(raw)) {
      if (value !== undefined) config[`linode-dr:${key}`] = value;
    }
    pulumi.runtime.setAllConfig(config);

    // index.ts exports a promise (the dr stack checks its flag first), which the Pulumi runtime awaits.
    const exported = (await import("../../index")) as unknown as { default: unknown };
    const program = (await exported.default) as Record<string, pulumi.Output<unknown>>;
    const trafficTarget = await new Promise((resolve) => program.trafficTarget.apply(resolve));
    expect(trafficTarget).toBe("dr");
    expect(Object.keys(program)).toEqual(
      expect.arrayContaining([
        "role",
        "failover",
        "trafficIpv4",
        "leadershipLog",
        "releaseSha256",
        "witnessPublicIpv4",
      ]),
    );
    // The leadership log comes from the remote command, so it exists once this resolves.
    expect(await new Promise((resolve) => program.leadershipLog.apply(resolve))).toBe("promoted");
    expect(mocks.resources.some((r) => r.name === drResourceNames().leadership.leader)).toBe(true);
  }, 60_000);
});
