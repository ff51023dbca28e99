import type { Unset } from "./keySpec";
import type { ConfigKey, CONFIG_SCHEMA } from "./schema";
import type { Validator } from "./validators";

/** Types read off the schema table, so that a new row is typed without writing its type twice. */

type Row<K extends ConfigKey> = (typeof CONFIG_SCHEMA)[K];

export type ValueOf<K extends ConfigKey> = Row<K>["validator"] extends Validator<infer T> ? T : never;

/** Optional keys, and required keys of a single stack (the other stack leaves them unset). */
export type MayBeUnset<K extends ConfigKey> =
  Row<K>["default"] extends Unset<"optional">
    ? true
    : Row<K>["default"] extends Unset<"required">
      ? Row<K>["stacks"] extends "both"
        ? false
        : true
      : false;

/** Every key's value under the key's own name: what the cross-key checks read. */
export type ConfigValues = {
  [K in ConfigKey]: ValueOf<K> | (MayBeUnset<K> extends true ? undefined : never);
};

/** A row's `field`: a literal path, null, or never when the row has none. */
type FieldOf<K extends ConfigKey> = Exclude<Row<K>["field"], undefined>;

/** Where a key lands in StackConfig: its `field`, its own name when it has none, nowhere for null. */
export type FieldPath<K extends ConfigKey> = [FieldOf<K>] extends [never]
  ? K
  : FieldOf<K> extends string
    ? FieldOf<K>
    : never;
