import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { RESOURCE_TYPE } from "../../components/resourceTypes";
import {
  ETCD_CLIENT_PORT,
  ETCD_PEER_PORT,
  PATRONI_REST_PORT,
  POSTGRES_PORT,
} from "../../provisioning/consensus";
import { baseConfig } from "../../evaluation/configs";
import { containsSecret, evaluateStack, userDataOf, type Evaluation } from "../../evaluation/evaluate";
import { stackResourceNames } from "../../stacks/resourceNames";

const { database, firewalls, loadBalancer, regionRecords, automationKey } = stackResourceNames("primary");
const app0 = stackResourceNames("primary").app(0);

describe("stack primary (bring-up step 1: dr does not exist yet)", () => {
  let primary: Evaluation;
  beforeAll(async () => {
    primary = await evaluateStack({ stack: "primary", config: baseConfig("primary") });
  });

  it("declares exactly the primary site, the zone and the region records", () => {
    // Names written out on purpose: each is a resource's identity in state, and a renamed resource
    // is replaced. The tests that look resources up use stacks/resourceNames.ts instead.
    expect(primary.resources.map((r) => `${r.type} ${r.name}`).sort()).toEqual(
      [
        `${RESOURCE_TYPE.stackReference} primary-previous`,
        `${RESOURCE_TYPE.domain} primary-zone-domain`,
        `${RESOURCE_TYPE.privateKey} primary-ca-key`,
        `${RESOURCE_TYPE.selfSignedCert} primary-ca-cert`,
        `${RESOURCE_TYPE.privateKey} primary-db-cert-key`,
        `${RESOURCE_TYPE.certRequest} primary-db-cert-csr`,
        `${RESOURCE_TYPE.locallySignedCert} primary-db-cert-cert`,
        `${RESOURCE_TYPE.randomPassword} primary-replication-password`,
        `${RESOURCE_TYPE.randomPassword} primary-app-db-password`,
        `${RESOURCE_TYPE.randomPassword} primary-superuser-password`,
        `${RESOURCE_TYPE.randomPassword} primary-rest-api-password`,
        `${RESOURCE_TYPE.privateKey} primary-automation-key`,
        `${RESOURCE_TYPE.privateKey} primary-leadership-key`,
        `${RESOURCE_TYPE.randomString} primary-artifacts-suffix`,
        `${RESOURCE_TYPE.objectStorageBucket} primary-artifacts-bucket`,
        `${RESOURCE_TYPE.objectStorageKey} primary-artifacts-writer-key`,
        `${RESOURCE_TYPE.objectStorageKey} primary-artifacts-reader-key`,
        `${RESOURCE_TYPE.objectStorageObject} primary-artifacts-release`,
        `${RESOURCE_TYPE.privateKey} primary-site-db-host-key`,
        `${RESOURCE_TYPE.randomPassword} primary-site-db-root-password`,
        `${RESOURCE_TYPE.instance} primary-site-db-linode`,
        `${RESOURCE_TYPE.command} primary-site-db-converge`,
        `${RESOURCE_TYPE.privateKey} primary-site-app-0-host-key`,
        `${RESOURCE_TYPE.randomPassword} primary-site-app-0-root-password`,
        `${RESOURCE_TYPE.instance} primary-site-app-0`,
        `${RESOURCE_TYPE.command} primary-site-app-converge-0`,
        `${RESOURCE_TYPE.privateKey} primary-site-app-1-host-key`,
        `${RESOURCE_TYPE.randomPassword} primary-site-app-1-root-password`,
        `${RESOURCE_TYPE.instance} primary-site-app-1`,
        `${RESOURCE_TYPE.command} primary-site-app-converge-1`,
        `${RESOURCE_TYPE.nodeBalancer} primary-site-lb-nodebalancer`,
        `${RESOURCE_TYPE.nodeBalancerConfig} primary-site-lb-http`,
        `${RESOURCE_TYPE.nodeBalancerNode} primary-site-lb-node-0`,
        `${RESOURCE_TYPE.nodeBalancerNode} primary-site-lb-node-1`,
        `${RESOURCE_TYPE.firewall} primary-site-fw-app`,
        `${RESOURCE_TYPE.firewall} primary-site-fw-db`,
        `${RESOURCE_TYPE.domainRecord} primary-region-records-a`,
        `${RESOURCE_TYPE.domainRecord} primary-region-records-aaaa`,
      ].sort(),
    );
  });

  it("parents every child to its component", () => {
    // Written out, like the list above: the nesting is what the names (state identities) are made of.
    expect(primary.options.get("primary-site-db-linode")?.parent).toBe("primary-site-db");
    expect(primary.options.get("primary-site-db")?.parent).toBe("primary-site");
    expect(primary.options.get("primary-site-lb-node-0")?.parent).toBe("primary-site-lb");
    expect(primary.options.get("primary-region-records-a")?.parent).toBe("primary-region-records");
  });

  it("puts every Linode and the NodeBalancer in the primary region, on Debian 12, without fixed labels", () => {
    for (const r of [
      ...primary.ofType(RESOURCE_TYPE.instance),
      ...primary.ofType(RESOURCE_TYPE.nodeBalancer),
    ]) {
      expect(r.inputs.region, r.name).toBe("us-ord");
      expect(r.inputs.label, r.name).toBeUndefined();
    }
    for (const r of primary.ofType(RESOURCE_TYPE.instance)) {
      expect(r.inputs.image).toBe("linode/debian12");
      expect(r.inputs.privateIp).toBe(true);
      // Keys travel in user data and through linode-dr-converge: authorized_keys would force a
      // new Linode on every key rotation.
      expect(r.inputs.authorizedKeys).toBeUndefined();
    }
  });

  it("gives every Linode its own root password", () => {
    const passwords = primary.ofType(RESOURCE_TYPE.instance).map((r) => r.inputs.rootPass);
    expect(new Set(passwords).size).toBe(passwords.length);
  });

  it("protects the zone and the CA that signs", () => {
    for (const name of ["primary-zone-domain", "primary-ca-key", "primary-ca-cert"]) {
      expect(primary.options.get(name)?.protect, name).toBe(true);
    }
    // The automation key rotates (automationKeys) and could not be retired if protected; the
    // automation key guard is what keeps the program from logging in with a key nobody authorized.
    expect(primary.options.get(automationKey)?.protect).toBeFalsy();
    // The cluster's passwords rotate in place (passwordGeneration): a replacement is a rotation that
    // the converge commands carry out, not a lock-out, so they are not protected.
    for (const suffix of [
      "replication-password",
      "app-db-password",
      "superuser-password",
      "rest-api-password",
    ]) {
      const name = `primary-${suffix}`;
      expect(primary.options.get(name)?.protect, name).toBeFalsy();
      expect(primary.byName(name).inputs.keepers, name).toEqual({ generation: "1" });
    }
  });

  it("protects the database, ignores its user data after first boot and keeps it secret", async () => {
    const opts = primary.options.get(database.linode);
    expect(opts?.protect).toBe(true);
    expect(opts?.ignoreChanges).toEqual(["metadatas", "image", "rootPass"]);
    expect(opts?.additionalSecretOutputs).toEqual(expect.arrayContaining(["metadatas", "rootPass"]));
    expect(await containsSecret(opts?.props.metadatas)).toBe(true);
    expect(await containsSecret(opts?.props.rootPass)).toBe(true);
  });

  it("keeps app Linodes' user data secret (it carries the DB password) and never replaces them for it", async () => {
    const opts = primary.options.get(app0.linode);
    expect(opts?.protect).toBeUndefined();
    expect(opts?.ignoreChanges).toEqual(["metadatas"]);
    expect(opts?.additionalSecretOutputs).toEqual(expect.arrayContaining(["metadatas"]));
    expect(await containsSecret(opts?.props.metadatas)).toBe(true);
    const appPassword = primary.byName("primary-app-db-password").state.result as string;
    expect(userDataOf(primary.byName(app0.linode))).toContain(appPassword);
  });

  it("renders the primary database's user data with the CA and without the removed wal_keep_segments", () => {
    const userData = userDataOf(primary.byName(database.linode));
    expect(userData.startsWith("#cloud-config\n")).toBe(true);
    expect(userData).not.toContain("wal_keep_segments");
    const caPem = primary.byName("primary-ca-cert").state.certPem as string;
    expect(userData).toContain(caPem.split("\n")[1]);
  });

  it("balances port 80 over the app Linodes' private addresses, judged by /healthz", () => {
    const config = primary.byName(loadBalancer.config).inputs;
    expect(config).toMatchObject({
      port: 80,
      protocol: "http",
      check: "http",
      checkPath: "/healthz",
      checkInterval: 5,
      checkTimeout: 3,
      checkAttempts: 2,
      checkPassive: true,
    });
    const nbId = Number(primary.byName(loadBalancer.nodeBalancer).id);
    const nodes = primary.ofType(RESOURCE_TYPE.nodeBalancerNode).sort((a, b) => a.name.localeCompare(b.name));
    expect(nodes.map((n) => n.inputs.address)).toEqual(["192.168.128.20:8080", "192.168.128.21:8080"]);
    for (const node of nodes) {
      expect(node.inputs.nodebalancerId).toBe(nbId);
      expect(node.inputs.configId).toBe(Number(primary.byName(loadBalancer.config).id));
      expect(node.inputs.mode).toBe("accept");
    }
  });

  it("configures the C service to answer /healthz well inside the NodeBalancer's check timeout", () => {
    const doc = parse(userDataOf(primary.byName(app0.linode)));
    const env = doc.write_files.find((f: { path: string }) => f.path === "/etc/linode-dr/app.env");
    expect(env.permissions).toBe("0600");
    const checkTimeoutMs = primary.byName(loadBalancer.config).inputs.checkTimeout * 1000;
    const dbTimeoutMs = Number(/^LINODE_DR_DB_TIMEOUT_MS="?(\d+)"?$/m.exec(env.content)?.[1]);
    expect(dbTimeoutMs).toBe(1500);
    expect(dbTimeoutMs).toBeLessThan(checkTimeoutMs);
    expect(env.content).toMatch(/^LINODE_DR_LISTEN_PORT="?8080"?$/m);
    // The app reaches its own region's database on the private address.
    expect(env.content).toContain("192.168.128.10");
  });

  it("drops inbound traffic except the app port from NodeBalancers and SSH from admins", () => {
    const app = primary.byName(firewalls.app).inputs;
    expect(app.inboundPolicy).toBe("DROP");
    expect(app.inbounds).toEqual([
      {
        label: "app-from-nodebalancer",
        action: "ACCEPT",
        protocol: "TCP",
        ports: "8080",
        ipv4s: ["192.168.255.0/24"],
      },
      { label: "ssh-admin", action: "ACCEPT", protocol: "TCP", ports: "22", ipv4s: ["192.0.2.0/28"] },
    ]);
    const appIds = primary
      .ofType(RESOURCE_TYPE.instance)
      .filter((r) => r.name.includes("-app-"))
      .map((r) => Number(r.id))
      .sort();
    expect([...app.linodes].sort()).toEqual(appIds);
  });

  it("admits PostgreSQL only from this region's app Linodes, and Patroni's API from admins, until the dr stack is known", () => {
    const db = primary.byName(firewalls.database).inputs;
    expect(db.inboundPolicy).toBe("DROP");
    expect(db.inbounds).toEqual([
      { label: "ssh-admin", action: "ACCEPT", protocol: "TCP", ports: "22", ipv4s: ["192.0.2.0/28"] },
      {
        label: "pg-from-app",
        action: "ACCEPT",
        protocol: "TCP",
        ports: String(POSTGRES_PORT),
        ipv4s: ["192.168.128.20/32", "192.168.128.21/32"],
      },
      {
        label: "patroni-rest",
        action: "ACCEPT",
        protocol: "TCP",
        ports: String(PATRONI_REST_PORT),
        ipv4s: ["192.0.2.0/28"],
      },
    ]);
    expect(db.linodes).toEqual([Number(primary.byName(database.linode).id)]);
    // Only the reference to itself (its last drStack: stacks/founderGuard.ts); none to the dr stack.
    expect(primary.ofType(RESOURCE_TYPE.stackReference).map((r) => r.inputs.name)).toEqual([
      "acme/linode-dr/primary",
    ]);
  });

  it("owns the zone and points primary.app at its NodeBalancer with a 30 s TTL", () => {
    expect(primary.byName("primary-zone-domain").inputs).toMatchObject({
      domain: "example.com",
      type: "master",
      soaEmail: "hostmaster@example.com",
    });
    const domainId = Number(primary.byName("primary-zone-domain").id);
    expect(primary.byName(regionRecords.a).inputs).toEqual({
      domainId,
      name: "primary.app",
      recordType: "A",
      target: "198.51.100.5",
      ttlSec: 30,
    });
    expect(primary.byName(regionRecords.aaaa).inputs).toMatchObject({
      name: "primary.app",
      recordType: "AAAA",
      target: "2001:db8:a::5",
    });
  });

  it("authorizes the dr stack's leadership key on its database only, through converge (never user data, which would replace the Linode)", () => {
    const publicKey = String(primary.byName("primary-leadership-key").state.publicKeyOpenssh).trim();
    const stdin = primary.byName(database.converge).inputs.stdin as string;
    expect(stdin).toContain(`leadership_key ${publicKey}\n`);
    expect(stdin).not.toContain(`authorized_key ${publicKey}`);
    expect(userDataOf(primary.byName(database.linode))).not.toContain(publicKey.split(" ")[1]);
    expect(primary.byName(app0.converge).inputs.stdin as string).not.toContain(publicKey.split(" ")[1]);
  });

  it("exports what the dr stack needs, with credentials and keys as secrets", () => {
    expect(primary.outputs).toMatchObject({
      role: "primary",
      domainId: primary.byName("primary-zone-domain").id,
      nodeBalancerIpv4: "198.51.100.5",
      databasePublicIpv4: "198.51.100.10",
      databaseServerName: "db-primary.app.example.com",
      replication: { user: "replicator", password: expect.stringMatching(/^[A-Za-z0-9]{40}$/) },
      clusterSecrets: {
        superuserPassword: expect.stringMatching(/^[A-Za-z0-9]{40}$/),
        restApiPassword: expect.stringMatching(/^[A-Za-z0-9]{40}$/),
      },
      appDatabase: { database: "app", user: "app", password: expect.stringMatching(/^[A-Za-z0-9]{40}$/) },
    });
    expect(primary.outputs.releaseSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(primary.outputs.databaseHostKey).toMatch(/^ssh-ed25519 [A-Za-z0-9+/=]+$/);
    expect(primary.outputs.leadershipPrivateKey).toMatch(/BEGIN OPENSSH PRIVATE KEY/);
    // No CA private key at all: each stack's stays in its own state.
    expect(
      Object.keys(primary.outputs).filter((k) => /private/i.test(k) && k !== "leadershipPrivateKey"),
    ).toEqual([]);
    expect(JSON.stringify(primary.outputs)).not.toContain("BEGIN EC PRIVATE KEY");
    expect(primary.outputs.caGenerations).toEqual([1]);
    expect(primary.outputs.trustedCaGenerations).toEqual({ primary: [1], dr: [] });
    for (const key of ["replication", "appDatabase", "clusterSecrets", "leadershipPrivateKey"]) {
      expect(primary.secretOutputs.has(key), key).toBe(true);
    }
    for (const key of ["domainId", "nodeBalancerIpv4", "caCertsPem", "databasePublicIpv4"]) {
      expect(primary.secretOutputs.has(key), key).toBe(false);
    }
  });
});

describe("stack primary (bring-up step 3: drStack set once dr exists)", () => {
  it("admits the dr database and the witness once the dr stack exists, and tells its database their addresses", async () => {
    const primary = await evaluateStack({
      stack: "primary",
      config: baseConfig("primary", { drStack: "acme/linode-dr/dr" }),
      stackOutputs: {
        "acme/linode-dr/dr": {
          outputs: {
            databasePublicIpv4: "203.0.113.10",
            witnessPublicIpv4: "192.0.2.40",
            appPublicIpv4s: ["203.0.113.21", "203.0.113.20"],
          },
        },
      },
    });
    expect(primary.ofType(RESOURCE_TYPE.stackReference).map((r) => r.inputs.name)).toEqual([
      "acme/linode-dr/primary",
      // The CA guard's, read before anything is declared; then the stack's own.
      "acme/linode-dr/dr",
      "acme/linode-dr/dr",
    ]);
    expect(primary.byName(firewalls.database).inputs.inbounds).toContainEqual({
      label: "pg-replication-peer",
      action: "ACCEPT",
      protocol: "TCP",
      ports: String(POSTGRES_PORT),
      ipv4s: ["203.0.113.10/32"],
    });
    expect(primary.byName(firewalls.database).inputs.inbounds).toContainEqual({
      label: "etcd-from-sites",
      action: "ACCEPT",
      protocol: "TCP",
      ports: `${ETCD_CLIENT_PORT}-${ETCD_PEER_PORT}`,
      ipv4s: ["203.0.113.10/32", "192.0.2.40/32"],
    });
    // Region B's apps write here whenever this member leads; this region's apps reach B's member.
    expect(primary.byName(firewalls.database).inputs.inbounds).toContainEqual({
      label: "pg-from-peer-apps",
      action: "ACCEPT",
      protocol: "TCP",
      ports: String(POSTGRES_PORT),
      ipv4s: ["203.0.113.20/32", "203.0.113.21/32"],
    });
    expect(userDataOf(primary.byName(app0.linode))).toMatch(
      /host='db-primary\.app\.example\.com,db-dr\.app\.example\.com' hostaddr='[0-9.]+,203\.0\.113\.10'/,
    );
    expect(primary.outputs.replicationPeerIpv4).toBe("203.0.113.10");
    const stdin = primary.byName(database.converge).inputs.stdin as string;
    expect(stdin).toContain("peer dr db-dr.app.example.com 203.0.113.10\n");
    expect(stdin).toContain("peer witness witness.app.example.com 192.0.2.40\n");
  });

  it("makes a database Linode created from now on join the surviving cluster, never found one; the running one is not replaced", async () => {
    const drOutputs = { databasePublicIpv4: "203.0.113.10", witnessPublicIpv4: "192.0.2.40" };
    const first = await evaluateStack({ stack: "primary", config: baseConfig("primary") });
    const admitted = await evaluateStack({
      stack: "primary",
      config: baseConfig("primary", { drStack: "acme/linode-dr/dr" }),
      stackOutputs: { "acme/linode-dr/dr": { outputs: drOutputs } },
    });
    expect(userDataOf(first.byName(database.linode))).toContain("FOUNDER=true\n");
    // A rebuild of region A (a lost Linode, `pulumi up -s primary`) boots from this user data.
    expect(userDataOf(admitted.byName(database.linode))).toContain("FOUNDER=false\n");
    // The running founder keeps its Linode: user data is one of the inputs it ignores.
    expect(admitted.options.get(database.linode)?.ignoreChanges).toContain("metadatas");
  });

  it("can leave the databases unprotected when asked", async () => {
    const primary = await evaluateStack({
      stack: "primary",
      config: baseConfig("primary", { protectDatabases: "false" }),
    });
    expect(primary.options.get(database.linode)?.protect).toBe(false);
  });
});
