import type { Validator } from "./validators";

/** What a row of the schema table says about one config key, and the helpers to write one. */

export const ROLES = ["primary", "dr"] as const;
export type Role = (typeof ROLES)[number];

/** Raw config as strings, keyed without the project prefix. Missing keys are undefined. */
export type RawConfig = Readonly<Record<string, string | undefined>>;

/** A key without a value default: required, or allowed to stay unset. */
export class Unset<K extends "required" | "optional"> {
  constructor(readonly kind: K) {}
}

/** No default: a stack that accepts the key must set it. */
export const REQUIRED = new Unset("required");
/** May stay unset: its field is then absent from StackConfig. */
export const OPTIONAL = new Unset("optional");

/** A default computed from other keys; `text` is how Pulumi.yaml's description and the README show it. */
export class Derived<T> {
  constructor(
    readonly text: string,
    readonly value: (raw: RawConfig) => T,
  ) {}
}

export type Default<T> = T | Unset<"required"> | Unset<"optional"> | Derived<T>;

/**
 * The stacks that accept a key. A single-stack key stays unset (or at its default, which Pulumi
 * hands every stack) on the other stack; `because` tells whoever set it there why.
 */
export type Stacks = "both" | { only: Role; because: string };

export interface KeySpec<
  T,
  D extends Default<T> = Default<T>,
  S extends Stacks = Stacks,
  F extends string | null | undefined = string | null | undefined,
> {
  stacks: S;
  /** A secret's value is never quoted in an error, and Pulumi.yaml marks it `secret: true`. */
  secret: boolean;
  default: D;
  /** One line, for Pulumi.yaml and the README table. */
  description: string;
  validator: Validator<T>;
  /**
   * Where the value lands in StackConfig: "group.name" nests it, omitted means the key's own name,
   * null means only a derived field reads it (derived.ts).
   */
  field?: F;
}

/** One schema row; the type parameters keep the literal types that StackConfig is inferred from. */
export function key<
  T,
  const D extends Default<T>,
  const S extends Stacks,
  const F extends string | null | undefined = undefined,
>(spec: KeySpec<T, D, S, F>): KeySpec<T, D, S, F> {
  return spec;
}

/** Any row, for code that walks the table without caring about each key's type. */
export type AnyKeySpec = KeySpec<unknown>;

export type Schema = Readonly<Record<string, AnyKeySpec>>;

export function acceptedOn(spec: AnyKeySpec, role: Role): boolean {
  return spec.stacks === "both" || spec.stacks.only === role;
}

/**
 * The value a key has when it is not set, or when its value is refused: its default; undefined for
 * an optional key, or a required key on the stack that does not take it; the validator's
 * placeholder for a missing required key (that problem already stops the run).
 */
export function unsetValue(spec: AnyKeySpec, raw: RawConfig, role: Role): unknown {
  const d: unknown = spec.default;
  if (d instanceof Derived) return d.value(raw);
  if (d instanceof Unset) {
    return d.kind === "required" && acceptedOn(spec, role) ? spec.validator.placeholder : undefined;
  }
  return d;
}
