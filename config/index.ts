/**
 * Every stack config key, read and validated in one place. Components never read pulumi.Config:
 * they receive the typed values produced here.
 *
 * The keys are one table (schema.ts); Pulumi.yaml's `config:` block, the README's table, the
 * StackConfig type and parseConfig's per-key checks all come from it. parseConfig() is pure
 * (strings in, typed config or one error listing every problem out) so that each bad input can be
 * tested without an engine; loadConfig() only gathers the raw strings.
 */

export type { AppArtifact } from "./derived";
export { LINODE_RECORD_TTLS } from "./formats";
export type { RawConfig, Role } from "./keySpec";
export { loadConfig } from "./loadConfig";
export { parseConfig } from "./parseConfig";
export { ConfigError } from "./problems";
export { CONFIG_KEYS, CONFIG_SCHEMA, type ConfigKey } from "./schema";
export type { HealthCheckSettings, LeadershipSettings, PostgresSettings, StackConfig } from "./stackConfig";
