import { AUTOMATION_OUTPUTS } from "./outputs";

/**
 * The program reaches its Linodes only with its automation key, so it must never log in with a key
 * the Linodes were not given: an update that would is refused before anything is declared (the
 * key it would log in with is not authorized anywhere yet, and the old one would be gone). What
 * the Linodes authorize is what this stack's last completed update gave them; a stack from before
 * the rotation existed gave them generation 1. Returns the problem, or undefined.
 */
export function automationKeyProblem(args: {
  generations: readonly number[];
  /** Generations this stack's last update authorized; undefined before the first update. */
  authorized: readonly number[] | undefined;
}): string | undefined {
  const signIn = args.generations[0];
  if (args.authorized === undefined || args.authorized.includes(signIn)) return undefined;
  const listed = args.generations.join(",");
  const introduce = [...args.authorized, signIn].join(",");
  return [
    `automationKeys is "${listed}": the commands would log in with automation key ${signIn}, but this stack's Linodes authorize only ${args.authorized.join(",")} (its last update).`,
    "Every command would be refused and the program could no longer reach its Linodes; this update stops here and changes nothing.",
    `Authorize it first: pulumi config set automationKeys ${introduce} -s <this stack> && pulumi up -s <this stack>, then log in with it ("${listed}").`,
  ].join("\n");
}

/**
 * Reads back what this stack's last update authorized and throws the problem, if any. A stack with
 * outputs but without that one was deployed before key rotation existed: generation 1.
 */
export async function checkAutomationKeys(
  generations: readonly number[],
  previous: { getOutputValue(key: string): Promise<unknown> },
): Promise<void> {
  const [authorized, role] = await Promise.all([
    previous.getOutputValue(AUTOMATION_OUTPUTS.authorizedAutomationKeys),
    previous.getOutputValue("role"),
  ]);
  const list =
    Array.isArray(authorized) && authorized.every((n) => Number.isInteger(n))
      ? (authorized as number[])
      : undefined;
  const problem = automationKeyProblem({
    generations,
    authorized: list ?? (role === undefined ? undefined : [1]),
  });
  if (problem) throw new Error(problem);
}
