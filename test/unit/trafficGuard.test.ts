import { beforeAll, describe, expect, it } from "vitest";
import { unitTestAddressPlan } from "../../evaluation/addressPlan";
import { bringUp, evaluateDr, type BringUp } from "../../evaluation/bringUp";
import { drResourceNames } from "../../stacks/resourceNames";
import { trafficFlagProblem, type TrafficEvidence } from "../../stacks/trafficGuard";

/**
 * The failover flag and the traffic follower must agree: an update whose flag nobody changed
 * refuses to undo the follower's move, and says how to go on; a deliberate change of the flag
 * (adopting the move, or failing back after adopting) goes through.
 */

const A = "198.51.100.5";
const B = "203.0.113.5";

function evidence(overrides: Partial<TrafficEvidence>): TrafficEvidence {
  return {
    recordName: "app.example.com",
    failover: false,
    appliedFailover: false,
    liveTarget: A,
    nodeBalancers: { primary: A, dr: B },
    ...overrides,
  };
}

describe("trafficFlagProblem", () => {
  it.each([
    ["the first update (no previous outputs)", { appliedFailover: undefined, liveTarget: B }],
    ["no record yet", { liveTarget: undefined }],
    ["traffic where the flag says", {}],
    ["adopting the follower's move (false -> true, traffic in B)", { failover: true, liveTarget: B }],
    ["failing back deliberately (true -> false, traffic in B)", { appliedFailover: true, liveTarget: B }],
    ["a target that is no NodeBalancer (the program restores it)", { liveTarget: "192.0.2.99" }],
  ])("lets the update run: %s", (_, overrides) => {
    expect(trafficFlagProblem(evidence(overrides as Partial<TrafficEvidence>))).toBeUndefined();
  });

  it("refuses an unchanged flag that would undo the follower's move, and says both ways on", () => {
    const problem = trafficFlagProblem(evidence({ liveTarget: B }));
    expect(problem).toMatch(
      /^app\.example\.com points at region B's NodeBalancer \(203\.0\.113\.5\), but failover is false and was false at the last update/,
    );
    expect(problem).toContain("the traffic follower on the witness moved it there");
    expect(problem).toContain("pulumi config set failover true -s dr && pulumi up -s dr --refresh");
    expect(problem).toContain("once region A is ready, pulumi config set failover false -s dr");
  });

  it("refuses the other way round too: the follower moved traffic back to A while the flag says dr", () => {
    const problem = trafficFlagProblem(evidence({ failover: true, appliedFailover: true, liveTarget: A }));
    expect(problem).toMatch(/points at region A's NodeBalancer \(198\.51\.100\.5\), but failover is true/);
    expect(problem).toContain("pulumi config set failover false -s dr && pulumi up -s dr --refresh");
  });
});

describe("the dr stack under mocks, after the follower moved traffic to region B", () => {
  let up: BringUp;
  let recordId: string;
  const plan = unitTestAddressPlan();
  beforeAll(async () => {
    up = await bringUp(plan);
    recordId = up.dr.byName(drResourceNames().traffic.a).id;
  });
  const drNodeBalancer = () => String(up.dr.outputs.nodeBalancerIpv4);

  it("an update with the unchanged flag stops before declaring anything, with the explanation", async () => {
    await expect(
      evaluateDr(plan, up.primary, {}, { previous: up.dr, liveRecords: { [recordId]: drNodeBalancer() } }),
    ).rejects.toThrow(
      /points at region B's NodeBalancer .* but failover is false and was false at the last update/,
    );
  });

  it("adopting (failover=true) declares the records where traffic already is; failing back after it is allowed", async () => {
    const live = { [recordId]: drNodeBalancer() };
    const adopted = await evaluateDr(
      plan,
      up.primary,
      { failover: "true" },
      { previous: up.dr, liveRecords: live },
    );
    expect(adopted.byName(drResourceNames().traffic.a).inputs.target).toBe(drNodeBalancer());
    const back = await evaluateDr(
      plan,
      up.primary,
      { failover: "false" },
      { previous: adopted, liveRecords: live },
    );
    expect(back.byName(drResourceNames().traffic.a).inputs.target).toBe(
      String(up.primary.outputs.nodeBalancerIpv4),
    );
  });

  it("an update that finds traffic where the flag says goes through", async () => {
    const again = await evaluateDr(plan, up.primary, {}, { previous: up.dr });
    expect(again.outputs.failover).toBe(false);
  });
});
