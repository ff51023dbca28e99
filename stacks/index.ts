import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../config";
import { DrStack } from "./drStack";
import { PrimaryStack } from "./primaryStack";
import { stackComponentName } from "./resourceNames";
import { checkTrafficFlag } from "./trafficGuard";

/**
 * Builds the whole stack for the configured role and returns its stack outputs. The dr stack first
 * checks that its failover flag agrees with where the traffic follower left traffic; a refusal
 * stops the program before any resource is declared.
 */
export async function defineStack(
  config: StackConfig,
  opts?: pulumi.ComponentResourceOptions,
): Promise<Record<string, pulumi.Output<unknown>>> {
  const project = pulumi.getProject();
  const stack = pulumi.getStack();
  const name = stackComponentName(config.role);
  if (config.role === "primary") {
    return new PrimaryStack(name, { config, project, stack }, opts).outputs;
  }
  await checkTrafficFlag(config, `${pulumi.getOrganization()}/${project}/${stack}`);
  return new DrStack(name, { config, project, stack }, opts).outputs;
}
