import { beforeAll, describe, expect, it } from "vitest";
import { FORCE_NEW_INSTANCE_INPUTS } from "../../components/linodeInstance";
import { RESOURCE_TYPE } from "../../components/resourceTypes";
import { baseConfig } from "../../evaluation/configs";
import { evaluateStack, primaryOutputsFixture, type Evaluation } from "../../evaluation/evaluate";
import { planChanges, type PlannedStep } from "../../evaluation/diff";
import { drResourceNames, stackResourceNames } from "../../stacks/resourceNames";

const { app, firewalls, loadBalancer } = stackResourceNames("dr");
const { traffic, leadership } = drResourceNames();

/**
 * Instance inputs a flip must leave alone: every input that replaces a Linode (the program's own
 * list), and two that do not but are as disruptive: a new region migrates the Linode and a new
 * type resizes it, offline meanwhile. label updates in place, but the program sets none (Linodes
 * are found by tags), so a flip must not start to.
 */
const INSTANCE_INPUTS_A_FLIP_KEEPS: readonly string[] = [
  ...FORCE_NEW_INSTANCE_INPUTS,
  "region",
  "type",
  "label",
];

/**
 * The failover flip must move traffic and promote, and nothing else: on Linode these properties
 * force a replacement (or, for a Linode, take it offline), and replacing a database Linode, a
 * NodeBalancer or a record in the middle of a disaster would destroy data or leave users with no
 * answer.
 */
const FLIP_MUST_NOT_CHANGE: Record<string, readonly string[]> = {
  [RESOURCE_TYPE.instance]: INSTANCE_INPUTS_A_FLIP_KEEPS,
  [RESOURCE_TYPE.nodeBalancer]: ["region", "label"],
  [RESOURCE_TYPE.nodeBalancerConfig]: ["nodebalancerId", "port", "protocol"],
  [RESOURCE_TYPE.nodeBalancerNode]: ["nodebalancerId", "configId", "address"],
  [RESOURCE_TYPE.domain]: ["domain", "type"],
  [RESOURCE_TYPE.domainRecord]: ["recordType", "domainId", "name"],
  [RESOURCE_TYPE.firewall]: [],
  // Every input of the TLS provider's resources forces a new key or certificate.
  [RESOURCE_TYPE.privateKey]: ["*"],
  [RESOURCE_TYPE.selfSignedCert]: ["*"],
  [RESOURCE_TYPE.certRequest]: ["*"],
  [RESOURCE_TYPE.locallySignedCert]: ["*"],
  [RESOURCE_TYPE.randomPassword]: ["*"],
  [RESOURCE_TYPE.randomString]: ["*"],
  [RESOURCE_TYPE.objectStorageBucket]: ["label", "region", "cluster"],
  [RESOURCE_TYPE.objectStorageKey]: ["bucketAccesses"],
  [RESOURCE_TYPE.objectStorageObject]: ["bucket", "key", "region"],
  // Not a replacement, but any input change reruns the command: a flip must not start a rollout.
  [RESOURCE_TYPE.command]: ["*"],
};

interface Diff {
  added: string[];
  removed: string[];
  changed: Record<string, string[]>;
}

/**
 * The plan `pulumi up` would run (evaluation/diff.ts), as created, deleted and updated names. An
 * input in the resource's ignoreChanges is no update; the last test below compares those of the
 * existing Linodes (metadatas, image, rootPass) byte for byte anyway.
 */
function diff(from: Evaluation, to: Evaluation): Diff {
  const steps = planChanges(from, to);
  const names = (operation: PlannedStep["operation"]) =>
    steps
      .filter((s) => s.operation === operation)
      .map((s) => s.name)
      .sort();
  return {
    added: names("create"),
    removed: names("delete"),
    changed: Object.fromEntries(
      steps.filter((s) => s.operation === "update").map((s) => [s.name, s.changedKeys]),
    ),
  };
}

describe("flipping failover on the dr stack", () => {
  let normal: Evaluation;
  let failedOver: Evaluation;
  beforeAll(async () => {
    const stackOutputs = await primaryOutputsFixture();
    const evaluate = (failover: string) =>
      evaluateStack({
        stack: "dr",
        config: baseConfig("dr", { failover }),
        stackOutputs,
      });
    normal = await evaluate("false");
    failedOver = await evaluate("true");
  });

  const ADDED = [
    app(1).linode,
    app(1).hostKey,
    app(1).rootPassword,
    app(1).converge,
    loadBalancer.node(1),
  ].sort();
  /** The same both ways: the flag's command, the records' targets, the firewalls' lists. */
  const CHANGED = {
    // The command line and where it runs: the member the flag names.
    [leadership.leader]: ["connection", "create"],
    [traffic.a]: ["target"],
    [traffic.aaaa]: ["target"],
    [firewalls.app]: ["linodes"],
    [firewalls.database]: ["inbounds"],
  };

  it("false → true: reruns the leader command, adds one app Linode with its node, retargets the records, nothing else", () => {
    expect(diff(normal, failedOver)).toEqual({
      added: ADDED,
      removed: [],
      changed: CHANGED,
    });
    expect(failedOver.byName(leadership.leader).inputs.create).toBe(
      "timeout 1200 /usr/local/sbin/linode-dr-leader dr",
    );
  });

  it("true → false: the exact reverse, leadership converging back to the primary", () => {
    const back = diff(failedOver, normal);
    expect(back).toEqual({
      added: [],
      removed: ADDED,
      changed: CHANGED,
    });
    // Flipping back reruns the same command towards the primary (a switchover back); nothing is
    // ever removed that could run a delete command.
    expect(normal.byName(leadership.leader).inputs.create).toBe(
      "timeout 1200 /usr/local/sbin/linode-dr-leader primary",
    );
    expect(failedOver.byName(leadership.leader).inputs.delete).toBeUndefined();
  });

  it("adds the new app node to the NodeBalancer only after its app is verified, one node after another", () => {
    expect(failedOver.options.get(loadBalancer.node(1))?.dependsOn).toEqual([app(1).converge]);
    expect(failedOver.options.get(app(1).converge)?.dependsOn).toEqual([firewalls.app, app(0).converge]);
  });

  it("changes no property that would replace a Linode, NodeBalancer, domain or record, or take a Linode offline", () => {
    const { changed } = diff(normal, failedOver);
    // The one command meant to rerun: it is the flag.
    delete changed[leadership.leader];
    for (const [name, keys] of Object.entries(changed)) {
      const type = normal.byName(name).type;
      const triggers = FLIP_MUST_NOT_CHANGE[type];
      expect(triggers, `no replacement list for ${type}`).toBeDefined();
      expect(
        keys.filter((k) => triggers.includes(k) || triggers.includes("*")),
        name,
      ).toEqual([]);
    }
  });

  it("leaves those inputs of existing Linodes byte-identical, ignored ones (user data, image, root password) too", () => {
    for (const before of normal.ofType(RESOURCE_TYPE.instance)) {
      const after = failedOver.byName(before.name);
      for (const key of INSTANCE_INPUTS_A_FLIP_KEEPS) {
        expect(JSON.stringify(after.inputs[key]), `${before.name}.${key}`).toBe(
          JSON.stringify(before.inputs[key]),
        );
      }
    }
  });
});
