import { isIPv4 } from "node:net";
import { RESOURCE_TYPE } from "../../components/resourceTypes";
import type { RecordedResource } from "../../evaluation/mocks";

/**
 * One NodeBalancer as the Pulumi program declared it, gathered from the resources it registered
 * (the NodeBalancer, its configs by `nodebalancerId`, their nodes by `configId`) and checked
 * against the limits the Linode API enforces, so the stand-in never accepts a configuration the
 * real service would refuse.
 */

export type NodeMode = "accept" | "reject" | "drain" | "backup";
export type Protocol = "http" | "https" | "tcp";
export type Algorithm = "roundrobin" | "leastconn" | "source";
export type Stickiness = "none" | "table" | "http_cookie";
export type Check = "none" | "connection" | "http" | "http_body";
export type ProxyProtocol = "none" | "v1" | "v2";

export interface NodeModel {
  label: string;
  address: string;
  port: number;
  mode: NodeMode;
  weight: number;
}

export interface ConfigModel {
  id: string;
  port: number;
  protocol: Protocol;
  algorithm: Algorithm;
  stickiness: Stickiness;
  check: Check;
  checkPath: string;
  checkBody: string;
  checkInterval: number;
  checkTimeout: number;
  checkAttempts: number;
  checkPassive: boolean;
  proxyProtocol: ProxyProtocol;
  sslCert?: string;
  sslKey?: string;
  nodes: NodeModel[];
}

export interface NodeBalancerModel {
  name: string;
  id: string;
  region: string;
  ipv4: string;
  clientConnThrottle: number;
  configs: ConfigModel[];
}

const NODE_LABEL = /^[a-zA-Z0-9._-]{3,32}$/;
const CHECK_PATH = /^[a-zA-Z0-9/\-%?&=.]*$/;

function oneOf<T extends string>(value: unknown, allowed: readonly T[], fallback: T, what: string): T {
  if (value === undefined || value === null) return fallback;
  if (!allowed.includes(value as T))
    throw new Error(`${what} is "${String(value)}"; expected ${allowed.join("|")}`);
  return value as T;
}

function integer(value: unknown, min: number, max: number, fallback: number, what: string): number {
  if (value === undefined || value === null) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`${what} is ${String(value)}; expected ${min}..${max}`);
  return n;
}

function parseNodeAddress(text: unknown, what: string): { address: string; port: number } {
  const match = /^(\d+\.\d+\.\d+\.\d+):(\d{1,5})$/.exec(String(text));
  if (!match || !isIPv4(match[1]))
    throw new Error(`${what} address is "${String(text)}"; expected IPv4:port`);
  return { address: match[1], port: integer(match[2], 1, 65535, 0, `${what} port`) };
}

function nodeOf(resource: RecordedResource): NodeModel {
  const what = `node ${resource.name}`;
  const label = String(resource.inputs.label ?? "");
  if (!NODE_LABEL.test(label)) throw new Error(`${what} label "${label}" must match ${NODE_LABEL}`);
  return {
    label,
    ...parseNodeAddress(resource.inputs.address, what),
    mode: oneOf(resource.inputs.mode, ["accept", "reject", "drain", "backup"], "accept", `${what} mode`),
    weight: integer(resource.inputs.weight, 1, 255, 100, `${what} weight`),
  };
}

function configOf(resource: RecordedResource, nodes: NodeModel[]): ConfigModel {
  const inputs = resource.inputs;
  const what = `config ${resource.name}`;
  const protocol = oneOf(inputs.protocol, ["http", "https", "tcp"], "http", `${what} protocol`);
  const check = oneOf(inputs.check, ["none", "connection", "http", "http_body"], "none", `${what} check`);
  const checkTimeout = integer(inputs.checkTimeout, 1, 30, 30, `${what} checkTimeout`);
  const checkInterval = integer(inputs.checkInterval, 2, 3600, 31, `${what} checkInterval`);
  if (checkInterval <= checkTimeout)
    throw new Error(`${what}: checkInterval (${checkInterval}) must exceed checkTimeout (${checkTimeout})`);
  const checkPath = String(inputs.checkPath ?? "/");
  if ((check === "http" || check === "http_body") && !CHECK_PATH.test(checkPath))
    throw new Error(`${what} checkPath "${checkPath}" must match ${CHECK_PATH}`);
  const checkBody = String(inputs.checkBody ?? "");
  if (check === "http_body" && (checkBody === "" || /[\r\n]/.test(checkBody)))
    throw new Error(`${what}: check http_body needs a one-line checkBody`);
  if (protocol === "https" && (!inputs.sslCert || !inputs.sslKey))
    throw new Error(`${what}: protocol https needs sslCert and sslKey`);
  const stickiness = oneOf(inputs.stickiness, ["none", "table", "http_cookie"], "none", `${what} stickiness`);
  if (stickiness === "http_cookie" && protocol === "tcp")
    throw new Error(`${what}: http_cookie stickiness needs protocol http or https`);
  const labels = new Set<string>();
  for (const node of nodes) {
    if (labels.has(node.label)) throw new Error(`${what}: two nodes are labelled ${node.label}`);
    labels.add(node.label);
  }
  return {
    id: resource.id,
    port: integer(inputs.port, 1, 65535, 80, `${what} port`),
    protocol,
    algorithm: oneOf(
      inputs.algorithm,
      ["roundrobin", "leastconn", "source"],
      "roundrobin",
      `${what} algorithm`,
    ),
    stickiness,
    check,
    checkPath,
    checkBody,
    checkInterval,
    checkTimeout,
    checkAttempts: integer(inputs.checkAttempts, 1, 30, 3, `${what} checkAttempts`),
    checkPassive: inputs.checkPassive === undefined ? true : Boolean(inputs.checkPassive),
    proxyProtocol: oneOf(inputs.proxyProtocol, ["none", "v1", "v2"], "none", `${what} proxyProtocol`),
    ...(protocol === "https" ? { sslCert: String(inputs.sslCert), sslKey: String(inputs.sslKey) } : {}),
    nodes,
  };
}

/** Gathers the NodeBalancer named `nodeBalancerName` with its configs and nodes, matched by id. */
export function nodeBalancerModel(
  resources: readonly RecordedResource[],
  nodeBalancerName: string,
): NodeBalancerModel {
  const balancer = resources.find(
    (r) => r.type === RESOURCE_TYPE.nodeBalancer && r.name === nodeBalancerName,
  );
  if (!balancer) throw new Error(`no ${RESOURCE_TYPE.nodeBalancer} named ${nodeBalancerName}`);
  const ipv4 = String(balancer.state.ipv4 ?? "");
  if (!isIPv4(ipv4)) throw new Error(`NodeBalancer ${nodeBalancerName} has no IPv4 in its state`);
  const configs = resources
    .filter(
      (r) => r.type === RESOURCE_TYPE.nodeBalancerConfig && String(r.inputs.nodebalancerId) === balancer.id,
    )
    .map((config) =>
      configOf(
        config,
        resources
          .filter((r) => r.type === RESOURCE_TYPE.nodeBalancerNode && String(r.inputs.configId) === config.id)
          .map(nodeOf),
      ),
    )
    .sort((a, b) => a.port - b.port);
  if (configs.length === 0) throw new Error(`NodeBalancer ${nodeBalancerName} has no configs`);
  const ports = new Set(configs.map((c) => c.port));
  if (ports.size !== configs.length)
    throw new Error(`NodeBalancer ${nodeBalancerName} has two configs on one port`);
  return {
    name: nodeBalancerName,
    id: balancer.id,
    region: String(balancer.inputs.region ?? ""),
    ipv4,
    clientConnThrottle: integer(
      balancer.inputs.clientConnThrottle,
      0,
      20,
      0,
      `${nodeBalancerName} clientConnThrottle`,
    ),
    configs,
  };
}
