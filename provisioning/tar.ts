/**
 * A minimal POSIX ustar writer for reproducible archives: regular files only, owner root:root,
 * mtime 0, entries in the order given. GNU tar on the Linodes reads it; nothing here depends on
 * the platform that runs the program.
 */

export interface TarEntry {
  /** Relative path with "/" separators, at most 100 bytes (no prefix field needed). */
  path: string;
  content: Buffer;
  mode: number;
}

const BLOCK = 512;

function field(header: Buffer, offset: number, length: number, value: string): void {
  const bytes = Buffer.from(value, "utf8");
  if (bytes.length > length) throw new Error(`tar header field too long: "${value}"`);
  bytes.copy(header, offset);
}

function octal(value: number, length: number): string {
  // length-1 octal digits then NUL, as ustar expects.
  return value.toString(8).padStart(length - 1, "0") + "\0";
}

function header(entry: TarEntry): Buffer {
  if (!/^[A-Za-z0-9._/-]+$/.test(entry.path) || entry.path.startsWith("/") || entry.path.includes("..")) {
    throw new Error(`tar entry path must be relative and plain; received "${entry.path}"`);
  }
  if (Buffer.byteLength(entry.path) > 100) throw new Error(`tar entry path over 100 bytes: ${entry.path}`);
  const h = Buffer.alloc(BLOCK, 0);
  field(h, 0, 100, entry.path);
  field(h, 100, 8, octal(entry.mode & 0o7777, 8));
  field(h, 108, 8, octal(0, 8));
  field(h, 116, 8, octal(0, 8));
  field(h, 124, 12, octal(entry.content.length, 12));
  field(h, 136, 12, octal(0, 12));
  field(h, 148, 8, "        "); // checksum is computed over the header with this field as spaces
  field(h, 156, 1, "0");
  field(h, 257, 6, "ustar\0");
  field(h, 263, 2, "00");
  field(h, 265, 32, "root");
  field(h, 297, 32, "root");
  let sum = 0;
  for (const byte of h) sum += byte;
  field(h, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  return h;
}

export function writeTar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  const seen = new Set<string>();
  for (const entry of entries) {
    if (seen.has(entry.path)) throw new Error(`tar entry ${entry.path} appears twice`);
    seen.add(entry.path);
    parts.push(header(entry), entry.content);
    const pad = (BLOCK - (entry.content.length % BLOCK)) % BLOCK;
    if (pad) parts.push(Buffer.alloc(pad, 0));
  }
  parts.push(Buffer.alloc(BLOCK * 2, 0));
  return Buffer.concat(parts);
}
