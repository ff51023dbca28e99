import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadCredentials, loadSettings } from "../../../follower/src/load";
import {
  FOLLOWER_DEFAULTS,
  parseFollowerSettings,
  renderFollowerSettings,
  type FollowerSettings,
} from "../../../follower/src/settings";
import { InputError } from "../../../validation/inputError";
import { makeServerPki } from "../../../lab/tls";
import { followerSettings } from "./fixtures";

/** The problems, one line each, or "ok". */
function problems(text: string): string[] | "ok" {
  try {
    parseFollowerSettings(text);
    return "ok";
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return (error as InputError).message.split("\n");
  }
}

/** The settings as JSON with `edit` applied to a plain copy. */
function edited(edit: (s: Record<string, any>) => void): string {
  const s = JSON.parse(renderFollowerSettings(followerSettings()));
  edit(s);
  return JSON.stringify(s);
}

describe("renderFollowerSettings", () => {
  it("renders every key in a fixed order, two-space JSON and a trailing newline", () => {
    const text = renderFollowerSettings(followerSettings());
    expect(text.endsWith("}\n")).toBe(true);
    expect(Object.keys(JSON.parse(text))).toEqual([
      "apiUrl",
      "apiTimeoutMs",
      "tokenFile",
      "domainId",
      "records",
      "regions",
      "caFile",
      "patroniTimeoutMs",
      "health",
      "debounceSeconds",
      "cooldownSeconds",
      "pollMs",
      "recordsRefreshSeconds",
      "metrics",
      "stateDir",
    ]);
    expect(text).toContain(
      '\n  "regions": {\n    "primary": {\n      "nodeBalancer": {\n        "ipv4": "198.51.100.5",',
    );
  });

  it("is deterministic whatever order the input's keys are in, and parses back to the same settings", () => {
    const s = followerSettings();
    const shuffled = Object.fromEntries(Object.entries(s).reverse()) as unknown as FollowerSettings;
    shuffled.regions = { dr: s.regions.dr, primary: s.regions.primary };
    expect(renderFollowerSettings(shuffled)).toBe(renderFollowerSettings(s));
    expect(parseFollowerSettings(renderFollowerSettings(s))).toEqual(s);
  });

  it("refuses bad settings instead of rendering them", () => {
    expect(() => renderFollowerSettings(followerSettings({ pollMs: 50 }))).toThrow(
      "FollowerSettings.pollMs: received 50; expected an integer from 200 to 10000",
    );
  });

  it("renders the defaults the program passes", () => {
    const parsed = JSON.parse(renderFollowerSettings({ ...followerSettings(), ...FOLLOWER_DEFAULTS }));
    expect(parsed.apiUrl).toBe("https://api.linode.com/v4");
    expect(parsed.health).toEqual({ port: 80, path: "/healthz", timeoutMs: 3000 });
    expect(parsed.metrics).toEqual({ address: "0.0.0.0", port: 9471 });
    expect([parsed.debounceSeconds, parsed.cooldownSeconds, parsed.pollMs]).toEqual([5, 60, 1000]);
    expect(parsed.stateDir).toBe("/var/lib/linode-dr/follower");
  });
});

describe("parseFollowerSettings", () => {
  it("accepts a good file", () => {
    expect(problems(renderFollowerSettings(followerSettings()))).toBe("ok");
  });

  it("fills what a file leaves out from the defaults, and only that", () => {
    const minimal = edited((s) => {
      for (const key of Object.keys(FOLLOWER_DEFAULTS)) delete s[key];
    });
    const parsed = parseFollowerSettings(minimal);
    expect(parsed).toEqual({ ...followerSettings(), ...FOLLOWER_DEFAULTS });
    expect(problems(edited((s) => delete s.domainId))).toEqual([
      "FollowerSettings.domainId: received undefined; expected a positive integer (a Linode id)",
    ]);
  });

  it.each([
    [
      "not JSON",
      "{ apiUrl: x }",
      /^FollowerSettings: received text that is not JSON \(.*\); expected a JSON object$/,
    ],
    ["a list", "[]", /^FollowerSettings: received an empty list; expected a JSON object$/],
    [
      "http API",
      edited((s) => (s.apiUrl = "http://api.linode.com/v4")),
      /^FollowerSettings\.apiUrl: received "http:\/\/api\.linode\.com\/v4"; expected an https:\/\/ URL/,
    ],
    [
      "an API URL with a query",
      edited((s) => (s.apiUrl = "https://api.linode.com/v4?x=1")),
      /^FollowerSettings\.apiUrl: received ".*"; expected an https:\/\/ URL without query or fragment$/,
    ],
    [
      "a domain id of 0",
      edited((s) => (s.domainId = 0)),
      /^FollowerSettings\.domainId: received 0; expected a positive integer \(a Linode id\)$/,
    ],
    [
      "a record id as text",
      edited((s) => (s.records.a = "501")),
      /^FollowerSettings\.records\.a: received "501"; expected a positive integer/,
    ],
    [
      "the same id for A and AAAA",
      edited((s) => (s.records.aaaa = 501)),
      /^FollowerSettings\.records\.aaaa: received 501; expected the AAAA record's id, not the A record's$/,
    ],
    [
      "an IPv6 address as ipv4",
      edited((s) => (s.regions.dr.nodeBalancer.ipv4 = "2001:db8:b::5")),
      /^FollowerSettings\.regions\.dr\.nodeBalancer\.ipv4: received "2001:db8:b::5"; expected an IPv4 literal$/,
    ],
    [
      "a prefix on ipv6",
      edited((s) => (s.regions.primary.nodeBalancer.ipv6 = "2001:db8:a::5/128")),
      /^FollowerSettings\.regions\.primary\.nodeBalancer\.ipv6: received "2001:db8:a::5\/128"; expected an IPv6 literal$/,
    ],
    [
      "both regions on one NodeBalancer",
      edited((s) => (s.regions.dr.nodeBalancer.ipv6 = "2001:DB8:A:0::5")),
      /^FollowerSettings\.regions\.dr\.nodeBalancer\.ipv6: received "2001:DB8:A:0::5"; expected an address other than the primary's$/,
    ],
    [
      "the members swapped",
      edited((s) => (s.regions.dr.member.name = "primary")),
      /^FollowerSettings\.regions\.dr\.member\.name: received "primary"; expected "dr" \(Patroni's member in region dr is named after it\)$/,
    ],
    [
      "a member name with capitals",
      edited((s) => (s.regions.dr.member.serverName = "DB-dr.app.example.com")),
      /^FollowerSettings\.regions\.dr\.member\.serverName: received "DB-dr\.app\.example\.com"; expected a DNS name in lower case/,
    ],
    [
      "a REST port out of range",
      edited((s) => (s.regions.primary.member.restPort = 80080)),
      /^FollowerSettings\.regions\.primary\.member\.restPort: received 80080; expected an integer from 1 to 65535 \(a TCP port\)$/,
    ],
    [
      "a relative CA path",
      edited((s) => (s.caFile = "tls/ca.crt")),
      /^FollowerSettings\.caFile: received "tls\/ca\.crt"; expected an absolute path/,
    ],
    [
      "a health path without its slash",
      edited((s) => (s.health.path = "healthz")),
      /^FollowerSettings\.health\.path: received "healthz"; expected an absolute URL path such as "\/healthz"$/,
    ],
    [
      "a debounce over a minute",
      edited((s) => (s.debounceSeconds = 61)),
      /^FollowerSettings\.debounceSeconds: received 61; expected an integer from 0 to 60$/,
    ],
    [
      "a negative cooldown",
      edited((s) => (s.cooldownSeconds = -1)),
      /^FollowerSettings\.cooldownSeconds: received -1; expected an integer from 0 to 3600$/,
    ],
    [
      "a poll too fast",
      edited((s) => (s.pollMs = 199)),
      /^FollowerSettings\.pollMs: received 199; expected an integer from 200 to 10000$/,
    ],
    [
      "a metrics address that is a name",
      edited((s) => (s.metrics.address = "localhost")),
      /^FollowerSettings\.metrics\.address: received "localhost"; expected an IPv4 or IPv6 literal \(where \/metrics listens\)$/,
    ],
    [
      "health not an object",
      edited((s) => (s.health = 80)),
      /^FollowerSettings\.health: received 80; expected \{ port, path, timeoutMs \}$/,
    ],
    [
      "a misspelt key",
      edited((s) => (s.debounceSecond = 5)),
      /^FollowerSettings\.debounceSecond: received a number; expected no such key \(known: domainId, records, regions, apiUrl, .*, stateDir\)$/,
    ],
  ])("names the key, what it received and what it expected: %s", (_name, text, message) => {
    const lines = problems(text);
    expect(lines).toHaveLength(1);
    expect((lines as string[])[0]).toMatch(message);
  });

  it("reports every problem at once", () => {
    const text = edited((s) => {
      s.apiUrl = "ftp://x";
      s.records = { a: -1, aaaa: 2 };
      s.regions.primary.member.restPort = 0;
      s.pollMs = "fast";
      delete s.stateDir;
      s.metrics = { address: "0.0.0.0", port: 9471, path: "/m" };
    });
    expect(problems(text)).toEqual([
      'FollowerSettings.apiUrl: received "ftp://x"; expected an https:// URL without spaces, quotes or backslashes',
      "FollowerSettings.records.a: received -1; expected a positive integer (a Linode id)",
      "FollowerSettings.regions.primary.member.restPort: received 0; expected an integer from 1 to 65535 (a TCP port)",
      'FollowerSettings.pollMs: received "fast"; expected an integer from 200 to 10000',
      "FollowerSettings.metrics.path: received a string of 2 characters; expected no such key (known: address, port)",
    ]);
  });

  it("never quotes a value under an unknown key: it may be a token pasted in", () => {
    const token = "f00dfeedf00dfeedf00dfeedf00dfeedf00dfeedf00dfeedf00dfeedf00dfeed";
    const lines = problems(edited((s) => (s.token = token)));
    expect(lines).toEqual([
      expect.stringMatching(
        /^FollowerSettings\.token: received a string of 64 characters; expected no such key/,
      ),
    ]);
    expect(JSON.stringify(lines)).not.toContain("f00d");
  });
});

describe("loadSettings and loadCredentials", () => {
  let dir: string;
  let caPem: string;
  const TOKEN = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "follower-settings-"));
    caPem = makeServerPki(["db-primary.app.example.com"]).caCertPem;
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function files(token: string | undefined, ca: string | undefined): Promise<FollowerSettings> {
    const tokenFile = path.join(dir, "token");
    const caFile = path.join(dir, "ca.crt");
    await rm(tokenFile, { force: true });
    await rm(caFile, { force: true });
    if (token !== undefined) await writeFile(tokenFile, token);
    if (ca !== undefined) await writeFile(caFile, ca);
    return followerSettings({ tokenFile, caFile });
  }

  async function refusal(settings: FollowerSettings): Promise<string[]> {
    const error = await loadCredentials(settings).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InputError);
    return (error as InputError).message.split("\n");
  }

  it("reads the token (without its newline) and the CA", async () => {
    const settings = await files(`${TOKEN}\n`, caPem);
    expect(await loadCredentials(settings)).toEqual({ token: TOKEN, ca: caPem });
  });

  it("calls a missing or empty token file a settings error naming the key", async () => {
    const missing = await files(undefined, caPem);
    expect(await refusal(missing)).toEqual([
      `FollowerSettings.tokenFile: received "${missing.tokenFile}" (unreadable: ENOENT); expected a readable file holding the Linode API token (scope domains:read_write)`,
    ]);
    const empty = await files("\n", caPem);
    expect(await refusal(empty)).toEqual([
      expect.stringMatching(
        /^FollowerSettings\.tokenFile: received ".*", an empty file; expected a readable file/,
      ),
    ]);
  });

  it("never shows the token, even one it refuses, and reports the CA at the same time", async () => {
    const settings = await files("secret-part one\n", "not a certificate");
    const lines = await refusal(settings);
    expect(lines).toEqual([
      expect.stringMatching(
        /^FollowerSettings\.tokenFile: received ".*", a file holding 15 characters, some not printable or spaces;/,
      ),
      expect.stringMatching(
        /^FollowerSettings\.caFile: received ".*", a file that is not a PEM certificate; expected/,
      ),
    ]);
    expect(lines.join("\n")).not.toContain("secret");
  });

  it("names a missing settings file", async () => {
    const file = path.join(dir, "absent.json");
    await expect(loadSettings(file)).rejects.toThrow(
      `FollowerSettings: received no readable file at "${file}" (ENOENT); expected the follower's JSON settings file (--settings)`,
    );
  });
});
