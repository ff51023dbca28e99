import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../config";
import { DrStack } from "./drStack";
import { PrimaryStack } from "./primaryStack";
import { stackComponentName } from "./resourceNames";

/** Builds the whole stack for the configured role and returns its stack outputs. */
export function defineStack(
  config: StackConfig,
  opts?: pulumi.ComponentResourceOptions,
): Record<string, pulumi.Output<unknown>> {
  const project = pulumi.getProject();
  const stack = pulumi.getStack();
  const name = stackComponentName(config.role);
  if (config.role === "primary") {
    return new PrimaryStack(name, { config, project, stack }, opts).outputs;
  }
  return new DrStack(name, { config, project, stack }, opts).outputs;
}
