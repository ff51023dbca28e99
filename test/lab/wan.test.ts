import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Host } from "../../lab/hosts/host";
import { Lab } from "../../lab/hosts/lab";
import { LAB_REGIONS } from "../../lab/addressPlan";

/**
 * The lab's WAN (lab/wan, lab/hosts/wan.ts) measured from hosts in three sites with ping: the
 * round trip is what was configured, loss is what was configured, a pair without a link is not
 * delayed, a partition still cuts a delayed link, and removing the WAN joins the sites again
 * without delay. About 30 s.
 */

let lab: Lab;
let a: Host;
let b: Host;
let c: Host;

interface Ping {
  transmitted: number;
  received: number;
  /** Each reply's round trip, milliseconds, sorted. */
  rtts: number[];
}

const quantile = (sorted: number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];

async function ping(from: Host, to: Host, count: number, intervalS: number): Promise<Ping> {
  const result = await from.exec([
    "ping",
    "-n",
    "-c",
    String(count),
    "-i",
    String(intervalS),
    "-W",
    "2",
    to.address,
  ]);
  const counts = /(\d+) packets transmitted, (\d+) received/.exec(result.stdout);
  if (!counts)
    throw new Error(`ping ${from.name} -> ${to.name} printed no summary:\n${result.stdout}${result.stderr}`);
  const rtts = [...result.stdout.matchAll(/time=([\d.]+) ms/g)]
    .map((m) => Number(m[1]))
    .sort((x, y) => x - y);
  return { transmitted: Number(counts[1]), received: Number(counts[2]), rtts };
}

function summary(p: Ping): string {
  const r = p.rtts;
  return `${p.received}/${p.transmitted} answered, min ${r[0]} ms, median ${quantile(r, 0.5)} ms, p90 ${quantile(r, 0.9)} ms, max ${r[r.length - 1]} ms`;
}

beforeAll(async () => {
  lab = await Lab.create({ name: "hdwan" });
  for (const [name, region] of Object.entries(LAB_REGIONS)) lab.addRegion(name, region.cidr);
  a = await lab.addHost({ name: "a", region: "A", address: `${LAB_REGIONS.A.prefix}.50` });
  b = await lab.addHost({ name: "b", region: "B", address: `${LAB_REGIONS.B.prefix}.50` });
  c = await lab.addHost({ name: "c", region: "C", address: `${LAB_REGIONS.C.prefix}.50` });
});

afterAll(async () => {
  await lab?.destroy();
});

describe("the lab's WAN between sites", () => {
  it("a round trip between two sites measures twice the configured one-way delay, within its jitter; a pair without a link is not delayed", async () => {
    await lab.setWan({
      links: [
        { between: ["A", "B"], delayMs: 25, jitterMs: 1, lossPercent: 0 },
        { between: ["A", "C"], delayMs: 10, jitterMs: 0.5, lossPercent: 0 },
      ],
      seed: 1,
    });
    const [ab, ac, bc] = await Promise.all([
      ping(a, b, 40, 0.05),
      ping(a, c, 40, 0.05),
      ping(b, c, 40, 0.05),
    ]);
    console.log(`[wan] A-B ${summary(ab)}; A-C ${summary(ac)}; B-C ${summary(bc)}`);
    // No packet arrives before its delay minus jitter; the median sits on the configured round
    // trip. A loaded 2-vCPU machine may wake the program late, so the tail is only bounded loosely.
    expect(ab.received).toBe(40);
    expect(ab.rtts[0]).toBeGreaterThanOrEqual(48);
    expect(quantile(ab.rtts, 0.5)).toBeGreaterThanOrEqual(49);
    expect(quantile(ab.rtts, 0.5)).toBeLessThan(52.5);
    expect(quantile(ab.rtts, 0.9)).toBeLessThan(60);
    expect(ac.received).toBe(40);
    expect(ac.rtts[0]).toBeGreaterThanOrEqual(19);
    expect(quantile(ac.rtts, 0.5)).toBeLessThan(22.5);
    expect(bc.received).toBe(40);
    expect(quantile(bc.rtts, 0.5)).toBeLessThan(3);
  });

  it("loses what was configured: 10 % each way loses about 19 % of round trips", async () => {
    await lab.setWan({ links: [{ between: ["A", "B"], delayMs: 2, jitterMs: 0, lossPercent: 10 }], seed: 7 });
    const ab = await ping(a, b, 500, 0.005);
    const lost = 1 - ab.received / ab.transmitted;
    console.log(`[wan] 10 % each way: ${ab.transmitted - ab.received} of ${ab.transmitted} round trips lost`);
    // 1 - 0.9²; with 500 round trips a standard deviation is 1.8 points.
    expect(lost).toBeGreaterThan(0.12);
    expect(lost).toBeLessThan(0.26);
  });

  it("a partition still cuts a delayed link, and healing it brings the delay back", async () => {
    await lab.setWan({ links: [{ between: ["A", "B"], delayMs: 20, jitterMs: 0, lossPercent: 0 }] });
    await lab.cutLink("A", "B");
    try {
      const cut = await ping(a, b, 3, 0.2);
      expect(cut.received).toBe(0);
      const around = await ping(a, c, 3, 0.2);
      expect(around.received).toBe(3);
    } finally {
      await lab.restoreLink("A", "B");
    }
    const healed = await ping(a, b, 5, 0.1);
    expect(healed.received).toBe(5);
    expect(healed.rtts[0]).toBeGreaterThanOrEqual(40);
  });

  it("refuses a link to a region the lab lacks, naming it, and keeps the WAN it had", async () => {
    const before = lab.wanSettings;
    await expect(
      lab.setWan({ links: [{ between: ["A", "D"], delayMs: 5, jitterMs: 0, lossPercent: 0 }] }),
    ).rejects.toThrow("WAN link A-D: no region D; the lab has A, B, C");
    expect(lab.wanSettings).toBe(before);
    const still = await ping(a, b, 3, 0.1);
    expect(still.rtts[0]).toBeGreaterThanOrEqual(40);
  });

  it("removed, the sites are joined without delay again", async () => {
    await lab.setWan(undefined);
    const ab = await ping(a, b, 10, 0.05);
    expect(ab.received).toBe(10);
    expect(quantile(ab.rtts, 0.5)).toBeLessThan(3);
  });
});
