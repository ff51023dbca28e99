import * as pulumi from "@pulumi/pulumi";
import { parseConfig } from "./parseConfig";
import type { StackConfig } from "./stackConfig";

/** Reads the stack's config once: every key under the project's namespace, known or not. */
export function loadConfig(): StackConfig {
  const project = pulumi.getProject();
  const raw: Record<string, string | undefined> = {};
  for (const [fullKey, value] of Object.entries(pulumi.runtime.allConfig())) {
    const [namespace, key] = fullKey.split(":", 2);
    if (namespace === project && key !== undefined) raw[key] = value;
  }
  return parseConfig(raw);
}
