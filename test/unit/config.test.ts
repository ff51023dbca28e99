import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { CONFIG_KEYS, ConfigError, LINODE_RECORD_TTLS, parseConfig } from "../../config";
import { baseConfig } from "../../evaluation/configs";

const root = join(__dirname, "..", "..");

function problemsOf(raw: Record<string, string | undefined>): string[] {
  try {
    parseConfig(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error("expected parseConfig to reject the config");
}

describe("parseConfig accepts", () => {
  it("a minimal primary config and fills tight defaults", () => {
    const config = parseConfig(baseConfig("primary"));
    expect(config).toMatchObject({
      role: "primary",
      region: "us-ord",
      appCount: 2,
      standbyAppCount: 1,
      appPort: 8080,
      healthCheck: { intervalSeconds: 5, timeoutSeconds: 3, attempts: 2 },
      recordTtlSeconds: 30,
      protectDatabases: true,
      failover: false,
      image: "linode/debian12",
      soaEmail: "hostmaster@example.com",
      postgres: { version: 15, walKeepSize: "512MB", maxSlotWalKeepSize: "8GB" },
      witnessRegion: "us-iad",
      leadership: {
        ttlSeconds: 10,
        loopWaitSeconds: 2,
        retryTimeoutSeconds: 4,
        automatic: true,
        maximumLagOnFailoverBytes: 16 * 1024 * 1024,
        maximumDataLossSeconds: 10,
        synchronous: false,
        force: false,
      },
    });
    expect(config.appArtifact).toBeUndefined();
  });

  it("a dr config in failover, taking its own region", () => {
    const config = parseConfig(baseConfig("dr", { failover: "true" }));
    expect(config).toMatchObject({
      role: "dr",
      region: "us-sea",
      failover: true,
      primaryStack: "acme/linode-dr/primary",
    });
  });

  it("an artifact URL with its checksum", () => {
    const sha = "a".repeat(64);
    const config = parseConfig(
      baseConfig("primary", { appArtifactUrl: "https://example.com/app", appArtifactSha256: sha }),
    );
    expect(config.appArtifact).toEqual({ url: "https://example.com/app", sha256: sha });
  });
});

describe("parseConfig rejects, naming the key, the value received and what is expected", () => {
  const cases: Array<[string, Record<string, string | undefined>, "primary" | "dr", RegExp]> = [
    [
      "an unknown role",
      { role: "secondary" },
      "primary",
      /^role: received "secondary"; expected "primary" or "dr"$/,
    ],
    ["a missing role", { role: undefined }, "primary", /^role: received nothing \(key not set\); expected/],
    [
      "the same region twice",
      { drRegion: "us-ord" },
      "primary",
      /^drRegion: received "us-ord"; expected a region different from primaryRegion \("us-ord"\)$/,
    ],
    [
      "a malformed region",
      { primaryRegion: "US East" },
      "primary",
      /^primaryRegion: received "US East"; expected a Linode region id/,
    ],
    [
      "a TTL Linode does not honour",
      { recordTtl: "60" },
      "dr",
      /^recordTtl: received "60"; expected one of the TTLs Linode honours \(30, 120, 300/,
    ],
    [
      "failover=true on the primary stack",
      { failover: "true" },
      "primary",
      /^failover: received "true"; expected false on the primary stack/,
    ],
    [
      "a non-boolean failover",
      { failover: "yes" },
      "dr",
      /^failover: received "yes"; expected true or false$/,
    ],
    [
      "three automation keys",
      { automationKeys: "1,2,3" },
      "dr",
      /^automationKeys: received "1,2,3"; expected one or two key generations \(1-9999\)/,
    ],
    [
      "an automation key listed twice",
      { automationKeys: "2,2" },
      "primary",
      /^automationKeys: received "2,2"; expected .*; a generation is listed twice$/,
    ],
    [
      "passwordGeneration on the dr stack",
      { passwordGeneration: "2" },
      "dr",
      /^passwordGeneration: received "2"; expected 1 on the dr stack: the primary stack generates the cluster.s passwords/,
    ],
    [
      "a dr stack without primaryStack",
      { primaryStack: undefined },
      "dr",
      /^primaryStack: received nothing \(key not set\); expected a fully qualified stack name/,
    ],
    [
      "a malformed primaryStack",
      { primaryStack: "primary" },
      "dr",
      /^primaryStack: received "primary"; expected a fully qualified stack name/,
    ],
    [
      "primaryStack on the primary stack",
      { primaryStack: "acme/linode-dr/primary" },
      "primary",
      /^primaryStack: received .*; expected unset on the primary stack/,
    ],
    [
      "drStack on the dr stack",
      { drStack: "acme/linode-dr/dr" },
      "dr",
      /^drStack: received .*; expected unset on the dr stack/,
    ],
    [
      "appCount below standbyAppCount",
      { appCount: "1", standbyAppCount: "2" },
      "dr",
      /^standbyAppCount: received "2"; expected at most appCount \(1\)/,
    ],
    [
      "a zero appCount",
      { appCount: "0" },
      "primary",
      /^appCount: received "0"; expected an integer from 1 to 20$/,
    ],
    [
      "a fractional appCount",
      { appCount: "1.5" },
      "primary",
      /^appCount: received "1.5"; expected an integer from 1 to 20$/,
    ],
    [
      "a health-check interval not above the timeout",
      { healthCheckInterval: "3", healthCheckTimeout: "3" },
      "primary",
      /^healthCheckInterval: received "3"; expected more seconds than healthCheckTimeout \(3\)/,
    ],
    [
      "a health-check timeout above 30",
      { healthCheckTimeout: "31" },
      "primary",
      /^healthCheckTimeout: received "31"; expected an integer from 1 to 30$/,
    ],
    [
      "no admin CIDRs",
      { adminCidrs: "[]" },
      "primary",
      /^adminCidrs: received "\[\]"; expected a non-empty list of strings$/,
    ],
    [
      "a malformed admin CIDR",
      { adminCidrs: JSON.stringify(["10.0.0.1"]) },
      "primary",
      /^adminCidrs: received "10.0.0.1"; expected an IPv4 or IPv6 CIDR/,
    ],
    [
      "SSH open to the world",
      { adminCidrs: JSON.stringify(["0.0.0.0/0"]) },
      "primary",
      /^adminCidrs: received "0.0.0.0\/0"; expected a specific operator or CI range/,
    ],
    [
      "adminCidrs that are not a list",
      { adminCidrs: "192.0.2.0/28" },
      "primary",
      /^adminCidrs: received "192.0.2.0\/28"; expected a list of strings/,
    ],
    [
      "a malformed SSH key",
      { sshPublicKeys: JSON.stringify(["not a key"]) },
      "primary",
      /^sshPublicKeys: received "not a key"; expected an OpenSSH public key line/,
    ],
    [
      "an upper-case domain",
      { domain: "Example.com" },
      "primary",
      /^domain: received "Example.com"; expected a lower-case domain name/,
    ],
    [
      "a missing domain",
      { domain: undefined },
      "primary",
      /^domain: received nothing \(key not set\); expected a lower-case domain name/,
    ],
    [
      "an image other than Debian 12",
      { image: "linode/ubuntu24.04" },
      "primary",
      /^image: received "linode\/ubuntu24.04"; expected "linode\/debian12"/,
    ],
    [
      "an artifact URL without checksum",
      { appArtifactUrl: "https://example.com/app" },
      "primary",
      /^appArtifactSha256: received nothing \(key not set\); expected appArtifactUrl and appArtifactSha256 set together/,
    ],
    [
      "a plain-http artifact URL",
      { appArtifactUrl: "http://example.com/app", appArtifactSha256: "a".repeat(64) },
      "primary",
      /^appArtifactUrl: received "http:\/\/example.com\/app"; expected an https:\/\/ URL/,
    ],
    [
      "a malformed WAL size",
      { maxSlotWalKeepSize: "lots" },
      "primary",
      /^maxSlotWalKeepSize: received "lots"; expected a positive PostgreSQL size with a unit/,
    ],
    [
      "an app port below 1024",
      { appPort: "80" },
      "primary",
      /^appPort: received "80"; expected an integer from 1024 to 65535$/,
    ],
    [
      "an appPort with spaces",
      { appPort: " 8080" },
      "primary",
      /^appPort: received " 8080"; expected an integer/,
    ],
    [
      "an admin CIDR with host bits set",
      { adminCidrs: JSON.stringify(["10.0.0.1/8"]) },
      "primary",
      /^adminCidrs: received "10\.0\.0\.1\/8"; expected a network address without host bits \(did you mean "10\.0\.0\.0\/8", or "10\.0\.0\.1\/32" for one host\?\)$/,
    ],
    [
      "an IPv6 admin CIDR with host bits set",
      { adminCidrs: JSON.stringify(["2001:db8::1/64"]) },
      "primary",
      /^adminCidrs: received "2001:db8::1\/64"; expected a network address without host bits \(did you mean "2001:db8::\/64", or "2001:db8::1\/128" for one host\?\)$/,
    ],
    [
      "SSH open to the whole IPv6 world",
      { adminCidrs: JSON.stringify(["::/0"]) },
      "primary",
      /^adminCidrs: received "::\/0"; expected a specific operator or CI range/,
    ],
    [
      "an artifact URL the app's settings file could not hold",
      { appArtifactUrl: 'https://example.com/a"b', appArtifactSha256: "a".repeat(64) },
      "primary",
      /^appArtifactUrl: received "https:\/\/example.com\/a\\"b"; expected an https:\/\/ URL without spaces, quotes or backslashes$/,
    ],
    [
      "an upper-case artifact sha256",
      { appArtifactUrl: "https://example.com/app", appArtifactSha256: "A".repeat(64) },
      "primary",
      /^appArtifactSha256: received "A{64}"; expected a sha256 digest as 64 lower-case hex characters$/,
    ],
    [
      "an artifact region that is one of the two sites",
      { artifactRegion: "us-sea" },
      "dr",
      /^artifactRegion: received "us-sea"; expected an Object Storage region other than primaryRegion \("us-ord"\) and drRegion \("us-sea"\)/,
    ],
    [
      "a client connection throttle above Linode's maximum",
      { clientConnThrottle: "50" },
      "primary",
      /^clientConnThrottle: received "50"; expected an integer from 0 to 20$/,
    ],
    [
      "a witness region that is one of the two sites",
      { witnessRegion: "us-ord" },
      "dr",
      /^witnessRegion: received "us-ord"; expected a region other than primaryRegion \("us-ord"\) and drRegion \("us-sea"\)/,
    ],
    [
      "a leader lease too short for Patroni to retry the store twice",
      { leaderTtl: "8", leaderLoopWait: "2", leaderRetryTimeout: "4" },
      "dr",
      /^leaderTtl: received "8"; expected at least leaderLoopWait \+ 2 x leaderRetryTimeout \(2 \+ 2 x 4 = 10\)/,
    ],
    [
      "forceFailover on the primary stack",
      { forceFailover: "true" },
      "primary",
      /^forceFailover: received "true"; expected false on the primary stack/,
    ],
    [
      "a negative lag guard",
      { maximumLagOnFailover: "-1" },
      "dr",
      /^maximumLagOnFailover: received "-1"; expected an integer from 0 to/,
    ],
    [
      "a data-loss budget shorter than the heartbeat can measure",
      { maximumDataLossSeconds: "1" },
      "primary",
      /^maximumDataLossSeconds: received "1"; expected an integer from 2 to 86400/,
    ],
    [
      "a data-loss budget in minutes",
      { maximumDataLossSeconds: "5m" },
      "dr",
      /^maximumDataLossSeconds: received "5m"; expected an integer from 2 to 86400/,
    ],
    [
      "an unknown key (a typo)",
      { appcount: "3" },
      "primary",
      /^appcount: unknown key; expected "appCount" \(keys are case-sensitive\) or one of the known keys: role, /,
    ],
  ];

  it.each(cases)("%s", (_label, overrides, role, expected) => {
    const problems = problemsOf(baseConfig(role, overrides));
    expect(
      problems.some((p) => expected.test(p)),
      `problems were:\n${problems.join("\n")}`,
    ).toBe(true);
  });

  it("reports every bad key at once", () => {
    const problems = problemsOf(
      baseConfig("dr", { role: "dr", recordTtl: "45", appPort: "22", primaryStack: undefined }),
    );
    expect(problems.map((p) => p.split(":")[0]).sort()).toEqual(["appPort", "primaryStack", "recordTtl"]);
  });

  it("accepts IPv6 admin ranges in every spelling, IPv4-mapped included", () => {
    const adminCidrs = ["::ffff:192.0.2.1/128", "2001:DB8:0:0:0:0:0:0/32", "198.51.100.0/24", "::1/128"];
    expect(parseConfig(baseConfig("primary", { adminCidrs: JSON.stringify(adminCidrs) })).adminCidrs).toEqual(
      adminCidrs,
    );
  });

  it("formats the error for a person", () => {
    expect(() => parseConfig(baseConfig("primary", { recordTtl: "45" }))).toThrow(
      /invalid stack configuration:\n {2}- recordTtl: received "45"/,
    );
  });
});

describe("Pulumi.yaml config schema", () => {
  const project = parse(readFileSync(join(root, "Pulumi.yaml"), "utf8"));
  const schema = project.config as Record<string, { type: string; description?: string; default?: unknown }>;

  it("declares exactly the keys the program reads, each with a description", () => {
    expect(Object.keys(schema).sort()).toEqual([...CONFIG_KEYS].sort());
    for (const [key, entry] of Object.entries(schema)) {
      expect(entry.description, key).toBeTruthy();
    }
  });

  it("has the same defaults as parseConfig", () => {
    const parsed = parseConfig(baseConfig("primary"));
    expect(schema.appCount.default).toBe(parsed.appCount);
    expect(schema.standbyAppCount.default).toBe(parsed.standbyAppCount);
    expect(schema.appPort.default).toBe(parsed.appPort);
    expect(schema.healthCheckInterval.default).toBe(parsed.healthCheck.intervalSeconds);
    expect(schema.healthCheckTimeout.default).toBe(parsed.healthCheck.timeoutSeconds);
    expect(schema.healthCheckAttempts.default).toBe(parsed.healthCheck.attempts);
    expect(schema.recordTtl.default).toBe(parsed.recordTtlSeconds);
    expect(LINODE_RECORD_TTLS).toContain(schema.recordTtl.default);
    expect(schema.protectDatabases.default).toBe(parsed.protectDatabases);
    expect(schema.failover.default).toBe(false);
    expect(schema.image.default).toBe(parsed.image);
    expect(schema.primaryRegion.default).toBe(parsed.primaryRegion);
    expect(schema.drRegion.default).toBe(parsed.drRegion);
    expect(schema.appInstanceType.default).toBe(parsed.appInstanceType);
    expect(schema.databaseInstanceType.default).toBe(parsed.databaseInstanceType);
    expect(schema.postgresVersion.default).toBe(parsed.postgres.version);
    expect(schema.walKeepSize.default).toBe(parsed.postgres.walKeepSize);
    expect(schema.maxSlotWalKeepSize.default).toBe(parsed.postgres.maxSlotWalKeepSize);
    expect(schema.replicaWaitTimeoutSeconds.default).toBe(parsed.postgres.replicaWaitTimeoutSeconds);
    expect(schema.artifactRegion.default).toBe(parsed.artifactRegion);
    expect(schema.clientConnThrottle.default).toBe(parsed.clientConnThrottle);
    expect(schema.witnessRegion.default).toBe(parsed.witnessRegion);
    expect(schema.witnessInstanceType.default).toBe(parsed.witnessInstanceType);
    expect(schema.leaderTtl.default).toBe(parsed.leadership.ttlSeconds);
    expect(schema.leaderLoopWait.default).toBe(parsed.leadership.loopWaitSeconds);
    expect(schema.leaderRetryTimeout.default).toBe(parsed.leadership.retryTimeoutSeconds);
    expect(schema.automaticFailover.default).toBe(parsed.leadership.automatic);
    expect(schema.maximumDataLossSeconds.default).toBe(parsed.leadership.maximumDataLossSeconds);
    expect(schema.maximumLagOnFailover.default).toBe(parsed.leadership.maximumLagOnFailoverBytes);
    expect(schema.synchronousReplication.default).toBe(parsed.leadership.synchronous);
    expect(schema.forceFailover.default).toBe(parsed.leadership.force);
  });
});

describe("stack files", () => {
  // What the CLI hands the program: schema defaults from Pulumi.yaml, overlaid by the stack file.
  function stackConfig(file: string): Record<string, string> {
    const project = parse(readFileSync(join(root, "Pulumi.yaml"), "utf8")) as {
      config: Record<string, { default?: unknown }>;
    };
    const doc = parse(readFileSync(join(root, file), "utf8")) as { config: Record<string, unknown> };
    const raw: Record<string, string> = {};
    for (const [key, entry] of Object.entries(project.config)) {
      if (entry.default !== undefined) raw[key] = String(entry.default);
    }
    for (const [key, value] of Object.entries(doc.config)) {
      expect(key.startsWith("linode-dr:"), `${file}: ${key} must be in the project namespace`).toBe(true);
      // pulumi.Config hands arrays and objects to the program as JSON text.
      raw[key.slice("linode-dr:".length)] = typeof value === "string" ? value : JSON.stringify(value);
    }
    return raw;
  }

  it.each([
    ["Pulumi.primary.yaml", "primary"],
    ["Pulumi.dr.yaml", "dr"],
  ])("%s is a valid %s config", (file, role) => {
    expect(parseConfig(stackConfig(file)).role).toBe(role);
  });

  it.each(["Pulumi.primary.yaml", "Pulumi.dr.yaml"])("%s holds no plaintext secret", (file) => {
    const doc = parse(readFileSync(join(root, file), "utf8")) as { config: Record<string, unknown> };
    for (const [key, value] of Object.entries(doc.config)) {
      if (/private|password|secret|token/i.test(key)) {
        expect(value, key).toMatchObject({ secure: expect.any(String) });
      }
    }
  });
});
