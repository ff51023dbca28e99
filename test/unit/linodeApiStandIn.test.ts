import { beforeAll, describe, expect, it } from "vitest";
import { RESOURCE_TYPE } from "../../components/resourceTypes";
import { baseConfig } from "../../evaluation/configs";
import { evaluateStack, type Evaluation } from "../../evaluation/evaluate";
import type { RecordedResource } from "../../evaluation/mocks";
import { labAddressPlan } from "../../lab/addressPlan";
import {
  failureFrom,
  handleApiRequest,
  type AcceptedChange,
  type ApiRequest,
  type ApiState,
} from "../../lab/standins/linodeApiHandler";
import { apiDomain, apiTime } from "../../lab/standins/linodeApiRecords";
import { allows, parseScopes } from "../../lab/standins/linodeApiScopes";
import { drResourceNames } from "../../stacks/resourceNames";

const T0 = Date.UTC(2026, 0, 2, 3, 4, 5);
const RW = "rw-token";
const RO = "ro-token";
const ALL = "star-token";
const LINODES = "linodes-token";
const TOKENS = {
  [RW]: "domains:read_write",
  [RO]: "linodes:read_write,domains:read_only",
  [ALL]: "*",
  [LINODES]: "linodes:read_write",
};

function domain(id: string, ttlSec = 300): RecordedResource {
  const inputs = { domain: "example.com", type: "master", soaEmail: "hostmaster@example.com", ttlSec };
  return { type: RESOURCE_TYPE.domain, name: "zone", id, inputs, state: inputs };
}

function record(id: string, name: string, recordType: string, target: string, ttlSec = 30): RecordedResource {
  const inputs = { domainId: 7, name, recordType, target, ttlSec };
  return { type: RESOURCE_TYPE.domainRecord, name: `${name}-${recordType}`, id, inputs, state: inputs };
}

function resources(): RecordedResource[] {
  return [
    domain("7"),
    record("12", "app", "AAAA", "2001:db8:a::5"),
    record("11", "app", "A", "198.51.100.5"),
    record("13", "dr.app", "A", "203.0.113.5", 0),
  ];
}

function state(): ApiState {
  return { domain: apiDomain([resources()], T0), tokens: TOKENS };
}

function call(
  s: ApiState,
  method: string,
  url: string,
  options: { token?: string; body?: unknown; now?: number } = {},
) {
  const request: ApiRequest = {
    method,
    url,
    authorization: options.token === undefined ? undefined : `Bearer ${options.token}`,
    body:
      options.body === undefined
        ? ""
        : typeof options.body === "string"
          ? options.body
          : JSON.stringify(options.body),
  };
  const outcome = handleApiRequest(s, request, options.now ?? T0 + 1000);
  return { ...outcome, json: JSON.parse(outcome.response.body) as Record<string, any> };
}

const RECORDS = "/v4/domains/7/records";

describe("the Linode API stand-in's records, seeded from the program's resources", () => {
  it("holds every DomainRecord with its numeric id, ordered by id, ttl_sec as the API stores it", () => {
    const seeded = apiDomain(
      [[domain("7"), record("5", "a", "A", "198.51.100.5", 31), record("4", "b", "A", "198.51.100.6", 0)]],
      T0,
    );
    expect(seeded).toEqual({
      domain: "example.com",
      id: 7,
      ttl: 300,
      records: [
        { id: 4, name: "b", type: "A", target: "198.51.100.6", ttl_sec: 0, created: T0, updated: T0 },
        { id: 5, name: "a", type: "A", target: "198.51.100.5", ttl_sec: 120, created: T0, updated: T0 },
      ],
    });
    expect(apiTime(T0)).toBe("2026-01-02T03:04:05");
  });

  it("refuses ids the API could not have and a zone the DNS stand-in would refuse", () => {
    expect(() => apiDomain([[domain("7"), record("x1", "a", "A", "198.51.100.5")]], T0)).toThrow(
      'DomainRecord a-A has id "x1"; the API\'s ids are positive integers',
    );
    expect(() =>
      apiDomain(
        [[domain("7"), record("3", "a", "A", "198.51.100.5"), record("3", "b", "A", "198.51.100.6")]],
        T0,
      ),
    ).toThrow("two DomainRecords have id 3");
    expect(() => apiDomain([[record("3", "a", "A", "198.51.100.5")]], T0)).toThrow("the stacks declare 0");
  });

  describe("from the program's evaluation", () => {
    let primary: Evaluation;
    let dr: Evaluation;

    beforeAll(async () => {
      const addressPlan = labAddressPlan();
      primary = await evaluateStack({ stack: "primary", config: baseConfig("primary"), addressPlan });
      dr = await evaluateStack({
        stack: "dr",
        config: baseConfig("dr"),
        addressPlan,
        stackOutputs: {
          "acme/linode-dr/primary": {
            outputs: primary.outputs,
            secretOutputNames: [...primary.secretOutputs],
          },
        },
      });
    }, 120_000);

    it("serves both stacks' records under the Domain's id, the traffic records among them", () => {
      const seeded = apiDomain([primary.resources, dr.resources], T0);
      const zone = primary.ofType(RESOURCE_TYPE.domain)[0];
      expect(seeded.id).toBe(Number(zone.id));
      expect(seeded.records).toHaveLength(
        [...primary.resources, ...dr.resources].filter((r) => r.type === RESOURCE_TYPE.domainRecord).length,
      );
      const traffic = dr.byName(drResourceNames().traffic.a);
      expect(seeded.records.find((r) => r.id === Number(traffic.id))).toMatchObject({
        name: "app",
        type: "A",
        target: "198.51.100.5",
        ttl_sec: 30,
      });
    });
  });
});

describe("token scopes in Linode's format", () => {
  it("reads *, comma-separated and space-separated lists; read_write includes read_only", () => {
    expect(parseScopes("*")).toBe("*");
    const scopes = parseScopes("linodes:read_only, domains:read_write");
    expect(allows(scopes, "domains", "read_only")).toBe(true);
    expect(allows(scopes, "domains", "read_write")).toBe(true);
    expect(allows(scopes, "linodes", "read_write")).toBe(false);
    expect(allows(parseScopes("domains:read_write domains:read_only"), "domains", "read_write")).toBe(true);
    expect(allows(parseScopes("*"), "domains", "read_write")).toBe(true);
  });

  it("refuses what is not a Linode scope", () => {
    for (const bad of [
      "",
      "domain:read_write",
      "domains:write",
      "domains",
      "domains:read_only:x",
      "*,domains:read_only",
    ])
      expect(() => parseScopes(bad), bad).toThrow();
  });
});

describe("the Linode API stand-in's requests (pure handler)", () => {
  it("lists records in the pagination envelope, 25 to 500 a page", () => {
    const list = call(state(), "GET", RECORDS, { token: RO });
    expect(list.response.status).toBe(200);
    expect(list.response.headers["content-type"]).toBe("application/json");
    expect(list.json).toEqual({
      data: [
        expect.objectContaining({ id: 11 }),
        expect.objectContaining({ id: 12 }),
        expect.objectContaining({ id: 13 }),
      ],
      page: 1,
      pages: 1,
      results: 3,
    });
    const many: ApiState = {
      ...state(),
      domain: apiDomain(
        [
          [
            domain("7"),
            ...Array.from({ length: 30 }, (_, i) => record(String(100 + i), `n${i}`, "A", "198.51.100.9")),
          ],
        ],
        T0,
      ),
    };
    const second = call(many, "GET", `${RECORDS}?page=2&page_size=25`, { token: RO });
    expect(second.json).toMatchObject({ page: 2, pages: 2, results: 30 });
    expect(second.json.data.map((r: { id: number }) => r.id)).toEqual([125, 126, 127, 128, 129]);
    const bad = call(many, "GET", `${RECORDS}?page=0&page_size=10`, { token: RO });
    expect(bad.response.status).toBe(400);
    expect(bad.json.errors).toEqual([
      { field: "page", reason: expect.any(String) },
      { field: "page_size", reason: "page_size must be from 25 to 500" },
    ]);
  });

  it("views one record as the spec's DomainRecord, with the token's scopes in the headers", () => {
    const view = call(state(), "GET", `${RECORDS}/11`, { token: RO });
    expect(view.response.status).toBe(200);
    expect(view.json).toEqual({
      id: 11,
      type: "A",
      name: "app",
      target: "198.51.100.5",
      priority: 0,
      weight: 0,
      port: 0,
      service: null,
      protocol: null,
      tag: null,
      ttl_sec: 30,
      created: "2026-01-02T03:04:05",
      updated: "2026-01-02T03:04:05",
    });
    expect(view.response.headers["x-oauth-scopes"]).toBe(TOKENS[RO]);
    expect(view.response.headers["x-accepted-oauth-scopes"]).toBe("domains:read_only");
    expect(view.scopes).toBe(TOKENS[RO]);
    expect(call(state(), "GET", `/v4beta/domains/7/records/11/`, { token: ALL }).response.status).toBe(200);
  });

  it("answers 404 for an unknown domain, record or path and 405 for other methods", () => {
    for (const url of [
      "/v4/domains/8/records",
      `${RECORDS}/99`,
      "/v4/domains/7",
      "/v4/linode/instances",
      `${RECORDS}/x`,
    ]) {
      const answer = call(state(), "GET", url, { token: RW });
      expect(answer.response.status, url).toBe(404);
      expect(answer.json, url).toEqual({ errors: [{ reason: "Not found" }] });
    }
    const post = call(state(), "POST", RECORDS, { token: RW, body: { type: "A" } });
    expect(post.response.status).toBe(405);
    expect(post.response.headers.allow).toBe("GET");
    const del = call(state(), "DELETE", `${RECORDS}/11`, { token: RW });
    expect(del.response.status).toBe(405);
    expect(del.response.headers.allow).toBe("GET, PUT");
  });

  it("answers 401 without a known bearer token, and 401 to a token whose scopes do not cover the method", () => {
    for (const authorization of [undefined, "Bearer nope", `Basic ${RW}`, "Bearer"]) {
      const answer = handleApiRequest(
        state(),
        { method: "GET", url: `${RECORDS}/11`, authorization, body: "" },
        T0,
      );
      expect(answer.response.status, authorization).toBe(401);
      expect(JSON.parse(answer.response.body)).toEqual({ errors: [{ reason: "Invalid Token" }] });
      expect(answer.scopes).toBeUndefined();
    }
    const notAuthorized = {
      errors: [{ reason: "Your OAuth token is not authorized to use this endpoint." }],
    };
    const readOnlyPut = call(state(), "PUT", `${RECORDS}/11`, { token: RO, body: { target: "203.0.113.5" } });
    expect(readOnlyPut.response.status).toBe(401);
    expect(readOnlyPut.json).toEqual(notAuthorized);
    expect(readOnlyPut.response.headers["x-accepted-oauth-scopes"]).toBe("domains:read_write");
    expect(readOnlyPut.change).toBeUndefined();
    expect(readOnlyPut.state.domain.records.find((r) => r.id === 11)?.target).toBe("198.51.100.5");
    const otherArea = call(state(), "GET", RECORDS, { token: LINODES });
    expect(otherArea.response.status).toBe(401);
    expect(otherArea.json).toEqual(notAuthorized);
    expect(
      call(state(), "PUT", `${RECORDS}/11`, { token: ALL, body: { target: "203.0.113.5" } }).response.status,
    ).toBe(200);
  });

  it("updates target and ttl_sec, stamps updated, and hands the change on with the TTL the nameservers serve", () => {
    const before = state();
    const put = call(before, "PUT", `${RECORDS}/11`, {
      token: RW,
      body: { target: "203.0.113.5" },
      now: T0 + 61_000,
    });
    expect(put.response.status).toBe(200);
    expect(put.json).toMatchObject({
      id: 11,
      target: "203.0.113.5",
      ttl_sec: 30,
      updated: "2026-01-02T03:05:06",
    });
    expect(put.change).toEqual({
      recordId: 11,
      name: "app",
      type: "A",
      target: "203.0.113.5",
      ttl: 30,
      acceptedAt: T0 + 61_000,
    });
    expect(call(put.state, "GET", `${RECORDS}/11`, { token: RO }).json.target).toBe("203.0.113.5");
    expect(before.domain.records.find((r) => r.id === 11)?.target).toBe("198.51.100.5");

    // ttl_sec off Linode's table is rounded up; 0 is served with the Domain's default (300 s).
    const rounded = call(before, "PUT", `${RECORDS}/12`, {
      token: RW,
      body: { target: "2001:db8:b::5", ttl_sec: 31 },
    });
    expect(rounded.json).toMatchObject({ target: "2001:db8:b::5", ttl_sec: 120 });
    expect(rounded.change).toMatchObject({ type: "AAAA", ttl: 120 });
    const zero = call(before, "PUT", `${RECORDS}/11`, { token: RW, body: { ttl_sec: 0 } });
    expect(zero.json.ttl_sec).toBe(0);
    expect(zero.change).toMatchObject({ target: "198.51.100.5", ttl: 300 });

    // The same values again: accepted, nothing to publish.
    const same = call(before, "PUT", `${RECORDS}/11`, {
      token: RW,
      body: { target: "198.51.100.5", ttl_sec: 30 },
    });
    expect(same.response.status).toBe(200);
    expect(same.change).toBeUndefined();
    expect(same.json.updated).toBe("2026-01-02T03:04:05");
  });

  it("refuses a bad update with every problem by field, and changes nothing", () => {
    const bad = call(state(), "PUT", `${RECORDS}/11`, {
      token: RW,
      body: { target: "2001:db8:b::5", ttl_sec: 2419201, name: "www", colour: "blue" },
    });
    expect(bad.response.status).toBe(400);
    expect(bad.json.errors).toEqual([
      { field: "target", reason: "target must be an IPv4 address for an A record" },
      { field: "ttl_sec", reason: "ttl_sec must be a whole number of seconds from 0 to 2419200" },
      { field: "name", reason: "the lab's API stand-in does not update name; it updates target and ttl_sec" },
      { field: "colour", reason: "colour is not a field of a Domain Record update" },
    ]);
    expect(bad.change).toBeUndefined();
    expect(
      call(state(), "PUT", `${RECORDS}/12`, { token: RW, body: { target: "203.0.113.5" } }).json.errors,
    ).toEqual([{ field: "target", reason: "target must be an IPv6 address for an AAAA record" }]);
    for (const body of ["{", "[]", '"x"', { ttl_sec: "30" }, { ttl_sec: -1 }, { ttl_sec: 30.5 }])
      expect(
        call(state(), "PUT", `${RECORDS}/11`, { token: RW, body }).response.status,
        JSON.stringify(body),
      ).toBe(400);
  });

  it("keeps a change log: each accepted change in order, with when it was accepted", () => {
    let s = state();
    const changes: AcceptedChange[] = [];
    const steps: [number, unknown][] = [
      [11, { target: "203.0.113.5" }],
      [12, { target: "2001:db8:b::5" }],
      [11, { target: "203.0.113.5" }],
      [11, { target: "198.51.100.5" }],
    ];
    for (const [index, [id, body]] of steps.entries()) {
      const outcome = call(s, "PUT", `${RECORDS}/${id}`, { token: RW, body, now: T0 + index });
      s = outcome.state;
      if (outcome.change) changes.push(outcome.change);
    }
    expect(changes.map((c) => [c.recordId, c.target, c.acceptedAt])).toEqual([
      [11, "203.0.113.5", T0],
      [12, "2001:db8:b::5", T0 + 1],
      [11, "198.51.100.5", T0 + 3],
    ]);
  });

  it("answers an injected 429 with Retry-After for the next N requests, whatever they are, then serves again", () => {
    let s: ApiState = {
      ...state(),
      failure: failureFrom({ status: 429, retryAfterSeconds: 7, requests: 2 }, T0),
    };
    for (const request of [
      ["GET", `${RECORDS}/11`, RW],
      ["PUT", `${RECORDS}/11`, undefined],
    ] as const) {
      const answer = call(s, request[0], request[1], { token: request[2], body: { target: "203.0.113.5" } });
      expect(answer.response.status).toBe(429);
      expect(answer.response.headers["retry-after"]).toBe("7");
      expect(answer.json).toEqual({ errors: [{ reason: "Too Many Requests" }] });
      expect(answer.change).toBeUndefined();
      s = answer.state;
    }
    expect(s.failure).toBeUndefined();
    expect(call(s, "GET", `${RECORDS}/11`, { token: RW }).response.status).toBe(200);
  });

  it("answers an injected 503 for a time window, then serves again", () => {
    const s: ApiState = { ...state(), failure: failureFrom({ status: 503, forMs: 5000 }, T0) };
    const during = call(s, "GET", RECORDS, { token: RW, now: T0 + 4999 });
    expect(during.response.status).toBe(503);
    expect(during.response.headers["retry-after"]).toBeUndefined();
    expect(during.json).toEqual({ errors: [{ reason: "Service Unavailable" }] });
    expect(during.scopes).toBe(TOKENS[RW]);
    expect(call(during.state, "GET", RECORDS, { token: RW, now: T0 + 4999 }).response.status).toBe(503);
    const after = call(during.state, "GET", RECORDS, { token: RW, now: T0 + 5000 });
    expect(after.response.status).toBe(200);
    expect(after.state.failure).toBeUndefined();
  });

  it("takes only failures Linode could answer, lasting a count or a time", () => {
    expect(() => failureFrom({ status: 404, requests: 1 }, T0)).toThrow("429 or 5xx");
    expect(() => failureFrom({ status: 429, requests: 1 }, T0)).toThrow("a 429 needs retryAfterSeconds");
    expect(() => failureFrom({ status: 503 }, T0)).toThrow("not both or neither");
    expect(() => failureFrom({ status: 503, requests: 1, forMs: 1 }, T0)).toThrow("not both or neither");
    expect(() => failureFrom({ status: 503, requests: 0 }, T0)).toThrow("positive integer");
    expect(failureFrom({ status: 502, forMs: 10 }, T0)).toEqual({
      status: 502,
      retryAfterSeconds: undefined,
      untilMs: T0 + 10,
    });
  });
});
