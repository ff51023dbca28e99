import { describe, expect, it } from "vitest";
import {
  apiOutage,
  app,
  database,
  fault,
  flapping,
  hostCrash,
  linkCut,
  linodeLost,
  linodePaused,
  processKill,
  regionCut,
  siteLost,
  together,
  witness,
} from "../../lab/faults";
import { describeLinode, type FaultTarget, type LinodeRole } from "../../lab/faults";
import type { Host } from "../../lab/hosts/host";
import type { Lab } from "../../lab/hosts/lab";

/**
 * The fault library's contract, on a recording target (no lab, no root): what each fault does to
 * the lab and how it heals, healing exactly once, composition order, and refusals that name what
 * was wrong.
 */

function recordingTarget() {
  const calls: string[] = [];
  const hostOf = (linode: LinodeRole) =>
    ({
      isUp: true,
      crash: async () => void calls.push(`crash ${describeLinode(linode)}`),
      pause: async () => void calls.push(`pause ${describeLinode(linode)}`),
      resume: async () => void calls.push(`resume ${describeLinode(linode)}`),
    }) as unknown as Host;
  const lab = {
    cutRegion: async (r: string) => void calls.push(`cut ${r}`),
    restoreRegion: async (r: string) => void calls.push(`restore ${r}`),
    cutLink: async (a: string, b: string) => void calls.push(`cut ${a}<->${b}`),
    restoreLink: async (a: string, b: string) => void calls.push(`restore ${a}<->${b}`),
  } as unknown as Lab;
  const target: FaultTarget = {
    lab,
    regionOf: (site) => ({ primary: "A", dr: "B", witness: "C" })[site],
    hostOf,
    linodesAt: (site) => (site === "witness" ? [witness] : [database(site), app(site, 0), app(site, 1)]),
    powerOn: async (linode) => void calls.push(`power on ${linode.tier}`),
    restartService: async (_linode, service) => void calls.push(`restart ${service}`),
    linodeApi: {
      injectFailure: async (f) => void calls.push(`api ${f.status} for ${f.forMs} ms`),
      clearFailure: async () => void calls.push("api clear"),
    },
  };
  return { calls, target };
}

describe("lab/faults", () => {
  it("a region cut takes the site's region off and heals it once, however often heal is called", async () => {
    const { calls, target } = recordingTarget();
    const cut = await regionCut("primary").inject(target);
    await Promise.all([cut.heal(), cut.heal()]);
    await cut.heal();
    expect(calls).toEqual(["cut A", "restore A"]);
    expect(regionCut("primary").description).toBe("region A cut off");
  });

  it("together() injects in order and heals in reverse", async () => {
    const { calls, target } = recordingTarget();
    const both = await together(linkCut("primary", "dr"), regionCut("primary")).inject(target);
    await both.heal();
    expect(calls).toEqual(["cut A<->B", "cut A", "restore A", "restore A<->B"]);
  });

  it("together() heals what it injected when a later fault fails to inject", async () => {
    const { calls, target } = recordingTarget();
    const broken = fault("broken", async () => {
      throw new Error("no such host");
    });
    await expect(together(regionCut("dr"), broken).inject(target)).rejects.toThrow("no such host");
    expect(calls).toEqual(["cut B", "restore B"]);
  });

  it("flapping() injects and heals its fault in turn until its time is up, and returns healed", async () => {
    const { calls, target } = recordingTarget();
    const flaps = flapping(regionCut("primary"), { downMs: 5, upMs: 5, forMs: 30 });
    expect(flaps.description).toBe("region A cut off, flapping 0.005 s down / 0.005 s up for 0.03 s");
    const injected = await flaps.inject(target);
    await injected.heal();
    expect(calls.length).toBeGreaterThanOrEqual(4);
    expect(calls.length % 2).toBe(0);
    for (let i = 0; i < calls.length; i += 2) expect(calls.slice(i, i + 2)).toEqual(["cut A", "restore A"]);
  });

  it("a host crash heals by powering the Linode on; a killed service by its service manager", async () => {
    const { calls, target } = recordingTarget();
    await (await hostCrash(database("primary")).inject(target)).heal();
    expect(calls).toEqual(["crash region A's database Linode", "power on database"]);
    expect(hostCrash(witness).description).toBe("the witness Linode crashed (power cut)");
  });

  it("a destroyed site or Linode stays gone: healing powers nothing on (only a rebuild replaces it)", async () => {
    const { calls, target } = recordingTarget();
    const region = siteLost("primary");
    expect(region.description).toBe("region A's Linodes destroyed (disks gone)");
    await (await region.inject(target)).heal();
    await (await linodeLost(witness).inject(target)).heal();
    expect(calls).toEqual([
      "crash region A's database Linode",
      "crash region A's app Linode 0",
      "crash region A's app Linode 1",
      "crash the witness Linode",
    ]);
  });

  it("a paused Linode resumes where it was when healed, once", async () => {
    const { calls, target } = recordingTarget();
    const paused = linodePaused(database("primary"));
    expect(paused.description).toBe("region A's database Linode paused (every process and its network)");
    const injected = await paused.inject(target);
    await Promise.all([injected.heal(), injected.heal()]);
    expect(calls).toEqual(["pause region A's database Linode", "resume region A's database Linode"]);
  });

  it("an API outage answers its status for its time, and heals by ending it", async () => {
    const { calls, target } = recordingTarget();
    const outage = apiOutage({ status: 503, forMs: 30_000 });
    expect(outage.description).toBe("the Linode API answers 503 for 30 s");
    await (await outage.inject(target)).heal();
    expect(calls).toEqual(["api 503 for 30000 ms", "api clear"]);
    expect(() => apiOutage({ status: 503, forMs: 0 })).toThrow("apiOutage forMs: received 0");
  });

  it("refuses what cannot be: a service the Linode does not run, a link to itself, bad timings or indexes", () => {
    expect(() => processKill(app("primary", 0), "patroni")).toThrow(
      "region A's app Linode 0 runs no patroni; expected one of app",
    );
    expect(() => linkCut("dr", "dr")).toThrow("linkCut: received dr twice; expected two different sites");
    expect(() => flapping(regionCut("dr"), { downMs: 0, upMs: 1, forMs: 1 })).toThrow(
      "flapping downMs: received 0; expected a positive whole number of ms",
    );
    expect(() => app("dr", -1)).toThrow("app Linode index: received -1; expected a whole number from 0");
  });
});
