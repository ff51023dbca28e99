/**
 * Lab maintenance from the shell (root).
 *   npx tsx lab/cli.ts clean [lab-name...]   remove what crashed runs left (all labs when no name given)
 */
import { readdirSync } from "node:fs";
import { cleanLab } from "./hosts/cleanup";
import { DEFAULT_STATE_ROOT } from "./hosts/state";

function leftoverLabs(): string[] {
  const names = new Set<string>();
  try {
    for (const entry of readdirSync(DEFAULT_STATE_ROOT)) names.add(entry);
  } catch {
    // No state root: nothing recorded.
  }
  try {
    for (const netns of readdirSync("/run/netns")) {
      const match = /^ldr-([a-z][a-z0-9]{0,11})-/.exec(netns);
      if (match) names.add(match[1]);
    }
  } catch {
    // No named network namespaces at all.
  }
  return [...names].sort();
}

async function main(): Promise<void> {
  const [command, ...names] = process.argv.slice(2);
  if (command !== "clean") {
    console.error("usage: npx tsx lab/cli.ts clean [lab-name...]");
    process.exit(2);
  }
  const labs = names.length > 0 ? names : leftoverLabs();
  if (labs.length === 0) console.log("nothing to clean");
  for (const lab of labs) {
    const { killed, netns } = await cleanLab(lab);
    console.log(`lab ${lab}: killed ${killed} processes, removed ${netns} network namespaces and its state`);
  }
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
