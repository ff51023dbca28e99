import { describe, expect, it } from "vitest";
import { baseConfig } from "../../evaluation/configs";
import { evaluateStack, primaryOutputsFixture, type Evaluation } from "../../evaluation/evaluate";
import { caRollProblem } from "../../stacks/caGuard";

/**
 * Each stack signs its members with a CA of its own, whose key never leaves its state, and every
 * member trusts both stacks' CAs. A CA is rolled in steps ("1" -> "1,2" -> "2,1" -> "2"), and a step
 * that would have a member present a certificate some member does not trust yet is refused before
 * anything is declared.
 */
const DR_STACK = "acme/linode-dr/dr";

function primary(config: Record<string, string>, previous?: Evaluation, drTrusted?: unknown) {
  return evaluateStack({
    stack: "primary",
    config: baseConfig("primary", { drStack: DR_STACK, ...config }),
    ...(previous ? { previous } : {}),
    stackOutputs: {
      [DR_STACK]: {
        outputs: {
          databasePublicIpv4: "203.0.113.10",
          witnessPublicIpv4: "192.0.2.40",
          ...(drTrusted ? { trustedCaGenerations: drTrusted, caGenerations: [1], caCertsPem: "" } : {}),
        },
      },
    },
  });
}

describe("the CA guard, as a table", () => {
  const cases: [string, Parameters<typeof caRollProblem>[0], RegExp | undefined][] = [
    [
      "first update of a stack",
      { role: "primary", generations: [1], own: undefined, peer: undefined },
      undefined,
    ],
    [
      "introducing a new CA (the old one still signs)",
      {
        role: "primary",
        generations: [1, 2],
        own: { primary: [1], dr: [1] },
        peer: { stack: DR_STACK, trusted: { primary: [1], dr: [1] } },
      },
      undefined,
    ],
    [
      "signing with a CA this stack's members were never given",
      { role: "primary", generations: [2, 1], own: { primary: [1], dr: [1] }, peer: undefined },
      /this stack's members do not trust it yet \(they trust 1\)[\s\S]*certificateAuthorities 1,2 -s <this stack>/,
    ],
    [
      "signing with a CA the other stack's members were not given yet",
      {
        role: "dr",
        generations: [2, 1],
        own: { primary: [1], dr: [1, 2] },
        peer: { stack: "acme/linode-dr/primary", trusted: { primary: [1], dr: [1] } },
      },
      /the members of stack acme\/linode-dr\/primary do not trust it yet \(they trust 1\)[\s\S]*Run pulumi up -s acme\/linode-dr\/primary first/,
    ],
    [
      "switching once both stacks trust it",
      {
        role: "dr",
        generations: [2, 1],
        own: { primary: [1], dr: [1, 2] },
        peer: { stack: "acme/linode-dr/primary", trusted: { primary: [1], dr: [1, 2] } },
      },
      undefined,
    ],
    [
      "retiring the old CA",
      {
        role: "dr",
        generations: [2],
        own: { primary: [1], dr: [2, 1] },
        peer: { stack: "acme/linode-dr/primary", trusted: { primary: [1], dr: [2, 1] } },
      },
      undefined,
    ],
    [
      "bring-up step 2: the primary's members know no dr CA yet (they admit its members at step 3)",
      {
        role: "dr",
        generations: [1],
        own: undefined,
        peer: { stack: "acme/linode-dr/primary", trusted: { primary: [1], dr: [] } },
      },
      undefined,
    ],
  ];
  for (const [what, args, refusal] of cases) {
    it(`${refusal ? "refuses" : "allows"} ${what}`, () => {
      const problem = caRollProblem(args);
      if (refusal) expect(problem).toMatch(refusal);
      else expect(problem).toBeUndefined();
    });
  }
});

describe("each stack's CA", { timeout: 30_000 }, () => {
  it("signs only that stack's members, and no stack output carries a CA key", async () => {
    const fixture = await primaryOutputsFixture();
    const dr = await evaluateStack({ stack: "dr", config: baseConfig("dr"), stackOutputs: fixture });
    for (const [cert, ca] of [
      ["dr-db-cert-cert", "dr-ca"],
      // The witness's issuer is its own: etcd's client port does not trust it (witnessCa.test.ts).
      ["dr-witness-cert-cert", "dr-witness-ca"],
    ]) {
      expect(dr.byName(cert).inputs.caCertPem).toBe(dr.byName(`${ca}-cert`).state.certPem);
      expect(dr.byName(cert).inputs.caPrivateKeyPem).toBe(dr.byName(`${ca}-key`).state.privateKeyPem);
    }
    // Both are published, so that region A's database verifies the witness as a peer.
    expect(String(dr.outputs.caCertsPem).match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    for (const outputs of [fixture["acme/linode-dr/primary"].outputs, dr.outputs])
      // PEM keys of the tls provider; the leadership key (OpenSSH) is the primary's, on purpose.
      expect(JSON.stringify(outputs)).not.toMatch(/BEGIN (EC )?PRIVATE KEY/);
    // The dr stack reads the primary's CA certificates (public), never a key.
    expect(dr.outputs.trustedCaGenerations).toEqual({ primary: [1], dr: [1] });
  });

  it("rolls in steps: a new CA is trusted before it signs, only the signing CA is protected, a step out of order is refused", async () => {
    const start = await primary({}, undefined, { primary: [1], dr: [1] });
    const introduced = await primary({ certificateAuthorities: "1,2" }, start, { primary: [1], dr: [1] });
    // Both CAs exist and are trusted; generation 1 still signs.
    expect(introduced.byName("primary-db-cert-cert").inputs.caCertPem).toBe(
      introduced.byName("primary-ca-cert").state.certPem,
    );
    expect(introduced.options.get("primary-ca-key")?.protect).toBe(true);
    expect(introduced.options.get("primary-ca-2-key")?.protect).toBe(false);
    expect(introduced.outputs.trustedCaGenerations).toEqual({ primary: [1, 2], dr: [1] });
    expect(String(introduced.outputs.caCertsPem).match(/BEGIN CERTIFICATE/g)).toHaveLength(2);

    // Signing with 2 before the dr stack's members trust it: refused, naming the update to run.
    await expect(
      primary({ certificateAuthorities: "2,1" }, introduced, { primary: [1], dr: [1] }),
    ).rejects.toThrow(`Run pulumi up -s ${DR_STACK} first`);
    // Skipping the introduction: refused too.
    await expect(
      primary({ certificateAuthorities: "2,1" }, start, { primary: [1, 2], dr: [1] }),
    ).rejects.toThrow("Introduce it first");
    const switched = await primary({ certificateAuthorities: "2,1" }, introduced, {
      primary: [1, 2],
      dr: [1],
    });
    // Switching which CA signs leaves the members' bundle as it was: no etcd restarts for it.
    const bundleOf = (e: Evaluation) =>
      Buffer.from(
        /^tls_ca (\S+)$/m.exec(e.byName("primary-site-db-converge").inputs.stdin as string)![1],
        "base64",
      ).toString();
    expect(bundleOf(switched)).toBe(bundleOf(introduced));
    expect(switched.byName("primary-db-cert-cert").inputs.caCertPem).toBe(
      switched.byName("primary-ca-2-cert").state.certPem,
    );
    expect(switched.options.get("primary-ca-2-key")?.protect).toBe(true);
    expect(switched.options.get("primary-ca-key")?.protect).toBe(false);
    const retired = await primary({ certificateAuthorities: "2" }, switched, { primary: [2, 1], dr: [1] });
    expect(retired.resources.some((r) => r.name.startsWith("primary-ca-key"))).toBe(false);
    expect(retired.outputs.caGenerations).toEqual([2]);
  });
});
