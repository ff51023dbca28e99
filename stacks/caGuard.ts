import type { Role } from "../config";
import type { TrustedGenerations } from "./certificateAuthorities";
import { CA_OUTPUTS } from "./outputs";

/**
 * A CA roll is safe only if every member already trusts the CA that is about to sign: members read
 * their trusted CAs once (etcd at start, restarted by linode-dr-tls-install when its bundle
 * changes), and the other stack's members learn a new CA only at that stack's next update. So an
 * update that makes a generation the signing one is refused unless this stack's members (its own
 * last update) and the other stack's members (that stack's last update) were given it already.
 * Each refusal names the update to run first. Returns the problem, or undefined.
 */
export function caRollProblem(args: {
  role: Role;
  generations: readonly number[];
  /** This stack's last update's trustedCaGenerations; undefined before the first update. */
  own: TrustedGenerations | undefined;
  /** The other stack's last update's; undefined while this stack does not read it (or it has none). */
  peer: { stack: string; trusted: TrustedGenerations | undefined } | undefined;
}): string | undefined {
  const signing = args.generations[0];
  const other: Role = args.role === "primary" ? "dr" : "primary";
  const listed = args.generations.join(",");
  const introduce = [...new Set([...(args.own?.[args.role] ?? []), signing])].join(",");
  if (args.own && !args.own[args.role]?.includes(signing))
    return [
      `certificateAuthorities is "${listed}": CA generation ${signing} would sign this stack's member certificates, but this stack's members do not trust it yet (they trust ${args.own[args.role]?.join(",") || "none"}).`,
      "Their certificates would be refused by each other and by the other stack's members; this update stops here and changes nothing.",
      `Introduce it first: pulumi config set certificateAuthorities ${introduce} -s <this stack> && pulumi up -s <this stack>, then pulumi up -s <the ${other} stack>, then sign with it ("${listed}").`,
    ].join("\n");
  // A peer that trusts none of this stack's CAs has never admitted its members (a first bring-up):
  // they join once that stack's next update gives its members this stack's CAs.
  const peerTrust = args.peer?.trusted?.[args.role] ?? [];
  if (args.peer && peerTrust.length > 0 && !peerTrust.includes(signing))
    return [
      `certificateAuthorities is "${listed}": CA generation ${signing} would sign this stack's member certificates, but the members of stack ${args.peer.stack} do not trust it yet (they trust ${peerTrust.join(",")}).`,
      "They would refuse this stack's members; this update stops here and changes nothing.",
      `Run pulumi up -s ${args.peer.stack} first (it takes in this stack's CAs), then this update again.`,
    ].join("\n");
  return undefined;
}

/** A stack output read back as TrustedGenerations; undefined when absent or not of that shape. */
export function asTrustedGenerations(value: unknown): TrustedGenerations | undefined {
  if (value === null || typeof value !== "object") return undefined;
  const v = value as Record<string, unknown>;
  const list = (x: unknown) => Array.isArray(x) && x.every((n) => Number.isInteger(n));
  return list(v.primary) && list(v.dr) ? { primary: v.primary as number[], dr: v.dr as number[] } : undefined;
}

/**
 * Reads what both stacks' last updates gave their members to trust (this stack's through the
 * reference to itself, the other's when this stack reads it) and throws the problem, if any.
 */
export async function checkCaRoll(
  role: Role,
  generations: readonly number[],
  previous: { getOutputValue(key: string): Promise<unknown> },
  peer: { stack: string; getOutputValue(key: string): Promise<unknown> } | undefined,
): Promise<void> {
  const [own, peerTrusted] = await Promise.all([
    previous.getOutputValue(CA_OUTPUTS.trustedCaGenerations),
    peer?.getOutputValue(CA_OUTPUTS.trustedCaGenerations),
  ]);
  const problem = caRollProblem({
    role,
    generations,
    own: asTrustedGenerations(own),
    peer: peer ? { stack: peer.stack, trusted: asTrustedGenerations(peerTrusted) } : undefined,
  });
  if (problem) throw new Error(problem);
}
