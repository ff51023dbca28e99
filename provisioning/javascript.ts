import { readFileSync } from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";
import { FOLLOWER_SOURCES } from "../follower/sources";
import type { TarEntry } from "./tar";

/**
 * The release's JavaScript programs (the traffic follower, and the validation kit it shares with
 * the Pulumi program): their TypeScript transpiled file by file to CommonJS for the Node 18 of
 * Debian 12's nodejs package, each .ts becoming a .js at the same path, so relative imports keep
 * working. transpileModule neither type-checks nor reads other files (the repository's own
 * typecheck does that), so the output depends only on each file and the pinned TypeScript: every
 * operator builds the same bytes, and the release's sha256 stays stable.
 */

const REPO_ROOT = path.join(__dirname, "..");

const COMPILER_OPTIONS: ts.CompilerOptions = {
  module: ts.ModuleKind.CommonJS,
  // Node 18 runs ES2022 natively.
  target: ts.ScriptTarget.ES2022,
  esModuleInterop: true,
  newLine: ts.NewLineKind.LineFeed,
};

export function javascriptEntries(): TarEntry[] {
  return FOLLOWER_SOURCES.map((rel) => {
    const result = ts.transpileModule(readFileSync(path.join(REPO_ROOT, rel), "utf8"), {
      compilerOptions: COMPILER_OPTIONS,
      fileName: rel,
      reportDiagnostics: true,
    });
    const errors = (result.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error);
    if (errors.length > 0)
      throw new Error(
        `${rel} does not transpile: ${errors.map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n")).join("; ")}`,
      );
    return { path: rel.replace(/\.ts$/, ".js"), content: Buffer.from(result.outputText), mode: 0o644 };
  });
}
