import { object, shown, type Rule } from "./kit";

/**
 * The one error a user-data builder throws for bad input, and the collector that gathers its
 * problems: one run names every bad field at once, each with its full path from the builder's input.
 */

export interface Problem {
  /** The full path, e.g. "DatabaseUserDataInput.replication.password". */
  field: string;
  received: string;
  expected: string;
}

export class InputError extends Error {
  constructor(readonly problems: readonly Problem[]) {
    super(problems.map((p) => `${p.field}: received ${p.received}; expected ${p.expected}`).join("\n"));
    this.name = "InputError";
  }
}

/**
 * Checks the fields of one value and records what is wrong. `under` hands a nested validator a
 * check of its own part that reports into the same list, so problems are never caught and
 * rethrown on their way up.
 */
export class InputCheck {
  private readonly problems: Problem[];

  /** `path` names the value checked, usually the builder's input type ("AppUserDataInput"). */
  constructor(
    readonly path: string,
    sharedWith?: InputCheck,
  ) {
    this.problems = sharedWith?.problems ?? [];
  }

  /** "" is the checked value itself; "[2]" an item of it; anything else one of its fields. */
  private pathOf(name: string): string {
    if (name === "") return this.path;
    return name.startsWith("[") ? `${this.path}${name}` : `${this.path}.${name}`;
  }

  under(name: string): InputCheck {
    return new InputCheck(this.pathOf(name), this);
  }

  /** The value as `rule` accepts it, or undefined after recording what was wrong. */
  field<T>(name: string, value: unknown, rule: Rule<T>): T | undefined {
    const checked = rule.check(value);
    if (checked.ok) return checked.value;
    for (const m of checked.mismatches) {
      this.problems.push({ field: this.pathOf(name), received: m.received, expected: m.expected });
    }
    return undefined;
  }

  /**
   * A check of the object's own fields, or undefined (recorded) when `value` is not an object:
   * its fields are then not looked at.
   */
  object(name: string, value: unknown, expected: string): InputCheck | undefined {
    return this.field(name, value, object(expected)) === undefined ? undefined : this.under(name);
  }

  /** A rule between fields that the value's own rule cannot see. */
  refuse(name: string, value: unknown, expected: string): void {
    this.problems.push({ field: this.pathOf(name), received: shown(value), expected });
  }

  throwIfAny(): void {
    if (this.problems.length > 0) throw new InputError([...this.problems]);
  }
}
