import { mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { gunzipSync } from "node:zlib";
import { parse } from "yaml";

interface WriteFileEntry {
  path: string;
  content: string;
  encoding?: string;
  permissions: string;
}

/**
 * Lays a #cloud-config's write_files out under `root`, as cloud-init's write_files module would
 * under /, for tests that run the provisioning scripts outside a lab host.
 */
export function materializeWriteFiles(cloudConfig: string, root: string): void {
  const doc = parse(cloudConfig) as { write_files: WriteFileEntry[] };
  for (const file of doc.write_files) {
    const dest = path.join(root, file.path);
    mkdirSync(path.dirname(dest), { recursive: true });
    const content =
      file.encoding === "gz+b64"
        ? gunzipSync(Buffer.from(file.content, "base64"))
        : Buffer.from(file.content);
    writeFileSync(dest, content, { mode: parseInt(file.permissions, 8) });
  }
}
