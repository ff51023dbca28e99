/**
 * The validation vocabulary: a Rule checks one value of unknown type and either accepts it, typed,
 * or says what was received and what was expected. Stack config (config/) and the user-data
 * builders (provisioning/) state their values with the same rules (formats.ts).
 */

/** One thing wrong with a value: how the value is shown, and what was expected instead. */
export interface Mismatch {
  /** Already worded for a message: quoted text, a number, or only the shape of a secret. */
  received: string;
  expected: string;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; mismatches: Mismatch[] };

export interface Rule<T> {
  /** What a good value is, in plain words, to follow "expected". */
  readonly expected: string;
  /** The received value is never quoted, only its shape ("a string of 12 characters"). */
  readonly secret: boolean;
  check(value: unknown): Checked<T>;
}

/** Longer texts are cut: their start is enough to find them (SSH keys, certificates). */
const QUOTED_WHOLE_UP_TO = 80;
const QUOTED_START = 40;

/** How a received value appears in a message; a secret shows only its shape. */
export function shown(value: unknown, secret = false): string {
  if (value === undefined || value === null) return String(value);
  if (typeof value === "string") {
    if (secret) return `a string of ${value.length} characters`;
    return value.length <= QUOTED_WHOLE_UP_TO
      ? JSON.stringify(value)
      : `${JSON.stringify(value.slice(0, QUOTED_START))}... (${value.length} characters)`;
  }
  if (Array.isArray(value)) return value.length === 0 ? "an empty list" : `a list of ${value.length} items`;
  if (typeof value === "object") return "an object";
  return secret ? `a ${typeof value}` : String(value);
}

export function accepted<T>(value: T): Checked<T> {
  return { ok: true, value };
}

export function refused<T>(received: string, expected: string): Checked<T> {
  return { ok: false, mismatches: [{ received, expected }] };
}

/** The basic rule: `test` says whether a value is good. */
export function satisfying<T>(expected: string, test: (value: unknown) => value is T): Rule<T> {
  return {
    expected,
    secret: false,
    check: (value) => (test(value) ? accepted(value) : refused(shown(value), expected)),
  };
}

export function matching(pattern: RegExp, expected: string): Rule<string> {
  return satisfying(expected, (value): value is string => typeof value === "string" && pattern.test(value));
}

export function integer(min: number, max: number): Rule<number> {
  return satisfying(
    `an integer from ${min} to ${max}`,
    (value): value is number => Number.isSafeInteger(value) && Number(value) >= min && Number(value) <= max,
  );
}

export const boolean: Rule<boolean> = satisfying(
  "true or false",
  (value): value is boolean => typeof value === "boolean",
);

/** `"a" or "b"`, `"a", "b" or "c"`. */
export function oneOf<const T extends string>(options: readonly [T, ...T[]]): Rule<T> {
  const quoted = options.map((o) => JSON.stringify(o));
  const expected = quoted.length === 1 ? quoted[0] : `${quoted.slice(0, -1).join(", ")} or ${quoted.at(-1)}`;
  return satisfying(expected, (value): value is T => options.includes(value as T));
}

/** A plain object whose fields are checked one by one (InputCheck.object). */
export function object(expected: string): Rule<Record<string, unknown>> {
  return satisfying(
    expected,
    (value): value is Record<string, unknown> =>
      typeof value === "object" && value !== null && !Array.isArray(value),
  );
}

/** Every item is checked, so that one run reports every bad item, each shown on its own. */
export function listOf<T>(item: Rule<T>): Rule<T[]> {
  const expected = `a list, each item ${item.expected}`;
  return {
    expected,
    secret: item.secret,
    check(value) {
      if (!Array.isArray(value)) return refused(shown(value, item.secret), expected);
      const mismatches: Mismatch[] = [];
      const values: T[] = [];
      for (const element of value) {
        const checked = item.check(element);
        if (checked.ok) values.push(checked.value);
        else mismatches.push(...checked.mismatches);
      }
      return mismatches.length === 0 ? accepted(values) : { ok: false, mismatches };
    },
  };
}

/**
 * A stricter rule: `rule` runs only on what `base` accepted and returns what was expected instead,
 * or undefined. The message says why a well-formed value is still refused.
 */
export function refined<T>(base: Rule<T>, rule: (value: T) => string | undefined): Rule<T> {
  return {
    ...base,
    check(value) {
      const checked = base.check(value);
      if (!checked.ok) return checked;
      const expected = rule(checked.value);
      return expected === undefined ? checked : refused(shown(value, base.secret), expected);
    },
  };
}

/** The same rule, with why this value must be so after what it expects. */
export function explained<T>(base: Rule<T>, why: string): Rule<T> {
  const expected = `${base.expected} (${why})`;
  return {
    ...base,
    expected,
    check(value) {
      const checked = base.check(value);
      return checked.ok ? checked : refused(shown(value, base.secret), expected);
    },
  };
}

/** Absent (undefined) is accepted; anything else must pass `base`. */
export function optional<T>(base: Rule<T>, absentMeans: string): Rule<T | undefined> {
  const expected = `${base.expected}, or absent ${absentMeans}`;
  return {
    ...base,
    expected,
    check(value) {
      if (value === undefined) return accepted(undefined);
      const checked = base.check(value);
      return checked.ok ? checked : refused(shown(value, base.secret), expected);
    },
  };
}

/** Accepted when one of `rules` accepts it. */
export function anyOf<T>(rules: readonly Rule<T>[], expected: string): Rule<T> {
  const secret = rules.some((r) => r.secret);
  return {
    expected,
    secret,
    check(value) {
      for (const rule of rules) {
        const checked = rule.check(value);
        if (checked.ok) return checked;
      }
      return refused(shown(value, secret), expected);
    },
  };
}

/** The same rule, but whatever it refuses is shown only by its shape: passwords, keys. */
export function secret<T>(base: Rule<T>): Rule<T> {
  return {
    expected: base.expected,
    secret: true,
    check(value) {
      const checked = base.check(value);
      return checked.ok ? checked : refused(shown(value, true), base.expected);
    },
  };
}
