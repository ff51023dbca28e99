import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServerResponse } from "node:http";
import { realNetwork, type Redirect } from "../../../follower/src/network";
import { observe, type Network, type Traffic } from "../../../follower/src/observe";
import { agreeOnLeader, viewOf } from "../../../follower/src/patroni";
import type { FollowerSettings, Site } from "../../../follower/src/settings";
import { makeTestPki, type TestPki } from "../../../lab/tls";
import { followerSettings } from "./fixtures";
import { closedPort, json, startLocalServer, type LocalServer } from "./localServer";

const NAMES = { primary: "db-primary.app.example.com", dr: "db-dr.app.example.com" };
const API_NAME = "api.linode.test";

/** GET /cluster as Patroni 3.0 answers it, `leader` leading (or nobody). */
function cluster(leader: Site | undefined, leaderState = "running") {
  return {
    scope: "linode-dr-app",
    members: (["primary", "dr"] as const).map((name) => ({
      name,
      role: name === leader ? "leader" : "replica",
      state: name === leader ? leaderState : "streaming",
      api_url: `https://${NAMES[name]}:8008/patroni`,
      host: NAMES[name],
      port: 5432,
      timeline: 2,
      ...(name === leader ? {} : { lag: 0 }),
    })),
  };
}

const AT_DR = { a: "203.0.113.5", aaaa: "2001:db8:b::5" };

/**
 * Both members' REST APIs (HTTPS, certificates from a throwaway CA under their names), both
 * NodeBalancers' health checks and the Linode API, all on 127.0.0.1: the settings' names and
 * addresses are redirected to them.
 */
describe("observe, on the real network code against local servers", () => {
  let pki: TestPki;
  let otherPki: TestPki;
  const members = {} as Record<Site, LocalServer>;
  const health = {} as Record<Site, LocalServer>;
  let api: LocalServer;
  let answers: {
    cluster: Record<Site, unknown>;
    health: Record<Site, number>;
    records: { a: string; aaaa: string } | "down";
  };
  let refusedPort: number;
  let settings: FollowerSettings;
  let redirect: Redirect;

  function reset(): void {
    answers = {
      cluster: { primary: cluster("dr"), dr: cluster("dr") },
      health: { primary: 503, dr: 200 },
      records: AT_DR,
    };
  }

  beforeAll(async () => {
    [pki, otherPki] = await Promise.all([
      makeTestPki([NAMES.primary, NAMES.dr, API_NAME]),
      makeTestPki([NAMES.dr]),
    ]);
    reset();
    for (const site of ["primary", "dr"] as const) {
      members[site] = await startLocalServer(
        (_q, res) => json(res, 200, answers.cluster[site]),
        pki.servers[NAMES[site]],
      );
      health[site] = await startLocalServer((_q, res: ServerResponse) => {
        res.writeHead(answers.health[site]);
        res.end("db read-write\n");
      });
    }
    api = await startLocalServer((req, res) => {
      if (answers.records === "down") return json(res, 500, { errors: [{ reason: "down" }] });
      const id = Number(req.url.split("/").at(-1));
      const [type, target] = id === 501 ? ["A", answers.records.a] : ["AAAA", answers.records.aaaa];
      json(res, 200, { id, type, name: "app", target, ttl_sec: 30 });
    }, pki.servers[API_NAME]);
    refusedPort = await closedPort();
    settings = followerSettings({ apiUrl: `https://${API_NAME}/v4`, patroniTimeoutMs: 1_000 });
    redirect = (host, port) => {
      const local = (server: LocalServer) => ({ host: "127.0.0.1", port: server.port });
      if (host === NAMES.primary && port === 8008) return local(members.primary);
      if (host === NAMES.dr && port === 8008) return local(members.dr);
      if (host === "198.51.100.5" && port === 80) return local(health.primary);
      if (host === "203.0.113.5" && port === 80) return local(health.dr);
      if (host === API_NAME && port === 443) return local(api);
      // Anything else would leave 127.0.0.1: send it where nothing listens.
      return { host: "127.0.0.1", port: refusedPort };
    };
  });

  afterAll(async () => {
    await Promise.all([...Object.values(members), ...Object.values(health), api].map((s) => s?.close()));
  });

  function network(change: Partial<{ redirect: Redirect; ca: string }> = {}): Network {
    return realNetwork(settings, {
      token: "t0ken",
      ca: change.ca ?? pki.caCertPem,
      apiCa: pki.caCertPem,
      apiRetry: { attempts: 1, baseMs: 1, maxMs: 1, maxRetryAfterSeconds: 0 },
      redirect: change.redirect ?? redirect,
    });
  }

  it("finds the leader both views name, each region's health, and where both records point", async () => {
    reset();
    const seenBefore = members.primary.seen.length;
    const o = await observe(network(), settings, () => 1_000);
    expect(o.leader.site).toBe("dr");
    expect(o.leader.why).toBe("named by primary and dr");
    expect(o.leader.views).toEqual({
      primary: { state: "leader", leader: "dr" },
      dr: { state: "leader", leader: "dr" },
    });
    expect(o.health).toEqual({ primary: { state: "unhealthy", status: 503 }, dr: { state: "healthy" } });
    expect(o.traffic).toEqual({ state: "known", ...AT_DR, site: "dr", readAt: 1_000 });
    expect(members.primary.seen.slice(seenBefore).map((r) => [r.method, r.url, r.headers.host])).toEqual([
      ["GET", "/cluster", `${NAMES.primary}:8008`],
    ]);
    expect(health.dr.seen.at(-1)?.url).toBe("/healthz");
    expect(api.seen.at(-1)?.headers.authorization).toBe("Bearer t0ken");
  });

  it("names no leader when the views disagree", async () => {
    reset();
    answers.cluster = { primary: cluster("primary"), dr: cluster("dr") };
    const o = await observe(network(), settings, () => 1_000);
    expect(o.leader.site).toBeUndefined();
    expect(o.leader.why).toBe("the views disagree (primary names primary, dr names dr)");
  });

  it("follows the one view that answers when the other member is unreachable", async () => {
    reset();
    const cut: Redirect = (host, port) =>
      host === NAMES.primary ? { host: "127.0.0.1", port: refusedPort } : redirect(host, port);
    const o = await observe(network({ redirect: cut }), settings, () => 1_000);
    expect(o.leader.site).toBe("dr");
    expect(o.leader.why).toBe("named by dr");
    expect(o.leader.views.primary).toEqual({
      state: "failed",
      reason: expect.stringContaining("ECONNREFUSED"),
    });
  });

  it("trusts only the project CA, and only the member's own name", async () => {
    reset();
    const o = await observe(network({ ca: otherPki.caCertPem }), settings, () => 1_000);
    expect(o.leader).toMatchObject({ site: undefined, why: "no member answered" });
    expect(o.leader.views.dr).toEqual({
      state: "failed",
      reason: expect.stringMatching(/certificate|self.signed/i),
    });

    // dr's address answering with the primary's certificate: a wrong peer, refused.
    const swapped: Redirect = (host, port) =>
      host === NAMES.dr ? redirect(NAMES.primary, port) : redirect(host, port);
    const wrongPeer = await observe(network({ redirect: swapped }), settings, () => 1_000);
    expect(wrongPeer.leader.views.dr).toEqual({
      state: "failed",
      reason: expect.stringContaining("ERR_TLS_CERT_ALTNAME_INVALID"),
    });
  });

  it("does not count a leader that is not running", async () => {
    reset();
    answers.cluster = { primary: cluster("dr", "starting"), dr: cluster(undefined) };
    const o = await observe(network(), settings, () => 1_000);
    expect(o.leader).toMatchObject({ site: undefined, why: "no answering view names a running leader" });
  });

  it("tells healthy (200), unhealthy (503) and unreachable (refused) apart", async () => {
    reset();
    answers.health = { primary: 200, dr: 503 };
    const ok = await observe(network(), settings, () => 1_000);
    expect(ok.health).toEqual({ primary: { state: "healthy" }, dr: { state: "unhealthy", status: 503 } });
    const refused: Redirect = (host, port) =>
      host === "203.0.113.5" ? { host: "127.0.0.1", port: refusedPort } : redirect(host, port);
    const down = await observe(network({ redirect: refused }), settings, () => 1_000);
    expect(down.health.dr).toEqual({ state: "unreachable", reason: expect.stringContaining("ECONNREFUSED") });
  });

  it("calls traffic unknown when the API does not answer, and elsewhere when the records split", async () => {
    reset();
    answers.records = "down";
    const down = await observe(network(), settings, () => 1_000);
    expect(down.traffic).toEqual({
      state: "unknown",
      reason:
        'GET /domains/1234/records/501 (A): HTTP 500: "down"; GET /domains/1234/records/502 (AAAA): HTTP 500: "down"',
    });
    answers.records = { a: "203.0.113.5", aaaa: "2001:db8:a::5" };
    const split = await observe(network(), settings, () => 1_000);
    expect(split.traffic).toMatchObject({ state: "known", site: "elsewhere" });
  });

  it("matches IPv6 targets however the API spells them", async () => {
    reset();
    answers.records = { a: "203.0.113.5", aaaa: "2001:DB8:B:0:0:0:0:5" };
    expect((await observe(network(), settings, () => 1_000)).traffic).toMatchObject({ site: "dr" });
  });
});

describe("observe: when the records are read again", () => {
  const settings = followerSettings({ recordsRefreshSeconds: 15 });

  /** A network with dr leading everywhere that counts the API's reads. */
  function counting() {
    const reads: string[] = [];
    const network: Network = {
      cluster: async () => cluster("dr"),
      health: async () => ({ state: "healthy" }),
      api: {
        getRecord: async (_id, type) => {
          reads.push(type);
          return { target: type === "A" ? "198.51.100.5" : "2001:db8:a::5", status: 200, attempts: 1 };
        },
        setTarget: async () => {
          throw new Error("observation never writes");
        },
      },
    };
    return { network, reads };
  }

  const atDr: Traffic = { state: "known", ...AT_DR, site: "dr", readAt: 100_000 };

  it("reuses a reading younger than recordsRefreshSeconds that points at the leader", async () => {
    const { network, reads } = counting();
    const o = await observe(network, settings, () => 100_000 + 14_999, atDr);
    expect(reads).toEqual([]);
    expect(o.traffic).toBe(atDr);
  });

  it("reads again once the reading is recordsRefreshSeconds old", async () => {
    const { network, reads } = counting();
    const o = await observe(network, settings, () => 100_000 + 15_000, atDr);
    expect(reads).toEqual(["A", "AAAA"]);
    expect(o.traffic).toMatchObject({ site: "primary", readAt: 115_000 });
  });

  it("reads again at once when the reading does not point at the leader, or was unknown", async () => {
    const { network, reads } = counting();
    await observe(network, settings, () => 100_001, { ...atDr, site: "primary" });
    await observe(network, settings, () => 100_001, { state: "unknown", reason: "x" });
    expect(reads).toEqual(["A", "AAAA", "A", "AAAA"]);
  });

  it("reads every time with recordsRefreshSeconds 0", async () => {
    const { network, reads } = counting();
    await observe(network, followerSettings({ recordsRefreshSeconds: 0 }), () => 100_000, atDr);
    expect(reads).toHaveLength(2);
  });
});

describe("the leader rule on its own", () => {
  it("follows a view that names a leader while the other names none", () => {
    const r = agreeOnLeader({ primary: viewOf(cluster(undefined)), dr: viewOf(cluster("dr")) });
    expect(r).toMatchObject({ site: "dr", why: "named by dr" });
  });

  it("refuses a leader that is neither member, and an answer that is not a cluster", () => {
    const stranger = { members: [{ name: "pg-3", role: "leader", state: "running" }] };
    expect(agreeOnLeader({ primary: viewOf(stranger), dr: viewOf(stranger) })).toMatchObject({
      site: undefined,
      why: 'the leader "pg-3" is neither primary nor dr',
    });
    expect(viewOf({ error: "x" })).toEqual({ state: "failed", reason: "the answer has no members list" });
    expect(viewOf(null)).toEqual({ state: "failed", reason: "the answer has no members list" });
  });
});
