import { spawnSync } from "node:child_process";
import * as path from "node:path";

const SCRIPTS = path.join(__dirname, "..", "..", "provisioning", "scripts");

/**
 * Sources a provisioning script (its guarded main does not run), loads consensus.conf from
 * `scratch`/etc, then runs `call`: the stand-ins in `binDir` come first on PATH.
 */
export function runSourced(script: string, call: string, scratch: string, binDir: string) {
  return spawnSync(
    "bash",
    ["-c", `set -euo pipefail; source "${path.join(SCRIPTS, script)}"; load_consensus; ${call}`],
    {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 30_000,
      env: {
        PATH: `${binDir}:/usr/bin:/bin`,
        LINODE_DR_ETC_DIR: path.join(scratch, "etc"),
        LINODE_DR_STATE_DIR: path.join(scratch, "state"),
      },
    },
  );
}
