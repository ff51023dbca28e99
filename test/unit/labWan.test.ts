import { describe, expect, it } from "vitest";
import { LAB_REGIONS } from "../../lab/addressPlan";
import { describeWan, wanArguments } from "../../lab/hosts/wan";
import { DEFAULT_WAN } from "../../lab/wanDefaults";

const regions = [
  { name: "A", cidrText: "198.51.100.0/24" },
  { name: "B", cidrText: "203.0.113.0/24" },
  { name: "C", cidrText: "192.0.2.0/24" },
];
const link = (between: [string, string], delayMs = 25, jitterMs = 2, lossPercent = 0) => ({
  between,
  delayMs,
  jitterMs,
  lossPercent,
});

describe("the lab's WAN settings", () => {
  it("become the program's arguments: every region, each link once, the seed", () => {
    expect(
      wanArguments(regions, {
        links: [link(["A", "B"], 24.5, 1.5, 0.1), link(["C", "A"], 8, 0, 0)],
        seed: 3,
      }),
    ).toEqual([
      "--tun",
      "wan0",
      "--region",
      "A=198.51.100.0/24",
      "--region",
      "B=203.0.113.0/24",
      "--region",
      "C=192.0.2.0/24",
      "--link",
      "A-B=24.5,1.5,0.1",
      "--link",
      "C-A=8,0,0",
      "--seed",
      "3",
    ]);
  });

  it.each([
    [[link(["A", "D"])], "WAN link A-D: no region D; the lab has A, B, C"],
    [[link(["A", "A"])], "WAN link A-A: a link joins two different regions"],
    [[link(["A", "B"]), link(["B", "A"])], "WAN link B-A: declared twice"],
    [[link(["A", "B"], -1)], "WAN link A-B: delayMs -1 is not a number from 0 to 2000"],
    [[link(["A", "B"], Number.NaN)], "WAN link A-B: delayMs NaN is not a number from 0 to 2000"],
    [[link(["A", "B"], 10, 11)], "WAN link A-B: jitterMs 11 is not a number from 0 to 10"],
    [[link(["A", "B"], 10, 1, 51)], "WAN link A-B: lossPercent 51 is not a number from 0 to 50"],
  ])("refuses %j, naming what is wrong", (links, message) => {
    expect(() => wanArguments(regions, { links })).toThrow(message);
  });

  it("refuses a seed that is not a non-negative integer", () => {
    expect(() => wanArguments(regions, { links: [link(["A", "B"])], seed: 1.5 })).toThrow(
      "WAN seed 1.5: expected a non-negative integer",
    );
  });

  it("the default WAN joins every pair of the lab's three sites, and the program accepts it", () => {
    const labRegions = Object.entries(LAB_REGIONS).map(([name, r]) => ({ name, cidrText: r.cidr }));
    expect(() => wanArguments(labRegions, DEFAULT_WAN)).not.toThrow();
    const pairs = DEFAULT_WAN.links.map((l) => [...l.between].sort().join("-")).sort();
    expect(pairs).toEqual(["A-B", "A-C", "B-C"]);
  });

  it("describes itself as round trips for reports", () => {
    expect(describeWan(undefined)).toBe("none (regions joined without delay)");
    expect(describeWan({ links: [link(["A", "B"], 25, 2, 0.1)] })).toBe(
      "A-B round trip 50 ms ± 4 ms, 0.1 % lost each way",
    );
  });
});
