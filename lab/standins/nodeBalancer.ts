import { mkdirSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import * as path from "node:path";
import { assertDocumentationAddress } from "../addresses";
import type { Host } from "../hosts/host";
import type { LabProcess } from "../hosts/labProcess";
import { waitFor } from "../process";
import type { RecordedResource } from "../../evaluation/mocks";
import { addServerCommands, modeChangeCommands, parseServerStates, type ServerState } from "./haproxyRuntime";
import { backendName, renderNodeBalancerConfig, type RenderOptions } from "./nodeBalancerConfig";
import {
  nodeBalancerModel,
  type ConfigModel,
  type NodeBalancerModel,
  type NodeMode,
} from "./nodeBalancerModel";

/**
 * NodeBalancer stand-in: HAProxy 2.6 running in the network namespace of the lab host that has the
 * NodeBalancer's IPv4, configured from the program's NodeBalancer, NodeBalancerConfig and
 * NodeBalancerNode resources (see nodeBalancerConfig.ts for the mapping and how it differs from a
 * real NodeBalancer).
 *
 * Emulated: the ports, protocols (http, https, tcp), algorithms, stickiness, active and passive
 * health checks, node modes and weights, the per-client connection throttle; node mode changes at
 * run time as a NodeBalancerNode update would make them. Not emulated: IPv6, the Linode API itself
 * (configs cannot be added at run time; nodes are added, moved and removed through the runtime API), Cloud Firewall attachment, NodeBalancer
 * statistics and transfer accounting, UDP configs, the provider's hostname.
 */

export interface NodeBalancerStandInOptions {
  /** Passing checks that bring a node back (Linode does not document it); default checkAttempts. */
  rise?: number;
}

/** One command to HAProxy's runtime API over its Unix socket (a path, so reachable from any netns). */
export function haproxyCommand(socketPath: string, command: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    const chunks: Buffer[] = [];
    const timer = setTimeout(
      () => socket.destroy(new Error(`HAProxy did not answer "${command}"`)),
      timeoutMs,
    );
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on("end", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString("utf8"));
    });
    socket.end(`${command}\n`);
  });
}

/** The runtime API answers a change it made with nothing or one of these; anything else is a refusal. */
const CHANGE_DONE = /^(|New server registered\.|Server deleted\.)$/;

export class NodeBalancerStandIn {
  private readonly modes = new Map<string, NodeMode>();

  private constructor(
    readonly host: Host,
    readonly model: NodeBalancerModel,
    readonly dir: string,
    readonly adminSocket: string,
    readonly logFile: string,
    private readonly process: LabProcess,
    private readonly rise: number | undefined,
  ) {
    for (const config of model.configs)
      for (const node of config.nodes) this.modes.set(this.key(config, node.label), node.mode);
  }

  /** Starts HAProxy in `host`'s network namespace, which must have the NodeBalancer's IPv4. */
  static async start(
    host: Host,
    resources: readonly RecordedResource[],
    nodeBalancerName: string,
    options: NodeBalancerStandInOptions = {},
  ): Promise<NodeBalancerStandIn> {
    const model = nodeBalancerModel(resources, nodeBalancerName);
    assertDocumentationAddress(model.ipv4);
    for (const config of model.configs)
      for (const node of config.nodes) assertDocumentationAddress(node.address);
    if (host.address !== model.ipv4)
      throw new Error(
        `NodeBalancer ${nodeBalancerName} is at ${model.ipv4}; host ${host.name} is at ${host.address}`,
      );
    const dir = path.join(host.lab.stateDir, `nodebalancer-${host.name}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const render: RenderOptions = {
      adminSocket: path.join(dir, "admin.sock"),
      certificateDir: dir,
      ...(options.rise !== undefined ? { rise: options.rise } : {}),
    };
    for (const config of model.configs) {
      if (config.sslCert && config.sslKey)
        writeFileSync(
          path.join(dir, `${config.id}.pem`),
          `${config.sslCert.trim()}\n${config.sslKey.trim()}\n`,
          {
            mode: 0o600,
          },
        );
    }
    const configFile = path.join(dir, "haproxy.cfg");
    writeFileSync(configFile, renderNodeBalancerConfig(resources, nodeBalancerName, render));
    const logFile = path.join(dir, "haproxy.log");
    const child = host.spawnInNetwork(["haproxy", "-db", "-f", configFile], { logFile });
    const standIn = new NodeBalancerStandIn(
      host,
      model,
      dir,
      render.adminSocket,
      logFile,
      child,
      options.rise,
    );
    try {
      await waitFor(
        `HAProxy for ${nodeBalancerName} in ${host.name}`,
        async () => {
          if (!child.running) throw new Error(`HAProxy for ${nodeBalancerName} exited; see ${logFile}`);
          const info = await haproxyCommand(render.adminSocket, "show info").catch(() => "");
          return info.includes("Pid:") ? true : undefined;
        },
        10_000,
        50,
      );
      // A configured weight of 0 is not HAProxy's DRAIN state; drain nodes get it before any traffic.
      for (const config of model.configs)
        for (const node of config.nodes)
          if (node.mode === "drain")
            await standIn.command(`set server ${backendName(config.port)}/${node.label} state drain`);
    } catch (error) {
      await child.stop();
      throw error;
    }
    return standIn;
  }

  get pid(): number {
    return this.process.pid;
  }

  private key(config: ConfigModel, label: string): string {
    return `${config.port}/${label}`;
  }

  /** The config on `port`, or the only one when `port` is omitted. */
  private config(port?: number): ConfigModel {
    if (port === undefined) {
      if (this.model.configs.length !== 1)
        throw new Error(
          `NodeBalancer ${this.model.name} has ${this.model.configs.length} configs; name the port`,
        );
      return this.model.configs[0];
    }
    const config = this.model.configs.find((c) => c.port === port);
    if (!config) throw new Error(`NodeBalancer ${this.model.name} has no config on port ${port}`);
    return config;
  }

  private async command(command: string): Promise<void> {
    const answer = (await haproxyCommand(this.adminSocket, command)).trim();
    if (!CHANGE_DONE.test(answer)) throw new Error(`HAProxy refused "${command}": ${answer}`);
  }

  /** Each node's state (UP, DOWN, DRAIN, MAINT) by label, for the config on `port`. */
  async serverStates(port?: number): Promise<Record<string, ServerState>> {
    const config = this.config(port);
    return parseServerStates(await haproxyCommand(this.adminSocket, "show stat"), backendName(config.port));
  }

  /** What a NodeBalancerNode update of `mode` does: takes effect for new connections at once. */
  async setNodeMode(label: string, mode: NodeMode, port?: number): Promise<void> {
    const config = this.config(port);
    const node = config.nodes.find((n) => n.label === label);
    if (!node) throw new Error(`no node ${label} on port ${config.port} of ${this.model.name}`);
    const from = this.modes.get(this.key(config, label)) ?? node.mode;
    const wasUp = (await this.serverStates(config.port))[label] === "UP";
    const change = modeChangeCommands(config, node, from, mode, wasUp, this.rise);
    for (const command of change.remove.slice(0, -1)) await this.command(command);
    const del = change.remove.at(-1);
    if (del !== undefined) {
      // Idle keep-alive connections to the server may take a moment to close after `shutdown sessions`.
      await waitFor(
        `HAProxy to delete ${label}`,
        () =>
          this.command(del).then(
            () => true,
            () => undefined,
          ),
        5000,
        50,
      );
    }
    for (const command of change.add) await this.command(command);
    this.modes.set(this.key(config, label), mode);
  }

  /**
   * Adds the nodes `resources` declare for this NodeBalancer that it does not have yet (what
   * creating NodeBalancerNode resources does) and moves those whose address changed (an update of
   * a node's address, as after its Linode was replaced: the node's connections end and it starts
   * unchecked at the new address); returns what changed, e.g. "added app-0", "moved app-1".
   */
  async applyDeclaredNodes(resources: readonly RecordedResource[]): Promise<string[]> {
    const declared = nodeBalancerModel(resources, this.model.name);
    const changed: string[] = [];
    for (const config of declared.configs) {
      const current = this.config(config.port);
      for (const node of config.nodes) {
        const existing = current.nodes.find((n) => n.label === node.label);
        if (existing && existing.address === node.address && existing.port === node.port) continue;
        assertDocumentationAddress(node.address);
        if (existing) await this.removeNode(current, existing);
        for (const command of addServerCommands(current, node, false, this.rise)) await this.command(command);
        current.nodes.push(node);
        this.modes.set(this.key(current, node.label), node.mode);
        changed.push(`${existing ? "moved" : "added"} ${node.label}${existing ? ` to ${node.address}` : ""}`);
      }
    }
    return changed;
  }

  /**
   * Removes the nodes this NodeBalancer has that `resources` no longer declare (what deleting
   * NodeBalancerNode resources does: the node's connections end); returns their labels.
   */
  async removeUndeclaredNodes(resources: readonly RecordedResource[]): Promise<string[]> {
    const declared = nodeBalancerModel(resources, this.model.name);
    const removed: string[] = [];
    for (const config of this.model.configs) {
      const keep = declared.configs.find((c) => c.port === config.port)?.nodes ?? [];
      for (const node of [...config.nodes]) {
        if (keep.some((n) => n.label === node.label)) continue;
        await this.removeNode(config, node);
        removed.push(node.label);
      }
    }
    return removed;
  }

  private async removeNode(config: ConfigModel, node: ConfigModel["nodes"][number]): Promise<void> {
    const server = `${backendName(config.port)}/${node.label}`;
    await this.command(`set server ${server} state maint`);
    await this.command(`shutdown sessions server ${server}`);
    await waitFor(
      `HAProxy to delete ${node.label}`,
      () =>
        this.command(`del server ${server}`).then(
          () => true,
          () => undefined,
        ),
      5000,
      50,
    );
    config.nodes.splice(config.nodes.indexOf(node), 1);
    this.modes.delete(this.key(config, node.label));
  }

  async stop(): Promise<void> {
    await this.process.stop();
  }
}
