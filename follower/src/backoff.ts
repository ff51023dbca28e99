/**
 * Exponential backoff with jitter, for the API's retries and for a failed move's next try: the
 * delay doubles per failure up to a ceiling, and a random half of it spreads retries out so that
 * several clients (or a restarted one) do not hit the API in step.
 */

export interface Backoff {
  /** The first retry's delay, before jitter. */
  baseMs: number;
  /** No delay is longer than this. */
  maxMs: number;
}

/** The wait before retry number `failures` (1 after the first failure); `random` in [0, 1). */
export function backoffDelayMs(failures: number, backoff: Backoff, random: () => number): number {
  const ceiling = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.max(0, failures - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
