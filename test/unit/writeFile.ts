import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";

/** Writes `file` (its directory made as needed) with `mode`: a fake host's file or a stand-in command. */
export function write(file: string, text: string, mode = 0o644): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  chmodSync(file, mode);
}
