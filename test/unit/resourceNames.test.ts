import { beforeAll, describe, expect, it } from "vitest";
import type { Role } from "../../config";
import { ROLES } from "../../config/keySpec";
import { RESOURCE_TYPE, type ResourceType } from "../../components/resourceTypes";
import { unitTestAddressPlan } from "../../evaluation/addressPlan";
import { bringUp, evaluateDr, type BringUp } from "../../evaluation/bringUp";
import type { Evaluation } from "../../evaluation/evaluate";
import {
  drResourceNames,
  linodeResourceNames,
  linodeRoleOf,
  stackResourceNames,
  type LinodeResourceNames,
  type LinodeRole,
} from "../../stacks/resourceNames";

/**
 * The lab, the drill and the tests find the program's resources by these names, so each must name
 * a resource both stacks really declare, of the type it stands for; and linodeRoleOf must know
 * every Linode, since the lab maps each declared Linode to a host by it.
 */
describe("resource names by role", () => {
  let program: BringUp;
  /** Stack dr with failover=true: its app tier at full size, like the primary's. */
  let failedOver: Evaluation;
  beforeAll(async () => {
    program = await bringUp(unitTestAddressPlan());
    failedOver = await evaluateDr(unitTestAddressPlan(), program.primary, { failover: "true" });
  }, 60_000);
  const evaluationOf = (role: Role): Evaluation => (role === "primary" ? program.primary : failedOver);

  function expectLinode(evaluation: Evaluation, names: LinodeResourceNames): void {
    const typeOf = (name: string): string => evaluation.byName(name).type;
    expect(typeOf(names.linode), names.linode).toBe(RESOURCE_TYPE.instance);
    expect(typeOf(names.converge), names.converge).toBe(RESOURCE_TYPE.command);
    expect(typeOf(names.hostKey), names.hostKey).toBe(RESOURCE_TYPE.privateKey);
    expect(typeOf(names.rootPassword), names.rootPassword).toBe(RESOURCE_TYPE.randomPassword);
    if (names.certificate !== undefined)
      expect(typeOf(names.certificate), names.certificate).toBe(RESOURCE_TYPE.locallySignedCert);
  }

  it("name each stack's Linodes, NodeBalancer, firewalls, records, bucket and key as declared", () => {
    for (const role of ROLES) {
      const evaluation = evaluationOf(role);
      const expectType = (name: string, type: ResourceType): void =>
        expect(evaluation.byName(name).type, name).toBe(type);
      const names = stackResourceNames(role);
      expectLinode(evaluation, names.database);
      for (const index of [0, 1]) expectLinode(evaluation, names.app(index));
      expectType(names.loadBalancer.nodeBalancer, RESOURCE_TYPE.nodeBalancer);
      expectType(names.loadBalancer.config, RESOURCE_TYPE.nodeBalancerConfig);
      for (const index of [0, 1]) expectType(names.loadBalancer.node(index), RESOURCE_TYPE.nodeBalancerNode);
      expectType(names.firewalls.app, RESOURCE_TYPE.firewall);
      expectType(names.firewalls.database, RESOURCE_TYPE.firewall);
      expectType(names.regionRecords.a, RESOURCE_TYPE.domainRecord);
      expectType(names.regionRecords.aaaa, RESOURCE_TYPE.domainRecord);
      expectType(names.artifacts.bucket, RESOURCE_TYPE.objectStorageBucket);
      expectType(names.artifacts.release, RESOURCE_TYPE.objectStorageObject);
      expectType(names.automationKey, RESOURCE_TYPE.privateKey);
    }
  });

  it("name stack dr's witness, traffic records and leader command as declared", () => {
    const { witness, traffic, leadership } = drResourceNames();
    for (const dr of [program.dr, failedOver]) {
      expectLinode(dr, witness);
      expect(dr.byName(witness.firewall).type).toBe(RESOURCE_TYPE.firewall);
      expect(dr.byName(traffic.a).inputs.recordType).toBe("A");
      expect(dr.byName(traffic.aaaa).inputs.recordType).toBe("AAAA");
      expect(dr.byName(leadership.leader).type).toBe(RESOURCE_TYPE.command);
      expect(dr.options.get(leadership.leader)?.parent).toBe(leadership.component);
    }
  });

  it("linodeRoleOf knows every Instance of both stacks, and only Instances", () => {
    const roles: LinodeRole[] = [];
    for (const evaluation of [program.primary, failedOver]) {
      for (const resource of evaluation.resources) {
        const role = linodeRoleOf(resource.name);
        if (resource.type !== RESOURCE_TYPE.instance) {
          expect(role, resource.name).toBeUndefined();
          continue;
        }
        expect(role, resource.name).toBeDefined();
        expect(linodeResourceNames(role!).linode).toBe(resource.name);
        roles.push(role!);
      }
    }
    expect(roles).toEqual(
      expect.arrayContaining([
        { tier: "database", stack: "primary" },
        { tier: "app", stack: "primary", index: 0 },
        { tier: "app", stack: "primary", index: 1 },
        { tier: "database", stack: "dr" },
        { tier: "app", stack: "dr", index: 0 },
        { tier: "app", stack: "dr", index: 1 },
        { tier: "witness", stack: "dr" },
      ]),
    );
    expect(roles).toHaveLength(7);
    // Any index, but only as the tier spells it.
    const app = stackResourceNames("dr").app;
    expect(linodeRoleOf(app(10).linode)).toEqual({ tier: "app", stack: "dr", index: 10 });
    expect(linodeRoleOf(app(1).linode.replace(/1$/, "01"))).toBeUndefined();
  });

  // A name is the resource's identity in state: renamed, it is a new resource and the old one is
  // deleted (a database Linode with its data). So a rename must be deliberate, and fail here first.
  it("keeps the names the deployed stacks have", () => {
    expect(stackResourceNames("primary").database).toEqual({
      linode: "primary-site-db-linode",
      converge: "primary-site-db-converge",
      hostKey: "primary-site-db-host-key",
      rootPassword: "primary-site-db-root-password",
      certificate: "primary-db-cert-cert",
    });
    expect(stackResourceNames("dr").app(1)).toEqual({
      linode: "dr-site-app-1",
      converge: "dr-site-app-converge-1",
      hostKey: "dr-site-app-1-host-key",
      rootPassword: "dr-site-app-1-root-password",
    });
    expect(drResourceNames().witness).toEqual({
      linode: "dr-witness-linode",
      converge: "dr-witness-converge",
      firewall: "dr-witness-fw",
      hostKey: "dr-witness-host-key",
      rootPassword: "dr-witness-root-password",
      certificate: "dr-witness-cert-cert",
    });
    const { loadBalancer } = stackResourceNames("dr");
    expect([loadBalancer.nodeBalancer, loadBalancer.config, loadBalancer.node(1)]).toEqual([
      "dr-site-lb-nodebalancer",
      "dr-site-lb-http",
      "dr-site-lb-node-1",
    ]);
    expect(stackResourceNames("dr").firewalls).toEqual({ app: "dr-site-fw-app", database: "dr-site-fw-db" });
    expect(drResourceNames().traffic).toEqual({ a: "dr-traffic-a", aaaa: "dr-traffic-aaaa" });
    expect(stackResourceNames("dr").regionRecords).toEqual({
      a: "dr-region-records-a",
      aaaa: "dr-region-records-aaaa",
    });
    expect(drResourceNames().leadership).toEqual({
      component: "dr-leadership",
      leader: "dr-leadership-leader",
      other: "dr-leadership-other",
    });
    expect(stackResourceNames("dr").artifacts).toEqual({
      bucket: "dr-artifacts-bucket",
      release: "dr-artifacts-release",
    });
    expect(stackResourceNames("dr").automationKey).toBe("dr-automation-key");
  });
});
