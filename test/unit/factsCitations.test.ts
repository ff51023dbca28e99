import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { markdownAnchors } from "../../tools/markdownLinks";

/**
 * Comments cite the facts they rely on as docs/facts.md#<heading>. `npm run check:links` checks
 * Markdown only, so this checks the citations in everything else: each must name a heading.
 */
const REPO = path.join(__dirname, "..", "..");

describe("citations of docs/facts.md", () => {
  it("name headings that docs/facts.md has", () => {
    const anchors = markdownAnchors(readFileSync(path.join(REPO, "docs", "facts.md"), "utf8"));
    const cited = execFileSync(
      "git",
      ["grep", "-n", "-o", "-E", "docs/facts\\.md#[A-Za-z0-9_-]+", "--", ":!*.md"],
      {
        cwd: REPO,
        encoding: "utf8",
      },
    )
      .trim()
      .split("\n");
    expect(cited.length).toBeGreaterThan(0);
    const unknown = cited.filter((line) => !anchors.has(line.slice(line.indexOf("#") + 1)));
    expect(unknown).toEqual([]);
  });
});
