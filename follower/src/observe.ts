import { sameAddress } from "./addresses";
import type { RecordsApi } from "./linodeApi";
import { agreeOnLeader, viewOf, type LeaderReading, type View } from "./patroni";
import { SITES, type FollowerSettings, type Site } from "./settings";

/**
 * One observation: who leads, whether each region serves (as seen from the witness), and where
 * the traffic records point. Everything it reaches goes through Network, so the loop can be
 * tested without sockets (network.ts is the real one).
 */

/** A region's NodeBalancer answering its own health check, asked from the witness. */
export type Health =
  { state: "healthy" } | { state: "unhealthy"; status: number } | { state: "unreachable"; reason: string };

/**
 * Where the traffic records point. A site only when BOTH records point at its NodeBalancer: a
 * move cut short after the A record is "elsewhere" until its AAAA record follows.
 */
export type Traffic =
  | { state: "known"; a: string; aaaa: string; site: Site | "elsewhere"; readAt: number }
  | { state: "unknown"; reason: string };

export interface Observation {
  /** Epoch ms. */
  at: number;
  leader: LeaderReading;
  health: Record<Site, Health>;
  traffic: Traffic;
}

export interface Network {
  /** The member's GET /cluster body, parsed; rejects when there is no 200 answer with JSON. */
  cluster(site: Site): Promise<unknown>;
  health(site: Site): Promise<Health>;
  api: RecordsApi;
}

/**
 * `previous` is the last reading of the records: it is reused, sparing the API's rate limit,
 * while it is younger than recordsRefreshSeconds and points at the leader. Any other time (no
 * reading, an old one, traffic not where the leader is) the records are read again, so that a
 * move is always decided on a fresh reading.
 */
export async function observe(
  network: Network,
  settings: FollowerSettings,
  now: () => number,
  previous?: Traffic,
): Promise<Observation> {
  const [views, health] = await Promise.all([
    bySite((site) => clusterView(network, site)),
    bySite((site) => network.health(site)),
  ]);
  const leader = agreeOnLeader(views);
  const traffic = reusable(previous, leader.site, now(), settings.recordsRefreshSeconds)
    ? (previous as Traffic)
    : await readTraffic(network.api, settings, now);
  return { at: now(), leader, health, traffic };
}

async function clusterView(network: Network, site: Site): Promise<View> {
  try {
    return viewOf(await network.cluster(site));
  } catch (error) {
    return { state: "failed", reason: (error as Error).message };
  }
}

async function bySite<T>(get: (site: Site) => Promise<T>): Promise<Record<Site, T>> {
  const [primary, dr] = await Promise.all(SITES.map(get));
  return { primary, dr };
}

function reusable(
  previous: Traffic | undefined,
  leader: Site | undefined,
  now: number,
  refreshSeconds: number,
) {
  if (previous?.state !== "known") return false;
  if (now - previous.readAt >= refreshSeconds * 1000) return false;
  return leader === undefined || previous.site === leader;
}

export async function readTraffic(
  api: RecordsApi,
  settings: FollowerSettings,
  now: () => number,
): Promise<Traffic> {
  const [a, aaaa] = await Promise.allSettled([
    api.getRecord(settings.records.a, "A"),
    api.getRecord(settings.records.aaaa, "AAAA"),
  ]);
  if (a.status === "rejected" || aaaa.status === "rejected") {
    const reasons = [a, aaaa].flatMap((r) => (r.status === "rejected" ? [(r.reason as Error).message] : []));
    return { state: "unknown", reason: reasons.join("; ") };
  }
  const site = siteOf(a.value.target, aaaa.value.target, settings);
  return { state: "known", a: a.value.target, aaaa: aaaa.value.target, site, readAt: now() };
}

/** The region both records point at, or "elsewhere". */
export function siteOf(a: string, aaaa: string, settings: FollowerSettings): Site | "elsewhere" {
  const site = SITES.find((s) => {
    const nb = settings.regions[s].nodeBalancer;
    return sameAddress(a, nb.ipv4) && sameAddress(aaaa, nb.ipv6);
  });
  return site ?? "elsewhere";
}
