import { setTimeout as sleep } from "node:timers/promises";
import * as pulumi from "@pulumi/pulumi";
import { RESOURCE_TYPE } from "../components/resourceTypes";
import { parseConfig, type RawConfig } from "../config";
import { baseConfig } from "./configs";
import { defineStack } from "../stacks";
import { unitTestAddressPlan, type AddressPlan } from "./addressPlan";
import { LinodeMocks, type RecordedResource, type StackOutputsFixture } from "./mocks";

export const PROJECT = "linode-dr";
/** The organization of the example stack names (acme/linode-dr/primary, acme/linode-dr/dr). */
export const ORGANIZATION = "acme";

export interface ResourceOptionsSeen {
  protect?: boolean;
  ignoreChanges?: string[];
  additionalSecretOutputs?: string[];
  dependsOn: string[];
  parent?: string;
  /** The resource's input properties as the program passed them (Outputs included). */
  props: Record<string, unknown>;
  /**
   * Resources whose outputs these inputs were computed from (by name): the property dependencies
   * the SDK sends the engine, read from the Outputs in `props` once the program has settled.
   */
  inputDependencies: string[];
}

export interface Evaluation {
  resources: RecordedResource[];
  options: Map<string, ResourceOptionsSeen>;
  outputs: Record<string, unknown>;
  /** Which stack outputs are secret. */
  secretOutputs: Set<string>;
  byName(name: string): RecordedResource;
  ofType(type: string): RecordedResource[];
}

export interface EvaluateOptions {
  stack: string;
  config: RawConfig;
  stackOutputs?: Record<string, StackOutputsFixture>;
  addressPlan?: AddressPlan;
  /**
   * This stack as its last completed update left it: what a StackReference to the stack itself
   * reads. Absent: the first update (no outputs yet).
   */
  previous?: Evaluation;
  /** DNS record id → the target Linode serves now; by default what `previous` declared. */
  liveRecords?: Record<string, string>;
  /**
   * Linodes replaced since bring-up, by resource name: how many times. A replacement has a new id
   * and new addresses (the mocks hand out the next free host octets), as a rebuilt Linode does.
   */
  replacements?: Readonly<Record<string, number>>;
}

/** Output.isSecret is not in the public typings, but it is how the SDK tracks secretness. */
function isSecretOutput(output: pulumi.Output<unknown>): Promise<boolean> {
  return (output as unknown as { isSecret: Promise<boolean> }).isSecret;
}

function unwrap<T>(output: pulumi.Output<T>): Promise<{ value: T; secret: boolean }> {
  return new Promise((resolve) => {
    pulumi.all([output, isSecretOutput(output)]).apply(([value, secret]) => {
      resolve({ value: value as T, secret: secret as boolean });
      return value;
    });
  });
}

function resourceName(r: pulumi.Resource | pulumi.Input<pulumi.Resource>): string {
  // The URN's last segment is the resource name; only used for assertions.
  const anyResource = r as unknown as { __name?: string };
  return anyResource.__name ?? "?";
}

/**
 * Adds the names of the resources behind every Output in `value` (nested in arrays, objects and
 * promises). `allResources` is what the SDK itself sends as a property's dependencies: the
 * resources of the Output and of any Output lifted out of its value. Not in the public typings.
 */
async function collectDependencies(
  value: unknown,
  into: Set<string>,
  visited = new Set<object>(),
): Promise<void> {
  if (value === null || typeof value !== "object" || visited.has(value)) return;
  visited.add(value);
  if (pulumi.Output.isInstance(value)) {
    const output = value as unknown as {
      resources(): Set<pulumi.Resource>;
      allResources?: () => Promise<Set<pulumi.Resource>>;
    };
    const resources = output.allResources ? await output.allResources() : output.resources();
    for (const resource of resources) into.add(resourceName(resource));
    return;
  }
  if (value instanceof Promise) return collectDependencies(await value, into, visited);
  for (const item of Array.isArray(value) ? value : Object.values(value))
    await collectDependencies(item, into, visited);
}

/** Waits until registrations stop arriving: resources not feeding an output register late. */
async function settle(mocks: LinodeMocks): Promise<void> {
  let last = -1;
  let stable = 0;
  while (stable < 5) {
    await sleep(10);
    if (mocks.resources.length === last) stable++;
    else {
      stable = 0;
      last = mocks.resources.length;
    }
  }
}

/**
 * Runs the real program (config parsing included) under mocks and returns every resource it
 * registered with its inputs, the options that matter for safety, and the stack outputs.
 */
export async function evaluateStack(options: EvaluateOptions): Promise<Evaluation> {
  const self = `${ORGANIZATION}/${PROJECT}/${options.stack}`;
  const liveRecords =
    options.liveRecords ??
    Object.fromEntries(
      (options.previous?.ofType(RESOURCE_TYPE.domainRecord) ?? []).map((r) => [
        r.id,
        String(r.inputs.target),
      ]),
    );
  const mocks = new LinodeMocks(
    options.addressPlan ?? unitTestAddressPlan(),
    { [self]: { outputs: options.previous?.outputs ?? {} }, ...options.stackOutputs },
    liveRecords,
    options.replacements,
  );
  await pulumi.runtime.setMocks(mocks, PROJECT, options.stack, false, ORGANIZATION);

  const seen = new Map<string, ResourceOptionsSeen>();
  const recorder: pulumi.ResourceTransformation = (args) => {
    const opts = args.opts as pulumi.CustomResourceOptions;
    if (opts.replacementTrigger !== undefined) {
      if (pulumi.Output.isInstance(opts.replacementTrigger) || opts.replacementTrigger instanceof Promise)
        throw new Error(`${args.name}: the evaluation records plain replacementTrigger values only`);
      mocks.replacementTriggers.set(args.name, opts.replacementTrigger);
    }
    const dependsOn = opts.dependsOn ? ([] as unknown[]).concat(opts.dependsOn as unknown[]) : [];
    seen.set(args.name, {
      ...(opts.protect !== undefined ? { protect: opts.protect } : {}),
      ...(opts.ignoreChanges ? { ignoreChanges: opts.ignoreChanges } : {}),
      ...(opts.additionalSecretOutputs ? { additionalSecretOutputs: opts.additionalSecretOutputs } : {}),
      dependsOn: dependsOn.map((d) => resourceName(d as pulumi.Resource)),
      ...(opts.parent ? { parent: resourceName(opts.parent) } : {}),
      props: (args.props ?? {}) as Record<string, unknown>,
      inputDependencies: [],
    });
    return undefined;
  };
  const nameTagger: pulumi.ResourceTransformation = (args) => {
    (args.resource as unknown as { __name: string }).__name = args.name;
    return undefined;
  };

  const config = parseConfig(options.config);
  const stackOutputs = await defineStack(config, { transformations: [nameTagger, recorder] });

  const outputs: Record<string, unknown> = {};
  const secretOutputs = new Set<string>();
  for (const [key, output] of Object.entries(stackOutputs)) {
    const { value, secret } = await unwrap(output);
    outputs[key] = value;
    if (secret) secretOutputs.add(key);
  }
  await settle(mocks);
  for (const seenOptions of seen.values()) {
    const names = new Set<string>();
    await collectDependencies(seenOptions.props, names);
    seenOptions.inputDependencies = [...names].filter((n) => n !== "?").sort();
  }

  const resources = [...mocks.resources];
  return {
    resources,
    options: seen,
    outputs,
    secretOutputs,
    byName(name) {
      const found = resources.find((r) => r.name === name);
      if (!found)
        throw new Error(`no resource named ${name}; have: ${resources.map((r) => r.name).join(", ")}`);
      return found;
    },
    ofType(type) {
      return resources.filter((r) => r.type === type);
    },
  };
}

/** The primary's outputs as the dr stack reads them, taken from a real evaluation of primary. */
export async function primaryOutputsFixture(
  primary?: Evaluation,
): Promise<Record<string, StackOutputsFixture>> {
  const evaluation = primary ?? (await evaluateStack({ stack: "primary", config: baseConfig("primary") }));
  return {
    "acme/linode-dr/primary": {
      outputs: evaluation.outputs,
      secretOutputNames: [...evaluation.secretOutputs],
    },
  };
}

/** True when the value is, or contains, a secret Output (how Pulumi keeps it out of state and logs). */
export async function containsSecret(value: unknown): Promise<boolean> {
  if (pulumi.Output.isInstance(value)) {
    if (await isSecretOutput(value as pulumi.Output<unknown>)) return true;
    return containsSecret(await new Promise((resolve) => (value as pulumi.Output<unknown>).apply(resolve)));
  }
  if (Array.isArray(value)) {
    for (const item of value) if (await containsSecret(item)) return true;
    return false;
  }
  if (value !== null && typeof value === "object") {
    for (const item of Object.values(value)) if (await containsSecret(item)) return true;
  }
  return false;
}

/** Decodes an Instance's base64 user data back to the #cloud-config text. */
export function userDataOf(resource: RecordedResource): string {
  const encoded = resource.inputs.metadatas?.[0]?.userData;
  if (typeof encoded !== "string") throw new Error(`${resource.name} has no user data`);
  return Buffer.from(encoded, "base64").toString("utf8");
}

/** A stack's state less the resources `pulumi refresh` found gone. */
export function withoutResources(evaluation: Evaluation, names: readonly string[]): Evaluation {
  const resources = evaluation.resources.filter((r) => !names.includes(r.name));
  return {
    ...evaluation,
    resources,
    byName(name) {
      const found = resources.find((r) => r.name === name);
      if (!found) throw new Error(`no resource named ${name} in the refreshed state`);
      return found;
    },
    ofType: (type) => resources.filter((r) => r.type === type),
  };
}
