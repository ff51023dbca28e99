import { beforeAll, describe, expect, it } from "vitest";
import { unitTestAddressPlan } from "../../evaluation/addressPlan";
import { bringUp, evaluateDr, evaluatePrimary, type BringUp } from "../../evaluation/bringUp";
import { planChanges } from "../../evaluation/diff";
import { withoutResources, type Evaluation } from "../../evaluation/evaluate";
import { RESOURCE_TYPE } from "../../components/resourceTypes";
import { drResourceNames, stackResourceNames } from "../../stacks/resourceNames";

/**
 * The README's "Region lost" runbook as plans: after `pulumi refresh` dropped destroyed Linodes,
 * `pulumi up` of their stack creates them anew (new ids, new addresses) and changes nothing else
 * that holds data; the other stack's next update admits the new addresses by converge alone and
 * replaces none of its Linodes.
 */

const primary = stackResourceNames("primary");
const dr = stackResourceNames("dr");
const { witness } = drResourceNames();

function linodeSteps(from: Evaluation, to: Evaluation): string[] {
  return planChanges(from, to)
    .filter((s) => s.type === RESOURCE_TYPE.instance)
    .map((s) => `${s.operation} ${s.name}`);
}

let program: BringUp;
beforeAll(async () => {
  program = await bringUp(unitTestAddressPlan());
});

describe("rebuilding region A after it was lost for good", () => {
  const lost = [primary.database.linode, primary.app(0).linode, primary.app(1).linode];
  let rebuilt: Evaluation;
  beforeAll(async () => {
    rebuilt = await evaluatePrimary(
      unitTestAddressPlan(),
      program.dr,
      {},
      {
        previous: program.primary,
        replacements: Object.fromEntries(lost.map((name) => [name, 1])),
      },
    );
  });

  it("gives each rebuilt Linode a new id and the next free addresses", () => {
    const before = program.primary.byName(primary.database.linode);
    const after = rebuilt.byName(primary.database.linode);
    expect(after.id).not.toBe(before.id);
    expect(before.state.ipv4s).toEqual(["198.51.100.10", "192.168.128.10"]);
    expect(after.state.ipv4s).toEqual(["198.51.100.110", "192.168.128.110"]);
    expect(rebuilt.byName(primary.app(1).linode).state.ipAddress).toBe("198.51.100.121");
  });

  it("pulumi up -s primary creates the lost Linodes and replaces or deletes nothing else", () => {
    const steps = planChanges(withoutResources(program.primary, lost), rebuilt);
    expect(linodeSteps(withoutResources(program.primary, lost), rebuilt).sort()).toEqual(
      lost.map((name) => `create ${name}`).sort(),
    );
    expect(steps.filter((s) => s.operation === "delete")).toEqual([]);
    // The converge commands now reach the new addresses, after their Linode exists.
    const converge = steps.find((s) => s.name === primary.database.converge)!;
    expect(converge.operation).toBe("update");
    expect(converge.after).toContain(primary.database.linode);
    // The NodeBalancer keeps its address (the records do not move); its nodes follow the apps.
    expect(steps.map((s) => s.name)).not.toContain(primary.loadBalancer.nodeBalancer);
    expect(steps.find((s) => s.name === primary.loadBalancer.node(0))?.changedKeys).toEqual(["address"]);
  });

  it("the new database Linode joins: its user data says it does not found the cluster", () => {
    const userData = String(rebuilt.byName(primary.database.linode).inputs.metadatas[0].userData);
    const decoded = Buffer.from(userData, "base64").toString("utf8");
    expect(decoded).toMatch(/FOUNDER=false/);
  });

  it("pulumi up -s dr then admits them by converge: no Linode of region B or the witness is replaced", async () => {
    const admitted = await evaluateDr(unitTestAddressPlan(), rebuilt, {}, { previous: program.dr });
    const steps = planChanges(program.dr, admitted);
    expect(linodeSteps(program.dr, admitted)).toEqual([]);
    const updated = steps.map((s) => s.name);
    expect(updated).toEqual(expect.arrayContaining([dr.database.converge, witness.converge]));
    expect(steps.filter((s) => s.operation !== "update")).toEqual([]);
  });
});

describe("rebuilding the witness", () => {
  it("pulumi up -s dr creates only the witness Linode; pulumi up -s primary then updates converge only", async () => {
    const gone = [witness.linode];
    const rebuilt = await evaluateDr(
      unitTestAddressPlan(),
      program.primary,
      {},
      {
        previous: program.dr,
        replacements: { [witness.linode]: 1 },
      },
    );
    expect(rebuilt.byName(witness.linode).state.ipAddress).toBe("192.0.2.140");
    expect(linodeSteps(withoutResources(program.dr, gone), rebuilt)).toEqual([`create ${witness.linode}`]);
    const admitted = await evaluatePrimary(unitTestAddressPlan(), rebuilt, {}, { previous: program.primary });
    expect(linodeSteps(program.primary, admitted)).toEqual([]);
    expect(planChanges(program.primary, admitted).map((s) => s.name)).toContain(primary.database.converge);
  });
});

describe("the address plan", () => {
  it("refuses more replacements than a /24 holds, naming the Linode and the bound", () => {
    expect(() => unitTestAddressPlan().linode(primary.database.linode, "us-ord", 3)).toThrow(
      `address plan: ${primary.database.linode} replaced 3 times; expected a whole number from 0 to 2`,
    );
  });
});
