import { backendName, serverCheckArguments } from "./nodeBalancerConfig";
import type { ConfigModel, NodeMode, NodeModel } from "./nodeBalancerModel";

/**
 * The pure half of talking to HAProxy's runtime API for the NodeBalancer stand-in: reading server
 * states from `show stat` and the commands that apply a NodeBalancerNode mode change in place.
 */

export type ServerState = "UP" | "DOWN" | "DRAIN" | "MAINT";

/**
 * Server states of one backend from `show stat` CSV. Transitional states ("UP 1/3" = up, one
 * failed check towards fall) count as the state they are still in; a server without checks is UP
 * because a NodeBalancer with check `none` sends it traffic.
 */
export function parseServerStates(csv: string, backend: string): Record<string, ServerState> {
  const lines = csv.split("\n").filter((line) => line.trim() !== "");
  const header = lines[0]?.replace(/^# /, "").split(",");
  const px = header?.indexOf("pxname") ?? -1;
  const sv = header?.indexOf("svname") ?? -1;
  const status = header?.indexOf("status") ?? -1;
  if (px < 0 || sv < 0 || status < 0) throw new Error(`not HAProxy "show stat" output: ${lines[0] ?? ""}`);
  const states: Record<string, ServerState> = {};
  for (const line of lines.slice(1)) {
    const fields = line.split(",");
    if (fields[px] !== backend || fields[sv] === "BACKEND" || fields[sv] === "FRONTEND") continue;
    const text = fields[status];
    const word = text === "no check" ? "UP" : text.split(/[ (]/)[0];
    if (word !== "UP" && word !== "DOWN" && word !== "DRAIN" && word !== "MAINT")
      throw new Error(
        `server ${backend}/${fields[sv]} has status "${text}", which the stand-in does not know`,
      );
    states[fields[sv]] = word;
  }
  return states;
}

function adminState(mode: NodeMode): "ready" | "drain" | "maint" {
  if (mode === "drain") return "drain";
  if (mode === "reject") return "maint";
  return "ready";
}

export interface ModeChange {
  /** Runs first; `del server` needs the server in MAINT without sessions. */
  remove: string[];
  /** Then these, once `remove` has succeeded. */
  add: string[];
}

/**
 * Commands that turn `node` (currently `from`) into mode `to`. Accept, drain and reject differ only
 * in HAProxy's admin state; backup is a server flag HAProxy 2.6 cannot toggle, so the server is
 * deleted and added again with the same checks, keeping the health it had (`wasUp`) so a node that
 * was down gets no traffic before its checks pass again.
 */
export function modeChangeCommands(
  config: ConfigModel,
  node: NodeModel,
  from: NodeMode,
  to: NodeMode,
  wasUp: boolean,
  rise?: number,
): ModeChange {
  const server = `${backendName(config.port)}/${node.label}`;
  const setState = `set server ${server} state ${adminState(to)}`;
  if ((from === "backup") === (to === "backup")) return { remove: [], add: [setState] };
  if (config.stickiness === "http_cookie") {
    throw new Error(
      `node ${node.label}: HAProxy 2.6 cannot re-add a server with a cookie at run time, so a mode change to or from backup ` +
        `under http_cookie stickiness needs the stand-in restarted with the new mode`,
    );
  }
  const add = addServerCommands(config, { ...node, mode: to }, wasUp, rise);
  return {
    remove: [
      `set server ${server} state maint`,
      `shutdown sessions server ${server}`,
      `del server ${server}`,
    ],
    add,
  };
}

/**
 * Commands that add `node` to a running HAProxy in mode `node.mode`: what a NodeBalancerNode
 * creation does. A node that was not up (`wasUp` false, as for a new node) gets traffic only
 * after its checks pass, as a new node of a NodeBalancer does.
 */
export function addServerCommands(
  config: ConfigModel,
  node: NodeModel,
  wasUp: boolean,
  rise?: number,
): string[] {
  const server = `${backendName(config.port)}/${node.label}`;
  const args = [
    `${node.address}:${node.port}`,
    "weight",
    String(node.weight),
    ...serverCheckArguments(config, rise),
  ];
  if (node.mode === "backup") args.push("backup");
  const add = [`add server ${server} ${args.join(" ")}`];
  if (config.check !== "none")
    add.push(`enable health ${server}`, `set server ${server} health ${wasUp ? "up" : "down"}`);
  add.push(`set server ${server} state ${adminState(node.mode)}`);
  return add;
}
