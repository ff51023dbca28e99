import { KEY_OUTPUTS } from "./outputs";

/**
 * The program reaches its Linodes over SSH with two keys it rotates in two updates each: its
 * automation key (the Linodes must authorize the one it logs in with) and each Linode's host key
 * (the Linode must serve the one commands pin). An update that would use a key the Linodes were
 * not given is refused before anything is declared: every command would fail, and for the
 * automation key the old one would be gone from state. What the Linodes have is what this stack's
 * last completed update gave them; a stack from before rotation existed gave them generation 1.
 */
export const ROTATED_KEYS = {
  automationKeys: {
    output: KEY_OUTPUTS.authorizedAutomationKeys,
    use: (g: number) => `the commands would log in with automation key ${g}`,
    have: "authorize",
    step: "log in with it",
  },
  hostKeys: {
    output: KEY_OUTPUTS.servedHostKeys,
    use: (g: number) => `the commands would pin host key generation ${g}`,
    have: "serve",
    step: "pin it",
  },
} as const;

export type RotatedKey = keyof typeof ROTATED_KEYS;

/** The problem with using `generations` when the Linodes have `given` (undefined before the first update). */
export function keyRotationProblem(args: {
  key: RotatedKey;
  generations: readonly number[];
  given: readonly number[] | undefined;
}): string | undefined {
  const used = args.generations[0];
  if (args.given === undefined || args.given.includes(used)) return undefined;
  const words = ROTATED_KEYS[args.key];
  const listed = args.generations.join(",");
  return [
    `${args.key} is "${listed}": ${words.use(used)}, but this stack's Linodes ${words.have} only ${args.given.join(",")} (its last update).`,
    "Every command would be refused; this update stops here and changes nothing.",
    `Give them the new one first: pulumi config set ${args.key} ${[...args.given, used].join(",")} -s <this stack> && pulumi up -s <this stack>, then ${words.step} ("${listed}").`,
  ].join("\n");
}

/** Reads back what this stack's last update gave its Linodes and throws the first problem, if any. */
export async function checkRotatedKeys(
  wanted: Record<RotatedKey, readonly number[]>,
  previous: { getOutputValue(key: string): Promise<unknown> },
): Promise<void> {
  const role = await previous.getOutputValue("role");
  for (const key of Object.keys(ROTATED_KEYS) as RotatedKey[]) {
    const given = await previous.getOutputValue(ROTATED_KEYS[key].output);
    const list =
      Array.isArray(given) && given.every((n) => Number.isInteger(n)) ? (given as number[]) : undefined;
    const problem = keyRotationProblem({
      key,
      generations: wanted[key],
      given: list ?? (role === undefined ? undefined : [1]),
    });
    if (problem) throw new Error(problem);
  }
}
