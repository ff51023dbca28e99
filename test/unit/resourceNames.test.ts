import { beforeAll, describe, expect, it } from "vitest";
import type { Role } from "../../config";
import { ROLES } from "../../config/keySpec";
import { RESOURCE_TYPE, type ResourceType } from "../../components/resourceTypes";
import { unitTestAddressPlan } from "../../evaluation/addressPlan";
import { bringUp, evaluateDr, type BringUp } from "../../evaluation/bringUp";
import type { Evaluation } from "../../evaluation/evaluate";
import {
  appResourceNames,
  artifactStoreResourceNames,
  automationKeyResourceName,
  databaseResourceNames,
  leadershipResourceNames,
  linodeResourceNames,
  linodeRoleOf,
  loadBalancerResourceNames,
  regionRecordResourceNames,
  siteFirewallResourceNames,
  trafficRecordResourceNames,
  witnessResourceNames,
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
  });
  const evaluationOf = (role: Role): Evaluation => (role === "primary" ? program.primary : failedOver);

  function expectLinode(evaluation: Evaluation, names: LinodeResourceNames): void {
    const typeOf = (name: string): string => evaluation.byName(name).type;
    expect(typeOf(names.linode), names.linode).toBe(RESOURCE_TYPE.instance);
    expect(typeOf(names.converge), names.converge).toBe(RESOURCE_TYPE.command);
    expect(typeOf(names.hostKey), names.hostKey).toBe(RESOURCE_TYPE.privateKey);
    expect(typeOf(names.rootPassword), names.rootPassword).toBe(RESOURCE_TYPE.randomPassword);
  }

  it("name each stack's Linodes, NodeBalancer, firewalls, records, bucket and key as declared", () => {
    for (const role of ROLES) {
      const evaluation = evaluationOf(role);
      const expectType = (name: string, type: ResourceType): void =>
        expect(evaluation.byName(name).type, name).toBe(type);
      expectLinode(evaluation, databaseResourceNames(role));
      for (const index of [0, 1]) expectLinode(evaluation, appResourceNames(role, index));
      const balancer = loadBalancerResourceNames(role);
      expectType(balancer.nodeBalancer, RESOURCE_TYPE.nodeBalancer);
      expectType(balancer.config, RESOURCE_TYPE.nodeBalancerConfig);
      for (const index of [0, 1]) expectType(balancer.node(index), RESOURCE_TYPE.nodeBalancerNode);
      const firewalls = siteFirewallResourceNames(role);
      expectType(firewalls.app, RESOURCE_TYPE.firewall);
      expectType(firewalls.database, RESOURCE_TYPE.firewall);
      const records = regionRecordResourceNames(role);
      expectType(records.a, RESOURCE_TYPE.domainRecord);
      expectType(records.aaaa, RESOURCE_TYPE.domainRecord);
      const artifacts = artifactStoreResourceNames(role);
      expectType(artifacts.bucket, RESOURCE_TYPE.objectStorageBucket);
      expectType(artifacts.release, RESOURCE_TYPE.objectStorageObject);
      expectType(automationKeyResourceName(role), RESOURCE_TYPE.privateKey);
    }
  });

  it("name stack dr's witness, traffic records and leader command as declared", () => {
    for (const dr of [program.dr, failedOver]) {
      expectLinode(dr, witnessResourceNames());
      expect(dr.byName(witnessResourceNames().firewall).type).toBe(RESOURCE_TYPE.firewall);
      const traffic = trafficRecordResourceNames();
      expect(dr.byName(traffic.a).inputs.recordType).toBe("A");
      expect(dr.byName(traffic.aaaa).inputs.recordType).toBe("AAAA");
      const leadership = leadershipResourceNames();
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
    expect(linodeRoleOf(`${appResourceNames("dr", 1).linode}0`)).toEqual({
      tier: "app",
      stack: "dr",
      index: 10,
    });
    expect(linodeRoleOf(appResourceNames("dr", 1).linode.replace(/1$/, "01"))).toBeUndefined();
  });

  // A name is the resource's identity in state: renamed, it is a new resource and the old one is
  // deleted (a database Linode with its data). So a rename must be deliberate, and fail here first.
  it("keeps the names the deployed stacks have", () => {
    expect(databaseResourceNames("primary")).toEqual({
      linode: "primary-site-db-linode",
      converge: "primary-site-db-converge",
      hostKey: "primary-site-db-host-key",
      rootPassword: "primary-site-db-root-password",
    });
    expect(appResourceNames("dr", 1)).toEqual({
      linode: "dr-site-app-1",
      converge: "dr-site-app-converge-1",
      hostKey: "dr-site-app-1-host-key",
      rootPassword: "dr-site-app-1-root-password",
    });
    expect(witnessResourceNames()).toEqual({
      linode: "dr-witness-linode",
      converge: "dr-witness-converge",
      firewall: "dr-witness-fw",
      hostKey: "dr-witness-host-key",
      rootPassword: "dr-witness-root-password",
    });
    const balancer = loadBalancerResourceNames("dr");
    expect([balancer.nodeBalancer, balancer.config, balancer.node(1)]).toEqual([
      "dr-site-lb-nodebalancer",
      "dr-site-lb-http",
      "dr-site-lb-node-1",
    ]);
    expect(siteFirewallResourceNames("dr")).toEqual({ app: "dr-site-fw-app", database: "dr-site-fw-db" });
    expect(trafficRecordResourceNames()).toEqual({ a: "dr-traffic-a", aaaa: "dr-traffic-aaaa" });
    expect(regionRecordResourceNames("dr")).toEqual({
      a: "dr-region-records-a",
      aaaa: "dr-region-records-aaaa",
    });
    expect(leadershipResourceNames()).toEqual({ component: "dr-leadership", leader: "dr-leadership-leader" });
    expect(artifactStoreResourceNames("dr")).toEqual({
      bucket: "dr-artifacts-bucket",
      release: "dr-artifacts-release",
    });
    expect(automationKeyResourceName("dr")).toBe("dr-automation-key");
  });
});
