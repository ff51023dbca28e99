import { fault, type Fault } from "./fault";

/**
 * The Linode API answers `status` (5xx, or 429 with Retry-After) to every request for `forMs`:
 * an outage of the control plane, which the traffic follower must ride out with bounded retries.
 * Healing ends it early if it is still on.
 */
export function apiOutage(outage: { status: number; retryAfterSeconds?: number; forMs: number }): Fault {
  if (!Number.isInteger(outage.forMs) || outage.forMs <= 0)
    throw new Error(`apiOutage forMs: received ${outage.forMs}; expected a positive whole number of ms`);
  return fault(`the Linode API answers ${outage.status} for ${outage.forMs / 1000} s`, async (target) => {
    await target.linodeApi.injectFailure(outage);
    return () => target.linodeApi.clearFailure();
  });
}
