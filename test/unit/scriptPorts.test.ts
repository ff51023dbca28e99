import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import {
  ETCD_CLIENT_PORT,
  ETCD_METRICS_PORT,
  ETCD_PEER_PORT,
  PATRONI_REST_PORT,
  POSTGRES_PORT,
} from "../../provisioning/consensus";

/**
 * The release's scripts configure the ports the program's firewalls open, and they cannot import
 * them: lib/consensus.sh spells each once, and must agree with provisioning/consensus.ts.
 */
const SCRIPTS_DIR = path.join(__dirname, "..", "..", "provisioning", "scripts");
const PORTS = { ETCD_CLIENT_PORT, ETCD_PEER_PORT, ETCD_METRICS_PORT, PATRONI_REST_PORT, POSTGRES_PORT };

function scripts(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? scripts(path.join(dir, entry.name))
      : entry.name.endsWith(".sh")
        ? [path.join(dir, entry.name)]
        : [],
  );
}

describe("the scripts' consensus ports", () => {
  it("are declared in lib/consensus.sh with the program's values", () => {
    const text = readFileSync(path.join(SCRIPTS_DIR, "lib", "consensus.sh"), "utf8");
    for (const [name, port] of Object.entries(PORTS)) {
      expect(text, name).toMatch(new RegExp(`^readonly ${name}=${port}$`, "m"));
    }
  });

  it("are the program's in lib/cluster.py, the Python commands' settings", () => {
    const text = readFileSync(path.join(SCRIPTS_DIR, "lib", "cluster.py"), "utf8");
    for (const name of ["ETCD_CLIENT_PORT", "POSTGRES_PORT"] as const) {
      expect(text, name).toMatch(new RegExp(`^${name} = ${PORTS[name]}$`, "m"));
    }
  });

  it("appear as numbers nowhere else in the scripts", () => {
    const library = path.join(SCRIPTS_DIR, "lib", "consensus.sh");
    for (const script of scripts(SCRIPTS_DIR).filter((file) => file !== library)) {
      const text = readFileSync(script, "utf8");
      for (const port of Object.values(PORTS)) {
        expect(text, `${path.relative(SCRIPTS_DIR, script)} spells port ${port}`).not.toMatch(
          new RegExp(`\\b${port}\\b`),
        );
      }
    }
  });
});
