import { afterEach, describe, expect, it } from "vitest";
import {
  AUTH_HINT,
  LinodeApi,
  LinodeApiError,
  type ApiRetry,
  type LinodeApiOptions,
} from "../../../follower/src/linodeApi";
import { makeServerPki } from "../../../lab/tls";
import { json, startLocalServer, type Handler, type LocalServer } from "./localServer";

const TOKEN = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const RETRY: ApiRetry = { attempts: 4, baseMs: 1_000, maxMs: 8_000, maxRetryAfterSeconds: 30 };

function record(target: string, type = "A") {
  return { id: 501, type, name: "app", target, ttl_sec: 30, priority: 0, weight: 0, port: 0 };
}

let server: LocalServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A client of a local plain-HTTP API whose waits are recorded, not slept. */
async function apiWith(handler: Handler, change: Partial<LinodeApiOptions> = {}) {
  server = await startLocalServer(handler);
  const waits: number[] = [];
  const api = new LinodeApi({
    apiUrl: `http://127.0.0.1:${server.port}/v4/`,
    token: TOKEN,
    domainId: 1234,
    timeoutMs: 2_000,
    retry: RETRY,
    sleep: async (ms) => {
      waits.push(ms);
    },
    random: () => 0.5,
    ...change,
  });
  return { api, waits, seen: server.seen };
}

/** Answers each request with the next of `answers`, the last one for good. */
function inTurn(...answers: Handler[]): Handler {
  let i = 0;
  return (req, res) => answers[Math.min(i++, answers.length - 1)](req, res);
}

async function failure(promise: Promise<unknown>): Promise<LinodeApiError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(LinodeApiError);
  return error as LinodeApiError;
}

describe("LinodeApi", () => {
  it("reads a record: GET with the token as a Bearer, on the domain's record path", async () => {
    const { api, seen } = await apiWith((_req, res) => json(res, 200, record("198.51.100.5")));
    expect(await api.getRecord(501, "A")).toEqual({ target: "198.51.100.5", status: 200, attempts: 1 });
    expect(seen).toHaveLength(1);
    expect(seen[0].method).toBe("GET");
    expect(seen[0].url).toBe("/v4/domains/1234/records/501");
    expect(seen[0].headers.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it("updates a record's target: PUT of { target } as JSON, and returns the target the API now holds", async () => {
    const { api, seen } = await apiWith((req, res) =>
      json(res, 200, record(JSON.parse(req.body).target, "AAAA")),
    );
    expect(await api.setTarget(502, "AAAA", "2001:db8:b::5")).toEqual({
      target: "2001:db8:b::5",
      status: 200,
      attempts: 1,
    });
    expect(seen[0].method).toBe("PUT");
    expect(seen[0].url).toBe("/v4/domains/1234/records/502");
    expect(seen[0].headers["content-type"]).toBe("application/json");
    expect(JSON.parse(seen[0].body)).toEqual({ target: "2001:db8:b::5" });
  });

  it("retries a 5xx after a jittered exponential backoff, then succeeds", async () => {
    const { api, waits, seen } = await apiWith(
      inTurn(
        (_q, res) => json(res, 502, { errors: [{ reason: "Bad gateway" }] }),
        (_q, res) => json(res, 500, { errors: [{ reason: "Internal" }] }),
        (_q, res) => json(res, 200, record("203.0.113.5")),
      ),
    );
    expect(await api.setTarget(501, "A", "203.0.113.5")).toMatchObject({ status: 200, attempts: 3 });
    expect(seen).toHaveLength(3);
    // Half the ceiling plus half of it times random (0.5): 1 s then 2 s ceilings.
    expect(waits).toEqual([750, 1_500]);
  });

  it("gives up on 5xx after the bounded attempts, with the last status and the API's reason", async () => {
    const { api, waits, seen } = await apiWith((_q, res) =>
      json(res, 503, { errors: [{ reason: "Service unavailable" }] }),
    );
    const error = await failure(api.setTarget(501, "A", "203.0.113.5"));
    expect(seen).toHaveLength(4);
    expect(waits).toHaveLength(3);
    expect(error.status).toBe(503);
    expect(error.attempts).toBe(4);
    expect(error.message).toBe('PUT /domains/1234/records/501 (A): HTTP 503: "Service unavailable"');
  });

  it("caps the backoff at its maximum", async () => {
    const { api, waits } = await apiWith((_q, res) => json(res, 500, {}), {
      retry: { ...RETRY, attempts: 6, maxMs: 3_000 },
      random: () => 0.999,
    });
    await failure(api.getRecord(501, "A"));
    expect(waits.every((w) => w <= 3_000)).toBe(true);
    expect(waits.slice(-2)).toEqual([2_999, 2_999]);
  });

  it("waits for a 429's Retry-After seconds, bounded, before retrying", async () => {
    const { api, waits, seen } = await apiWith(
      inTurn(
        (_q, res) => json(res, 429, { errors: [{ reason: "Too many requests" }] }, { "retry-after": "7" }),
        (_q, res) => json(res, 429, { errors: [{ reason: "Too many requests" }] }, { "retry-after": "3600" }),
        (_q, res) => json(res, 200, record("203.0.113.5")),
      ),
    );
    expect(await api.getRecord(501, "A")).toMatchObject({ target: "203.0.113.5", attempts: 3 });
    expect(seen).toHaveLength(3);
    expect(waits).toEqual([7_000, 30_000]);
  });

  it("does not retry a 401: it names the likely cause and quotes the API, never the token", async () => {
    const { api, seen } = await apiWith((_q, res) =>
      json(res, 401, { errors: [{ reason: "Invalid Token" }] }),
    );
    const error = await failure(api.setTarget(501, "A", "203.0.113.5"));
    expect(seen).toHaveLength(1);
    expect(error.status).toBe(401);
    expect(error.message).toBe(`PUT /domains/1234/records/501 (A): HTTP 401: ${AUTH_HINT} ("Invalid Token")`);
    expect(AUTH_HINT).toBe("the token lacks the domains:read_write scope, or is revoked");
    expect(error.message).not.toContain(TOKEN.slice(0, 8));
  });

  it("does not retry a 403 either", async () => {
    const { api, seen } = await apiWith((_q, res) =>
      json(res, 403, { errors: [{ reason: "Unauthorized" }] }),
    );
    expect((await failure(api.setTarget(501, "A", "203.0.113.5"))).message).toContain(AUTH_HINT);
    expect(seen).toHaveLength(1);
  });

  it("does not retry another 4xx, and quotes each reason with its field", async () => {
    const { api, seen } = await apiWith((_q, res) =>
      json(res, 400, {
        errors: [{ reason: "Must be a valid IPv4 address", field: "target" }, { reason: "Bad" }],
      }),
    );
    const error = await failure(api.setTarget(501, "A", "not-an-ip"));
    expect(seen).toHaveLength(1);
    expect(error.message).toBe(
      'PUT /domains/1234/records/501 (A): HTTP 400: target: "Must be a valid IPv4 address"; "Bad"',
    );
  });

  it("says when an error answer is not the API's shape", async () => {
    const { api } = await apiWith((_q, res) => {
      res.writeHead(404, { "content-type": "text/html" });
      res.end("<html>not found</html>");
    });
    expect((await failure(api.getRecord(501, "A"))).message).toBe(
      "GET /domains/1234/records/501 (A): HTTP 404: no reason given",
    );
  });

  it("refuses a record of another type than asked: a wrong id must not pass for traffic", async () => {
    const { api, seen } = await apiWith((_q, res) => json(res, 200, record("app.example.net", "CNAME")));
    const error = await failure(api.getRecord(501, "A"));
    expect(seen).toHaveLength(1);
    expect(error.message).toBe(
      'GET /domains/1234/records/501 (A): HTTP 200 but the record is of type "CNAME", not A',
    );
  });

  it("times a request out, retries it, and reports no answer", async () => {
    const { api, seen, waits } = await apiWith(() => undefined, {
      timeoutMs: 150,
      retry: { ...RETRY, attempts: 2 },
    });
    const started = Date.now();
    const error = await failure(api.getRecord(501, "A"));
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    expect(seen).toHaveLength(2);
    expect(waits).toHaveLength(1);
    expect(error.status).toBeUndefined();
    expect(error.attempts).toBe(2);
    expect(error.message).toBe("GET /domains/1234/records/501 (A): no answer (no answer within 150 ms)");
  });

  it("speaks HTTPS, verifying the API's certificate by the URL's name", async () => {
    const pki = makeServerPki(["api.linode.test"]);
    server = await startLocalServer((_q, res) => json(res, 200, record("198.51.100.5")), pki.server);
    const options: LinodeApiOptions = {
      apiUrl: "https://api.linode.test/v4",
      token: TOKEN,
      domainId: 1234,
      timeoutMs: 2_000,
      retry: { ...RETRY, attempts: 1 },
      ca: pki.caCertPem,
      connectTo: { host: "127.0.0.1", port: server.port },
    };
    expect(await new LinodeApi(options).getRecord(501, "A")).toMatchObject({ target: "198.51.100.5" });
    expect(server.seen[0].headers.host).toBe("api.linode.test");

    const otherCa = makeServerPki(["api.linode.test"]).caCertPem;
    const refused = await failure(new LinodeApi({ ...options, ca: otherCa }).getRecord(501, "A"));
    expect(refused.message).toMatch(/no answer \(.*(certificate|self.signed).*\)/i);
    expect(server.seen).toHaveLength(1);
  });
});
