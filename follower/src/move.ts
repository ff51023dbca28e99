import { sameAddress } from "./addresses";
import { LinodeApiError, type RecordsApi, type RecordType } from "./linodeApi";
import type { Traffic } from "./observe";
import type { FollowerSettings, Site } from "./settings";

/**
 * A move: the A record to the region's NodeBalancer IPv4, then the AAAA record to its IPv6, one
 * request at a time. A record already there is left alone, so a move cut short after the A
 * record is finished by the next one, which changes only the AAAA record. A failure stops the
 * move: the loop reads the records afresh and tries again after a backoff.
 */

export interface RecordChange {
  record: RecordType;
  from: string;
  to: string;
}

export interface MoveOutcome {
  to: Site;
  /** Records the API changed, in order. */
  done: (RecordChange & { status: number; attempts: number })[];
  /** The record whose change failed; the move stopped there. */
  failed?: RecordChange & { error: string; status?: number; attempts: number };
  /** Both records point at the region now. */
  complete: boolean;
}

export async function move(
  api: RecordsApi,
  settings: FollowerSettings,
  to: Site,
  traffic: Extract<Traffic, { state: "known" }>,
): Promise<MoveOutcome> {
  const target = settings.regions[to].nodeBalancer;
  const steps: (RecordChange & { id: number })[] = [
    { record: "A", id: settings.records.a, from: traffic.a, to: target.ipv4 },
    { record: "AAAA", id: settings.records.aaaa, from: traffic.aaaa, to: target.ipv6 },
  ];
  const outcome: MoveOutcome = { to, done: [], complete: false };
  for (const { id, ...change } of steps) {
    if (sameAddress(change.from, change.to)) continue;
    try {
      const reply = await api.setTarget(id, change.record, change.to);
      outcome.done.push({ ...change, status: reply.status, attempts: reply.attempts });
    } catch (error) {
      const e = error as Error;
      outcome.failed = {
        ...change,
        error: e.message,
        ...(e instanceof LinodeApiError ? { status: e.status, attempts: e.attempts } : { attempts: 1 }),
      };
      return outcome;
    }
  }
  outcome.complete = true;
  return outcome;
}

/** The records as a complete move leaves them (the targets it set). */
export function trafficAfter(settings: FollowerSettings, to: Site, readAt: number): Traffic {
  const { ipv4, ipv6 } = settings.regions[to].nodeBalancer;
  return { state: "known", a: ipv4, aaaa: ipv6, site: to, readAt };
}
