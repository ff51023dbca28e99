import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FOLLOWER_ENTRY, FOLLOWER_SOURCES } from "../../../follower/sources";
import { javascriptEntries } from "../../../provisioning/javascript";
import { renderFollowerSettings } from "../../../follower/src/settings";
import { followerSettings } from "./fixtures";

const run = promisify(execFile);

function requires(js: string): string[] {
  return [...js.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]);
}

describe("the follower as a release ships it", () => {
  let dir: string;
  const built = new Map<string, string>();

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "follower-release-"));
    // Exactly the bytes the release carries (provisioning/javascript.ts).
    for (const entry of javascriptEntries()) {
      built.set(entry.path.replace(/\.js$/, ".ts"), entry.content.toString("utf8"));
      const target = path.join(dir, entry.path);
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, entry.content);
    }
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("lists exactly the files the entry imports, transitively, and needs nothing but Node's own modules", () => {
    const reached = new Set<string>();
    const outside = new Set<string>();
    const visit = (file: string) => {
      if (reached.has(file)) return;
      reached.add(file);
      const js = built.get(file);
      if (js === undefined) throw new Error(`${file} is imported but not in FOLLOWER_SOURCES`);
      for (const spec of requires(js)) {
        if (spec.startsWith(".")) visit(path.posix.join(path.posix.dirname(file), `${spec}.ts`));
        else if (!spec.startsWith("node:")) outside.add(spec);
      }
    };
    visit(FOLLOWER_ENTRY);
    expect([...reached].sort()).toEqual([...FOLLOWER_SOURCES].sort());
    expect([...outside]).toEqual([]);
  });

  /** Runs the transpiled entry with node; its exit status and output. */
  async function follower(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const main = path.join(dir, FOLLOWER_ENTRY.replace(/\.ts$/, ".js"));
    try {
      const { stdout, stderr } = await run(process.execPath, [main, ...args], { cwd: dir, timeout: 20_000 });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  it("runs under node: bad usage and bad settings exit 2, pause and status round-trip", async () => {
    expect((await follower("launch")).code).toBe(2);

    const settingsFile = path.join(dir, "follower.json");
    const settings = followerSettings({ stateDir: path.join(dir, "state") });
    await writeFile(
      settingsFile,
      renderFollowerSettings(settings).replace('"debounceSeconds": 5', '"debounceSeconds": 90'),
    );
    const bad = await follower("status", "--settings", settingsFile);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(
      "FollowerSettings.debounceSeconds: received 90; expected an integer from 0 to 60",
    );

    await writeFile(settingsFile, renderFollowerSettings(settings));
    const paused = await follower("pause", "--settings", settingsFile);
    expect(paused).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^paused: yes since \S+Z: every move is held/),
    });
    const status = await follower("status", "--settings", settingsFile);
    expect(status.code).toBe(1);
    expect(status.stdout).toContain("paused:    yes since");
    expect(status.stderr).toContain("no state at");
    expect((await follower("resume", "--settings", settingsFile)).stdout).toBe(
      "resumed: moves are allowed again\n",
    );
  });
});
