import { drResourceNames, stackResourceNames } from "../stacks/resourceNames";
import type { AddressPlan } from "./addressPlan";
import { baseConfig } from "./configs";
import { evaluateStack, userDataOf, type EvaluateOptions, type Evaluation } from "./evaluate";

export interface BringUp {
  /** Region A's Linodes boot from step 1's user data: they are created then (the founder among them). */
  primaryDatabase: string;
  primaryApp: string;
  drDatabase: string;
  drApp: string;
  witness: string;
  /** Stack primary after bring-up step 3 (drStack set: the dr database and witness admitted). */
  primary: Evaluation;
  /** Stack primary at step 1, whose user data region A's Linodes first booted from. */
  primaryAtFirstUp: Evaluation;
  dr: Evaluation;
}

/** Stack outputs of an evaluation as a StackReference to it sees them. */
export function stackReferenceTo(evaluation: Evaluation): {
  outputs: Record<string, unknown>;
  secretOutputNames: string[];
} {
  return { outputs: evaluation.outputs, secretOutputNames: [...evaluation.secretOutputs] };
}

export const PRIMARY_STACK = "acme/linode-dr/primary";
export const DR_STACK = "acme/linode-dr/dr";

/**
 * The bring-up order of the README: stack primary (step 1), stack dr reading primary's outputs
 * (step 2), stack primary again with drStack set (step 3), and each Linode's decoded #cloud-config.
 * Region A's Linodes boot from step 1's user data, as on a real bring-up: the primary database
 * founds the cluster, and learns the other members' addresses from its converge command at step 3
 * (step 3's user data says "join", for a database Linode created later: a rebuild). `primaryOverrides`/`drOverrides` are raw config values, e.g. { replicaWaitTimeoutSeconds: "120" }.
 */
export async function bringUp(
  plan: AddressPlan,
  primaryOverrides: Record<string, string> = {},
  drOverrides: Record<string, string> = {},
): Promise<BringUp> {
  const primary = await evaluateStack({
    stack: "primary",
    config: baseConfig("primary", primaryOverrides),
    addressPlan: plan,
  });
  const dr = await evaluateDr(plan, primary, drOverrides);
  const admitted = await evaluatePrimary(plan, dr, primaryOverrides);
  return {
    primaryDatabase: userDataOf(primary.byName(stackResourceNames("primary").database.linode)),
    primaryApp: userDataOf(primary.byName(stackResourceNames("primary").app(0).linode)),
    drDatabase: userDataOf(dr.byName(stackResourceNames("dr").database.linode)),
    drApp: userDataOf(dr.byName(stackResourceNames("dr").app(0).linode)),
    witness: userDataOf(dr.byName(drResourceNames().witness.linode)),
    primary: admitted,
    primaryAtFirstUp: primary,
    dr,
  };
}

/**
 * Stack dr with `overrides` (e.g. { failover: "true" }), reading stack primary's outputs; `since`
 * is what the update finds: the stack's last applied evaluation and the records Linode serves.
 */
export function evaluateDr(
  plan: AddressPlan,
  primary: Evaluation,
  overrides: Record<string, string> = {},
  since: Pick<EvaluateOptions, "previous" | "liveRecords" | "replacements"> = {},
): Promise<Evaluation> {
  return evaluateStack({
    stack: "dr",
    config: baseConfig("dr", overrides),
    addressPlan: plan,
    stackOutputs: { [PRIMARY_STACK]: stackReferenceTo(primary) },
    ...since,
  });
}

/**
 * Stack primary after bring-up (drStack set), reading stack dr's outputs; `since` is what the
 * update finds (its last applied evaluation, the Linodes replaced since bring-up).
 */
export function evaluatePrimary(
  plan: AddressPlan,
  dr: Evaluation,
  overrides: Record<string, string> = {},
  since: Pick<EvaluateOptions, "previous" | "replacements"> = {},
): Promise<Evaluation> {
  return evaluateStack({
    stack: "primary",
    config: baseConfig("primary", { ...overrides, drStack: DR_STACK }),
    addressPlan: plan,
    stackOutputs: { [DR_STACK]: stackReferenceTo(dr) },
    ...since,
  });
}
