import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../config";
import { PRIMARY_OUTPUTS } from "./outputs";

/**
 * The primary database founds a cluster only while the dr stack has published no member
 * (stacks/consensus.ts), and the program learns that through `drStack`. Unsetting or changing
 * `drStack` after it was set would make the next new primary database (a rebuild) found a second,
 * empty cluster; so an update of the primary stack compares it with the one its last update read
 * (its own output, through a StackReference to itself) and refuses a change before declaring
 * anything. Returns the problem, or undefined.
 */
export function drStackProblem(
  configured: string | undefined,
  applied: string | undefined,
): string | undefined {
  if (!applied || configured === applied) return undefined;
  const now = configured ? `is now "${configured}"` : "is now unset";
  return [
    `drStack was "${applied}" at the last update of this stack and ${now}.`,
    "Without the dr stack's members, a new primary database (a rebuild) would found a second, empty cluster instead of joining the one that survives; this update stops here and changes nothing.",
    `Set it back: pulumi config set drStack ${applied} -s <this stack>`,
  ].join("\n");
}

/** Reads drStack as the primary stack's last update applied it and throws the problem, if any. */
export async function checkDrStack(config: StackConfig, previous: pulumi.StackReference): Promise<void> {
  const applied = (await previous.getOutputValue(PRIMARY_OUTPUTS.drStack)) as string | undefined;
  const problem = drStackProblem(config.drStack, applied);
  if (problem) throw new Error(problem);
}
