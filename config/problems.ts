import { shown, type Mismatch } from "../validation/kit";
import type { RawConfig, Schema } from "./keySpec";

/** The one error a bad configuration produces, and the collector that words its lines. */

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid stack configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** The texts a secret key was given: its raw value and, for a list, each item. */
function secretTexts(schema: Schema, raw: RawConfig): string[] {
  const texts: string[] = [];
  for (const [key, spec] of Object.entries(schema)) {
    const text = raw[key];
    if (!spec.secret || text === undefined || text === "") continue;
    texts.push(text);
    try {
      const parsed: unknown = JSON.parse(text);
      if (Array.isArray(parsed))
        texts.push(...parsed.filter((item): item is string => typeof item === "string"));
    } catch {
      // Not a list: the raw text alone is the secret.
    }
  }
  // Longest first, so that a secret containing another is replaced whole.
  return texts.filter((t) => t !== "").sort((a, b) => b.length - a.length);
}

/** Gathers problems so one run reports every bad key at once. */
export class Problems {
  readonly lines: string[] = [];
  private readonly secrets: string[];

  constructor(
    private readonly schema: Schema,
    raw: RawConfig,
  ) {
    this.secrets = secretTexts(schema, raw);
  }

  /**
   * Every line passes here. A rule between keys may quote another key's value in what it expected;
   * if that key is secret, its value is cut out here rather than trusted to each rule.
   */
  private push(line: string): void {
    this.lines.push(this.secrets.reduce((text, secret) => text.split(secret).join("(secret)"), line));
  }

  /** `key: received <text>; expected <what>` for the text as written, or for a key not set. */
  mismatch(key: string, received: string | undefined, expected: string): void {
    if (received === undefined) this.push(`${key}: received nothing (key not set); expected ${expected}`);
    else this.refused(key, { received: shown(received), expected });
  }

  /** What a validator refused, its received value already worded; a secret's value is never quoted. */
  refused(key: string, mismatch: Mismatch): void {
    const received = this.schema[key]?.secret ? "a secret value (not shown)" : mismatch.received;
    this.push(`${key}: received ${received}; expected ${mismatch.expected}`);
  }

  /** The value is not shown: an unknown key may be a misspelt secret. */
  unknownKey(key: string, expected: string): void {
    this.push(`${key}: unknown key; expected ${expected}`);
  }

  throwIfAny(): void {
    if (this.lines.length > 0) throw new ConfigError(this.lines);
  }
}
