import { setTimeout as sleep } from "node:timers/promises";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { processStartTime, processStat, run, signalQuietly, waitFor } from "../process";
import { LAB_NAME, netnsPrefix } from "./names";
import { DEFAULT_STATE_ROOT, LabState, stateDirOf, stateFileOf } from "./state";

function listLabNetns(lab: string): string[] {
  try {
    return readdirSync("/run/netns").filter((name) => name.startsWith(netnsPrefix(lab)));
  } catch {
    return [];
  }
}

function killIfSame(pid: number, start: string | undefined): number | undefined {
  if (start !== undefined && processStartTime(pid) !== start) return undefined;
  return signalQuietly(pid, "SIGKILL") ? pid : undefined;
}

/**
 * Removes everything a lab of this name may have left: processes recorded in its state file, any
 * process inside its network namespaces, its namespaces and its state directory. Each process is
 * checked by pid and start time (recorded ones) or by namespace membership, never by name.
 */
export async function cleanLab(
  lab: string,
  stateRoot = DEFAULT_STATE_ROOT,
): Promise<{ killed: number; netns: number }> {
  if (!LAB_NAME.test(lab)) throw new Error(`lab name "${lab}" must match ${LAB_NAME}`);
  const dir = stateDirOf(stateRoot, lab);
  const killed = new Set<number>();
  const stateFile = stateFileOf(dir);
  if (existsSync(stateFile)) {
    try {
      const state = JSON.parse(readFileSync(stateFile, "utf8")) as LabState;
      for (const entry of state.processes) {
        const pid = killIfSame(entry.pid, entry.start);
        if (pid) killed.add(pid);
      }
    } catch {
      // A half-written state file: the namespace scan below still finds the processes.
    }
  }
  const namespaces = listLabNetns(lab);
  for (const netns of namespaces) {
    const pids = await run(["ip", "netns", "pids", netns]);
    for (const text of pids.stdout.split(/\s+/).filter(Boolean)) {
      const pid = killIfSame(Number(text), undefined);
      if (pid) killed.add(pid);
    }
  }
  await waitFor(
    "lab processes to exit",
    () =>
      [...killed].some((pid) => processStartTime(pid) !== undefined && !isZombie(pid)) ? undefined : true,
    15_000,
    20,
  );
  for (const netns of namespaces) {
    const result = await run(["ip", "netns", "del", netns]);
    if (result.code !== 0 && listLabNetns(lab).includes(netns)) {
      throw new Error(`could not delete netns ${netns}: ${result.stderr.trim()}`);
    }
  }
  // The hosts' overlay mounts lived in their own mount namespaces and went away with them.
  for (let attempt = 0; ; attempt++) {
    try {
      rmSync(dir, { recursive: true, force: true });
      break;
    } catch (error) {
      if (attempt >= 20) throw error;
      await sleep(100);
    }
  }
  return { killed: killed.size, netns: namespaces.length };
}

function isZombie(pid: number): boolean {
  const state = processStat(pid)?.state;
  return state === undefined || state === "Z";
}
