import * as path from "node:path";
import { markdownAnchors, markdownLinks } from "./markdownLinks";

/**
 * Checks the relative links of Markdown files against the files a repository tracks, as GitHub
 * resolves them: a path is relative to the linking file (or to the repository root when it starts
 * with "/"), and an anchor must name a heading of the target Markdown file. External links (any
 * scheme, or "//host") are not followed. Pure: the repository is given as its paths and a reader.
 */

export interface Repository {
  /** Every tracked file, relative to the repository root, "/"-separated. */
  paths: ReadonlySet<string>;
  /** The text of a tracked file. */
  read(file: string): string;
}

export interface BrokenLink {
  file: string;
  line: number;
  /** The destination as written in the file. */
  link: string;
  /** What is missing. */
  problem: string;
}

const EXTERNAL = /^(?:[a-z][a-z0-9+.-]*:|\/\/)/i;
// GitHub's line anchors into a file it shows as source: #L12 or #L12-L20.
const LINE_ANCHOR = /^L\d+(?:-L\d+)?$/;

function isDirectory(repo: Repository, dir: string): boolean {
  if (dir === "") return true;
  for (const file of repo.paths) if (file.startsWith(`${dir}/`)) return true;
  return false;
}

function resolveTarget(from: string, target: string): string {
  const joined = target.startsWith("/") ? target.slice(1) : path.posix.join(path.posix.dirname(from), target);
  return path.posix.normalize(joined).replace(/\/$/, "").replace(/^\.$/, "");
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/** What is wrong with one link of `from`, or undefined when it resolves. */
function problemOf(repo: Repository, from: string, destination: string): string | undefined {
  const hash = destination.indexOf("#");
  const target = decode((hash < 0 ? destination : destination.slice(0, hash)).replace(/\?.*$/, ""));
  const anchor = hash < 0 ? undefined : decode(destination.slice(hash + 1));
  const file = target === "" ? from : resolveTarget(from, target);
  if (file === ".." || file.startsWith("../")) return `${file} is outside the repository`;
  if (!repo.paths.has(file)) {
    if (!isDirectory(repo, file)) return `no tracked file or directory ${file}`;
    return anchor === undefined ? undefined : `#${anchor} points into the directory ${file}`;
  }
  if (anchor === undefined) return undefined;
  if (!file.endsWith(".md")) {
    return LINE_ANCHOR.test(anchor) ? undefined : `#${anchor} is not a line anchor (#L12) into ${file}`;
  }
  return markdownAnchors(repo.read(file)).has(anchor)
    ? undefined
    : `no heading with anchor #${anchor} in ${file}`;
}

/** The broken relative links of the given Markdown files, in file and line order. */
export function findBrokenLinks(repo: Repository, markdownFiles: readonly string[]): BrokenLink[] {
  const broken: BrokenLink[] = [];
  for (const file of markdownFiles) {
    for (const link of markdownLinks(repo.read(file))) {
      if (EXTERNAL.test(link.destination)) continue;
      const problem = problemOf(repo, file, link.destination);
      if (problem !== undefined) broken.push({ file, line: link.line, link: link.destination, problem });
    }
  }
  return broken;
}
