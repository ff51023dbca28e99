import { isIPv6 } from "node:net";
import { absolutePath, dnsName, httpsUrl, ipAddress, ipv4Address, tcpPort } from "../../validation/formats";
import { InputCheck, InputError } from "../../validation/inputError";
import { explained, integer, matching, oneOf, refined, satisfying, secret } from "../../validation/kit";
import { sameAddress } from "./addresses";

/**
 * The follower's settings file (/etc/linode-dr/follower.json): what the Pulumi program renders for
 * the witness and what the service reads at start. The API token is not in it, only the path of
 * the file that holds it.
 */

export const SITES = ["primary", "dr"] as const;
/** A region of the deployment, named like its stack; its Patroni member carries the same name. */
export type Site = (typeof SITES)[number];

export interface FollowerRegion {
  /** The region's NodeBalancer: where the traffic records point when this region serves. */
  nodeBalancer: { ipv4: string; ipv6: string };
  /** The region's Patroni member, reached at https://<serverName>:<restPort>/cluster. */
  member: { name: Site; serverName: string; restPort: number };
}

export interface FollowerSettings {
  /** Linode API base URL, https only, e.g. "https://api.linode.com/v4". */
  apiUrl: string;
  /** One API request's time limit (each attempt). */
  apiTimeoutMs: number;
  /** The file holding the API token (scope domains:read_write only). */
  tokenFile: string;
  domainId: number;
  /** The traffic records `<app>` (A and AAAA) in that domain. */
  records: { a: number; aaaa: number };
  regions: Record<Site, FollowerRegion>;
  /** The project CA that signs the members' certificates. */
  caFile: string;
  /** Time limit of one GET /cluster. */
  patroniTimeoutMs: number;
  /** The NodeBalancer's own check, sent from the witness: healthy = HTTP 200. */
  health: { port: number; path: string; timeoutMs: number };
  /** How long a member must lead, continuously, before traffic follows it. */
  debounceSeconds: number;
  /** After a move, how long traffic stays before moving to another region. */
  cooldownSeconds: number;
  pollMs: number;
  /** How old a reading of the records may be while they point at the leader (API rate limits). */
  recordsRefreshSeconds: number;
  metrics: { address: string; port: number };
  /** Holds the pause marker and the state file. */
  stateDir: string;
}

export const FOLLOWER_SETTINGS_PATH = "/etc/linode-dr/follower.json";

/** What the settings file may leave out; the Pulumi program renders them all the same. */
export const FOLLOWER_DEFAULTS = {
  apiUrl: "https://api.linode.com/v4",
  apiTimeoutMs: 10_000,
  tokenFile: "/etc/linode-dr/follower-token",
  caFile: "/etc/linode-dr/tls/ca.crt",
  patroniTimeoutMs: 2_000,
  health: { port: 80, path: "/healthz", timeoutMs: 3_000 },
  debounceSeconds: 5,
  cooldownSeconds: 60,
  pollMs: 1_000,
  recordsRefreshSeconds: 15,
  metrics: { address: "0.0.0.0", port: 9471 },
  stateDir: "/var/lib/linode-dr/follower",
} as const satisfies Partial<FollowerSettings>;

/** Every key a settings file may have: the required ones, then those with a default. */
const KEYS: readonly string[] = ["domainId", "records", "regions", ...Object.keys(FOLLOWER_DEFAULTS)];

const linodeId = satisfying(
  "a positive integer (a Linode id)",
  (value): value is number => Number.isSafeInteger(value) && Number(value) >= 1,
);

const ipv6Address = satisfying(
  "an IPv6 literal",
  (value): value is string => typeof value === "string" && isIPv6(value) && !value.includes("%"),
);

const apiUrl = refined(httpsUrl, (url) => {
  try {
    const parsed = new URL(url);
    return parsed.search === "" && parsed.hash === ""
      ? undefined
      : "an https:// URL without query or fragment";
  } catch {
    return "an https:// URL that parses";
  }
});

const urlPath = matching(/^\/[\x21-\x7e]*$/, 'an absolute URL path such as "/healthz"');

/** Renders validated settings as JSON, keys always in the same order, with a trailing newline. */
export function renderFollowerSettings(settings: FollowerSettings): string {
  const s = checkSettings({ ...settings } as unknown as Record<string, unknown>);
  const region = (r: FollowerRegion): FollowerRegion => ({
    nodeBalancer: { ipv4: r.nodeBalancer.ipv4, ipv6: r.nodeBalancer.ipv6 },
    member: { name: r.member.name, serverName: r.member.serverName, restPort: r.member.restPort },
  });
  const ordered: FollowerSettings = {
    apiUrl: s.apiUrl,
    apiTimeoutMs: s.apiTimeoutMs,
    tokenFile: s.tokenFile,
    domainId: s.domainId,
    records: { a: s.records.a, aaaa: s.records.aaaa },
    regions: { primary: region(s.regions.primary), dr: region(s.regions.dr) },
    caFile: s.caFile,
    patroniTimeoutMs: s.patroniTimeoutMs,
    health: { port: s.health.port, path: s.health.path, timeoutMs: s.health.timeoutMs },
    debounceSeconds: s.debounceSeconds,
    cooldownSeconds: s.cooldownSeconds,
    pollMs: s.pollMs,
    recordsRefreshSeconds: s.recordsRefreshSeconds,
    metrics: { address: s.metrics.address, port: s.metrics.port },
    stateDir: s.stateDir,
  };
  return `${JSON.stringify(ordered, null, 2)}\n`;
}

/** Reads a settings file's text; throws one InputError naming every problem. */
export function parseFollowerSettings(text: string): FollowerSettings {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new InputError([
      {
        field: "FollowerSettings",
        received: `text that is not JSON (${(error as Error).message})`,
        expected: "a JSON object",
      },
    ]);
  }
  const check = new InputCheck("FollowerSettings");
  check.field("", raw, satisfying("a JSON object", isPlainObject));
  check.throwIfAny();
  return checkSettings(raw as Record<string, unknown>);
}

function checkSettings(raw: Record<string, unknown>): FollowerSettings {
  // A copy: settings read twice never share (or change) the defaults' nested objects.
  const value = JSON.parse(JSON.stringify(FOLLOWER_DEFAULTS)) as Record<string, unknown>;
  for (const [key, v] of Object.entries(raw)) if (v !== undefined) value[key] = v;
  const check = new InputCheck("FollowerSettings");
  onlyKeys(check, value, KEYS);
  check.field("apiUrl", value.apiUrl, apiUrl);
  check.field("apiTimeoutMs", value.apiTimeoutMs, integer(1_000, 60_000));
  check.field("tokenFile", value.tokenFile, explained(absolutePath, "of the file holding the API token"));
  check.field("domainId", value.domainId, linodeId);
  checkRecords(check, value.records);
  checkRegions(check, value.regions);
  check.field(
    "caFile",
    value.caFile,
    explained(absolutePath, "of the CA that signs the members' certificates"),
  );
  check.field("patroniTimeoutMs", value.patroniTimeoutMs, integer(100, 10_000));
  const health = check.object("health", value.health, "{ port, path, timeoutMs }");
  if (health) {
    const h = value.health as Record<string, unknown>;
    onlyKeys(health, h, ["port", "path", "timeoutMs"]);
    health.field("port", h.port, tcpPort);
    health.field("path", h.path, urlPath);
    health.field("timeoutMs", h.timeoutMs, integer(100, 30_000));
  }
  check.field("debounceSeconds", value.debounceSeconds, integer(0, 60));
  check.field("cooldownSeconds", value.cooldownSeconds, integer(0, 3_600));
  check.field("pollMs", value.pollMs, integer(200, 10_000));
  check.field("recordsRefreshSeconds", value.recordsRefreshSeconds, integer(0, 300));
  const metrics = check.object("metrics", value.metrics, "{ address, port }");
  if (metrics) {
    const m = value.metrics as Record<string, unknown>;
    onlyKeys(metrics, m, ["address", "port"]);
    metrics.field("address", m.address, explained(ipAddress, "where /metrics listens"));
    metrics.field("port", m.port, tcpPort);
  }
  check.field("stateDir", value.stateDir, absolutePath);
  check.throwIfAny();
  return value as unknown as FollowerSettings;
}

function checkRecords(check: InputCheck, value: unknown): void {
  const records = check.object("records", value, "{ a, aaaa }: the traffic records' ids");
  if (!records) return;
  const r = value as Record<string, unknown>;
  onlyKeys(records, r, ["a", "aaaa"]);
  const a = records.field("a", r.a, linodeId);
  const aaaa = records.field("aaaa", r.aaaa, linodeId);
  if (a !== undefined && a === aaaa) records.refuse("aaaa", aaaa, "the AAAA record's id, not the A record's");
}

function checkRegions(check: InputCheck, value: unknown): void {
  const regions = check.object("regions", value, "{ primary, dr }");
  if (!regions) return;
  const r = value as Record<string, unknown>;
  onlyKeys(regions, r, SITES);
  const read = SITES.map((site) => checkRegion(regions, site, r[site]));
  const [primary, dr] = read;
  if (primary === undefined || dr === undefined) return;
  // Traffic is attributed to a region by its addresses, and members are told apart by name.
  if (sameAddress(primary.nodeBalancer.ipv4, dr.nodeBalancer.ipv4))
    regions.refuse("dr.nodeBalancer.ipv4", dr.nodeBalancer.ipv4, "an address other than the primary's");
  if (sameAddress(primary.nodeBalancer.ipv6, dr.nodeBalancer.ipv6))
    regions.refuse("dr.nodeBalancer.ipv6", dr.nodeBalancer.ipv6, "an address other than the primary's");
  if (primary.member.serverName === dr.member.serverName)
    regions.refuse("dr.member.serverName", dr.member.serverName, "a name other than the primary's");
}

/** The region as read, or undefined when any of its fields is wrong (recorded). */
function checkRegion(check: InputCheck, site: Site, value: unknown): FollowerRegion | undefined {
  const region = check.object(site, value, "{ nodeBalancer, member }");
  if (!region) return undefined;
  const r = value as Record<string, unknown>;
  onlyKeys(region, r, ["nodeBalancer", "member"]);
  let ok = true;
  const nodeBalancer = region.object("nodeBalancer", r.nodeBalancer, "{ ipv4, ipv6 }");
  if (nodeBalancer) {
    const nb = r.nodeBalancer as Record<string, unknown>;
    onlyKeys(nodeBalancer, nb, ["ipv4", "ipv6"]);
    ok = nodeBalancer.field("ipv4", nb.ipv4, ipv4Address) !== undefined && ok;
    ok = nodeBalancer.field("ipv6", nb.ipv6, ipv6Address) !== undefined && ok;
  } else ok = false;
  const member = region.object("member", r.member, "{ name, serverName, restPort }");
  if (member) {
    const m = r.member as Record<string, unknown>;
    onlyKeys(member, m, ["name", "serverName", "restPort"]);
    const name = explained(oneOf([site]), `Patroni's member in region ${site} is named after it`);
    ok = member.field("name", m.name, name) !== undefined && ok;
    const serverName = explained(dnsName, "the name in that member's certificate");
    ok = member.field("serverName", m.serverName, serverName) !== undefined && ok;
    ok = member.field("restPort", m.restPort, tcpPort) !== undefined && ok;
  } else ok = false;
  return ok ? (r as unknown as FollowerRegion) : undefined;
}

/**
 * A misspelt key would otherwise be ignored and its default silently used. An unknown key's value
 * is shown only by its shape: it may be a token someone pasted in.
 */
function onlyKeys(check: InputCheck, value: Record<string, unknown>, known: readonly string[]): void {
  const unknownKey = secret(
    satisfying(`no such key (known: ${known.join(", ")})`, (_value): _value is never => false),
  );
  for (const key of Object.keys(value)) if (!known.includes(key)) check.field(key, value[key], unknownKey);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
