import type { Schema } from "./keySpec";

/** The one error a bad configuration produces, and the collector that words its lines. */

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid stack configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Gathers problems so one run reports every bad key at once. */
export class Problems {
  readonly lines: string[] = [];

  constructor(private readonly schema: Schema) {}

  /** `key: received <value>; expected <what>`: a secret's value is never quoted. */
  mismatch(key: string, received: string | undefined, expected: string): void {
    const shown =
      received === undefined
        ? "nothing (key not set)"
        : this.schema[key]?.secret
          ? "a secret value (not shown)"
          : JSON.stringify(received);
    this.lines.push(`${key}: received ${shown}; expected ${expected}`);
  }

  /** The value is not shown: an unknown key may be a misspelt secret. */
  unknownKey(key: string, expected: string): void {
    this.lines.push(`${key}: unknown key; expected ${expected}`);
  }

  throwIfAny(): void {
    if (this.lines.length > 0) throw new ConfigError(this.lines);
  }
}
