/**
 * Validator builders: each turns one key's raw text (as pulumi.Config hands it over) into a typed
 * value, or says what was expected. Messages name what was received so that the report can quote it.
 */

/** One thing wrong with a value: what was received (the value, or one item of a list) and what was expected. */
export interface Mismatch {
  received: string;
  expected: string;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; mismatches: Mismatch[] };

export interface Validator<T> {
  /** The key's type in Pulumi.yaml. */
  readonly pulumiType: "string" | "integer" | "boolean" | "array";
  /** What a required key that is not set should have been. */
  readonly expected: string;
  /** What the cross-key checks see when a required key is missing or wrong (the run stops anyway). */
  readonly placeholder: T;
  check(text: string): Checked<T>;
}

function ok<T>(value: T): Checked<T> {
  return { ok: true, value };
}

function mismatch<T>(received: string, expected: string): Checked<T> {
  return { ok: false, mismatches: [{ received, expected }] };
}

export function matching(pattern: RegExp, expected: string): Validator<string> {
  return {
    pulumiType: "string",
    expected,
    placeholder: "",
    check: (text) => (pattern.test(text) ? ok(text) : mismatch(text, expected)),
  };
}

export function oneOf<const T extends string>(options: readonly [T, ...T[]]): Validator<T> {
  const expected = options.map((o) => JSON.stringify(o)).join(" or ");
  return {
    pulumiType: "string",
    expected,
    placeholder: options[0],
    check: (text) => (options.includes(text as T) ? ok(text as T) : mismatch(text, expected)),
  };
}

export function integer(min: number, max: number): Validator<number> {
  const expected = `an integer from ${min} to ${max}`;
  return {
    pulumiType: "integer",
    expected,
    placeholder: min,
    check: (text) => {
      const n = Number(text);
      // No trimming: " 8080" is a typo the user should see, not a value we guess at.
      const valid = /^-?[0-9]+$/.test(text) && Number.isSafeInteger(n) && n >= min && n <= max;
      return valid ? ok(n) : mismatch(text, expected);
    },
  };
}

export const boolean: Validator<boolean> = {
  pulumiType: "boolean",
  expected: "true or false",
  placeholder: false,
  check: (text) =>
    text === "true" ? ok(true) : text === "false" ? ok(false) : mismatch(text, "true or false"),
};

/**
 * A non-empty list of strings; arrays arrive from pulumi.Config as JSON text. Every item is checked
 * so that one run reports every bad item, each quoted on its own.
 */
export function stringList(checkItem: (item: string) => Mismatch | undefined): Validator<string[]> {
  const expected = "a non-empty list of strings";
  return {
    pulumiType: "array",
    expected,
    placeholder: [],
    check: (text) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        return mismatch(text, "a list of strings (YAML list in the stack file, or a JSON array)");
      }
      if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === "string")) {
        return mismatch(text, "a list of strings");
      }
      if (parsed.length === 0) return mismatch(text, expected);
      const mismatches = parsed.flatMap((item) => checkItem(item) ?? []);
      return mismatches.length === 0 ? ok(parsed) : { ok: false, mismatches };
    },
  };
}

/**
 * A stricter validator: `rule` runs only on what `base` accepted and returns what was expected
 * instead, or undefined. The message says why a well-formed value is still refused.
 */
export function refined<T>(base: Validator<T>, rule: (value: T) => string | undefined): Validator<T> {
  return {
    ...base,
    check: (text) => {
      const checked = base.check(text);
      if (!checked.ok) return checked;
      const expected = rule(checked.value);
      return expected === undefined ? checked : mismatch(text, expected);
    },
  };
}
