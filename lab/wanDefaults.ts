import type { WanSettings } from "./hosts/wan";

/**
 * The WAN every world and drill runs with unless told otherwise: the round trips between the three
 * Linode regions the lab stands for (lab/addressPlan.ts: A us-ord Chicago, B us-sea Seattle,
 * C us-iad Washington).
 *
 * Assumed, not measured: Linode publishes no latency between its regions (searched: its docs and
 * speed-test pages give throughput from a client, not region to region). The figures scale a
 * published coast-to-coast cloud measurement by distance: EC2 us-east-1 (Virginia) to us-west-2
 * (Oregon) averaged 71.4 ms over 10 pings (gist caius/21eca095ba281393f0616e2325410278), a path
 * much like us-iad to us-sea (about 3,700 km); Chicago to Seattle is about 2,800 km and Chicago to
 * Washington about 950 km, and light in fibre needs 1 ms of round trip per 100 km, plus routing.
 * Jitter of 1 ms each way is a quiet backbone; loss is 0 (a drill adds its own faults).
 * docs/facts.md ("The lab's WAN defaults") keeps this reasoning beside the figures.
 */
export const DEFAULT_WAN: WanSettings = {
  links: [
    { between: ["A", "B"], delayMs: 25, jitterMs: 1, lossPercent: 0 },
    { between: ["A", "C"], delayMs: 10, jitterMs: 1, lossPercent: 0 },
    { between: ["B", "C"], delayMs: 35, jitterMs: 1, lossPercent: 0 },
  ],
};
