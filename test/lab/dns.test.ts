import { existsSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cidrContains, DOCUMENTATION_RANGES, parseCidr } from "../../lab/addresses";
import { Host } from "../../lab/hosts/host";
import { Lab } from "../../lab/hosts/lab";
import { setTimeout as sleep } from "node:timers/promises";
import { run } from "../../lab/process";
import { baseConfig } from "../../evaluation/configs";
import { evaluateStack, type Evaluation } from "../../evaluation/evaluate";
import { LAB_ADDRESSES, LAB_REGIONS, labAddressPlan } from "../../lab/addressPlan";
import { DnsStandIn } from "../../lab/standins/dns";
import { queryDns, type DnsAnswer } from "../../lab/standins/dnsQuery";
import { startResolver, type DnsResolver } from "../../lab/standins/dnsResolver";

/**
 * The DNS stand-in and a client's caching resolver in the third site, answering real queries
 * (kdig, and getaddrinfo through the client's resolv.conf) for the zone the program declares.
 * The publish delay is 1 s here (30 s by default) so the whole file runs in about 15 s.
 */

const DNS_ADDRESS = LAB_ADDRESSES.dns;
const PUBLISH_DELAY_MS = 1000;
const APP = "app.example.com";

let lab: Lab;
let primary: Evaluation;
let dr: Evaluation;
let drFailover: Evaluation;
let dnsHost: Host;
let client: Host;
let dns: DnsStandIn | undefined;
let resolver: DnsResolver | undefined;

function evaluateDr(overrides: Record<string, string> = {}): Promise<Evaluation> {
  return evaluateStack({
    stack: "dr",
    config: baseConfig("dr", overrides),
    addressPlan: labAddressPlan(),
    stackOutputs: {
      "acme/linode-dr/primary": { outputs: primary.outputs, secretOutputNames: [...primary.secretOutputs] },
    },
  });
}

beforeAll(async () => {
  primary = await evaluateStack({
    stack: "primary",
    config: baseConfig("primary"),
    addressPlan: labAddressPlan(),
  });
  dr = await evaluateDr();
  drFailover = await evaluateDr({ failover: "true" });
  lab = await Lab.create({ name: "hddns" });
  lab.addRegion("C", LAB_REGIONS.C.cidr);
  dnsHost = await lab.addHost({ name: "dns", region: "C", address: DNS_ADDRESS });
  client = await lab.addHost({ name: "client", region: "C", address: LAB_ADDRESSES.client });
  dns = await DnsStandIn.start(dnsHost, [primary.resources, dr.resources], {
    publishDelayMs: PUBLISH_DELAY_MS,
  });
  resolver = await startResolver(client, dns);
});

afterAll(async () => {
  await resolver?.stop();
  await dns?.stop();
  await lab?.destroy();
});

function direct(name: string, type: string, tcp = false): Promise<DnsAnswer> {
  return queryDns(client, DNS_ADDRESS, name, type, { tcp });
}

function viaResolver(name: string, type: string, tcp = false): Promise<DnsAnswer> {
  return queryDns(client, "127.0.0.1", name, type, { tcp });
}

function only(answer: DnsAnswer): { target: string; ttl: number } {
  expect(answer.status).toBe("NOERROR");
  expect(answer.answers).toHaveLength(1);
  return { target: answer.answers[0].data, ttl: answer.answers[0].ttl };
}

function standIn(): DnsStandIn {
  if (!dns) throw new Error("the DNS stand-in did not start");
  return dns;
}

describe("DNS stand-in (Knot) and a client's resolver (Unbound)", () => {
  it("answers the program's records with their TTLs (30 s traffic records) over UDP and TCP, directly and through the resolver", async () => {
    const expected: [string, string, string][] = [
      [APP, "A", "198.51.100.5"],
      [APP, "AAAA", "2001:db8:a::5"],
      ["primary.app.example.com", "A", "198.51.100.5"],
      ["primary.app.example.com", "AAAA", "2001:db8:a::5"],
      ["dr.app.example.com", "A", "203.0.113.5"],
      ["dr.app.example.com", "AAAA", "2001:db8:b::5"],
    ];
    for (const [name, type, target] of expected) {
      for (const tcp of [false, true]) {
        const answer = await direct(name, type, tcp);
        expect(answer.authoritative).toBe(true);
        expect(only(answer)).toEqual({ target, ttl: 30 });
        const cached = only(await viaResolver(name, type, tcp));
        expect(cached.target).toBe(target);
        expect(cached.ttl).toBeGreaterThan(0);
        expect(cached.ttl).toBeLessThanOrEqual(30);
      }
    }
    // A program on the client resolves through its resolv.conf, i.e. through the cache.
    const getent = await client.execOrThrow(["getent", "ahostsv4", APP]);
    expect(getent.stdout.split("\n")[0]).toMatch(/^198\.51\.100\.5\s/);
  });

  it("serves an SOA and NS naming the stand-in, and NXDOMAIN negatively cached for the Domain's TTL (300 s)", async () => {
    expect(only(await direct("example.com", "NS"))).toEqual({ target: "ns1.example.com.", ttl: 300 });
    expect(only(await direct("ns1.example.com", "A"))).toEqual({ target: DNS_ADDRESS, ttl: 300 });
    const missing = await direct("nothing.example.com", "A");
    expect(missing.status).toBe("NXDOMAIN");
    expect(missing.authority).toHaveLength(1);
    expect(missing.authority[0].ttl).toBe(300);
    expect(missing.authority[0].data).toMatch(
      /^ns1\.example\.com\. hostmaster\.example\.com\. \d+ 14400 14400 1209600 300$/,
    );
    expect((await viaResolver("nothing.example.com", "A")).status).toBe("NXDOMAIN");
    // The resolver contacts nothing but the stand-in: any other name is refused, not looked up.
    expect((await viaResolver("www.example.org", "A")).status).toBe("REFUSED");
  });

  it("publishes a change only after the publish delay, and the resolver serves the cached answer until its TTL (4 s, a record made through setRecord) expires", async () => {
    // A name of its own: the resolver already holds app.example.com for 30 s from the first test.
    const name = "short.app";
    const fqdn = "short.app.example.com";
    const ttl = 4;
    const before = standIn().serial;
    const shortTtl = await standIn().setRecord(name, "A", "198.51.100.5", ttl);
    expect(shortTtl.serial).toBeGreaterThan(before);
    expect(only(await direct(fqdn, "A"))).toEqual({ target: "198.51.100.5", ttl });

    const primedAt = Date.now();
    expect(only(await viaResolver(fqdn, "A")).target).toBe("198.51.100.5");

    // Watch the authoritative server while the change waits to be published.
    const seen: { at: number; target: string }[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        seen.push({ at: Date.now(), target: only(await direct(fqdn, "A")).target });
        await sleep(50);
      }
    })();
    const publication = await standIn().setRecord(name, "A", "203.0.113.5", ttl);
    watching = false;
    await watcher;

    const requestedAt = publication.requestedAt.getTime();
    const publishedAt = publication.publishedAt.getTime();
    expect(publishedAt - requestedAt).toBeGreaterThanOrEqual(PUBLISH_DELAY_MS);
    expect(publication.serial).toBe(shortTtl.serial + 1);
    expect(standIn().publications.at(-1)).toBe(publication);
    const early = seen.filter((s) => s.at < requestedAt + PUBLISH_DELAY_MS);
    expect(early.length).toBeGreaterThan(5);
    expect(early.every((s) => s.target === "198.51.100.5")).toBe(true);
    expect(only(await direct(fqdn, "A"))).toEqual({ target: "203.0.113.5", ttl });

    // Live at the authoritative server, but the client's resolver still has the old answer cached.
    const stale = only(await viaResolver(fqdn, "A"));
    expect(stale.target).toBe("198.51.100.5");
    expect(stale.ttl).toBeLessThan(ttl);
    let fresh: { target: string; ttl: number } | undefined;
    while (!fresh && Date.now() < primedAt + 10_000) {
      const answer = only(await viaResolver(fqdn, "A"));
      if (answer.target !== "198.51.100.5") fresh = answer;
      else await sleep(50);
    }
    const freshAt = Date.now();
    expect(fresh?.target).toBe("203.0.113.5");
    // Unbound counts TTLs in whole seconds: the entry may expire up to 1 s early, never later.
    expect(freshAt - primedAt).toBeGreaterThanOrEqual((ttl - 1) * 1000);
    expect(freshAt - primedAt).toBeLessThan((ttl + 1) * 1000 + 500);
  });

  it("keeps answering NXDOMAIN through the resolver for a record created after it was asked (negative TTL 300 s): failover records must exist in advance", async () => {
    const fqdn = "late.app.example.com";
    expect((await viaResolver(fqdn, "A")).status).toBe("NXDOMAIN");
    await standIn().setRecord("late.app", "A", "203.0.113.5", 30);
    expect(only(await direct(fqdn, "A"))).toEqual({ target: "203.0.113.5", ttl: 30 });
    const cached = await viaResolver(fqdn, "A");
    expect(cached.status).toBe("NXDOMAIN");
    expect(cached.authority[0].ttl).toBeGreaterThan(290);
  });

  it("applies a failover `pulumi up` of the dr stack: both traffic records move to the dr NodeBalancer with their 30 s TTL", async () => {
    const publication = await standIn().applyRecords([primary.resources, drFailover.resources]);
    expect(publication.changes).toEqual([
      { kind: "set", record: { name: "app", type: "A", target: "203.0.113.5", ttl: 30 } },
      { kind: "set", record: { name: "app", type: "AAAA", target: "2001:db8:b::5", ttl: 30 } },
    ]);
    expect(publication.publishedAt.getTime() - publication.requestedAt.getTime()).toBeGreaterThanOrEqual(
      PUBLISH_DELAY_MS,
    );
    expect(only(await direct(APP, "A", true))).toEqual({ target: "203.0.113.5", ttl: 30 });
    expect(only(await direct(APP, "AAAA"))).toEqual({ target: "2001:db8:b::5", ttl: 30 });
    // Records the program never declared (made through setRecord above) are not Pulumi's to delete.
    expect(only(await direct("short.app.example.com", "A")).target).toBe("203.0.113.5");
    expect(only(await direct("late.app.example.com", "A")).target).toBe("203.0.113.5");
    const unchanged = await standIn().applyRecords([primary.resources, drFailover.resources]);
    expect(unchanged.changes).toEqual([]);
    expect(unchanged.serial).toBe(publication.serial);
  });

  it("runs both daemons in the lab hosts' namespaces, listening on documentation addresses and loopback only", async () => {
    const ranges = DOCUMENTATION_RANGES.map(parseCidr);
    for (const [host, pid] of [
      [dnsHost, standIn().pid],
      [client, resolver?.pid ?? 0],
    ] as const) {
      const netns = await run(["ip", "netns", "identify", String(pid)]);
      expect(netns.stdout.trim()).toBe(host.netns);
      const listening = await host.execOrThrow(["ss", "-H", "-l", "-n", "-t", "-u"]);
      const locals = listening.stdout
        .trim()
        .split("\n")
        .map((line) => line.trim().split(/\s+/)[4]);
      expect(locals.length).toBeGreaterThan(0);
      for (const local of locals) {
        const address = local.slice(0, local.lastIndexOf(":"));
        const allowed = address.startsWith("127.") || ranges.some((range) => cidrContains(range, address));
        expect(allowed, `${host.name} listens on ${local}`).toBe(true);
      }
    }
  });

  it("stops the resolver by pid and gives the client back its resolv.conf", async () => {
    const running = resolver;
    if (!running) throw new Error("the resolver did not start");
    expect(await client.readFile("/etc/resolv.conf")).toMatch(/^nameserver 127\.0\.0\.1$/m);
    resolver = undefined;
    await running.stop();
    expect(existsSync(`/proc/${running.pid}`)).toBe(false);
    expect(await client.readFile("/etc/resolv.conf")).toBe(readFileSync("/etc/resolv.conf", "utf8"));
  });
});
