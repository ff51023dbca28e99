import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderPulumiYaml } from "./pulumiYaml";
import { renderReadme } from "./readmeTable";
import { CONFIG_SCHEMA } from "./schema";

/**
 * `npm run config:sync` (tsx config/sync.ts --write): rewrites Pulumi.yaml's `config:` block and the
 * README's key table from the schema table. Without --write it only reports which file is stale and
 * exits 1; test/unit/configSchema.test.ts makes the same comparison.
 */

const root = join(__dirname, "..");
const targets = [
  { file: "Pulumi.yaml", render: (text: string) => renderPulumiYaml(text, CONFIG_SCHEMA) },
  { file: "README.md", render: (text: string) => renderReadme(text, CONFIG_SCHEMA) },
];

const write = process.argv.includes("--write");
let stale = 0;
for (const { file, render } of targets) {
  const path = join(root, file);
  const current = readFileSync(path, "utf8");
  const generated = render(current);
  if (generated === current) continue;
  if (write) {
    writeFileSync(path, generated);
    console.log(`${file}: rewritten from config/schema.ts`);
  } else {
    console.error(`${file}: differs from config/schema.ts (run npm run config:sync)`);
    stale += 1;
  }
}
process.exitCode = stale > 0 ? 1 : 0;
