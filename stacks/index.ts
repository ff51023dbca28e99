import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../config";
import { DrStack } from "./drStack";
import { PrimaryStack } from "./primaryStack";
import { stackComponentName } from "./resourceNames";
import { checkDrStack } from "./founderGuard";
import { checkTrafficFlag } from "./trafficGuard";

/**
 * Builds the whole stack for the configured role and returns its stack outputs. The primary stack
 * first checks that drStack was not unset or changed (a rebuilt database would found a second
 * cluster), the dr stack that its failover flag agrees with where the traffic follower left
 * traffic; a refusal stops the program before any resource is declared.
 */
export async function defineStack(
  config: StackConfig,
  opts?: pulumi.ComponentResourceOptions,
): Promise<Record<string, pulumi.Output<unknown>>> {
  const project = pulumi.getProject();
  const stack = pulumi.getStack();
  const name = stackComponentName(config.role);
  const self = `${pulumi.getOrganization()}/${project}/${stack}`;
  if (config.role === "primary") {
    await checkDrStack(config, self);
    return new PrimaryStack(name, { config, project, stack }, opts).outputs;
  }
  await checkTrafficFlag(config, self);
  return new DrStack(name, { config, project, stack }, opts).outputs;
}
