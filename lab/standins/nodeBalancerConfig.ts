import type { RecordedResource } from "../../evaluation/mocks";
import { nodeBalancerModel, type ConfigModel, type NodeModel } from "./nodeBalancerModel";

/**
 * Renders one NodeBalancer of the program as an HAProxy 2.6 configuration: one frontend per
 * NodeBalancerConfig (port), one backend per config, one server per NodeBalancerNode, named by the
 * node's label. Pure: no files, no processes.
 *
 * How Linode's documented behaviour maps (API v4 NodeBalancerConfig / NodeBalancerNode):
 * - check every `checkInterval` s (`inter`), an attempt fails after `checkTimeout` s (`timeout check`
 *   and, for the connect phase, `timeout connect`), a node goes down after `checkAttempts`
 *   consecutive failures (`fall`).
 * - check `connection` = TCP connect check; `http` = GET checkPath, 2xx/3xx passes; `http_body` =
 *   the same plus checkBody present in the body (substring, as Linode documents it).
 * - `checkPassive`: `observe layer7 error-limit 1 on-error mark-down` (layer4 for tcp): a single live
 *   5xx (except 501/505, HAProxy's rule), timeout or connection error marks the node down; active
 *   checks bring it back. Linode says "any response ... with a 5xx ... will be enough".
 * - algorithm roundrobin/leastconn/source = HAProxy's balance of the same name (source uses
 *   consistent hashing so a node can be re-added at run time).
 * - stickiness `table` = stick table on the client address; `http_cookie` = an inserted cookie.
 * - node mode `backup` = HAProxy `backup` server; `reject` = `disabled` (MAINT); `drain` is set
 *   through the runtime API right after start (a configured weight 0 is not HAProxy's DRAIN state).
 * - protocol http/https adds X-Forwarded-For and X-Forwarded-Proto; https terminates TLS with the
 *   config's sslCert/sslKey and talks plain HTTP to nodes, as a NodeBalancer does.
 * - `clientConnThrottle` = connections per second per client address beyond which new
 *   connections are refused.
 *
 * What differs from a real NodeBalancer:
 * - rise: Linode does not document how many passing checks bring a node back. The stand-in uses
 *   `checkAttempts` (symmetric hysteresis), so a flapping node needs as much evidence to return as
 *   to leave; a drill that relies on a faster return would be optimistic. Override with `rise`.
 * - a check attempt may take up to twice `checkTimeout` (HAProxy bounds connect and read
 *   separately), and the first check runs at a random point of the first interval (`spread-checks`
 *   is not emulated either way).
 * - traffic reaches nodes from the stand-in's own address in the region (a documentation address),
 *   standing in for Linode's 192.168.255.0/24; there is no IPv6 frontend.
 * - client/server idle timeouts (50 s here), connection limits, retries and the exact check request
 *   line (HTTP/1.0 here) are HAProxy's or chosen here; Linode does not document its own.
 * - with check `none`, passive checks are not emulated: nothing would ever bring the node back.
 */

export interface RenderOptions {
  /** Unix socket of HAProxy's runtime API (admin level). */
  adminSocket: string;
  /** Where the stand-in writes `<configId>.pem` (sslCert + sslKey) for https configs. */
  certificateDir: string;
  /** Passing checks that bring a node back; default: the config's checkAttempts. */
  rise?: number;
}

export const DEFAULT_RENDER_OPTIONS: RenderOptions = {
  adminSocket: "/run/linode-dr-nodebalancer/admin.sock",
  certificateDir: "/run/linode-dr-nodebalancer",
};

/** HAProxy's name for the backend of the config on `port`. */
export function backendName(port: number): string {
  return `port${port}`;
}

function quoted(text: string): string {
  return `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/**
 * The `server` arguments after name and address, without mode: shared by the configuration and
 * the runtime API's `add server` (which accepts no `cookie`, `disabled` or `backup` toggling).
 */
export function serverCheckArguments(config: ConfigModel, rise?: number): string[] {
  const args: string[] = [];
  if (config.check !== "none") {
    args.push("check", "inter", `${config.checkInterval}s`, "fall", String(config.checkAttempts));
    args.push("rise", String(rise ?? config.checkAttempts));
    if (config.checkPassive) {
      const layer = config.protocol === "tcp" ? "layer4" : "layer7";
      args.push("observe", layer, "error-limit", "1", "on-error", "mark-down");
    }
  }
  if (config.proxyProtocol === "v1") args.push("send-proxy");
  if (config.proxyProtocol === "v2") args.push("send-proxy-v2");
  return args;
}

function serverLine(config: ConfigModel, node: NodeModel, rise?: number): string {
  const args = [`${node.address}:${node.port}`, "weight", String(node.weight)];
  args.push(...serverCheckArguments(config, rise));
  if (config.stickiness === "http_cookie") args.push("cookie", node.label);
  if (node.mode === "backup") args.push("backup");
  if (node.mode === "reject") args.push("disabled");
  return `  server ${node.label} ${args.join(" ")}`;
}

function frontend(ipv4: string, config: ConfigModel, throttle: number, options: RenderOptions): string[] {
  const tls = config.protocol === "https" ? ` ssl crt ${options.certificateDir}/${config.id}.pem` : "";
  const lines = [
    `frontend nb-port${config.port}`,
    `  bind ${ipv4}:${config.port}${tls}`,
    `  mode ${config.protocol === "tcp" ? "tcp" : "http"}`,
  ];
  if (throttle > 0) {
    lines.push(
      "  stick-table type ip size 100k expire 10s store conn_rate(1s)",
      "  tcp-request connection track-sc0 src",
      `  tcp-request connection reject if { sc0_conn_rate gt ${throttle} }`,
    );
  }
  if (config.protocol !== "tcp") {
    lines.push("  option forwardfor", `  http-request set-header X-Forwarded-Proto ${config.protocol}`);
  }
  lines.push(`  default_backend ${backendName(config.port)}`);
  return lines;
}

function backend(config: ConfigModel, options: RenderOptions): string[] {
  const lines = [
    `backend ${backendName(config.port)}`,
    `  mode ${config.protocol === "tcp" ? "tcp" : "http"}`,
    `  balance ${config.algorithm}`,
  ];
  if (config.algorithm === "source") lines.push("  hash-type consistent");
  lines.push(`  timeout connect ${config.checkTimeout}s`, `  timeout check ${config.checkTimeout}s`);
  if (config.check === "http" || config.check === "http_body") {
    lines.push(`  option httpchk GET ${config.checkPath || "/"}`, "  http-check expect rstatus ^[23]");
    if (config.check === "http_body") lines.push(`  http-check expect string ${quoted(config.checkBody)}`);
  }
  if (config.stickiness === "table")
    lines.push("  stick-table type ip size 200k expire 30m", "  stick on src");
  if (config.stickiness === "http_cookie") lines.push("  cookie NB_SRVID insert indirect nocache");
  for (const node of config.nodes) lines.push(serverLine(config, node, options.rise));
  return lines;
}

export function renderNodeBalancerConfig(
  resources: readonly RecordedResource[],
  nodeBalancerName: string,
  options: RenderOptions = DEFAULT_RENDER_OPTIONS,
): string {
  const model = nodeBalancerModel(resources, nodeBalancerName);
  const sections = [
    [
      `# NodeBalancer stand-in for ${model.name} (id ${model.id}, region ${model.region}), rendered by the lab`,
      "global",
      `  stats socket ${options.adminSocket} mode 600 level admin`,
      "  stats timeout 30s",
    ],
    ["defaults", "  timeout client 50s", "  timeout server 50s", "  timeout connect 5s"],
    ...model.configs.flatMap((config) => [
      frontend(model.ipv4, config, model.clientConnThrottle, options),
      backend(config, options),
    ]),
  ];
  return sections.map((lines) => lines.join("\n")).join("\n\n") + "\n";
}
