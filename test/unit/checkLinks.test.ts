import { describe, expect, it } from "vitest";
import { findBrokenLinks, type Repository } from "../../tools/linkCheck";
import { githubSlug, markdownAnchors } from "../../tools/markdownLinks";

/** A repository made of the given files (path → text). */
function repository(files: Record<string, string>): Repository {
  return {
    paths: new Set(Object.keys(files)),
    read: (file) => {
      const text = files[file];
      if (text === undefined) throw new Error(`test repository has no ${file}`);
      return text;
    },
  };
}

const DOCS = "# Facts\n\n## Linode\n\n### Instance inputs that replace a Linode\n\n## Linode\n";

/** A broken link of README.md, as the checker reports it. */
function broken(line: number, link: string, problem: string) {
  return { file: "README.md", line, link, problem };
}

function check(readme: string, files: Record<string, string> = {}) {
  const repo = repository({ "README.md": readme, "docs/guide.md": DOCS, "src/a.ts": "", ...files });
  return findBrokenLinks(repo, ["README.md"]);
}

describe("the Markdown link checker", () => {
  it("reports a link to a file the repository does not track, with its line", () => {
    expect(check("intro\n\nSee [the code](components/promotion.ts).\n")).toEqual([
      broken(3, "components/promotion.ts", "no tracked file or directory components/promotion.ts"),
    ]);
  });

  it("reports an anchor that names no heading of the target file", () => {
    expect(check("[x](docs/guide.md#pulumi)\n")).toEqual([
      broken(1, "docs/guide.md#pulumi", "no heading with anchor #pulumi in docs/guide.md"),
    ]);
    expect(check("[x](#nowhere)\n# Here\n")[0].problem).toBe("no heading with anchor #nowhere in README.md");
  });

  it("accepts files, directories, good anchors (GitHub's slugs, repeats numbered) and line anchors", () => {
    const readme = [
      "# Clean up",
      "[a](docs/guide.md#instance-inputs-that-replace-a-linode) [b](docs/guide.md#linode-1)",
      "[c](#clean-up) [d](./src/) [e](/src/a.ts#L3-L9) ![f](src/a.ts)",
      "[g]: docs/guide.md#facts",
      "[h](https://example.com/missing) [i](mailto:ops@example.com)",
    ].join("\n");
    expect(check(readme)).toEqual([]);
  });

  it("ignores links inside fenced code blocks, inline code and HTML comments", () => {
    const readme = [
      "```md",
      "[not a link](missing-in-fence.md)",
      "```",
      "Write `[text](missing-in-code.md)` to link, or ``a `[x](y.md)` b``.",
      "<!-- [old](missing-in-comment.md) -->",
      "~~~",
      "[x](missing-in-tilde-fence.md)",
      "~~~",
      "[real](missing.md)",
    ].join("\n");
    expect(check(readme).map((b) => `${b.line} ${b.link}`)).toEqual(["9 missing.md"]);
  });

  it("reports reference definitions, anchors into directories and links out of the repository", () => {
    const readme = "[ref]: docs/gone.md\n[d](src#top) [up](../elsewhere.md)\n";
    expect(check(readme).map((b) => b.problem)).toEqual([
      "no tracked file or directory docs/gone.md",
      "#top points into the directory src",
      "../elsewhere.md is outside the repository",
    ]);
  });

  it("makes anchors as GitHub does", () => {
    expect(githubSlug("Cost (USD/month, list prices, default sizes)")).toBe(
      "cost-usdmonth-list-prices-default-sizes",
    );
    expect(githubSlug("The failover flag's command: `linode-dr-leader primary|dr [--force]`")).toBe(
      "the-failover-flags-command-linode-dr-leader-primarydr---force",
    );
    expect(githubSlug("snake_case and __bold__")).toBe("snake_case-and-bold");
    expect([...markdownAnchors("# A\n## A\n```\n# not a heading\n```\n## A ##\n")]).toEqual([
      "a",
      "a-1",
      "a-2",
    ]);
  });
});
