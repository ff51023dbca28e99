import { javascriptEntries } from "../../provisioning/javascript";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildRelease, releaseObjectKey, SBIN_COMMANDS, SBIN_LIST_PATH } from "../../provisioning/release";
import { writeTar } from "../../provisioning/tar";

const REPO = path.join(__dirname, "..", "..");
const scratch = mkdtempSync(path.join(tmpdir(), "release-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("the release bundle", () => {
  const release = buildRelease();

  it("is named by the sha256 of its bytes, content-addressed in the bucket", () => {
    expect(release.sha256).toBe(createHash("sha256").update(release.tar).digest("hex"));
    expect(releaseObjectKey(release.sha256)).toBe(`releases/${release.sha256}.tar`);
  });

  it("holds every provisioning script and the C service's build inputs, nothing else from app/", () => {
    expect(release.paths).toContain("scripts/db-provision.sh");
    expect(release.paths).toContain("scripts/lib/retry.sh");
    expect(release.paths).toContain("scripts/lib/patroni-config.py");
    expect(release.paths).toContain("app/Makefile");
    expect(release.paths).toContain("app/linode-dr-app.service");
    for (const f of ["healthz.c", "healthz.h", "http.c", "main.c", "server.c", "order.c"]) {
      expect(release.paths).toContain(`app/src/${f}`);
    }
    expect(release.paths.some((p) => /tests\/|fuzz\/|bench\//.test(p))).toBe(false);
    expect(release.paths).toEqual([...release.paths].sort());
  });

  it("unpacks with GNU tar to exactly the repository's files, scripts executable", () => {
    const file = path.join(scratch, "release.tar");
    writeFileSync(file, release.tar);
    const dir = path.join(scratch, "tree");
    execFileSync("mkdir", ["-p", dir]);
    execFileSync("tar", ["-xf", file, "-C", dir, "--no-same-owner"]);
    const javascript = new Map(javascriptEntries().map((e) => [e.path, e.content]));
    for (const rel of release.paths.filter((p) => p !== SBIN_LIST_PATH)) {
      const unpacked = readFileSync(path.join(dir, rel));
      if (javascript.has(rel)) {
        // Transpiled from the repository's TypeScript of the same name.
        expect(statSync(path.join(REPO, rel.replace(/\.js$/, ".ts"))).isFile(), rel).toBe(true);
        expect(unpacked.equals(javascript.get(rel)!), rel).toBe(true);
      } else {
        const source = rel.startsWith("scripts/")
          ? path.join(REPO, "provisioning", rel)
          : path.join(REPO, rel);
        expect(unpacked.equals(readFileSync(source)), rel).toBe(true);
      }
      // Shell scripts, and the commands /usr/local/sbin links to (a Python command among them).
      const command = rel.endsWith(".sh") || Object.values(SBIN_COMMANDS).includes(rel);
      expect((statSync(path.join(dir, rel)).mode & 0o111) !== 0, rel).toBe(command);
    }
    // The JavaScript runs on its own, with nothing from node_modules: the validation kit refuses
    // a bad password without showing it.
    const check = execFileSync(
      process.execPath,
      [
        "-e",
        `const f = require(${JSON.stringify(path.join(dir, "validation/formats.js"))}); const r = f.password.check("short"); console.log(JSON.stringify(r));`,
      ],
      { encoding: "utf8", cwd: dir, env: { PATH: process.env.PATH ?? "" } },
    );
    expect(JSON.parse(check)).toEqual({
      ok: false,
      mismatches: [
        {
          received: "a string of 5 characters",
          expected: "8 to 256 printable ASCII characters without spaces",
        },
      ],
    });
    const listed = readFileSync(path.join(dir, SBIN_LIST_PATH), "utf8")
      .trim()
      .split("\n")
      .map((line) => line.split(" "));
    expect(Object.fromEntries(listed)).toEqual(SBIN_COMMANDS);
    expect(execFileSync("tar", ["-tvf", file], { encoding: "utf8" })).toMatch(
      /^-rwxr-xr-x root\/root .* 1970-01-01 00:00 scripts\//m,
    );
  });

  it("does not depend on when or where it is built: fixed owner, mode and mtime", () => {
    const a = writeTar([{ path: "x/y.sh", content: Buffer.from("echo\n"), mode: 0o755 }]);
    const b = writeTar([{ path: "x/y.sh", content: Buffer.from("echo\n"), mode: 0o755 }]);
    expect(a.equals(b)).toBe(true);
    expect(() => writeTar([{ path: "../escape", content: Buffer.alloc(0), mode: 0o644 }])).toThrow(
      'tar entry path must be relative and plain; received "../escape"',
    );
  });
});
