import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import * as http from "node:http";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { EXIT, runCli, type CliDeps } from "../../../follower/src/cli";
import { Follower } from "../../../follower/src/service";
import { renderFollowerSettings, type FollowerSettings } from "../../../follower/src/settings";
import { makeServerPki } from "../../../lab/tls";
import { FakeWorld } from "./fakes";
import { followerSettings } from "./fixtures";
import { closedPort } from "./localServer";

const T0 = Date.UTC(2026, 11, 6, 9, 0, 0);
const TOKEN = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const CA = makeServerPki(["db-primary.app.example.com"]).caCertPem;

let dir: string;
let settingsFile: string;
let settings: FollowerSettings;
let world: FakeWorld;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "follower-cli-"));
  settings = followerSettings({
    tokenFile: path.join(dir, "token"),
    caFile: path.join(dir, "ca.crt"),
    stateDir: path.join(dir, "state"),
    metrics: { address: "127.0.0.1", port: await closedPort() },
    pollMs: 200,
  });
  settingsFile = path.join(dir, "follower.json");
  await writeFile(settingsFile, renderFollowerSettings(settings));
  await writeFile(settings.tokenFile, `${TOKEN}\n`);
  await writeFile(settings.caFile, CA);
  world = new FakeWorld(settings);
  world.views = { primary: "down", dr: "dr" };
  world.health.primary = { state: "unreachable", reason: "connect ETIMEDOUT" };
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs the command line on the fake world; what it printed, and its exit status. */
async function cli(args: string[], change: Partial<CliDeps> = {}) {
  let out = "";
  let err = "";
  const code = await runCli(args, {
    out: (t) => (out += t),
    err: (t) => (err += t),
    now: () => T0,
    network: () => world.network(),
    ...change,
  });
  return { code, out, err };
}

/** The state a running service leaves after one step at `at` on the fake world. */
async function serviceStep(at: number): Promise<void> {
  const follower = await Follower.start({
    settings,
    network: world.network(),
    now: () => at,
    log: () => undefined,
  });
  await follower.step();
}

describe("follower dry-run", () => {
  it("prints the decision it would take with the evidence, and changes nothing", async () => {
    const { code, out, err } = await cli(["dry-run", "--settings", settingsFile]);
    expect(err).toBe("");
    expect(code).toBe(EXIT.ok);
    expect(out).toContain(
      "decision:  move to dr: dr has led for 5.0 s and answers healthy; traffic points at primary (A 198.51.100.5, AAAA 2001:db8:a::5)\n",
    );
    expect(out).toContain("leader:    dr for 5.0 s (named by dr)\n");
    expect(out).toContain("  primary's view: no answer (connect ECONNREFUSED)\n");
    expect(out).toContain("health:    primary unreachable connect ETIMEDOUT\nhealth:    dr healthy\n");
    expect(out).toContain(
      "assumed:   no service state names dr as leader: taken as leading for the 5 s debounce\n",
    );
    expect(out).toMatch(/dry run: {3}nothing was changed\n$/);
    expect(world.puts()).toEqual([]);
    expect(world.calls).toEqual(["GET A", "GET AAAA"]);
    await expect(readdir(settings.stateDir)).rejects.toThrow(/ENOENT/);
  });

  it("takes the service's pause, last move and leader age from its state", async () => {
    // The service saw dr lead at T0 - 2 s: the debounce is not met yet.
    await serviceStep(T0 - 2_000);
    const young = await cli(["dry-run", "--settings", settingsFile]);
    expect(young.out).toContain(
      "decision:  hold (debounce): dr has led for 2.0 s, less than the 5 s debounce\n",
    );
    expect(young.out).not.toContain("assumed:");

    await cli(["pause", "--settings", settingsFile]);
    const paused = await cli(["dry-run", "--settings", settingsFile], { now: () => T0 + 10_000 });
    expect(paused.out).toContain("decision:  hold (paused): paused: would move to dr\n");
    expect(world.puts()).toEqual([]);
  });

  it("prints JSON with --json", async () => {
    const { code, out } = await cli(["dry-run", "--json", "--settings", settingsFile]);
    expect(code).toBe(EXIT.ok);
    const result = JSON.parse(out);
    expect(result.decision).toMatchObject({ action: "move", to: "dr", rule: "move" });
    expect(result.observation.leader.site).toBe("dr");
    expect(result.paused).toBe(false);
  });
});

describe("follower: bad usage and bad settings", () => {
  it("exits 2 naming the key, what it received and what it expected", async () => {
    await writeFile(settingsFile, renderFollowerSettings(settings).replace('"pollMs": 200', '"pollMs": 5'));
    for (const command of ["run", "status", "pause", "resume", "dry-run", "check"]) {
      const { code, err, out } = await cli([command, "--settings", settingsFile]);
      expect(code).toBe(EXIT.usage);
      expect(out).toBe("");
      expect(err).toBe(
        `bad settings in ${settingsFile}:\nFollowerSettings.pollMs: received 5; expected an integer from 200 to 10000\n`,
      );
    }
  });

  it("exits 2 when the token file is missing or empty, and never prints the token", async () => {
    await rm(settings.tokenFile);
    const missing = await cli(["dry-run", "--settings", settingsFile]);
    expect(missing.code).toBe(EXIT.usage);
    expect(missing.err).toContain(
      `FollowerSettings.tokenFile: received "${settings.tokenFile}" (unreadable: ENOENT)`,
    );

    await writeFile(settings.tokenFile, "");
    const empty = await cli(["run", "--settings", settingsFile]);
    expect(empty.code).toBe(EXIT.usage);
    expect(empty.err).toContain("an empty file");

    await writeFile(settings.tokenFile, `${TOKEN} trailing words\n`);
    const bad = await cli(["dry-run", "--settings", settingsFile]);
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.err + bad.out).not.toContain(TOKEN.slice(0, 12));
  });

  it("check says good settings and a good token are good, contacting nothing, and refuses a bad token", async () => {
    const good = await cli(["check", "--settings", settingsFile], {
      network: () => {
        throw new Error("check must not contact anything");
      },
    });
    expect(good.code, good.err).toBe(EXIT.ok);
    expect(good.out).toBe(`settings ${settingsFile} and token file ${settings.tokenFile}: good\n`);
    await writeFile(settings.tokenFile, "");
    const empty = await cli(["check", "--settings", settingsFile]);
    expect(empty.code).toBe(EXIT.usage);
    expect(empty.err).toContain("an empty file");
  });

  it("exits 2 for a missing settings file, naming it", async () => {
    const { code, err } = await cli(["status", "--settings", path.join(dir, "nope.json")]);
    expect(code).toBe(EXIT.usage);
    expect(err).toContain(`no readable file at "${path.join(dir, "nope.json")}" (ENOENT)`);
  });

  it.each([
    [[], "no command given"],
    [["start"], 'unknown command "start"'],
    [["status", "extra"], 'unexpected argument "extra"'],
    [["status", "--verbose"], "Unknown option '--verbose'"],
    [["pause", "--json"], "--json is for status and dry-run"],
  ])("exits 2 with the usage for %j", async (args, message) => {
    const { code, err } = await cli(args as string[]);
    expect(code).toBe(EXIT.usage);
    expect(err).toContain(message);
    expect(err).toContain("usage: follower <command>");
  });

  it("exits 1 for other failures: status without any state", async () => {
    const { code, out, err } = await cli(["status", "--settings", settingsFile]);
    expect(code).toBe(EXIT.failure);
    expect(out).toContain("state:     none yet");
    expect(err).toBe(`follower status: no state at ${path.join(settings.stateDir, "state.json")}\n`);
  });
});

describe("follower pause, resume and status", () => {
  it("round-trips: pause shows in status at once, resume clears it, the service's state is shown", async () => {
    const paused = await cli(["pause", "--settings", settingsFile]);
    expect(paused).toMatchObject({
      code: EXIT.ok,
      out: "paused: yes since 2026-12-06T09:00:00.000Z: every move is held until `resume`\n",
    });
    // A second pause keeps the first one's time.
    await cli(["pause", "--settings", settingsFile], { now: () => T0 + 60_000 });

    await serviceStep(T0 + 1_000);
    const status = await cli(["status", "--settings", settingsFile], { now: () => T0 + 3_000 });
    expect(status.code).toBe(EXIT.ok);
    expect(status.out).toContain(
      "paused:    yes since 2026-12-06T09:00:00.000Z: every move is held until `resume`\n",
    );
    expect(status.out).toContain(
      "decision:  hold (debounce): dr has led for 0.0 s, less than the 5 s debounce\n",
    );
    expect(status.out).toContain("leader:    dr for 0.0 s (named by dr)\n");
    expect(status.out).toContain(
      "traffic:   primary (A 198.51.100.5, AAAA 2001:db8:a::5), read at 2026-12-06T09:00:01.000Z\n",
    );
    expect(status.out).toMatch(/written 2026-12-06T09:00:01\.000Z \(2\.0 s ago\) by pid \d+/);
    expect(status.out).toContain("failures:  api 0, observe 2\n");

    const json = JSON.parse((await cli(["status", "--json", "--settings", settingsFile])).out);
    expect(json.paused).toEqual({ pausedAt: T0 });
    expect(json.state.decision.rule).toBe("debounce");
    expect(json.state.paused).toBe(true);

    expect((await cli(["resume", "--settings", settingsFile])).out).toBe(
      "resumed: moves are allowed again\n",
    );
    expect((await cli(["resume", "--settings", settingsFile])).out).toBe(
      "was not paused: moves are allowed\n",
    );
    const after = await cli(["status", "--settings", settingsFile]);
    expect(after.out).toContain("paused:    no\n");
  });
});

describe("follower run", () => {
  function get(
    port: number,
    pathname: string,
    method = "GET",
  ): Promise<{ status: number; type?: string; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port, path: pathname, method, agent: false }, (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, type: res.headers["content-type"], body }),
        );
      });
      req.on("error", reject);
      req.end();
    });
  }

  it("follows the leader, serves /metrics (only), and stops on its signal with the metrics server closed", async () => {
    world.views = { primary: "dr", dr: "dr" };
    const stop = new AbortController();
    let err = "";
    const running = runCli(["run", "--settings", settingsFile], {
      out: () => undefined,
      err: (t) => (err += t),
      network: () => world.network(),
      signal: stop.signal,
      // Time runs 5 s per real poll so the debounce passes within a test.
      now: (() => {
        const started = Date.now();
        return () => started + (Date.now() - started) * 25;
      })(),
    });
    const port = settings.metrics.port;
    try {
      for (let i = 0; i < 100 && world.pointsAt() !== "dr"; i++) await new Promise((r) => setTimeout(r, 50));
      expect(world.pointsAt()).toBe("dr");
      const metrics = await get(port, "/metrics");
      expect(metrics.status).toBe(200);
      expect(metrics.type).toBe("text/plain; version=0.0.4; charset=utf-8");
      expect(metrics.body).toContain('\nlinode_dr_follower_leader{member="dr"} 1\n');
      expect(metrics.body).toContain('\nlinode_dr_follower_traffic_target{region="dr"} 1\n');
      expect(metrics.body).toContain("\nlinode_dr_follower_moves_total 1\n");
      expect((await get(port, "/metrics", "POST")).status).toBe(404);
      expect((await get(port, "/")).status).toBe(404);
    } finally {
      stop.abort();
    }
    expect(await running).toBe(EXIT.ok);
    await expect(get(port, "/metrics")).rejects.toThrow(/ECONNREFUSED/);
    expect(err).toMatch(/event=listening metrics=http:\/\/127\.0\.0\.1:\d+\/metrics poll_ms=200\n/);
    expect(err).toMatch(/event=move to=dr result=moved/);
    expect(err).toMatch(/event=stop\n$/);
    expect(err).not.toContain(TOKEN.slice(0, 12));
  });

  it("stops on SIGTERM and on SIGINT, and leaves no signal handler behind", async () => {
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      let err = "";
      const running = runCli(["run", "--settings", settingsFile], {
        out: () => undefined,
        err: (t) => (err += t),
        network: () => world.network(),
      });
      for (let i = 0; i < 100 && !err.includes("event=decision"); i++)
        await new Promise((r) => setTimeout(r, 20));
      expect(process.listenerCount(signal)).toBe(1);
      process.emit(signal);
      expect(await running).toBe(EXIT.ok);
      expect(err).toMatch(/event=stop\n$/);
      expect([process.listenerCount("SIGTERM"), process.listenerCount("SIGINT")]).toEqual([0, 0]);
    }
  });

  it("exits 1 when the metrics port is taken", async () => {
    const blocker = http.createServer();
    await new Promise<void>((r) => blocker.listen(settings.metrics.port, "127.0.0.1", r));
    try {
      const { code, err } = await cli(["run", "--settings", settingsFile], {
        signal: new AbortController().signal,
      });
      expect(code).toBe(EXIT.failure);
      expect(err).toContain("EADDRINUSE");
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });
});
