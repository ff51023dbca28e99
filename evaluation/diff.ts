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

function changedKeys(before: RecordedResource, after: RecordedResource): string[] {
  const keys = new Set([...Object.keys(before.inputs), ...Object.keys(after.inputs)]);
  return [...keys].filter((k) => JSON.stringify(before.inputs[k]) !== JSON.stringify(after.inputs[k])).sort();
}

/** Values another resource may take from this one's outputs: its id and its addresses. */
function outputsOf(resource: RecordedResource): string[] {
  const values = [resource.id];
  for (const key of ["ipv4", "ipAddress", "privateIpAddress"]) {
    const value = resource.state[key];
    for (const v of Array.isArray(value) ? value : [value]) if (typeof v === "string" && v) values.push(v);
  }
  return values;
}

/**
 * What `pulumi up` would do to go from `from` to `to` (two evaluations of one stack): the created,
 * updated and deleted resources, each with the steps it waits for. A step waits for the steps its
 * `dependsOn` names and, because the mocks record resolved inputs rather than Output graphs, for
 * any created step whose id or address appears in its inputs (a NodeBalancerNode's address, a
 * command's connection host): the same edges the engine derives from Outputs, for this program.
 * Order: `to`'s registration order, deletes last.
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
    const keys = changedKeys(old, resource);
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

  const planned = new Set(steps.map((s) => s.name));
  const created = steps.filter((s) => s.operation === "create");
  // dependsOn may name a component: the engine then waits for every resource inside it.
  const within = (resource: string, component: string): boolean => {
    for (let p = to.options.get(resource)?.parent; p !== undefined; p = to.options.get(p)?.parent)
      if (p === component) return true;
    return false;
  };
  const expand = (dependency: string): string[] =>
    planned.has(dependency) ? [dependency] : [...planned].filter((name) => within(name, dependency));
  for (const step of steps) {
    const explicit = (to.options.get(step.name)?.dependsOn ?? []).flatMap(expand);
    const inputs = JSON.stringify(step.resource.inputs);
    const implicit = created
      .filter(
        (c) => c.name !== step.name && outputsOf(c.resource).some((v) => inputs.includes(JSON.stringify(v))),
      )
      .map((c) => c.name);
    step.after = [...new Set([...explicit, ...implicit])];
  }
  // Deletes come last, dependents first: a NodeBalancerNode goes before the Linode it points at.
  const deleted = steps.filter((s) => s.operation === "delete");
  const others = steps.filter((s) => s.operation !== "delete").map((s) => s.name);
  for (const step of deleted) {
    const values = outputsOf(step.resource).map((v) => JSON.stringify(v));
    const dependents = deleted
      .filter(
        (d) =>
          d.name !== step.name &&
          ((from.options.get(d.name)?.dependsOn ?? []).includes(step.name) ||
            values.some((v) => JSON.stringify(d.resource.inputs).includes(v))),
      )
      .map((d) => d.name);
    step.after = [...others, ...dependents];
  }
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
