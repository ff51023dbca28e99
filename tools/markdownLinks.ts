/**
 * What a Markdown file links to and which anchors it offers, as GitHub renders it. Pure: text in,
 * values out. Fenced code blocks, inline code spans and HTML comments are not prose, so links in
 * them are not links. Indented code blocks and setext headings are not recognised: the
 * repository's Markdown fences its code and uses `#` headings.
 */

export interface MarkdownLink {
  /** 1-based line of the link's opening bracket. */
  line: number;
  /** The destination as written, e.g. "docs/facts.md#linode" or "#clean-up". */
  destination: string;
}

const FENCE = /^ {0,3}(`{3,}|~{3,})(.*)$/;
const ATX_HEADING = /^ {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;

/** Which lines belong to fenced code blocks (fences included). */
function fencedLines(lines: string[]): boolean[] {
  const fenced: boolean[] = [];
  let open: { char: string; length: number } | undefined;
  for (const line of lines) {
    const fence = FENCE.exec(line);
    if (open === undefined) {
      // A backtick fence's info string may not contain a backtick (CommonMark).
      if (fence && !(fence[1][0] === "`" && fence[2].includes("`"))) {
        open = { char: fence[1][0], length: fence[1].length };
      }
      fenced.push(open !== undefined);
    } else {
      fenced.push(true);
      if (fence && fence[1][0] === open.char && fence[1].length >= open.length && fence[2].trim() === "") {
        open = undefined;
      }
    }
  }
  return fenced;
}

/** Every character but newlines replaced by a space, so offsets still give the right line. */
function blank(text: string): string {
  return text.replace(/[^\n]/g, " ");
}

/**
 * The file with everything that is not prose blanked out: fenced blocks, HTML comments and inline
 * code spans (which may continue on the next line, never past a blank line).
 */
function prose(text: string): string {
  const lines = text.split("\n");
  const fenced = fencedLines(lines);
  return lines
    .map((line, i) => (fenced[i] ? blank(line) : line))
    .join("\n")
    .replace(/<!--[\s\S]*?-->/g, blank)
    .replace(/(?<!`)(`+)((?:(?!\n[ \t]*\n)[\s\S])*?[^`])\1(?!`)/g, blank);
}

// [text](destination "title") and ![alt](destination): text may hold one level of brackets, the
// destination one level of parentheses or be written <like this>.
const INLINE_LINK =
  /!?\[(?:[^[\]]|\[[^[\]]*\])*\]\(\s*(<[^>\n]*>|[^\s()<>]*(?:\([^\s()]*\)[^\s()<>]*)*)(?:\s+(?:"[^"]*"|'[^']*'|\([^)]*\)))?\s*\)/g;
// [label]: destination, at the start of a line.
const REFERENCE_DEFINITION = /^ {0,3}\[[^\]\n]+\]:[ \t]*(<[^>\n]*>|\S+)/gm;

function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset; i++) if (text[i] === "\n") line++;
  return line;
}

function unwrap(destination: string): string {
  return destination.startsWith("<") && destination.endsWith(">") ? destination.slice(1, -1) : destination;
}

/** Every inline link, image and reference definition in the file's prose, in order. */
export function markdownLinks(text: string): MarkdownLink[] {
  const body = prose(text);
  const found: { offset: number; destination: string }[] = [];
  for (const pattern of [INLINE_LINK, REFERENCE_DEFINITION]) {
    for (const match of body.matchAll(pattern)) {
      found.push({ offset: match.index, destination: unwrap(match[1]) });
    }
  }
  return found
    .sort((a, b) => a.offset - b.offset)
    .map(({ offset, destination }) => ({ line: lineAt(body, offset), destination }));
}

/** A heading's text as GitHub renders it: code, emphasis and link syntax gone, their text kept. */
function renderedText(markdown: string): string {
  return markdown
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/<[^>]+>/g, "")
    .replace(/`+/g, "")
    .replace(/(\*+|\b_+|_+\b)/g, "");
}

/** GitHub's heading id: lower case, punctuation but `-` and `_` dropped, each space a hyphen. */
export function githubSlug(heading: string): string {
  return renderedText(heading)
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /g, "-");
}

/** The anchors of the file's headings; a repeated heading gets -1, -2, ... as on GitHub. */
export function markdownAnchors(text: string): Set<string> {
  const lines = text.split("\n");
  const fenced = fencedLines(lines);
  const anchors = new Set<string>();
  lines.forEach((line, i) => {
    const heading = fenced[i] ? null : ATX_HEADING.exec(line);
    if (!heading) return;
    const base = githubSlug(heading[1] ?? "");
    let slug = base;
    for (let n = 1; anchors.has(slug); n++) slug = `${base}-${n}`;
    anchors.add(slug);
  });
  return anchors;
}
