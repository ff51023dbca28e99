import { beforeAll, describe, expect, it } from "vitest";
import { baseConfig } from "../../evaluation/configs";
import { planChanges, renderPlan, type PlannedStep } from "../../evaluation/diff";
import {
  evaluateStack,
  primaryOutputsFixture,
  type Evaluation,
  type ResourceOptionsSeen,
} from "../../evaluation/evaluate";
import type { RecordedResource, StackOutputsFixture } from "../../evaluation/mocks";
import { RESOURCE_TYPE } from "../../components/resourceTypes";
import { drResourceNames, stackResourceNames } from "../../stacks/resourceNames";

const { database, firewalls, loadBalancer } = stackResourceNames("dr");
const app0 = stackResourceNames("dr").app(0);
const app1 = stackResourceNames("dr").app(1);
const node1 = loadBalancer.node(1);
const { witness, traffic, leadership } = drResourceNames();

/**
 * planChanges is what the drill applies as `pulumi up`: each step starts once the steps in its
 * `after` are done, so a missing edge would retarget DNS before promotion or add a NodeBalancer
 * node before its Linode exists.
 */

function step(steps: readonly PlannedStep[], name: string): PlannedStep {
  const found = steps.find((s) => s.name === name);
  if (!found) throw new Error(`no step ${name}; have: ${steps.map((s) => s.name).join(", ")}`);
  return found;
}

/** Runs the plan in an order that honours every `after` (throws if none exists). */
function runOrder(steps: readonly PlannedStep[]): string[] {
  const done: string[] = [];
  const pending = [...steps];
  while (pending.length > 0) {
    const ready = pending.filter((s) => s.after.every((a) => done.includes(a)));
    if (ready.length === 0) throw new Error(`stuck with ${pending.map((s) => s.name).join(", ")}`);
    for (const s of ready) {
      done.push(s.name);
      pending.splice(pending.indexOf(s), 1);
    }
  }
  return done;
}

let fixture: Record<string, StackOutputsFixture>;
let normal: Evaluation;
let failedOver: Evaluation;
beforeAll(async () => {
  fixture = await primaryOutputsFixture();
  const evaluate = (failover: string) =>
    evaluateStack({ stack: "dr", config: baseConfig("dr", { failover }), stackOutputs: fixture });
  normal = await evaluate("false");
  failedOver = await evaluate("true");
});

describe("planChanges: the dr failover flip (failover false → true)", () => {
  it("has exactly these steps, each waiting for exactly these", () => {
    const steps = planChanges(normal, failedOver);
    expect(Object.fromEntries(steps.map((s) => [`${s.operation} ${s.name}`, s.after]))).toEqual({
      [`create ${app1.hostKey}`]: [],
      [`create ${app1.rootPassword}`]: [],
      [`create ${app1.linode}`]: [app1.hostKey, app1.rootPassword],
      // The firewalls list the new Linode's id and private address.
      [`update ${firewalls.app}`]: [app1.linode],
      [`update ${firewalls.database}`]: [app1.linode],
      [`create ${app1.converge}`]: [firewalls.app, app1.linode, app1.hostKey],
      [`create ${node1}`]: [app1.converge, app1.linode],
      // Nothing the flip creates: the promotion never waits for a new Linode to boot.
      [`update ${leadership.leader}`]: [],
      [`update ${traffic.a}`]: [leadership.leader],
      [`update ${traffic.aaaa}`]: [leadership.leader],
    });
  });

  it("creates the new app Linode before its converge command and its NodeBalancer node, which use its addresses", () => {
    const steps = planChanges(normal, failedOver);
    const app = failedOver.byName(app1.linode);
    const converge = failedOver.byName(app1.converge);
    const node = failedOver.byName(node1);
    expect((converge.inputs.connection as { host: string }).host).toBe(app.state.ipAddress);
    expect(node.inputs.address).toBe(`${app.state.privateIpAddress}:8080`);
    expect(step(steps, app1.converge).after).toContain(app1.linode);
    expect(step(steps, node1).after).toContain(app1.linode);
    // And the node only after the app there is verified (explicit dependsOn).
    expect(step(steps, node1).after).toContain(app1.converge);
    const order = runOrder(steps);
    expect(order.indexOf(app1.linode)).toBeLessThan(order.indexOf(app1.converge));
    expect(order.indexOf(app1.converge)).toBeLessThan(order.indexOf(node1));
  });

  it("retargets both traffic records only after the leader command (dependsOn that command alone)", () => {
    const steps = planChanges(normal, failedOver);
    // The records name the named member's command, not the component: with automaticFailover=false
    // the component also holds the other member's command, which a lost region would fail.
    expect(failedOver.options.get(traffic.a)?.dependsOn).toEqual([leadership.leader]);
    expect(failedOver.options.get(leadership.leader)?.parent).toBe(leadership.component);
    expect(failedOver.options.get(traffic.a)?.inputDependencies).not.toContain(leadership.leader);
    for (const record of [traffic.a, traffic.aaaa]) {
      expect(step(steps, record).after, record).toEqual([leadership.leader]);
    }
  });

  it("names only steps of the plan in `after`, and the steps can all run", () => {
    const steps = planChanges(normal, failedOver);
    const names = new Set(steps.map((s) => s.name));
    for (const s of steps) for (const a of s.after) expect(names.has(a), `${s.name} after ${a}`).toBe(true);
    expect(runOrder(steps)).toHaveLength(steps.length);
  });
});

describe("planChanges: flipping back (failover true → false)", () => {
  it("deletes last, after every other step, and the new app Linode's dependents before it", () => {
    const steps = planChanges(failedOver, normal);
    const deletes = steps.filter((s) => s.operation === "delete");
    const others = steps.filter((s) => s.operation !== "delete").map((s) => s.name);
    expect(others).toEqual([firewalls.app, firewalls.database, leadership.leader, traffic.a, traffic.aaaa]);
    // Deletes come last, as in a preview.
    expect(steps.slice(-deletes.length)).toEqual(deletes);
    expect(Object.fromEntries(deletes.map((s) => [s.name, s.after]))).toEqual({
      [app1.hostKey]: [...others, app1.linode, app1.converge],
      [app1.rootPassword]: [...others, app1.linode],
      [app1.linode]: [...others, app1.converge, node1],
      [app1.converge]: [...others, node1],
      [node1]: others,
    });
    expect(step(steps, traffic.a).after).toEqual([leadership.leader]);
    const order = runOrder(steps);
    expect(order.indexOf(node1)).toBeLessThan(order.indexOf(app1.converge));
    expect(order.indexOf(app1.converge)).toBeLessThan(order.indexOf(app1.linode));
  });
});

describe("planChanges: ignoreChanges", () => {
  it("a rotated operator key updates the converge commands only: the Linodes' user data is ignored", async () => {
    const rotated = await evaluateStack({
      stack: "dr",
      config: baseConfig("dr", {
        sshPublicKeys: JSON.stringify([
          "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIRotatedOperatorKeyForTests ops2@example.com",
        ]),
      }),
      stackOutputs: fixture,
    });
    // The inputs differ, but `pulumi up` keeps the old value of an ignored input.
    expect(rotated.byName(database.linode).inputs.metadatas).not.toEqual(
      normal.byName(database.linode).inputs.metadatas,
    );
    const steps = planChanges(normal, rotated);
    expect(steps.map((s) => `${s.operation} ${s.name} [${s.changedKeys.join(",")}]`)).toEqual([
      `update ${database.converge} [stdin]`,
      // After the database's: one update never restarts two etcd members at once.
      `update ${witness.converge} [stdin]`,
      // After the database's: a rotated app password is the role's before an app uses it.
      `update ${app0.converge} [stdin]`,
    ]);
    expect(steps.find((s) => s.name === witness.converge)?.after).toContain(database.converge);
    expect(steps.find((s) => s.name === app0.converge)?.after).toContain(database.converge);
  });
});

describe("planChanges: malformed input", () => {
  function fake(resources: RecordedResource[], options: Record<string, Partial<ResourceOptionsSeen>> = {}) {
    const evaluation: Evaluation = {
      resources,
      options: new Map(
        Object.entries(options).map(([name, o]) => [
          name,
          { dependsOn: [], props: {}, inputDependencies: [], ...o },
        ]),
      ),
      outputs: {},
      secretOutputs: new Set(),
      byName: (name) => resources.find((r) => r.name === name)!,
      ofType: (type) => resources.filter((r) => r.type === type),
    };
    return evaluation;
  }
  const resource = (name: string, type = "t:index/x:X", inputs = {}): RecordedResource => ({
    name,
    type,
    id: name,
    inputs,
    state: {},
  });

  it("refuses a resource that changes type (that would be a replacement)", () => {
    expect(() => planChanges(fake([resource("a")]), fake([resource("a", "t:index/y:Y")]))).toThrow(
      /a changes type/,
    );
  });

  it("refuses an ignoreChanges path below the top level rather than misreading it", () => {
    const to = fake([resource("a", undefined, { x: { y: 2 } })], { a: { ignoreChanges: ["x.y"] } });
    expect(() => planChanges(fake([resource("a", undefined, { x: { y: 1 } })]), to)).toThrow(
      /ignoreChanges path "x.y"/,
    );
  });

  it("refuses a plan whose steps wait for each other", () => {
    const to = fake([resource("a"), resource("b")], {
      a: { inputDependencies: ["b"] },
      b: { inputDependencies: ["a"] },
    });
    expect(() => planChanges(fake([]), to)).toThrow(/cycle/);
  });
});

describe("renderPlan", () => {
  /** A preview line: its marker, the name padded to the widest, the type, then `rest` exactly. */
  function previewLine(marker: string, name: string, type: string, rest: string): RegExp {
    const exactly = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    return new RegExp(`^ {2}${exactly(marker)} ${exactly(name)} +${exactly(type)} {2}${exactly(rest)}$`);
  }

  it("lists each step with +, ~ or -, what it waits for, and a count line", () => {
    const forward = renderPlan("dr", planChanges(normal, failedOver)).split("\n");
    expect(forward[0]).toBe("Previewing update (dr):");
    expect(forward).toHaveLength(1 + 10 + 1);
    expect(forward.at(-1)).toBe("Resources: 5 to create, 5 to update, 0 to delete");
    expect(forward.find((l) => l.includes(node1))).toMatch(
      previewLine(
        "+",
        node1,
        RESOURCE_TYPE.nodeBalancerNode,
        `create  (after ${app1.converge}, ${app1.linode})`,
      ),
    );
    expect(forward.find((l) => l.includes(`${traffic.a} `))).toMatch(
      previewLine(
        "~",
        traffic.a,
        RESOURCE_TYPE.domainRecord,
        `update [target]  (after ${leadership.leader})`,
      ),
    );
    expect(forward.find((l) => l.includes(app1.hostKey))).toMatch(
      previewLine("+", app1.hostKey, RESOURCE_TYPE.privateKey, "create"),
    );

    const back = renderPlan("dr", planChanges(failedOver, normal)).split("\n");
    expect(back.at(-1)).toBe("Resources: 0 to create, 5 to update, 5 to delete");
    expect(back.filter((l) => l.startsWith("  - ")).map((l) => l.split(/ +/)[2])).toEqual([
      app1.hostKey,
      app1.rootPassword,
      app1.linode,
      app1.converge,
      node1,
    ]);
    expect(back.filter((l) => l.startsWith("  ~ "))).toHaveLength(5);
  });

  it("renders an empty plan as a header and a zero count", () => {
    expect(renderPlan("dr", planChanges(normal, normal))).toBe(
      "Previewing update (dr):\nResources: 0 to create, 0 to update, 0 to delete",
    );
  });
});
