import { beforeAll, describe, expect, it } from "vitest";
import { DATABASE_IGNORED_INPUTS } from "../../components/database";
import { FORCE_NEW_INSTANCE_INPUTS } from "../../components/linodeInstance";
import { baseConfig } from "../../evaluation/configs";
import { evaluateStack, primaryOutputsFixture, type Evaluation } from "../../evaluation/evaluate";
import type { StackOutputsFixture } from "../../evaluation/mocks";
import { RESOURCE_TYPE } from "../../components/resourceTypes";
import { drResourceNames, stackResourceNames } from "../../stacks/resourceNames";

const { database, firewalls, automationKey } = stackResourceNames("dr");
const app0 = stackResourceNames("dr").app(0);
const { witness } = drResourceNames();

/**
 * Day two: routine changes (a rotated operator key, a new image default, a new release) must reach
 * running Linodes through commands, never by replacing a database Linode or every app Linode at
 * once; and every command must trust exactly one host key.
 */
const NEW_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIRotatedOperatorKeyForTests ops2@example.com";

let fixture: Record<string, StackOutputsFixture>;
let before: Evaluation;
beforeAll(async () => {
  fixture = await primaryOutputsFixture();
  before = await evaluateStack({ stack: "dr", config: baseConfig("dr"), stackOutputs: fixture });
});

function instances(e: Evaluation) {
  return e.ofType(RESOURCE_TYPE.instance);
}

/** Inputs of `name` that differ between two evaluations. */
function changed(a: Evaluation, b: Evaluation, name: string): string[] {
  const x = a.byName(name).inputs;
  const y = b.byName(name).inputs;
  return [...new Set([...Object.keys(x), ...Object.keys(y)])]
    .filter((k) => JSON.stringify(x[k]) !== JSON.stringify(y[k]))
    .sort();
}

describe("database Linodes survive routine changes", () => {
  it("set only these inputs, and ignore every one of them that forces a new Linode (the witness too)", () => {
    for (const stack of [database.linode, witness.linode]) {
      const inputs = Object.keys(before.byName(stack).inputs).sort();
      expect(inputs).toEqual(["image", "metadatas", "privateIp", "region", "rootPass", "tags", "type"]);
      const forceNew = inputs.filter((k) => (FORCE_NEW_INSTANCE_INPUTS as readonly string[]).includes(k));
      expect([...(before.options.get(stack)?.ignoreChanges ?? [])].sort()).toEqual(forceNew);
      expect([...DATABASE_IGNORED_INPUTS].sort()).toEqual(forceNew);
    }
  });

  it("a rotated operator key changes no ForceNew input and reaches every Linode through its converge command", async () => {
    const rotated = await evaluateStack({
      stack: "dr",
      config: baseConfig("dr", { sshPublicKeys: JSON.stringify([NEW_KEY]) }),
      stackOutputs: fixture,
    });
    // User data changes (new keys for a future first boot) but it is ignored on existing Linodes.
    expect(changed(before, rotated, database.linode)).toEqual(["metadatas"]);
    expect(changed(before, rotated, app0.linode)).toEqual(["metadatas"]);
    expect(rotated.options.get(app0.linode)?.ignoreChanges).toEqual(["metadatas"]);
    for (const command of [database.converge, app0.converge]) {
      expect(changed(before, rotated, command), command).toEqual(["stdin"]);
      const stdin = rotated.byName(command).inputs.stdin as string;
      expect(stdin).toContain(`authorized_key ${NEW_KEY}\n`);
      // The program's own key stays authorized, so this very command can still log in next time.
      const automation = (rotated.byName(automationKey).state.publicKeyOpenssh as string).trim();
      expect(stdin).toContain(`authorized_key ${automation}\n`);
    }
  });
});

describe("certificates renew in place", () => {
  const certChain = ["dr-db-cert", "dr-witness-cert"];

  it("live a year and are renewed by any update in their last 90 days", () => {
    for (const cert of certChain) {
      const inputs = before.byName(`${cert}-cert`).inputs;
      expect(inputs.validityPeriodHours, cert).toBe(365 * 24);
      expect(inputs.earlyRenewalHours, cert).toBe(90 * 24);
      expect(inputs.allowedUses).toEqual([
        "digital_signature",
        "key_encipherment",
        "server_auth",
        "client_auth",
      ]);
    }
  });

  it("a raised certificateGeneration gives the database and the witness new keys and certificates through converge, replacing no Linode", async () => {
    const rotated = await evaluateStack({
      stack: "dr",
      config: baseConfig("dr", { certificateGeneration: "2" }),
      stackOutputs: fixture,
    });
    for (const cert of certChain) {
      // The engine replaces a resource whose replacementTrigger changed.
      expect(before.byName(`${cert}-key`).replacementTrigger).toBe(1);
      expect(rotated.byName(`${cert}-key`).replacementTrigger).toBe(2);
      expect(rotated.byName(`${cert}-key`).state.privateKeyPem).not.toBe(
        before.byName(`${cert}-key`).state.privateKeyPem,
      );
      expect(changed(before, rotated, `${cert}-cert`)).toEqual(["certRequestPem"]);
    }
    // The new identity reaches each running member through its converge command...
    for (const [command, cert] of [
      [database.converge, "dr-db-cert"],
      [witness.converge, "dr-witness-cert"],
    ]) {
      expect(changed(before, rotated, command), command).toEqual(["stdin"]);
      const stdin = rotated.byName(command).inputs.stdin as string;
      const line = (kind: string) =>
        Buffer.from(stdin.match(new RegExp(`^${kind} (\\S+)$`, "m"))![1], "base64").toString();
      expect(line("tls_cert")).toBe(rotated.byName(`${cert}-cert`).state.certPem);
      expect(line("tls_key")).toBe(rotated.byName(`${cert}-key`).state.privateKeyPem);
      // The bundle: the dr stack's own CAs (its databases' and the witness's) and the primary
      // stack's, nothing else.
      const blocks = (pem: unknown) =>
        String(pem).match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
      expect(blocks(line("tls_ca"))).toHaveLength(3);
      expect(blocks(line("tls_ca")).sort()).toEqual(
        [
          ...blocks(rotated.outputs.caCertsPem),
          ...blocks(fixture["acme/linode-dr/primary"].outputs.caCertsPem),
        ].sort(),
      );
    }
    // ...and secret there: the stdin carries the private key.
    expect(rotated.options.get(database.converge)?.additionalSecretOutputs).toContain("stdin");
    expect(rotated.options.get(witness.converge)?.additionalSecretOutputs).toContain("stdin");
    // User data changes for a future first boot only; every Linode ignores it, the app Linodes'
    // commands do not run at all.
    for (const linode of [database.linode, witness.linode, app0.linode]) {
      const keys = changed(before, rotated, linode);
      expect(
        keys.every((k) => (rotated.options.get(linode)?.ignoreChanges ?? []).includes(k)),
        linode,
      ).toBe(true);
    }
    expect(changed(before, rotated, app0.converge)).toEqual([]);
  });
});

describe("passwords rotate in place", () => {
  /** The `secret <name>` lines of a converge command's stdin, decoded. */
  function secretLines(e: Evaluation, command: string): Record<string, string> {
    const stdin = e.byName(command).inputs.stdin as string;
    return Object.fromEntries(
      [...stdin.matchAll(/^secret (\S+) (\S+)$/gm)].map(([, name, b64]) => [
        name,
        Buffer.from(b64, "base64").toString(),
      ]),
    );
  }
  const primaryNames = stackResourceNames("primary");
  const primaryApp0 = primaryNames.app(0);

  it("a raised passwordGeneration gives every database member and app new passwords through converge, replacing no Linode, in both stacks", async () => {
    const primaryBefore = await evaluateStack({ stack: "primary", config: baseConfig("primary") });
    const primaryAfter = await evaluateStack({
      stack: "primary",
      config: baseConfig("primary", { passwordGeneration: "2" }),
    });
    const drAfter = await evaluateStack({
      stack: "dr",
      config: baseConfig("dr"),
      stackOutputs: await primaryOutputsFixture(primaryAfter),
    });
    const old = secretLines(primaryBefore, primaryNames.database.converge);
    expect(Object.keys(old).sort()).toEqual(["app", "replication", "rest", "superuser"]);
    for (const [evaluation, beforeIt, names] of [
      [primaryAfter, primaryBefore, primaryNames],
      [drAfter, before, stackResourceNames("dr")],
    ] as const) {
      const fresh = secretLines(evaluation, names.database.converge);
      // The same passwords in both stacks (the dr stack reads them), every one of them new.
      expect(fresh).toEqual(secretLines(primaryAfter, primaryNames.database.converge));
      for (const name of Object.keys(old)) expect(fresh[name], name).not.toBe(old[name]);
      expect(changed(beforeIt, evaluation, names.database.converge)).toEqual(["stdin"]);
      const appStdin = evaluation.byName(names.app(0).converge).inputs.stdin as string;
      const appEnv = Buffer.from(/^app_env (\S+)$/m.exec(appStdin)![1], "base64").toString();
      expect(appEnv).toContain(fresh.app);
      // No Linode is replaced: what changed (user data for a future first boot) is ignored.
      for (const instance of instances(evaluation)) {
        const keys = changed(beforeIt, evaluation, instance.name);
        expect(
          keys.every((k) => (evaluation.options.get(instance.name)?.ignoreChanges ?? []).includes(k)),
          `${instance.name} changes ${keys.join(", ")}`,
        ).toBe(true);
      }
      // Secret in state: the stdin carries them.
      expect(evaluation.options.get(names.database.converge)?.additionalSecretOutputs).toContain("stdin");
    }
    // Only the passwords are new: nothing else the program generates changes with them.
    const regenerated = primaryAfter
      .ofType(RESOURCE_TYPE.randomPassword)
      .filter((r) => r.state.result !== primaryBefore.byName(r.name).state.result)
      .map((r) => r.name)
      .sort();
    expect(regenerated).toEqual(
      ["app-db-password", "replication-password", "rest-api-password", "superuser-password"].map(
        (suffix) => `primary-${suffix}`,
      ),
    );
    // The first app takes a new app password only after the database's converge has given it to
    // the role.
    expect(primaryAfter.options.get(primaryApp0.converge)?.dependsOn).toContain(
      primaryNames.database.converge,
    );
  });
});

describe("remote commands", () => {
  it("each trust exactly the host key the program generated for their Linode", () => {
    const targets: Record<string, string> = {
      [database.converge]: database.hostKey,
      [app0.converge]: app0.hostKey,
    };
    for (const [command, hostKey] of Object.entries(targets)) {
      const connection = before.byName(command).inputs.connection as Record<string, unknown>;
      expect(connection.hostKey, command).toBe(
        (before.byName(hostKey).state.publicKeyOpenssh as string).trim(),
      );
      expect(connection.user).toBe("root");
      expect(connection.privateKey).toBe(before.byName(automationKey).state.privateKeyOpenssh);
    }
  });

  it("install each Linode's host key with cloud-init, and keep password logins off", async () => {
    const { userDataOf } = await import("../../evaluation/evaluate");
    const { parse } = await import("yaml");
    for (const instance of instances(before)) {
      const doc = parse(userDataOf(instance)) as Record<string, unknown>;
      // Databases and the witness name their Linode "<component>-linode"; app Linodes "<tier>-<n>".
      const hostKeyName = instance.name.endsWith("-linode")
        ? instance.name.replace(/-linode$/, "-host-key")
        : `${instance.name}-host-key`;
      const key = before.byName(hostKeyName).state;
      expect(doc.ssh_pwauth, instance.name).toBe(false);
      expect(doc.ssh_keys).toEqual({
        ed25519_private: key.privateKeyOpenssh,
        ed25519_public: (key.publicKeyOpenssh as string).trim(),
      });
    }
  });

  it("wait for the firewall that admits the operator", () => {
    expect(before.options.get(database.converge)?.dependsOn).toEqual([firewalls.database]);
    expect(before.options.get(app0.converge)?.dependsOn).toEqual([firewalls.app, database.converge]);
  });

  it("fetch the current release by sha256 before converging, bounded by a timeout", () => {
    const sha = before.outputs.releaseSha256 as string;
    expect(before.byName(database.converge).inputs.create).toBe(
      `timeout 3600 /usr/local/sbin/linode-dr-fetch-release ${sha} && timeout 3600 /usr/local/sbin/linode-dr-converge database`,
    );
    expect(before.byName(app0.converge).inputs.create).toContain("linode-dr-converge app");
  });

  it("tell the app's deploy how long the NodeBalancer needs to notice a drain", () => {
    // 1 s health cache + 5 s interval x (2 attempts + 1 of margin) + 3 s timeout.
    expect(before.byName(app0.converge).inputs.stdin).toContain("\ndrain_seconds 19\n");
  });
});
