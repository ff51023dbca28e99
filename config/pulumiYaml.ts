import { parseDocument } from "yaml";
import { Derived, Unset, type AnyKeySpec, type Schema } from "./keySpec";

/** Pulumi.yaml's `config:` block, generated from the schema table; the rest of the file is kept as is. */

interface PulumiConfigEntry {
  type: string;
  items?: { type: "string" };
  description: string;
  secret?: true;
  default?: unknown;
}

/**
 * Pulumi refuses to run a stack that lacks a key declared without a default, so only keys required
 * on both stacks go without one. Every other key without a value default gets "", which parseConfig
 * reads as unset (a single-stack required key is then enforced by parseConfig on its own stack).
 */
function pulumiDefault(spec: AnyKeySpec): { default?: unknown } {
  const d: unknown = spec.default;
  if (d instanceof Unset) return d.kind === "required" && spec.stacks === "both" ? {} : { default: "" };
  if (d instanceof Derived) return { default: "" };
  return { default: spec.validator.written ? spec.validator.written(d) : d };
}

export function pulumiConfigBlock(schema: Schema): Record<string, PulumiConfigEntry> {
  const block: Record<string, PulumiConfigEntry> = {};
  for (const [key, spec] of Object.entries(schema)) {
    const type = spec.validator.pulumiType;
    block[key] = {
      type,
      // Every list key is a list of strings (validators.stringList).
      ...(type === "array" ? { items: { type: "string" as const } } : {}),
      description: spec.description,
      ...(spec.secret ? { secret: true as const } : {}),
      ...pulumiDefault(spec),
    };
  }
  return block;
}

/** `current` with its `config:` block replaced by the one the table generates. */
export function renderPulumiYaml(current: string, schema: Schema): string {
  const doc = parseDocument(current);
  if (doc.errors.length > 0) throw new Error(`Pulumi.yaml does not parse: ${doc.errors[0].message}`);
  doc.set("config", pulumiConfigBlock(schema));
  // lineWidth 0: one line per description, as Prettier leaves them.
  return doc.toString({ lineWidth: 0 });
}
