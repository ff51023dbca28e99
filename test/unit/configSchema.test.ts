import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CONFIG_SCHEMA } from "../../config";
import { renderPulumiYaml } from "../../config/pulumiYaml";
import { BEGIN_MARKER, END_MARKER, renderReadme } from "../../config/readmeTable";

const root = join(__dirname, "..", "..");
const read = (file: string): string => readFileSync(join(root, file), "utf8");

describe("files generated from the schema table (npm run config:sync rewrites them)", () => {
  it("Pulumi.yaml's config block is what the table generates, the rest untouched", () => {
    const current = read("Pulumi.yaml");
    expect(current).toBe(renderPulumiYaml(current, CONFIG_SCHEMA));
  });

  it("README's key table is what the table generates", () => {
    const current = read("README.md");
    expect(current).toContain(BEGIN_MARKER);
    expect(current).toContain(END_MARKER);
    expect(current).toBe(renderReadme(current, CONFIG_SCHEMA));
  });

  it("a key added to the table shows up in Pulumi.yaml, so the comparison above can fail", () => {
    const current = read("Pulumi.yaml");
    const extended = { ...CONFIG_SCHEMA, extraKey: { ...CONFIG_SCHEMA.appName, description: "Extra." } };
    const generated = renderPulumiYaml(current, extended);
    expect(generated).not.toBe(current);
    expect(generated).toContain("  extraKey:\n    type: string\n    description: Extra.\n    default: app\n");
    expect(generated.startsWith(current.slice(0, current.indexOf("config:")))).toBe(true);
  });

  it("keys required on both stacks have no Pulumi.yaml default; keys that may be unset default to ''", () => {
    const project = read("Pulumi.yaml");
    expect(project).toMatch(/\n {2}domain:\n {4}type: string\n {4}description: [^\n]*\n {2}appName:/);
    expect(project).toMatch(/\n {2}primaryStack:\n(?: {4}[^\n]*\n)* {4}default: ""\n/);
    expect(project).toMatch(/\n {2}soaEmail:\n(?: {4}[^\n]*\n)* {4}default: ""\n/);
  });
});
