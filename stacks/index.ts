import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../config";
import { DrStack } from "./drStack";
import { PrimaryStack } from "./primaryStack";
import { stackComponentName } from "./resourceNames";
import { checkDrStack } from "./founderGuard";
import { checkTrafficFlag } from "./trafficGuard";
import { checkCaRoll } from "./caGuard";
import { checkRotatedKeys } from "./keyGuard";

/**
 * Builds the whole stack for the configured role and returns its stack outputs. Both stacks first
 * check that the SSH keys they use are ones their Linodes were given (automation key, host keys), that a CA roll
 * step is one the members are ready for; the primary stack that drStack was
 * not unset or changed (a rebuilt database would found a second cluster), the dr stack that its
 * failover flag agrees with where the traffic follower left traffic. A refusal stops the program
 * before any resource is declared.
 */
export async function defineStack(
  config: StackConfig,
  opts?: pulumi.ComponentResourceOptions,
): Promise<Record<string, pulumi.Output<unknown>>> {
  const project = pulumi.getProject();
  const stack = pulumi.getStack();
  const name = stackComponentName(config.role);
  const self = `${pulumi.getOrganization()}/${project}/${stack}`;
  // This stack's own outputs from its last completed update (none before the first).
  const previous = new pulumi.StackReference(`${config.role}-previous`, { name: self });
  if (config.role === "primary") await checkDrStack(config, previous);
  else await checkTrafficFlag(config, previous);
  await checkRotatedKeys({ automationKeys: config.automationKeys, hostKeys: config.hostKeys }, previous);
  // Read only once drStack is known good: a reference to a stack that does not exist fails.
  const peerStack = config.role === "primary" ? config.drStack : config.primaryStack;
  const peer = peerStack
    ? new pulumi.StackReference(`${config.role}-peer-trust`, { name: peerStack })
    : undefined;
  await checkCaRoll(
    config.role,
    config.tls.authorities,
    previous,
    peer && peerStack ? { stack: peerStack, getOutputValue: (key) => peer.getOutputValue(key) } : undefined,
  );
  return config.role === "primary"
    ? new PrimaryStack(name, { config, project, stack }, opts).outputs
    : new DrStack(name, { config, project, stack }, opts).outputs;
}
