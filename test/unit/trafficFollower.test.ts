import { beforeAll, describe, expect, it } from "vitest";
import { unitTestAddressPlan } from "../../evaluation/addressPlan";
import { bringUp, evaluateDr, type BringUp } from "../../evaluation/bringUp";
import { containsSecret, type Evaluation } from "../../evaluation/evaluate";
import { planChanges } from "../../evaluation/diff";
import { parseFollowerSettings } from "../../follower/src/settings";
import { FOLLOWER_REMOVE_COMMAND } from "../../provisioning/follower";
import { drResourceNames, stackChildNames } from "../../stacks/resourceNames";

/**
 * The traffic follower as the dr stack declares it: only with a token; on the witness, host key
 * pinned; its settings name the traffic records and both regions' NodeBalancers; the token stays a
 * secret and reaches the witness only on the command's stdin; taking the token out removes it.
 */

const TOKEN = "5ec2e7".padEnd(64, "a");
const { follower, witness, traffic } = drResourceNames();

function desiredState(stdin: string): { settings: string; token: string } {
  const lines = Object.fromEntries(
    stdin
      .trim()
      .split("\n")
      .map((line) => line.split(" ") as [string, string]),
  );
  return {
    settings: Buffer.from(lines.settings, "base64").toString("utf8"),
    token: Buffer.from(lines.token, "base64").toString("utf8"),
  };
}

describe("the traffic follower in the dr stack", () => {
  const plan = unitTestAddressPlan();
  let up: BringUp;
  let withFollower: Evaluation;
  beforeAll(async () => {
    up = await bringUp(plan);
    withFollower = await evaluateDr(plan, up.primary, {
      followerApiToken: TOKEN,
      followerDebounceSeconds: "3",
    });
  });

  it("is declared only with a token: without one, traffic moves with the flag alone", () => {
    expect(up.dr.resources.some((r) => r.name === follower.install)).toBe(false);
    expect(withFollower.byName(follower.install).inputs.create).toMatch(
      /^timeout 900 \/usr\/local\/sbin\/linode-dr-fetch-release [0-9a-f]{64} && timeout 900 \/usr\/local\/sbin\/linode-dr-follower-install$/,
    );
    expect(withFollower.byName(follower.install).inputs.delete).toBe(FOLLOWER_REMOVE_COMMAND);
  });

  it("runs on the witness, host key pinned, after its converge command and the traffic records", async () => {
    const install = withFollower.byName(follower.install);
    expect(install.inputs.connection).toMatchObject({
      host: String(withFollower.outputs.witnessPublicIpv4),
      user: "root",
      hostKey: withFollower.byName(witness.hostKey).state.publicKeyOpenssh.trim(),
    });
    const opts = withFollower.options.get(follower.install);
    expect(opts?.dependsOn).toEqual([witness.converge, stackChildNames("dr").traffic]);
    expect(opts?.additionalSecretOutputs).toEqual(expect.arrayContaining(["connection", "stdin"]));
  });

  it("carries settings that name the traffic records, both NodeBalancers and members, and the config's timing", () => {
    const { settings } = desiredState(String(withFollower.byName(follower.install).inputs.stdin));
    const parsed = parseFollowerSettings(settings);
    expect(parsed.records).toEqual({
      a: Number(withFollower.byName(traffic.a).id),
      aaaa: Number(withFollower.byName(traffic.aaaa).id),
    });
    expect(parsed.domainId).toBe(Number(withFollower.byName(traffic.a).inputs.domainId));
    expect(parsed.regions.primary.nodeBalancer.ipv4).toBe(String(up.primary.outputs.nodeBalancerIpv4));
    expect(parsed.regions.dr.nodeBalancer.ipv4).toBe(String(withFollower.outputs.nodeBalancerIpv4));
    expect(parsed.regions.dr.nodeBalancer.ipv6).not.toContain("/");
    expect(parsed.regions.primary.member).toEqual({
      name: "primary",
      serverName: "db-primary.app.example.com",
      restPort: 8008,
    });
    expect(parsed.debounceSeconds).toBe(3);
    expect(parsed.apiUrl).toBe("https://api.linode.com/v4");
    expect(parsed.health).toEqual({ port: 80, path: "/healthz", timeoutMs: 3000 });
    // The settings file holds only where the token is, never the token.
    expect(settings).not.toContain(TOKEN);
  });

  it("keeps the token secret: only on stdin, which is a secret", async () => {
    const install = withFollower.byName(follower.install);
    expect(desiredState(String(install.inputs.stdin)).token).toBe(TOKEN);
    expect(await containsSecret(withFollower.options.get(follower.install)?.props.stdin)).toBe(true);
    for (const r of withFollower.resources.filter((x) => x.name !== follower.install))
      expect(JSON.stringify(r.inputs), r.name).not.toContain(TOKEN);
    expect(JSON.stringify(withFollower.outputs)).not.toContain(TOKEN);
  });

  it("is removed (its delete runs) when the token is taken out, and nothing else changes", () => {
    const steps = planChanges(withFollower, up.dr);
    expect(steps.filter((s) => s.operation === "delete").map((s) => s.name)).toEqual([follower.install]);
  });
});
