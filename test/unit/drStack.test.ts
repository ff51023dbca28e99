import { beforeAll, describe, expect, it } from "vitest";
import type { StackOutputsFixture } from "../../evaluation/mocks";
import { baseConfig } from "../../evaluation/configs";
import {
  containsSecret,
  evaluateStack,
  primaryOutputsFixture,
  userDataOf,
  type Evaluation,
} from "../../evaluation/evaluate";
import { RESOURCE_TYPE } from "../../components/resourceTypes";
import {
  ETCD_CLIENT_PORT,
  ETCD_PEER_PORT,
  PATRONI_REST_PORT,
  POSTGRES_PORT,
} from "../../provisioning/consensus";
import { drResourceNames, linodeRoleOf, stackResourceNames } from "../../stacks/resourceNames";

const { database, firewalls, artifacts, loadBalancer, regionRecords, automationKey } =
  stackResourceNames("dr");
const app0 = stackResourceNames("dr").app(0);
const { witness, traffic, leadership } = drResourceNames();

let fixture: Record<string, StackOutputsFixture>;
beforeAll(async () => {
  fixture = await primaryOutputsFixture();
});

function evaluateDr(overrides: Record<string, string> = {}): Promise<Evaluation> {
  return evaluateStack({
    stack: "dr",
    config: baseConfig("dr", overrides),
    stackOutputs: fixture,
  });
}

describe("stack dr, failover=false (normal operation)", () => {
  let dr: Evaluation;
  beforeAll(async () => {
    dr = await evaluateDr();
  });

  it("reads the primary through a StackReference, and its own last update (the traffic and CA guards)", () => {
    expect(dr.ofType(RESOURCE_TYPE.stackReference).map((r) => r.inputs.name)).toEqual([
      "acme/linode-dr/dr",
      // The CA guard's, read before anything is declared; then the stack's own.
      "acme/linode-dr/primary",
      "acme/linode-dr/primary",
    ]);
  });

  it("points the traffic records at the primary NodeBalancer with a 30 s TTL", () => {
    const primaryDomainId = Number(fixture["acme/linode-dr/primary"].outputs.domainId);
    expect(dr.byName(traffic.a).inputs).toEqual({
      domainId: primaryDomainId,
      name: "app",
      recordType: "A",
      target: "198.51.100.5",
      ttlSec: 30,
    });
    expect(dr.byName(traffic.aaaa).inputs).toMatchObject({
      name: "app",
      recordType: "AAAA",
      target: "2001:db8:a::5",
      ttlSec: 30,
    });
    expect(dr.outputs).toMatchObject({
      trafficTarget: "primary",
      trafficIpv4: "198.51.100.5",
      failover: false,
    });
  });

  it("converges leadership to the primary region on region A's own database, and the traffic records wait for that command alone", async () => {
    expect(
      dr
        .ofType(RESOURCE_TYPE.command)
        .map((c) => c.name)
        .sort(),
    ).toEqual([leadership.leader, app0.converge, database.converge, witness.converge].sort());
    const leader = dr.byName(leadership.leader);
    expect(leader.inputs.create).toBe("timeout 1200 /usr/local/sbin/linode-dr-leader primary");
    // Region A's database, reached with the primary stack's leadership key and its pinned host key:
    // moving traffic back to A never needs region B, which may be the region that was lost.
    const primaryOutputs = fixture["acme/linode-dr/primary"].outputs;
    expect(leader.inputs.connection).toMatchObject({
      host: primaryOutputs.databasePublicIpv4,
      user: "root",
      hostKey: primaryOutputs.databaseHostKey,
      privateKey: primaryOutputs.leadershipPrivateKey,
    });
    expect(await containsSecret(dr.options.get(leadership.leader)?.props.connection)).toBe(true);
    expect(dr.options.get(traffic.a)?.dependsOn).toEqual([leadership.leader]);
    expect(dr.options.get(traffic.aaaa)?.dependsOn).toEqual([leadership.leader]);
  });

  it("with automaticFailover=false, also runs the flag's command on the other member (its nofailover tag), which nothing waits for", async () => {
    for (const flag of ["false", "true"]) {
      const manual = await evaluateDr({ automaticFailover: "false", failover: flag });
      const other = manual.byName(leadership.other);
      const leader = manual.byName(leadership.leader);
      expect(other.inputs.create, flag).toBe(leader.inputs.create);
      const otherHost = (other.inputs.connection as { host: string }).host;
      const leaderHost = (leader.inputs.connection as { host: string }).host;
      expect(otherHost, flag).not.toBe(leaderHost);
      expect([otherHost, leaderHost].sort(), flag).toEqual(
        [String(fixture["acme/linode-dr/primary"].outputs.databasePublicIpv4), "203.0.113.10"].sort(),
      );
      expect(manual.options.get(leadership.other)?.dependsOn, flag).toEqual([leadership.leader]);
      expect(manual.options.get(traffic.a)?.dependsOn, flag).toEqual([leadership.leader]);
    }
    expect(dr.resources.some((r) => r.name === leadership.other)).toBe(false);
  });

  it("puts the witness in the third region, admitting etcd only from the two databases", () => {
    expect(dr.byName(witness.linode).inputs).toMatchObject({
      region: "us-iad",
      type: "g6-nanode-1",
    });
    expect(dr.options.get(witness.linode)?.ignoreChanges).toEqual(["metadatas", "image", "rootPass"]);
    // The third vote: deleting it by mistake leaves each region one failure away from no quorum.
    expect(dr.options.get(witness.linode)?.protect).toBe(true);
    expect(dr.byName(witness.firewall).inputs.inbounds).toEqual([
      { label: "ssh-admin", action: "ACCEPT", protocol: "TCP", ports: "22", ipv4s: ["192.0.2.0/28"] },
      {
        label: "etcd-from-sites",
        action: "ACCEPT",
        protocol: "TCP",
        ports: `${ETCD_CLIENT_PORT}-${ETCD_PEER_PORT}`,
        ipv4s: ["198.51.100.10/32", "203.0.113.10/32"],
      },
    ]);
    expect(dr.byName(witness.firewall).inputs.linodes).toEqual([Number(dr.byName(witness.linode).id)]);
    expect(dr.outputs.witnessPublicIpv4).toBe("192.0.2.40");
  });

  it("makes the witness and the DR database join the cluster the primary founded, by name", () => {
    const witnessUserData = userDataOf(dr.byName(witness.linode));
    expect(witnessUserData).toContain("witness.app.example.com");
    expect(witnessUserData).not.toContain("postgresql");
    const databaseUserData = userDataOf(dr.byName(database.linode));
    expect(databaseUserData).toContain("db-primary.app.example.com");
    expect(databaseUserData).toContain("198.51.100.10");
    // The peers it learns later (converge) include the witness.
    expect(dr.byName(database.converge).inputs.stdin).toContain(
      "peer witness witness.app.example.com 192.0.2.40\n",
    );
    expect(dr.byName(witness.converge).inputs.stdin).toContain(
      "peer dr db-dr.app.example.com 203.0.113.10\n",
    );
  });

  it("keeps a warm standby of standbyAppCount app Linodes behind its own NodeBalancer", () => {
    const apps = dr.ofType(RESOURCE_TYPE.instance).filter((r) => linodeRoleOf(r.name)?.tier === "app");
    expect(apps.map((r) => r.name)).toEqual([app0.linode]);
    expect(dr.ofType(RESOURCE_TYPE.nodeBalancerNode).map((n) => n.inputs.address)).toEqual([
      "192.168.129.20:8080",
    ]);
    expect(dr.byName(loadBalancer.nodeBalancer).inputs.region).toBe("us-sea");
    expect(dr.byName(regionRecords.a).inputs).toMatchObject({
      name: "dr.app",
      target: "203.0.113.5",
    });
  });

  it("makes its database a replica of the primary, verified by name over TLS", async () => {
    const userData = userDataOf(dr.byName(database.linode));
    expect(userData).toContain("198.51.100.10");
    expect(userData).toContain("db-primary.app.example.com");
    expect(userData).not.toContain("wal_keep_segments");
    const opts = dr.options.get(database.linode);
    expect(opts?.protect).toBe(true);
    expect(opts?.ignoreChanges).toEqual(["metadatas", "image", "rootPass"]);
    expect(await containsSecret(opts?.props.metadatas)).toBe(true);
  });

  it("owns a release bucket of its own in the third region, so a DR Linode never depends on stack primary", () => {
    expect(dr.byName(artifacts.bucket).inputs).toMatchObject({
      region: "us-iad",
      acl: "private",
    });
    expect(dr.byName(artifacts.release).inputs).toMatchObject({
      bucket: dr.byName(artifacts.bucket).inputs.label,
      region: "us-iad",
      key: `releases/${dr.outputs.releaseSha256}.tar`,
      acl: "private",
    });
    const userData = userDataOf(dr.byName(app0.linode));
    expect(userData).toContain(`https://${dr.byName(artifacts.bucket).state.hostname}/releases`);
  });

  it("gives its apps both members, its own first, verified by name against both stacks' CAs", () => {
    const userData = userDataOf(dr.byName(app0.linode));
    expect(userData).toContain(
      `host='db-dr.app.example.com,db-primary.app.example.com' hostaddr='192.168.129.10,198.51.100.10'`,
    );
    expect(userData).toContain("target_session_attrs=read-write sslmode=verify-full");
    expect(userData).toContain("channel_binding=require");
  });

  it("admits the primary database for replication (for failback), its own app Linodes and the primary's", () => {
    expect(dr.byName(firewalls.database).inputs.inbounds).toEqual([
      { label: "ssh-admin", action: "ACCEPT", protocol: "TCP", ports: "22", ipv4s: ["192.0.2.0/28"] },
      {
        label: "pg-from-app",
        action: "ACCEPT",
        protocol: "TCP",
        ports: String(POSTGRES_PORT),
        ipv4s: ["192.168.129.20/32"],
      },
      {
        label: "pg-replication-peer",
        action: "ACCEPT",
        protocol: "TCP",
        ports: String(POSTGRES_PORT),
        ipv4s: ["198.51.100.10/32"],
      },
      {
        // Region A's apps write here whenever this member leads.
        label: "pg-from-peer-apps",
        action: "ACCEPT",
        protocol: "TCP",
        ports: String(POSTGRES_PORT),
        ipv4s: ["198.51.100.20/32", "198.51.100.21/32"],
      },
      {
        label: "etcd-from-sites",
        action: "ACCEPT",
        protocol: "TCP",
        ports: `${ETCD_CLIENT_PORT}-${ETCD_PEER_PORT}`,
        ipv4s: ["198.51.100.10/32", "192.0.2.40/32"],
      },
      {
        label: "patroni-rest",
        action: "ACCEPT",
        protocol: "TCP",
        ports: String(PATRONI_REST_PORT),
        // The peer database, the witness (the traffic follower reads who leads), the admins.
        ipv4s: ["198.51.100.10/32", "192.0.2.40/32", "192.0.2.0/28"],
      },
    ]);
  });

  it("labels firewalls uniquely per project and stack", () => {
    expect(dr.byName(firewalls.app).inputs.label).toBe("linode-dr-dr-app");
    expect(dr.byName(firewalls.database).inputs.label).toBe("linode-dr-dr-db");
  });
});

describe("stack dr, failover=true", () => {
  let dr: Evaluation;
  beforeAll(async () => {
    dr = await evaluateDr({ failover: "true" });
  });

  it("makes the DR member the leader with the idempotent leader command, host key pinned, key kept secret", async () => {
    const leader = dr.byName(leadership.leader);
    expect(leader.inputs.create).toBe("timeout 1200 /usr/local/sbin/linode-dr-leader dr");
    expect(leader.inputs.delete).toBeUndefined();
    expect(leader.inputs.connection).toMatchObject({
      host: "203.0.113.10",
      user: "root",
      hostKey: dr.byName(database.hostKey).state.publicKeyOpenssh.trim(),
      privateKey: dr.byName(automationKey).state.privateKeyOpenssh,
    });
    const opts = dr.options.get(leadership.leader);
    expect(await containsSecret(opts?.props.connection)).toBe(true);
    expect(opts?.additionalSecretOutputs).toContain("connection");
    // Current scripts and peers first, and never racing the firewall that admits the operator.
    expect(opts?.dependsOn).toEqual([database.converge, witness.converge]);
    // The converge command it waits for waits for the firewall that admits the operator.
    expect(dr.options.get(database.converge)?.dependsOn).toContain(firewalls.database);
  });

  it("moves the traffic records to the DR NodeBalancer only after the leader command", () => {
    expect(dr.byName(traffic.a).inputs.target).toBe("203.0.113.5");
    expect(dr.byName(traffic.aaaa).inputs.target).toBe("2001:db8:b::5");
    expect(dr.options.get(traffic.a)?.dependsOn).toEqual([leadership.leader]);
    expect(dr.options.get(traffic.aaaa)?.dependsOn).toEqual([leadership.leader]);
    expect(dr.outputs).toMatchObject({
      trafficTarget: "dr",
      trafficIpv4: "203.0.113.5",
      failover: true,
      leadershipLog: "promoted",
    });
  });

  it("passes --force only when forceFailover is set", async () => {
    const forced = await evaluateDr({ failover: "true", forceFailover: "true" });
    expect(forced.byName(leadership.leader).inputs.create).toBe(
      "timeout 1200 /usr/local/sbin/linode-dr-leader dr --force",
    );
  });

  it("grows the DR app tier to appCount", () => {
    const nodes = dr
      .ofType(RESOURCE_TYPE.nodeBalancerNode)
      .map((n) => n.inputs.address)
      .sort();
    expect(nodes).toEqual(["192.168.129.20:8080", "192.168.129.21:8080"]);
    expect(dr.outputs.appCount).toBe(2);
  });
});

describe("stack dr with protectDatabases=false", () => {
  it("leaves the DR database and the witness unprotected, as asked", async () => {
    const dr = await evaluateDr({ protectDatabases: "false" });
    expect(dr.options.get(database.linode)?.protect).toBe(false);
    expect(dr.options.get(witness.linode)?.protect).toBe(false);
  });
});
