import * as path from "node:path";

/** Where a lab records what it created (`<root>/<lab>/state.json`), read back by `cleanLab`. */

export const DEFAULT_STATE_ROOT = "/var/tmp/linode-dr-lab";

export interface LabState {
  netns: string[];
  processes: { pid: number; start: string; what: string }[];
}

export function stateDirOf(root: string, lab: string): string {
  return path.join(root, lab);
}

export function stateFileOf(stateDir: string): string {
  return path.join(stateDir, "state.json");
}
