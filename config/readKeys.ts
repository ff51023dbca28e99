import { REQUIRED, type RawConfig, type Role, type Schema, unsetValue } from "./keySpec";
import type { Problems } from "./problems";

/** pulumi.Config hands an empty string for a key whose Pulumi.yaml default is "": that is unset. */
export function isSet(text: string | undefined): text is string {
  return text !== undefined && text !== "";
}

function refuseUnknownKeys(schema: Schema, raw: RawConfig, problems: Problems): void {
  const known = Object.keys(schema);
  for (const key of Object.keys(raw).sort()) {
    if (key in schema) continue;
    const hint = known.find((k) => k.toLowerCase() === key.toLowerCase());
    problems.unknownKey(
      key,
      `${hint ? `"${hint}" (keys are case-sensitive) or ` : ""}one of the known keys: ${known.join(", ")}`,
    );
  }
}

/**
 * Reads every key of `schema` from `raw` as its row says: unknown keys refused, required keys
 * present, each value validated, single-stack keys left alone on the other stack. Returns every
 * key's value; a refused value is replaced by the key's unset value so that the cross-key checks
 * still run (the problem already stops the run).
 */
export function readKeys(
  schema: Schema,
  raw: RawConfig,
  role: Role,
  problems: Problems,
): Record<string, unknown> {
  refuseUnknownKeys(schema, raw, problems);

  const values: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(schema)) {
    const unset = unsetValue(spec, raw, role);
    values[key] = unset;
    // Set only when this stack does not take the key: why it belongs to the other one.
    const otherStacks = spec.stacks !== "both" && spec.stacks.only !== role ? spec.stacks : undefined;

    const text = raw[key];
    if (!isSet(text)) {
      if (otherStacks === undefined && spec.default === REQUIRED)
        problems.mismatch(key, text, spec.validator.expected);
      continue;
    }

    const checked = spec.validator.check(text);
    if (!checked.ok) {
      for (const m of checked.mismatches) problems.refused(key, m);
      continue;
    }

    // Pulumi hands every stack the Pulumi.yaml default, so the other stack may hold exactly that.
    if (otherStacks !== undefined && JSON.stringify(checked.value) !== JSON.stringify(unset)) {
      const expected = unset === undefined ? "unset" : String(unset);
      problems.mismatch(key, text, `${expected} on the ${role} stack: ${otherStacks.because}`);
      continue;
    }
    values[key] = checked.value;
  }
  return values;
}
