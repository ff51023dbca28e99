import { describe, expect, it } from "vitest";
import { listing, parseArguments, UsageError } from "../../drill/cli";
import { SCENARIOS } from "../../drill/scenarios";
import { DEFAULT_SETTINGS } from "../../drill/settings";
import { DEFAULT_WAN } from "../../lab/wanDefaults";

describe("npm run drill: arguments", () => {
  it("runs region-loss once at the program's defaults when given nothing", () => {
    const args = parseArguments([]);
    expect(args.scenarios.map((s) => s.name)).toEqual(["region-loss"]);
    expect(args.runs).toBe(1);
    expect(args.settings.publishDelayMs).toBe(30_000);
    expect(args.settings).toEqual(DEFAULT_SETTINGS);
  });

  it("takes scenarios in order, --runs and --publish-delay", () => {
    const args = parseArguments(["switchover", "--runs", "5", "region-loss", "--publish-delay", "2"]);
    expect(args.scenarios.map((s) => s.name)).toEqual(["switchover", "region-loss"]);
    expect(args.runs).toBe(5);
    expect(args.settings.publishDelayMs).toBe(2000);
    // The defaults object is not modified by a run's settings.
    expect(DEFAULT_SETTINGS.publishDelayMs).toBe(30_000);
  });

  it("--partition-for sets how long the partition-then-loss drills partition A from B", () => {
    expect(parseArguments(["partition-then-loss", "--partition-for", "45"]).settings.partitionForMs).toBe(
      45_000,
    );
    expect(DEFAULT_SETTINGS.partitionForMs).toBe(60_000);
    expect(() => parseArguments(["--partition-for", "0"])).toThrow(
      /--partition-for expects a whole number from 1 to 3600; received "0"/,
    );
    expect(() => parseArguments(["--partition-for"])).toThrow(
      /--partition-for expects a whole number from 1 to 3600; received ""/,
    );
  });

  it("runs with the default WAN between the sites unless --wan off", () => {
    expect(parseArguments([]).settings.wan).toEqual(DEFAULT_WAN);
    expect(parseArguments(["--wan", "default"]).settings.wan).toEqual(DEFAULT_WAN);
    expect(parseArguments(["--wan", "off"]).settings.wan).toBeUndefined();
    expect(() => parseArguments(["--wan", "slow"])).toThrow(/--wan expects default or off; received "slow"/);
    expect(() => parseArguments(["--wan"])).toThrow(/--wan expects a value/);
  });

  it("--config sets stack config for the drill's evaluation, on top of the drill's own", () => {
    const args = parseArguments(["--config", "leaderTtl=20", "--config", "synchronousReplication=true"]);
    expect(args.settings.config).toEqual({
      ...DEFAULT_SETTINGS.config,
      leaderTtl: "20",
      synchronousReplication: "true",
    });
    expect(() => parseArguments(["--config", "leaderTtl"])).toThrow(
      /--config expects KEY=VALUE \(a stack config key\); received "leaderTtl"/,
    );
  });

  it("names what was wrong and what was expected", () => {
    expect(() => parseArguments(["region-los"])).toThrow(
      /unknown scenario "region-los"; expected one of: region-loss, manual-failover, .*flapping/,
    );
    expect(() => parseArguments(["--runs", "0"])).toThrow(
      /--runs expects a whole number from 1 to 50; received "0"/,
    );
    expect(() => parseArguments(["--runs"])).toThrow(
      /--runs expects a whole number from 1 to 50; received ""/,
    );
    expect(() => parseArguments(["--publish-delay", "1.5"])).toThrow(
      /--publish-delay expects a whole number/,
    );
    expect(() => parseArguments(["--fast"])).toThrow(UsageError);
    expect(() => parseArguments(["--fast"])).toThrow(/unknown option --fast/);
  });

  it("--list names every scenario with what it does", () => {
    expect(parseArguments(["--list"]).list).toBe(true);
    const text = listing();
    for (const name of [
      "region-loss",
      "manual-failover",
      "switchover",
      "failback",
      "db-crash",
      "app-crash",
      "partition",
      "witness-loss",
      "flapping",
    ])
      expect(text).toMatch(new RegExp(`^${name} +\\S`, "m"));
    expect(text.split("\n")).toHaveLength(SCENARIOS.length);
  });
});
