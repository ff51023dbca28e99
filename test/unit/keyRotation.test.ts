import { beforeAll, describe, expect, it } from "vitest";
import { RESOURCE_TYPE } from "../../components/resourceTypes";
import { automationKeyName, hostIdentityChildNames } from "../../components/hostIdentity";
import { baseConfig } from "../../evaluation/configs";
import { evaluateStack, primaryOutputsFixture, userDataOf, type Evaluation } from "../../evaluation/evaluate";
import type { StackOutputsFixture } from "../../evaluation/mocks";
import { keyRotationProblem } from "../../stacks/keyGuard";
import { drResourceNames, stackComponentName, stackResourceNames } from "../../stacks/resourceNames";

/**
 * The program reaches its Linodes only with its own automation key. It rotates in two updates of a
 * stack ("1" -> "1,2": authorize the new key, "1,2" -> "2": log in with it, retire the old), and an
 * update that would log in with a key the Linodes were not given is refused before anything is
 * declared.
 */

describe("the key guard, as a table", () => {
  const cases: [string, Parameters<typeof keyRotationProblem>[0], RegExp | undefined][] = [
    ["first update of a stack", { key: "automationKeys", generations: [1], given: undefined }, undefined],
    [
      "authorizing a new key (the old one logs in)",
      { key: "automationKeys", generations: [1, 2], given: [1] },
      undefined,
    ],
    [
      "logging in with the authorized new key",
      { key: "automationKeys", generations: [2], given: [1, 2] },
      undefined,
    ],
    [
      "a first update may start at any generation",
      { key: "automationKeys", generations: [3], given: undefined },
      undefined,
    ],
    [
      "logging in with a key never authorized",
      { key: "automationKeys", generations: [2], given: [1] },
      /automationKeys is "2": the commands would log in with automation key 2, but this stack's Linodes authorize only 1 \(its last update\)\.\n.*changes nothing\.\nGive them the new one first: pulumi config set automationKeys 1,2 -s <this stack> && pulumi up -s <this stack>, then log in with it \("2"\)\./,
    ],
    [
      "pinning a host key never served",
      { key: "hostKeys", generations: [2], given: [1] },
      /hostKeys is "2": the commands would pin host key generation 2, but this stack's Linodes serve only 1 .*\n.*\n.*pulumi config set hostKeys 1,2 .*then pin it \("2"\)/,
    ],
    ["pinning a served host key", { key: "hostKeys", generations: [2], given: [1, 2] }, undefined],
    [
      "switching and authorizing in one step",
      { key: "automationKeys", generations: [2, 1], given: [1] },
      /automationKeys is "2,1": the commands would log in with automation key 2/,
    ],
  ];
  it.each(cases)("%s", (_, args, refusal) => {
    const problem = keyRotationProblem(args);
    if (refusal === undefined) expect(problem).toBeUndefined();
    else expect(problem).toMatch(refusal);
  });
});

let fixture: Record<string, StackOutputsFixture>;
beforeAll(async () => {
  fixture = await primaryOutputsFixture();
});

function dr(automationKeys: string, previous?: Evaluation, hostKeys = "1") {
  return evaluateStack({
    stack: "dr",
    config: baseConfig("dr", { automationKeys, hostKeys }),
    stackOutputs: fixture,
    ...(previous ? { previous } : {}),
  });
}

const owner = stackComponentName("dr");
const publicKey = (e: Evaluation, generation: number) =>
  String(e.byName(automationKeyName(owner, generation)).state.publicKeyOpenssh).trim();
const privateKey = (e: Evaluation, generation: number) =>
  String(e.byName(automationKeyName(owner, generation)).state.privateKeyOpenssh);

/** Every remote command of the stack that logs in with the stack's automation key, by name. */
function automationCommands(e: Evaluation, keys: string[]): Map<string, string> {
  return new Map(
    e
      .ofType(RESOURCE_TYPE.command)
      .map((c) => [c.name, String((c.inputs.connection as { privateKey?: string }).privateKey)] as const)
      .filter(([, key]) => keys.includes(key)),
  );
}

/** The automation keys among the `authorized_key` lines of each converge command. */
function authorizedByConverge(e: Evaluation, candidates: string[]): Map<string, string[]> {
  return new Map(
    e
      .ofType(RESOURCE_TYPE.command)
      .filter((c) => c.name.includes("converge"))
      .map((c) => {
        const lines = String(c.inputs.stdin).split("\n");
        return [c.name, candidates.filter((key) => lines.includes(`authorized_key ${key}`))] as const;
      }),
  );
}

describe("an automation key rotation", () => {
  it("authorizes the new key everywhere while the old one logs in, then logs in with the new one and retires the old, replacing no Linode", async () => {
    const before = await dr("1");
    const introduced = await dr("1,2", before);
    const switched = await dr("2", introduced);
    const [k1, k2] = [publicKey(introduced, 1), publicKey(introduced, 2)];
    const [p1, p2] = [privateKey(introduced, 1), privateKey(introduced, 2)];
    // Generation 1 is the key a stack had before rotation existed: the same resource, the same key.
    expect(publicKey(before, 1)).toBe(k1);

    const loggingIn = automationCommands(introduced, [p1, p2]);
    expect([...loggingIn.keys()]).toEqual(
      expect.arrayContaining(["dr-site-db-converge", "dr-site-app-converge-0", "dr-witness-converge"]),
    );
    expect([...loggingIn.values()].every((key) => key === p1)).toBe(true);
    for (const [command, keys] of authorizedByConverge(introduced, [k1, k2]))
      expect(keys, command).toEqual([k1, k2]);

    expect(switched.resources.some((r) => r.name === automationKeyName(owner, 1))).toBe(false);
    expect(publicKey(switched, 2)).toBe(k2);
    const nowLoggingIn = automationCommands(switched, [p1, p2]);
    expect([...nowLoggingIn.keys()].sort()).toEqual([...loggingIn.keys()].sort());
    expect([...nowLoggingIn.values()].every((key) => key === p2)).toBe(true);
    for (const [command, keys] of authorizedByConverge(switched, [k1, k2]))
      expect(keys, command).toEqual([k2]);

    // No Linode changes an input it does not ignore.
    for (const [a, b] of [
      [before, introduced],
      [introduced, switched],
    ])
      for (const linode of b.ofType(RESOURCE_TYPE.instance)) {
        const x = a.byName(linode.name).inputs;
        const ignored = b.options.get(linode.name)?.ignoreChanges ?? [];
        const changed = Object.keys(linode.inputs).filter(
          (k) => JSON.stringify(x[k]) !== JSON.stringify(linode.inputs[k]) && !ignored.includes(k),
        );
        expect(changed, linode.name).toEqual([]);
      }
    // Published for the guard of the next update.
    expect(introduced.outputs.authorizedAutomationKeys).toEqual([1, 2]);
    expect(switched.outputs.authorizedAutomationKeys).toEqual([2]);
  });

  it("refuses to log in with a key the Linodes were never given, naming the update to run first", async () => {
    const before = await dr("1");
    await expect(dr("2", before)).rejects.toThrow(/pulumi config set automationKeys 1,2 -s <this stack>/);
    // A stack deployed before rotation existed has no such output: its Linodes authorize key 1.
    const legacy = {
      ...before,
      outputs: { ...before.outputs, authorizedAutomationKeys: undefined },
    } as Evaluation;
    await expect(dr("2", legacy)).rejects.toThrow(/authorize only 1/);
  });
});

describe("a host key rotation", () => {
  const { database, witness } = {
    database: stackResourceNames("dr").database,
    witness: drResourceNames().witness,
  };
  /** The host keys a converge command installs (its host_key lines), as public keys. */
  const installed = (e: Evaluation, command: string) =>
    String(e.byName(command).inputs.stdin)
      .split("\n")
      .filter((l) => l.startsWith("host_key "))
      .map((l) => Buffer.from(l.slice("host_key ".length), "base64").toString());
  const hostKey = (e: Evaluation, linode: string, generation: number) =>
    e.byName(hostIdentityChildNames(linode.replace(/-linode$/, ""), generation).hostKey).state;

  it("serves the new key beside the old while commands pin the old, then pins the new and retires the old, replacing no Linode", async () => {
    const before = await dr("1");
    const introduced = await dr("1", before, "1,2");
    const switched = await dr("1", introduced, "2");
    for (const [linode, converge] of [
      [database.linode, database.converge],
      [witness.linode, witness.converge],
    ]) {
      const [k1, k2] = [hostKey(introduced, linode, 1), hostKey(introduced, linode, 2)];
      // Consecutive generations differ in type, so sshd serves both during the rotation.
      expect(String(k1.publicKeyOpenssh)).toMatch(/^ssh-ed25519 /);
      expect(String(k2.publicKeyOpenssh)).toMatch(/^ecdsa-sha2-nistp256 /);
      expect(installed(introduced, converge)).toEqual([k1.privateKeyOpenssh, k2.privateKeyOpenssh]);
      const pin = (e: Evaluation) =>
        String((e.byName(converge).inputs.connection as { hostKey: string }).hostKey);
      expect(pin(introduced)).toBe(String(k1.publicKeyOpenssh).trim());
      expect(installed(switched, converge)).toEqual([k2.privateKeyOpenssh]);
      expect(pin(switched)).toBe(String(k2.publicKeyOpenssh).trim());
      expect(
        switched.resources.some(
          (r) => r.name === hostIdentityChildNames(linode.replace(/-linode$/, "")).hostKey,
        ),
      ).toBe(false);
      // A Linode made now would boot serving the pinned key (ECDSA): cloud-init writes that type.
      const userData = userDataOf(switched.byName(linode));
      expect(userData).toContain("ecdsa_private:");
      expect(userData).not.toContain("ed25519_private:");
      // The existing Linode ignores its new user data: nothing that would replace it changes.
      const ignored = switched.options.get(linode)?.ignoreChanges ?? [];
      const x = introduced.byName(linode).inputs;
      const y = switched.byName(linode).inputs;
      expect(
        Object.keys(y).filter((k) => JSON.stringify(x[k]) !== JSON.stringify(y[k]) && !ignored.includes(k)),
      ).toEqual([]);
    }
    expect(introduced.outputs.servedHostKeys).toEqual([1, 2]);
    expect(switched.outputs.servedHostKeys).toEqual([2]);
  });

  it("refuses to pin a host key the Linodes do not serve yet", async () => {
    const before = await dr("1");
    await expect(dr("1", before, "2")).rejects.toThrow(
      /hostKeys is "2": the commands would pin host key generation 2/,
    );
  });
});
