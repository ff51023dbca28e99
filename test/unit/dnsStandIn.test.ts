import { beforeAll, describe, expect, it } from "vitest";
import { baseConfig } from "../../evaluation/configs";
import { evaluateStack, type Evaluation } from "../../evaluation/evaluate";
import type { RecordedResource } from "../../evaluation/mocks";
import { labAddressPlan } from "../../lab/addressPlan";
import { renderKnotConfig, renderUnboundConfig } from "../../lab/standins/dnsConfig";
import { digArgv, parseDigJson } from "../../lab/standins/dnsQuery";
import {
  applyChanges,
  linodeTtl,
  renderZone,
  soaMailbox,
  zoneChanges,
  zoneModel,
} from "../../lab/standins/dnsZone";
import { RESOURCE_TYPE } from "../../components/resourceTypes";

const NS = { nameserver: { name: "ns1", address: "192.0.2.53" }, serial: 1 };

let primary: Evaluation;
let dr: Evaluation;

async function evaluateDr(overrides: Record<string, string> = {}): Promise<Evaluation> {
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
}, 120_000);

function domain(id: string, inputs: Record<string, unknown> = {}): RecordedResource {
  const all = {
    domain: "example.com",
    type: "master",
    soaEmail: "hostmaster@example.com",
    ttlSec: 300,
    ...inputs,
  };
  return { type: RESOURCE_TYPE.domain, name: "zone", id, inputs: all, state: all };
}

function record(name: string, inputs: Record<string, unknown>): RecordedResource {
  const all = { domainId: 7, name: "app", recordType: "A", target: "198.51.100.5", ttlSec: 30, ...inputs };
  return { type: RESOURCE_TYPE.domainRecord, name, id: "1", inputs: all, state: all };
}

describe("renderZone (the program's zone as Linode DNS Manager serves it)", () => {
  it("serves the Domain and every DomainRecord of both stacks with their TTLs", () => {
    expect(renderZone([primary.resources, dr.resources], NS)).toBe(
      [
        "$ORIGIN example.com.",
        "@ 300 IN SOA ns1.example.com. hostmaster.example.com. 1 14400 14400 1209600 300",
        "@ 300 IN NS ns1.example.com.",
        "ns1 300 IN A 192.0.2.53",
        "app 30 IN A 198.51.100.5",
        "app 30 IN AAAA 2001:db8:a::5",
        "dr.app 30 IN A 203.0.113.5",
        "dr.app 30 IN AAAA 2001:db8:b::5",
        "primary.app 30 IN A 198.51.100.5",
        "primary.app 30 IN AAAA 2001:db8:a::5",
        "",
      ].join("\n"),
    );
  });

  it("is the same text whatever order the stacks and resources come in", () => {
    const reversed = [[...dr.resources].reverse(), [...primary.resources].reverse()];
    expect(renderZone(reversed, NS)).toBe(renderZone([primary.resources, dr.resources], NS));
  });

  it("gives the SOA's TTL and negative-caching minimum the Domain's default TTL, as Linode does", () => {
    const zone = renderZone([[domain("7", { ttlSec: 3600 }), record("r", { ttlSec: 0 })]], NS);
    expect(zone).toContain(
      "@ 3600 IN SOA ns1.example.com. hostmaster.example.com. 1 14400 14400 1209600 3600\n",
    );
    // A record TTL of 0 means the Domain's default.
    expect(zone).toContain("app 3600 IN A 198.51.100.5\n");
  });

  it("rounds TTLs up to the values Linode accepts, and 0 on the Domain means 86400", () => {
    expect(linodeTtl(45, 300)).toBe(120);
    expect(linodeTtl(30, 300)).toBe(30);
    expect(linodeTtl(0, 300)).toBe(300);
    expect(() => linodeTtl(3_000_000, 300)).toThrow(/largest/);
    const model = zoneModel([[domain("7", { ttlSec: 0, refreshSec: 100 }), record("r", { ttlSec: 45 })]]);
    expect(model).toMatchObject({ ttl: 86400, refresh: 120, retry: 14400, expire: 1209600 });
    expect(model.records[0].ttl).toBe(120);
  });

  it("refuses a record whose domainId matches no Domain", () => {
    expect(() => zoneModel([[domain("7"), record("stray", { domainId: 8 })]])).toThrow(
      /DomainRecord stray has domainId 8, which matches no Domain/,
    );
  });

  it("refuses what it cannot serve faithfully", () => {
    expect(() => zoneModel([[record("r", {})]])).toThrow(/declare 0/);
    expect(() => zoneModel([[domain("7"), domain("8")]])).toThrow(/declare 2/);
    expect(() => zoneModel([[domain("7"), record("r", { recordType: "CNAME", target: "x" })]])).toThrow(
      /A and AAAA only/,
    );
    expect(() => zoneModel([[domain("7"), record("r", { target: "2001:db8::1" })]])).toThrow(
      /not an A target/,
    );
    expect(() =>
      zoneModel([[domain("7"), record("a", {}), record("b", { target: "198.51.100.6" })]]),
    ).toThrow(/two DomainRecords named "app" of type A/);
    expect(() => renderZone([[domain("7"), record("r", { name: "ns1" })]], NS)).toThrow(/nameserver/);
    expect(() => renderZone([[domain("7")]], { ...NS, serial: 0 })).toThrow(/serial/);
  });

  it("writes the SOA mailbox with the local part's dots escaped", () => {
    expect(soaMailbox("dns.admin@example.com")).toBe("dns\\.admin.example.com.");
    expect(() => soaMailbox("example.com")).toThrow(/local part/);
  });
});

describe("zoneChanges (what a later `pulumi up` changes in the zone)", () => {
  it("failover moves only the traffic records' targets", async () => {
    const failover = await evaluateDr({ failover: "true" });
    const before = zoneModel([primary.resources, dr.resources]);
    const after = zoneModel([primary.resources, failover.resources]);
    const changes = zoneChanges(before, after);
    expect(changes).toEqual([
      { kind: "set", record: { name: "app", type: "A", target: "203.0.113.5", ttl: 30 } },
      { kind: "set", record: { name: "app", type: "AAAA", target: "2001:db8:b::5", ttl: 30 } },
    ]);
    expect(applyChanges(before, changes)).toEqual(after);
  });

  it("finds new, changed and removed records; refuses Domain changes", () => {
    const before = zoneModel([[domain("7"), record("a", {}), record("b", { name: "old" })]]);
    const after = zoneModel([[domain("7"), record("a", { ttlSec: 120 }), record("c", { name: "new" })]]);
    expect(zoneChanges(before, after)).toEqual([
      { kind: "delete", name: "old", type: "A" },
      { kind: "set", record: { name: "app", type: "A", target: "198.51.100.5", ttl: 120 } },
      { kind: "set", record: { name: "new", type: "A", target: "198.51.100.5", ttl: 30 } },
    ]);
    expect(zoneChanges(before, before)).toEqual([]);
    expect(() => zoneChanges(before, zoneModel([[domain("7", { ttlSec: 30 })]]))).toThrow(
      /Domain ttl changed/,
    );
  });
});

describe("daemon configurations", () => {
  const knot = {
    address: "192.0.2.53",
    port: 53,
    zone: "example.com",
    zoneDir: "/s/zones",
    stateDir: "/s/knot",
    controlSocket: "/s/knot.sock",
  };

  it("Knot listens on the one address, serves the one zone, never rewrites the rendered zone file", () => {
    const text = renderKnotConfig(knot);
    expect(text.match(/listen: .*/g)).toEqual(["listen: 192.0.2.53@53", 'listen: "/s/knot.sock"']);
    expect(text).toContain('  - domain: "example.com."\n');
    expect(text).toContain("zonefile-sync: -1\n");
    expect(text).toContain("serial-policy: increment\n");
    expect(text).not.toMatch(/^ *user:/m);
    expect(renderKnotConfig(knot)).toBe(text);
    expect(() => renderKnotConfig({ ...knot, address: "::1" })).toThrow(/not IPv4/);
    expect(() => renderKnotConfig({ ...knot, zoneDir: '/s/"x' })).toThrow(/quote/);
  });

  it("Unbound sends the zone to the stand-in, refuses other names, validates nothing, keeps TTLs", () => {
    const options = {
      listen: "127.0.0.1",
      outgoing: "192.0.2.10",
      zone: "example.com",
      authoritative: { address: "192.0.2.53", port: 53 },
      directory: "/s",
      pidFile: "/s/unbound.pid",
    };
    const text = renderUnboundConfig(options);
    expect(text).toContain("    interface: 127.0.0.1\n");
    expect(text).toContain("    outgoing-interface: 192.0.2.10\n");
    expect(text).toContain('stub-zone:\n    name: "example.com."\n    stub-addr: 192.0.2.53@53\n');
    expect(text).toContain('    local-zone: "." refuse\n    local-zone: "example.com." transparent\n');
    expect(text).toContain('    module-config: "iterator"\n');
    expect(text).not.toMatch(/cache-(min|max)-ttl|prefetch:|serve-expired:|trust-anchor/);
    expect(text).toContain("control-enable: no");
    // With a socket, control is a local Unix socket only (the drill's reset flushes the cache).
    const controlled = renderUnboundConfig({ ...options, controlSocket: "/s/unbound.ctl" });
    expect(controlled).toContain(
      'remote-control:\n    control-enable: yes\n    control-interface: "/s/unbound.ctl"\n',
    );
  });
});

describe("kdig queries", () => {
  it("asks one server once, over UDP or TCP, for JSON", () => {
    expect(digArgv("192.0.2.53", "app.example.com", "A", { tcp: true })).toEqual([
      "kdig",
      "@192.0.2.53",
      "-p",
      "53",
      "+tcp",
      "+retry=0",
      "+time=2",
      "+json",
      "app.example.com",
      "A",
    ]);
  });

  it("reads kdig's RFC 8427 JSON: status, answers with TTLs, negative answers' SOA", () => {
    const answer = parseDigJson(
      JSON.stringify({
        RCODE: 3,
        AA: 1,
        answerRRs: [],
        authorityRRs: [
          {
            NAME: "Example.com.",
            TYPE: 6,
            TYPEname: "SOA",
            TTL: 300,
            rdataSOA: "ns1.example.com. hostmaster.example.com. 2 14400 14400 1209600 300",
          },
        ],
      }),
    );
    expect(answer).toEqual({
      status: "NXDOMAIN",
      authoritative: true,
      answers: [],
      authority: [
        {
          name: "example.com",
          type: "SOA",
          ttl: 300,
          data: "ns1.example.com. hostmaster.example.com. 2 14400 14400 1209600 300",
        },
      ],
    });
    expect(
      parseDigJson(
        '{"RCODE":0,"answerRRs":[{"NAME":"app.example.com.","TYPEname":"A","TTL":30,"rdataA":"198.51.100.5"}]}',
      ).answers,
    ).toEqual([{ name: "app.example.com", type: "A", ttl: 30, data: "198.51.100.5" }]);
    expect(() => parseDigJson(";; connection timed out")).toThrow(/no JSON/);
  });
});
