import { SITES, type Site } from "./settings";

/**
 * Who leads, as the members' Patroni REST APIs say (GET /cluster: { members: [{ name, role,
 * state, ... }] }). Each member reports the cluster as its own etcd member sees it, so the two
 * views can differ while leadership moves; traffic follows only a leader no answering view
 * contradicts.
 */

/** One member's answer: the running leader it names, none, or no usable answer. */
export type View =
  { state: "leader"; leader: string } | { state: "no-leader" } | { state: "failed"; reason: string };

export interface LeaderReading {
  /** The region whose member leads, or undefined: nobody, or the views disagree. */
  site: Site | undefined;
  /** Why, in a few words, for the log and status. */
  why: string;
  views: Record<Site, View>;
}

/** Reads a GET /cluster body (parsed JSON). */
export function viewOf(body: unknown): View {
  const members = (body as { members?: unknown } | null)?.members;
  if (!Array.isArray(members)) return { state: "failed", reason: "the answer has no members list" };
  const leaders = members
    .filter((m): m is { name: string; role: unknown; state: unknown } => typeof m?.name === "string")
    .filter((m) => m.role === "leader" && m.state === "running")
    .map((m) => m.name);
  if (leaders.length > 1) return { state: "failed", reason: `the answer names ${leaders.length} leaders` };
  return leaders.length === 1 ? { state: "leader", leader: leaders[0] } : { state: "no-leader" };
}

export function agreeOnLeader(views: Record<Site, View>): LeaderReading {
  const named = new Set<string>();
  for (const site of SITES) {
    const view = views[site];
    if (view.state === "leader") named.add(view.leader);
  }
  const sayers = (leader: string) => SITES.filter((s) => viewNames(views[s], leader)).join(" and ");
  if (named.size > 1) {
    const each = SITES.map((s) => `${s} names ${(views[s] as { leader: string }).leader}`).join(", ");
    return { site: undefined, why: `the views disagree (${each})`, views };
  }
  if (named.size === 0) {
    const answered = SITES.some((s) => views[s].state !== "failed");
    const why = answered ? "no answering view names a running leader" : "no member answered";
    return { site: undefined, why, views };
  }
  const [leader] = [...named];
  const site = SITES.find((s) => s === leader);
  if (site === undefined)
    return { site: undefined, why: `the leader ${JSON.stringify(leader)} is neither primary nor dr`, views };
  return { site, why: `named by ${sayers(leader)}`, views };
}

function viewNames(view: View, leader: string): boolean {
  return view.state === "leader" && view.leader === leader;
}
