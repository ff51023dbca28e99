import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { baseConfig } from "../../evaluation/configs";
import { evaluateStack, type Evaluation } from "../../evaluation/evaluate";
import { LAB_ADDRESSES, LAB_REGIONS, labAddressPlan } from "../../lab/addressPlan";
import type { Host } from "../../lab/hosts/host";
import { Lab } from "../../lab/hosts/lab";
import { DnsStandIn } from "../../lab/standins/dns";
import { queryDns } from "../../lab/standins/dnsQuery";
import { LinodeApiStandIn } from "../../lab/standins/linodeApi";
import { trustLabCa } from "../../lab/tls";

/**
 * The Linode API stand-in and the DNS stand-in on one host of the third site, and a client that
 * trusts the lab's CA through its system store and moves the traffic record with curl, as the
 * traffic follower on the witness would. The publish delay is 1 s (30 s by default).
 */

const PUBLISH_DELAY_MS = 1000;
const RW = "follower-token-rw";
const RO = "auditor-token-ro";
const APP = "app.example.com";
const CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

let lab: Lab;
let client: Host;
let dns: DnsStandIn | undefined;
let api: LinodeApiStandIn | undefined;

beforeAll(async () => {
  const addressPlan = labAddressPlan();
  const primary: Evaluation = await evaluateStack({
    stack: "primary",
    config: baseConfig("primary"),
    addressPlan,
  });
  const dr = await evaluateStack({
    stack: "dr",
    config: baseConfig("dr"),
    addressPlan,
    stackOutputs: {
      "acme/linode-dr/primary": { outputs: primary.outputs, secretOutputNames: [...primary.secretOutputs] },
    },
  });
  lab = await Lab.create({ name: "apistand" });
  lab.addRegion("C", LAB_REGIONS.C.cidr);
  const services = await lab.addHost({ name: "services", region: "C", address: LAB_ADDRESSES.linodeApi });
  client = await lab.addHost({ name: "client", region: "C", address: LAB_ADDRESSES.client });
  const resources = [primary.resources, dr.resources];
  dns = await DnsStandIn.start(services, resources, {
    address: LAB_ADDRESSES.dns,
    publishDelayMs: PUBLISH_DELAY_MS,
  });
  api = await LinodeApiStandIn.start(services, resources, {
    dns,
    tokens: { [RW]: "domains:read_write", [RO]: "linodes:read_write,domains:read_only" },
  });
  await api.resolveOn(client);
});

afterAll(async () => {
  await api?.stop();
  await dns?.stop();
  await lab?.destroy();
});

function standIn(): LinodeApiStandIn {
  if (!api) throw new Error("the Linode API stand-in did not start");
  return api;
}

function recordPath(type: "A" | "AAAA" = "A"): string {
  return `/domains/${standIn().domain.id}/records/${standIn().recordId("app", type)}`;
}

interface CurlAnswer {
  /** curl's exit code: 0, 7 (refused), 60 (certificate not trusted), ... */
  code: number;
  status: number;
  retryAfter: string;
  body: string;
}

/** One API call from the client with its curl, verifying the server against the system store. */
async function curlApi(
  method: string,
  apiPath: string,
  options: { token?: string; json?: unknown } = {},
): Promise<CurlAnswer> {
  const argv = ["curl", "-sS", "--max-time", "5", "-X", method, "-w", "\n%{http_code} %header{retry-after}"];
  if (options.token) argv.push("-H", `Authorization: Bearer ${options.token}`);
  if (options.json !== undefined)
    argv.push("-H", "Content-Type: application/json", "--data", JSON.stringify(options.json));
  const result = await client.exec([...argv, `${standIn().url}${apiPath}`], { timeoutMs: 10_000 });
  const cut = result.stdout.lastIndexOf("\n");
  const [status, retryAfter = ""] = result.stdout.slice(cut + 1).split(" ");
  return {
    code: result.code,
    status: Number(status),
    retryAfter,
    body: result.stdout.slice(0, Math.max(cut, 0)),
  };
}

async function appTarget(): Promise<string> {
  const answer = await queryDns(client, LAB_ADDRESSES.dns, APP, "A");
  expect(answer.status).toBe("NOERROR");
  return answer.answers[0].data;
}

describe("Linode API stand-in (HTTPS, bearer tokens, changes published through the DNS stand-in)", () => {
  it("is trusted once trustLabCa installed the lab CA: by curl, and by node given NODE_EXTRA_CA_CERTS", async () => {
    expect((await curlApi("GET", recordPath(), { token: RW })).code).toBe(60);
    await trustLabCa(client, standIn().caCertPem);

    const viewed = await curlApi("GET", recordPath(), { token: RW });
    expect(viewed).toMatchObject({ code: 0, status: 200 });
    expect(JSON.parse(viewed.body)).toMatchObject({
      name: "app",
      type: "A",
      target: "198.51.100.5",
      ttl_sec: 30,
    });

    const script = [
      "const https = require('node:https');",
      `https.get(process.argv[1], { headers: { authorization: 'Bearer ${RW}' } }, (res) => {`,
      "  let body = ''; res.on('data', (c) => (body += c));",
      "  res.on('end', () => console.log(res.statusCode, JSON.parse(body).target));",
      "}).on('error', (e) => { console.log('error', e.code); });",
    ].join("\n");
    const url = `${standIn().url}${recordPath()}`;
    const trusting = await client.execOrThrow(["node", "-e", script, url], {
      env: { NODE_EXTRA_CA_CERTS: CA_BUNDLE },
    });
    expect(trusting.stdout.trim()).toBe("200 198.51.100.5");
    // Without it node trusts only its own bundle, as on a Linode.
    const bare = await client.execOrThrow(["node", "-e", script, url]);
    expect(bare.stdout.trim()).toMatch(/^error [A-Z_]+$/);
  });

  it("lists the Domain's records and moves the traffic A record: the API answers the new target at once, DNS after the publish delay", async () => {
    const list = await curlApi("GET", `/domains/${standIn().domain.id}/records`, { token: RO });
    expect(list.status).toBe(200);
    const page = JSON.parse(list.body) as {
      data: { id: number; name: string; type: string }[];
      results: number;
    };
    expect(page.results).toBe(page.data.length);
    expect(page.data.find((r) => r.name === "app" && r.type === "A")?.id).toBe(
      standIn().recordId("app", "A"),
    );
    expect(await appTarget()).toBe("198.51.100.5");

    const moved = await curlApi("PUT", recordPath(), { token: RW, json: { target: "203.0.113.5" } });
    expect(moved.status).toBe(200);
    expect(JSON.parse(moved.body)).toMatchObject({ target: "203.0.113.5", ttl_sec: 30 });
    expect(JSON.parse((await curlApi("GET", recordPath(), { token: RO })).body).target).toBe("203.0.113.5");
    expect(await appTarget()).toBe("198.51.100.5");

    const [change] = standIn().changes();
    expect(change).toMatchObject({ name: "app", type: "A", target: "203.0.113.5", ttl: 30 });
    expect(change.handedAt.getTime() - change.acceptedAt.getTime()).toBeLessThan(500);
    const publication = await change.publication;
    expect(publication.publishedAt.getTime() - change.acceptedAt.getTime()).toBeGreaterThanOrEqual(
      PUBLISH_DELAY_MS,
    );
    expect(await appTarget()).toBe("203.0.113.5");
  });

  it("refuses a read_only token's PUT and a request without a token with 401, and changes nothing", async () => {
    const readOnly = await curlApi("PUT", recordPath(), { token: RO, json: { target: "198.51.100.5" } });
    expect(readOnly.status).toBe(401);
    expect(JSON.parse(readOnly.body)).toEqual({
      errors: [{ reason: "Your OAuth token is not authorized to use this endpoint." }],
    });
    const anonymous = await curlApi("GET", recordPath());
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.body)).toEqual({ errors: [{ reason: "Invalid Token" }] });
    expect(standIn().changes()).toHaveLength(1);
  });

  it("answers 429 with Retry-After and 503 while injected, refuses connections while down, then 200 again", async () => {
    await standIn().injectFailure({ status: 429, retryAfterSeconds: 7, requests: 2 });
    for (let i = 0; i < 2; i++)
      expect(await curlApi("GET", recordPath(), { token: RW })).toMatchObject({
        status: 429,
        retryAfter: "7",
      });
    await standIn().injectFailure({ status: 503, forMs: 60_000 });
    expect((await curlApi("PUT", recordPath(), { token: RW, json: { target: "198.51.100.5" } })).status).toBe(
      503,
    );
    await standIn().clearFailure();
    await standIn().setAvailable(false);
    expect((await curlApi("GET", recordPath(), { token: RW })).code).toBe(7);
    await standIn().setAvailable(true);
    expect(await curlApi("GET", recordPath(), { token: RW })).toMatchObject({ status: 200, retryAfter: "" });
    await expect(standIn().injectFailure({ status: 429, requests: 1 })).rejects.toThrow(
      "a 429 needs retryAfterSeconds",
    );
  });

  it("logs every request it answered with the token's scopes, so a drill can say when each call happened", async () => {
    const log = standIn().requests();
    expect(log.map((r) => `${r.method} ${r.status}`)).toEqual([
      "GET 200",
      "GET 200",
      "GET 200",
      "PUT 200",
      "GET 200",
      "PUT 401",
      "GET 401",
      "GET 429",
      "GET 429",
      "PUT 503",
      "GET 200",
    ]);
    const put = log[3];
    expect(put).toMatchObject({ path: `/v4${recordPath()}`, scopes: "domains:read_write" });
    expect(Math.abs(put.at.getTime() - standIn().changes()[0].acceptedAt.getTime())).toBeLessThan(5);
    expect(log[6].scopes).toBeNull();
  });

  it("stops its server by pid", async () => {
    const running = standIn();
    api = undefined;
    await running.stop();
    expect(existsSync(`/proc/${running.pid}`)).toBe(false);
  });
});
