import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  CONFIG_KEYS,
  CONFIG_SCHEMA,
  ConfigError,
  parseConfig,
  type ConfigKey,
  type Role,
} from "../../config";
import { key, OPTIONAL, REQUIRED, Unset, Derived, type Schema } from "../../config/keySpec";
import { Problems } from "../../config/problems";
import { renderPulumiYaml } from "../../config/pulumiYaml";
import { BEGIN_MARKER, END_MARKER, renderReadme } from "../../config/readmeTable";
import { readKeys } from "../../config/readKeys";
import { stringList, text } from "../../config/validators";
import { matching } from "../../validation/kit";
import { baseConfig } from "../../evaluation/configs";

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

function problemsOf(raw: Record<string, string | undefined>): string[] {
  try {
    parseConfig(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  return [];
}

/**
 * A valid value for every key, other than its default where another exists (plus whatever a rule
 * between keys needs alongside it). A key added to the table without one fails the first test.
 */
const SAMPLES: Record<ConfigKey, Record<string, string>> = {
  role: { role: "dr", primaryStack: "acme/linode-dr/primary" },
  primaryRegion: { primaryRegion: "us-east" },
  drRegion: { drRegion: "eu-west" },
  domain: { domain: "example.org" },
  appName: { appName: "shop" },
  appCount: { appCount: "3" },
  standbyAppCount: { standbyAppCount: "2" },
  appInstanceType: { appInstanceType: "g6-standard-2" },
  databaseInstanceType: { databaseInstanceType: "g6-standard-4" },
  // The only image accepted is the default one.
  image: { image: "linode/debian12" },
  appPort: { appPort: "9090" },
  healthCheckInterval: { healthCheckInterval: "10" },
  healthCheckTimeout: { healthCheckTimeout: "4" },
  healthCheckAttempts: { healthCheckAttempts: "3" },
  recordTtl: { recordTtl: "300" },
  adminCidrs: { adminCidrs: JSON.stringify(["198.51.100.0/24", "2001:db8::/32"]) },
  sshPublicKeys: {
    sshPublicKeys: JSON.stringify(["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAnotherTestKey ops2@example.com"]),
  },
  protectDatabases: { protectDatabases: "false" },
  certificateGeneration: { certificateGeneration: "2" },
  passwordGeneration: { passwordGeneration: "2" },
  automationKeys: { automationKeys: "1,2" },
  hostKeys: { hostKeys: "1,2" },
  certificateAuthorities: { certificateAuthorities: "2,1" },
  postgresVersion: { postgresVersion: "16" },
  walKeepSize: { walKeepSize: "1GB" },
  maxSlotWalKeepSize: { maxSlotWalKeepSize: "16GB" },
  replicaWaitTimeoutSeconds: { replicaWaitTimeoutSeconds: "600" },
  appArtifactUrl: { appArtifactUrl: "https://example.com/app", appArtifactSha256: "b".repeat(64) },
  appArtifactSha256: { appArtifactUrl: "https://example.com/app", appArtifactSha256: "b".repeat(64) },
  artifactRegion: { artifactRegion: "eu-central" },
  clientConnThrottle: { clientConnThrottle: "0" },
  witnessRegion: { witnessRegion: "ca-central" },
  witnessInstanceType: { witnessInstanceType: "g6-standard-1" },
  leaderTtl: { leaderTtl: "30" },
  leaderLoopWait: { leaderLoopWait: "1" },
  leaderRetryTimeout: { leaderRetryTimeout: "3" },
  automaticFailover: { automaticFailover: "false" },
  maximumLagOnFailover: { maximumLagOnFailover: "0" },
  maximumDataLossSeconds: { maximumDataLossSeconds: "30" },
  synchronousReplication: { synchronousReplication: "true" },
  forceFailover: { forceFailover: "true" },
  followerApiToken: { followerApiToken: "0123456789abcdef".repeat(4) },
  followerDebounceSeconds: { followerDebounceSeconds: "2" },
  followerCooldownSeconds: { followerCooldownSeconds: "300" },
  linodeApiUrl: { linodeApiUrl: "https://api.example.net/v4" },
  soaEmail: { soaEmail: "dns@example.com" },
  failover: { failover: "true" },
  primaryStack: { primaryStack: "acme/linode-dr/production" },
  drStack: { drStack: "acme/linode-dr/dr" },
};

function stacksOf(k: ConfigKey): Role[] {
  const { stacks } = CONFIG_SCHEMA[k];
  return stacks === "both" ? ["primary", "dr"] : [stacks.only];
}

/** The value parseConfig placed at the key's field ("group.name" nests). */
function fieldValue(config: object, k: ConfigKey): unknown {
  const field: string | null | undefined = CONFIG_SCHEMA[k].field;
  return (field ?? k).split(".").reduce<unknown>((at, name) => (at as Record<string, unknown>)[name], config);
}

describe("the schema table", () => {
  it("has a sample value for every key, and nothing else", () => {
    expect(Object.keys(SAMPLES).sort()).toEqual([...CONFIG_KEYS].sort());
  });

  it.each(CONFIG_KEYS)("%s is accepted by exactly the stacks its row names", (k) => {
    for (const role of ["primary", "dr"] as const) {
      const problems = problemsOf(baseConfig(role, SAMPLES[k]));
      if (stacksOf(k).includes(role)) {
        expect(problems, `${role} should accept ${k}`).toEqual([]);
      } else {
        expect(problems, `${role} should refuse ${k}`).toEqual([
          expect.stringMatching(new RegExp(`^${k}: received .*; expected .* on the ${role} stack: `)),
        ]);
      }
    }
  });

  it.each(CONFIG_KEYS)("%s lands at its field in StackConfig", (k) => {
    const role = stacksOf(k)[0];
    const config = parseConfig(baseConfig(role, SAMPLES[k]));
    const checked = CONFIG_SCHEMA[k].validator.check(SAMPLES[k][k]);
    expect(checked.ok).toBe(true);
    if (CONFIG_SCHEMA[k].field === null) {
      expect(Object.keys(config)).not.toContain(k);
    } else if (checked.ok) {
      expect(fieldValue(config, k)).toEqual(checked.value);
    }
  });

  it.each(CONFIG_KEYS)("%s: a value default passes the key's own validator", (k) => {
    const d: unknown = CONFIG_SCHEMA[k].default;
    if (d instanceof Unset || d instanceof Derived) return;
    const { validator } = CONFIG_SCHEMA[k];
    const text =
      typeof d === "string" ? d : validator.written ? validator.written(d as never) : JSON.stringify(d);
    expect(validator.check(text)).toEqual({ ok: true, value: d });
  });

  it("keys required on their stacks are refused when missing there", () => {
    for (const k of CONFIG_KEYS.filter((k) => CONFIG_SCHEMA[k].default === REQUIRED)) {
      for (const role of stacksOf(k)) {
        expect(problemsOf(baseConfig(role, { [k]: undefined })), `${k} on ${role}`).toContainEqual(
          expect.stringMatching(new RegExp(`^${k}: received nothing \\(key not set\\); expected `)),
        );
      }
    }
  });
});

describe("unknown keys", () => {
  it("are refused by name, with every known key listed and the value never shown", () => {
    const problems = problemsOf(baseConfig("dr", { replicas: "s3cret-looking-value" }));
    expect(problems).toEqual([
      `replicas: unknown key; expected one of the known keys: ${CONFIG_KEYS.join(", ")}`,
    ]);
  });

  it("suggest the key that differs only in case", () => {
    expect(problemsOf(baseConfig("primary", { PRIMARYREGION: "us-ord" }))).toEqual([
      expect.stringMatching(
        /^PRIMARYREGION: unknown key; expected "primaryRegion" \(keys are case-sensitive\) or one of/,
      ),
    ]);
  });
});

describe("secrets", () => {
  const token = "tok-abcdefgh-very-secret";
  const schema: Schema = {
    apiToken: key({
      stacks: { only: "primary", because: "only the primary stack calls the API" },
      secret: true,
      default: OPTIONAL,
      description: "A token.",
      validator: text(matching(/^tok-[a-z]{8}$/, "tok- and eight letters")),
    }),
    signingKeys: key({
      stacks: "both",
      secret: true,
      default: REQUIRED,
      description: "Keys.",
      validator: stringList(matching(/^key-/, "key-...")),
    }),
  };

  function linesFor(raw: Record<string, string>, role: Role): string[] {
    const problems = new Problems(schema, raw);
    readKeys(schema, raw, role, problems);
    return problems.lines;
  }

  it("are not quoted when malformed", () => {
    const lines = linesFor({ apiToken: token, signingKeys: JSON.stringify(["key-1"]) }, "primary");
    expect(lines).toEqual(["apiToken: received a secret value (not shown); expected tok- and eight letters"]);
  });

  it("are not quoted when set on the stack that does not take them", () => {
    const lines = linesFor({ apiToken: "tok-abcdefgh", signingKeys: JSON.stringify(["key-1"]) }, "dr");
    expect(lines).toEqual([
      "apiToken: received a secret value (not shown); expected unset on the dr stack: only the primary stack calls the API",
    ]);
  });

  it("are not quoted item by item, nor as the list", () => {
    const items = ["key-1", "not-a-key-but-secret", "also-secret"];
    const lines = linesFor({ signingKeys: JSON.stringify(items) }, "primary");
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expect(line).toMatch(/^signingKeys: received a secret value \(not shown\); expected key-\.\.\.$/);
    }
  });

  it("are cut out of any line that quotes them, such as a rule between keys", () => {
    const problems = new Problems(schema, { apiToken: token, signingKeys: JSON.stringify(["key-hidden"]) });
    problems.mismatch("other", "x", `a value other than apiToken ("${token}") and the key "key-hidden"`);
    expect(problems.lines).toEqual([
      'other: received "x"; expected a value other than apiToken ("(secret)") and the key "(secret)"',
    ]);
  });

  it("appear in Pulumi.yaml's block as secret: true", () => {
    const project = renderPulumiYaml("name: p\n", schema);
    expect(project).toContain("  apiToken:\n    type: string\n    description: A token.\n    secret: true\n");
  });
});
