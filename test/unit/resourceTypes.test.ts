import { beforeAll, describe, expect, it } from "vitest";
import { RESOURCE_TYPE } from "../../components/resourceTypes";
import { unitTestAddressPlan } from "../../evaluation/addressPlan";
import { bringUp, type BringUp } from "../../evaluation/bringUp";

/**
 * RESOURCE_TYPE spells the SDKs' type tokens by hand (the SDK keeps them out of its typings): the
 * tokens the SDK classes register when the real program runs are the judge, so a typo, or a
 * resource type the program starts using without a constant, fails here.
 */
describe("RESOURCE_TYPE", () => {
  let program: BringUp;
  beforeAll(async () => {
    program = await bringUp(unitTestAddressPlan());
  }, 60_000);

  it("is exactly the set of types both stacks register", () => {
    const registered = new Set([...program.primary.resources, ...program.dr.resources].map((r) => r.type));
    expect([...registered].sort()).toEqual(Object.values(RESOURCE_TYPE).sort());
  });
});
