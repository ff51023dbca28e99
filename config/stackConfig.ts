import type { ConfigValues, FieldPath, MayBeUnset, ValueOf } from "./configValues";
import { derivedFields, type DerivedFields } from "./derived";
import { CONFIG_SCHEMA, type ConfigKey } from "./schema";

/**
 * What the stacks receive: each key's value at its `field` ("group.name" nests it in a group),
 * plus the derived fields. Inferred from the schema table, so a new row is a new typed field.
 */

// Over a naked type parameter, so that a key with no field (never) drops out instead of matching.
type TopLevel<P> = P extends `${string}.${string}` ? never : P;
type GroupOf<P> = P extends `${infer G}.${string}` ? G : never;
type NameIn<P, G extends string> = P extends `${G}.${infer N}` ? N : never;
type Group = GroupOf<{ [K in ConfigKey]: FieldPath<K> }[ConfigKey]>;

type Fields = {
  [K in ConfigKey as MayBeUnset<K> extends true ? never : TopLevel<FieldPath<K>>]: ValueOf<K>;
} & {
  [K in ConfigKey as MayBeUnset<K> extends true ? TopLevel<FieldPath<K>> : never]?: ValueOf<K>;
} & {
  [G in Group]: { [K in ConfigKey as NameIn<FieldPath<K>, G>]: ConfigValues[K] };
};

/** Flattens the intersection so that editors show one object type. */
type Simplify<T> = { [K in keyof T]: T[K] } & {};

export type StackConfig = Simplify<Fields & DerivedFields>;
export type HealthCheckSettings = StackConfig["healthCheck"];
export type PostgresSettings = StackConfig["postgres"];
export type LeadershipSettings = StackConfig["leadership"];

/** Places every value at its field; unset optional values are left out rather than undefined. */
export function toStackConfig(values: ConfigValues): StackConfig {
  const config: Record<string, unknown> = {};
  for (const key of Object.keys(CONFIG_SCHEMA) as ConfigKey[]) {
    const field: string | null | undefined = CONFIG_SCHEMA[key].field;
    const value = values[key];
    if (field === null || value === undefined) continue;
    const path = (field ?? key).split(".");
    let target = config;
    for (const group of path.slice(0, -1)) {
      target[group] ??= {};
      target = target[group] as Record<string, unknown>;
    }
    target[path[path.length - 1]] = value;
  }
  // The loop is what the Fields type describes; TypeScript cannot follow it, configSchema.test.ts
  // does (every key lands at its field).
  return { ...config, ...derivedFields(values) } as StackConfig;
}
