import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { findBrokenLinks, type Repository } from "./linkCheck";

/**
 * `npm run check:links`: every relative link, image and anchor in the repository's tracked
 * Markdown files must resolve, else this names each broken one (file:line, the link, what is
 * missing) and exits 1. Links are checked against tracked files, because that is what a reader of
 * the repository gets: a file that exists only in one working tree does not count.
 */

const root = execFileSync("git", ["rev-parse", "--show-toplevel"], { encoding: "utf8" }).trim();
const tracked = execFileSync("git", ["ls-files", "-z"], { cwd: root, encoding: "utf8" })
  .split("\0")
  .filter((file) => file !== "");
const repo: Repository = {
  paths: new Set(tracked),
  read: (file) => readFileSync(path.join(root, file), "utf8"),
};
const markdown = tracked.filter((file) => file.endsWith(".md"));
const broken = findBrokenLinks(repo, markdown);

for (const { file, line, link, problem } of broken) console.error(`${file}:${line}: ${link}: ${problem}`);
if (broken.length > 0) {
  console.error(`check:links: ${broken.length} broken link(s) in ${markdown.length} Markdown files`);
  process.exit(1);
}
console.log(`check:links: every relative link in ${markdown.length} Markdown files resolves`);
