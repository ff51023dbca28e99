import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { run } from "../../lab/process";

describe("lab/process run()", () => {
  it("returns at its timeout even when a grandchild still holds the output open", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "run-timeout-"));
    const pidFile = path.join(dir, "grandchild.pid");
    try {
      const started = Date.now();
      // The grandchild inherits stdout and outlives its killed parent, as a command entered into a
      // lab host with nsenter does when the server it asks is frozen.
      const result = await run(["bash", "-c", `sleep 20 & echo $! > ${pidFile}; wait`], { timeoutMs: 300 });
      expect(result.code).toBe(124);
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      process.kill(Number(readFileSync(pidFile, "utf8")), "SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
