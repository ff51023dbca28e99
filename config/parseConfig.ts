import type { ConfigValues } from "./configValues";
import { crossChecks } from "./crossChecks";
import type { RawConfig, Role } from "./keySpec";
import { Problems } from "./problems";
import { isSet, readKeys } from "./readKeys";
import { CONFIG_SCHEMA } from "./schema";
import { toStackConfig, type StackConfig } from "./stackConfig";

/**
 * Which keys the stack accepts depends on its role, so the role is needed before the other keys
 * are read. A missing or wrong role is reported by readKeys with everything else; until then the
 * checks proceed as for the primary stack.
 */
function roleOf(raw: RawConfig): Role {
  const { validator } = CONFIG_SCHEMA.role;
  const checked = isSet(raw.role) ? validator.check(raw.role) : undefined;
  return checked?.ok ? checked.value : validator.placeholder;
}

/** Pure: raw strings in, validated config out, or a ConfigError naming every bad key. */
export function parseConfig(raw: RawConfig): StackConfig {
  const problems = new Problems(CONFIG_SCHEMA, raw);
  // readKeys fills every key of the schema it is given, as that key's row says.
  const values = readKeys(CONFIG_SCHEMA, raw, roleOf(raw), problems) as ConfigValues;
  crossChecks(values, raw, problems);
  problems.throwIfAny();
  return toStackConfig(values);
}
