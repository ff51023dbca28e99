import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../config";
import { DrStack } from "./drStack";
import { PrimaryStack } from "./primaryStack";

/** Builds the whole stack for the configured role and returns its stack outputs. */
export function defineStack(
  config: StackConfig,
  opts?: pulumi.ComponentResourceOptions,
): Record<string, pulumi.Output<unknown>> {
  const project = pulumi.getProject();
  const stack = pulumi.getStack();
  if (config.role === "primary") {
    return new PrimaryStack("primary", { config, project, stack }, opts).outputs;
  }
  return new DrStack("dr", { config, project, stack }, opts).outputs;
}
