import type { Evaluation } from "./evaluate";
import type { RecordedResource } from "./mocks";

/** One resource `pulumi up` would touch, as a preview lists it. */
export interface PlannedStep {
  name: string;
  type: string;
  operation: "create" | "update" | "delete";
  /** Inputs that differ (updates only). */
  changedKeys: string[];
  /** Other steps of this plan that must finish first. */
  after: string[];
  /** The resource as the new evaluation has it (the old one for deletes). */
  resource: RecordedResource;
}

/** Inputs that differ, less those the resource's `ignoreChanges` tells the engine to keep as they are. */
function changedKeys(
  before: RecordedResource,
  after: RecordedResource,
  ignored: readonly string[],
): string[] {
  for (const path of ignored)
    if (/[.[]/.test(path))
      throw new Error(`${after.name}: ignoreChanges path "${path}" is not a top-level input; not supported`);
  const keys = new Set([...Object.keys(before.inputs), ...Object.keys(after.inputs)]);
  const changed = [...keys]
    .filter((k) => !ignored.includes(k))
    .filter((k) => JSON.stringify(before.inputs[k]) !== JSON.stringify(after.inputs[k]));
  // The engine replaces a resource whose trigger changed, whatever its inputs.
  if (JSON.stringify(before.replacementTrigger) !== JSON.stringify(after.replacementTrigger))
    changed.push("(replacementTrigger)");
  return changed.sort();
}

/**
 * The custom resources `name` stands for as a dependency: itself, or for a component resource
 * every custom resource below it (depending on a component waits for all its children).
 */
function dependencyTargets(evaluation: Evaluation, name: string): string[] {
  if (evaluation.resources.some((r) => r.name === name)) return [name];
  const below: string[] = [];
  for (const [child, options] of evaluation.options)
    if (options.parent === name) below.push(...dependencyTargets(evaluation, child));
  return below;
}

/** The custom resources `name` waits for in `evaluation`: its `dependsOn` and where its inputs come from. */
function dependenciesOf(evaluation: Evaluation, name: string): Set<string> {
  const options = evaluation.options.get(name);
  const direct = [...(options?.dependsOn ?? []), ...(options?.inputDependencies ?? [])];
  return new Set(direct.flatMap((d) => dependencyTargets(evaluation, d)).filter((d) => d !== name));
}

/** Throws if the steps cannot all run: an `after` naming no step, or a cycle. */
function assertRunnable(steps: readonly PlannedStep[]): void {
  const byName = new Map(steps.map((s) => [s.name, s]));
  const state = new Map<string, "visiting" | "done">();
  const visit = (step: PlannedStep, path: string[]): void => {
    if (state.get(step.name) === "done") return;
    if (state.get(step.name) === "visiting")
      throw new Error(`the plan has a cycle: ${[...path, step.name].join(" -> ")}`);
    state.set(step.name, "visiting");
    for (const name of step.after) {
      const dependency = byName.get(name);
      if (!dependency) throw new Error(`${step.name} waits for ${name}, which is not a step of the plan`);
      visit(dependency, [...path, step.name]);
    }
    state.set(step.name, "done");
  };
  for (const step of steps) visit(step, []);
}

/**
 * What `pulumi up` would do to go from `from` to `to` (two evaluations of one stack): the created,
 * updated and deleted resources, each with the steps it waits for. The edges are the engine's: a
 * step waits for the created or updated steps its resource depends on in `to`, through `dependsOn`
 * (a component there means all the custom resources below it) or through inputs computed from
 * their outputs (a NodeBalancerNode's address, a command's connection host, a firewall's Linode
 * ids). Deletes come last, as in `pulumi up`: each waits for every other step and for the deletes
 * of the resources that depended on it in `from` (dependents go first). Inputs listed in a
 * resource's `ignoreChanges` are not updates. Order: `to`'s registration order, deletes last.
 */
export function planChanges(from: Evaluation, to: Evaluation): PlannedStep[] {
  const before = new Map(from.resources.map((r) => [r.name, r]));
  const after = new Map(to.resources.map((r) => [r.name, r]));
  const steps: PlannedStep[] = [];
  for (const resource of to.resources) {
    const old = before.get(resource.name);
    if (!old) {
      steps.push({
        name: resource.name,
        type: resource.type,
        operation: "create",
        changedKeys: [],
        after: [],
        resource,
      });
      continue;
    }
    if (old.type !== resource.type)
      throw new Error(`${resource.name} changes type from ${old.type} to ${resource.type}`);
    const keys = changedKeys(old, resource, to.options.get(resource.name)?.ignoreChanges ?? []);
    if (keys.length > 0)
      steps.push({
        name: resource.name,
        type: resource.type,
        operation: "update",
        changedKeys: keys,
        after: [],
        resource,
      });
  }
  for (const resource of from.resources)
    if (!after.has(resource.name))
      steps.push({
        name: resource.name,
        type: resource.type,
        operation: "delete",
        changedKeys: [],
        after: [],
        resource,
      });

  const applied = steps.filter((s) => s.operation !== "delete").map((s) => s.name);
  const deleted = steps.filter((s) => s.operation === "delete");
  for (const step of steps) {
    if (step.operation !== "delete") {
      step.after = [...dependenciesOf(to, step.name)].filter((d) => applied.includes(d));
    } else {
      // Deletes come last, dependents first: a NodeBalancerNode goes before the Linode it points at.
      const dependents = deleted.filter(
        (other) => other.name !== step.name && dependenciesOf(from, other.name).has(step.name),
      );
      step.after = [...applied, ...dependents.map((other) => other.name)];
    }
  }
  assertRunnable(steps);
  return steps;
}

const SYMBOL = { create: "+", update: "~", delete: "-" } as const;

/** The plan as `pulumi preview` prints it, one line per resource. */
export function renderPlan(stack: string, steps: readonly PlannedStep[]): string {
  const width = Math.max(0, ...steps.map((s) => s.name.length));
  const lines = steps.map((s) => {
    const what = s.operation === "update" ? `update [${s.changedKeys.join(", ")}]` : s.operation;
    const wait = s.after.length > 0 ? `  (after ${s.after.join(", ")})` : "";
    return `  ${SYMBOL[s.operation]} ${s.name.padEnd(width)}  ${s.type}  ${what}${wait}`;
  });
  const count = (op: PlannedStep["operation"]) => steps.filter((s) => s.operation === op).length;
  return [
    `Previewing update (${stack}):`,
    ...lines,
    `Resources: ${count("create")} to create, ${count("update")} to update, ${count("delete")} to delete`,
  ].join("\n");
}
