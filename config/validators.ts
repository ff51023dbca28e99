import * as kit from "../validation/kit";
import { refused, shown, type Checked, type Rule } from "../validation/kit";

/**
 * Config validators: each reads one key's raw text (as pulumi.Config hands it over) and applies
 * the shared rule for its kind of value (validation/formats.ts). Messages quote the text received.
 */

export type { Checked, Mismatch } from "../validation/kit";

export interface Validator<T> {
  /** The key's type in Pulumi.yaml. */
  readonly pulumiType: "string" | "integer" | "boolean" | "array";
  /** What a required key that is not set should have been. */
  readonly expected: string;
  /** What the cross-key checks see when a required key is missing or wrong (the run stops anyway). */
  readonly placeholder: T;
  check(text: string): Checked<T>;
  /** The value as a user writes it, where that is not JSON (Pulumi.yaml and README defaults). */
  written?(value: T): string;
}

/** A string key: the text is the value. */
export function text(rule: Rule<string>): Validator<string> {
  return {
    pulumiType: "string",
    expected: rule.expected,
    placeholder: "",
    check: (text) => rule.check(text),
  };
}

export function oneOf<const T extends string>(options: readonly [T, ...T[]]): Validator<T> {
  const rule = kit.oneOf(options);
  return {
    pulumiType: "string",
    expected: rule.expected,
    placeholder: options[0],
    check: (text) => rule.check(text),
  };
}

/**
 * A number read from text, then held to `rule`; what is refused is quoted as written, since that
 * is what the user typed.
 */
export function integerOf(rule: Rule<number>, placeholder: number): Validator<number> {
  return {
    pulumiType: "integer",
    expected: rule.expected,
    placeholder,
    check(text) {
      // No trimming: " 8080" is a typo the user should see, not a value we guess at.
      if (!/^-?[0-9]+$/.test(text)) return refused(shown(text), rule.expected);
      const checked = rule.check(Number(text));
      if (checked.ok) return checked;
      return { ok: false, mismatches: checked.mismatches.map((m) => ({ ...m, received: shown(text) })) };
    },
  };
}

export function integer(min: number, max: number): Validator<number> {
  return integerOf(kit.integer(min, max), min);
}

export const boolean: Validator<boolean> = {
  pulumiType: "boolean",
  expected: kit.boolean.expected,
  placeholder: false,
  check: (text) =>
    text === "true"
      ? kit.accepted(true)
      : text === "false"
        ? kit.accepted(false)
        : refused(shown(text), kit.boolean.expected),
};

/**
 * A non-empty list of strings; arrays arrive from pulumi.Config as JSON text. Every item is held to
 * `item`, so that one run reports every bad item, each quoted on its own.
 */
export function stringList(item: Rule<string>): Validator<string[]> {
  const expected = "a non-empty list of strings";
  return {
    pulumiType: "array",
    expected,
    placeholder: [],
    check(text) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        return refused(shown(text), "a list of strings (YAML list in the stack file, or a JSON array)");
      }
      if (!Array.isArray(parsed) || !parsed.every((element) => typeof element === "string")) {
        return refused(shown(text), "a list of strings");
      }
      if (parsed.length === 0) return refused(shown(text), expected);
      return kit.listOf(item).check(parsed);
    },
  };
}
