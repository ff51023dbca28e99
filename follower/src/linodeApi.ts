import { setTimeout as sleepFor } from "node:timers/promises";
import { backoffDelayMs, type Backoff } from "./backoff";
import { HttpFailure, httpRequest, type HttpRequest, type HttpResponse } from "./http";

/**
 * The two Linode API v4 calls the follower makes, on a domain's A and AAAA records:
 * GET and PUT /domains/{domainId}/records/{recordId} (schema DomainRecord; errors are
 * { errors: [{ reason, field }] }). The token needs the domains:read_write scope and nothing else.
 */

export type RecordType = "A" | "AAAA";

export interface ApiRetry extends Backoff {
  /** Requests per call at most, the first included. */
  attempts: number;
  /** A 429's Retry-After is honoured up to this. */
  maxRetryAfterSeconds: number;
}

/** A call ends within about 4 × timeout + 14 s of backoff, or 3 × 30 s while rate-limited. */
export const API_RETRY: ApiRetry = { attempts: 4, baseMs: 1_000, maxMs: 8_000, maxRetryAfterSeconds: 30 };

export interface RecordReply {
  /** The record's target as the API holds it (after a PUT: as it now holds it). */
  target: string;
  status: number;
  attempts: number;
}

/** A call that did not succeed: the HTTP status of the last answer (if any) and how often it tried. */
export class LinodeApiError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly attempts: number,
  ) {
    super(message);
    this.name = "LinodeApiError";
  }
}

export interface LinodeApiOptions {
  apiUrl: string;
  token: string;
  domainId: number;
  timeoutMs: number;
  retry?: ApiRetry;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Trust only this CA (a stand-in's); absent: Node's CAs, plus NODE_EXTRA_CA_CERTS if set. */
  ca?: string;
  connectTo?: HttpRequest["connectTo"];
}

/** What the loop needs from the API; tests give fakes. */
export interface RecordsApi {
  getRecord(recordId: number, type: RecordType): Promise<RecordReply>;
  setTarget(recordId: number, type: RecordType, target: string): Promise<RecordReply>;
}

export const AUTH_HINT = "the token lacks the domains:read_write scope, or is revoked";

export class LinodeApi implements RecordsApi {
  private readonly retry: ApiRetry;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;

  constructor(private readonly options: LinodeApiOptions) {
    this.retry = options.retry ?? API_RETRY;
    this.sleep = options.sleep ?? ((ms) => sleepFor(ms));
    this.random = options.random ?? Math.random;
  }

  getRecord(recordId: number, type: RecordType): Promise<RecordReply> {
    return this.call("GET", recordId, type);
  }

  setTarget(recordId: number, type: RecordType, target: string): Promise<RecordReply> {
    return this.call("PUT", recordId, type, JSON.stringify({ target }));
  }

  private async call(method: "GET" | "PUT", recordId: number, type: RecordType, body?: string) {
    const path = `/domains/${this.options.domainId}/records/${recordId}`;
    const what = `${method} ${path} (${type})`;
    const request: HttpRequest = {
      url: `${this.options.apiUrl.replace(/\/+$/, "")}${path}`,
      method,
      headers: {
        authorization: `Bearer ${this.options.token}`,
        accept: "application/json",
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      timeoutMs: this.options.timeoutMs,
      ca: this.options.ca,
      connectTo: this.options.connectTo,
      ...(body === undefined ? {} : { body }),
    };
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= this.retry.attempts;
      let response: HttpResponse;
      try {
        response = await httpRequest(request);
      } catch (error) {
        const reason = error instanceof HttpFailure ? error.reason : String(error);
        if (last) throw new LinodeApiError(`${what}: no answer (${reason})`, undefined, attempt);
        await this.sleep(backoffDelayMs(attempt, this.retry, this.random));
        continue;
      }
      const status = response.status;
      if (status === 200) {
        const read = recordTarget(response.body, type);
        if ("problem" in read)
          throw new LinodeApiError(`${what}: HTTP 200 but ${read.problem}`, status, attempt);
        return { target: read.target, status, attempts: attempt };
      }
      if (status === 401 || status === 403)
        throw new LinodeApiError(
          `${what}: HTTP ${status}: ${AUTH_HINT} (${reasons(response)})`,
          status,
          attempt,
        );
      const retried = status === 429 || status >= 500;
      if (!retried || last)
        throw new LinodeApiError(`${what}: HTTP ${status}: ${reasons(response)}`, status, attempt);
      await this.sleep(status === 429 ? this.rateLimitWaitMs(response, attempt) : this.backoffMs(attempt));
    }
  }

  private backoffMs(failures: number): number {
    return backoffDelayMs(failures, this.retry, this.random);
  }

  /** Retry-After in seconds or as an HTTP date; without one, the usual backoff. */
  private rateLimitWaitMs(response: HttpResponse, failures: number): number {
    const header = response.headers["retry-after"];
    const value = Array.isArray(header) ? header[0] : header;
    let seconds: number | undefined;
    if (value !== undefined && /^\s*[0-9]+\s*$/.test(value)) seconds = Number(value);
    else if (value !== undefined && !Number.isNaN(Date.parse(value)))
      seconds = Math.max(0, (Date.parse(value) - Date.now()) / 1000);
    if (seconds === undefined) return this.backoffMs(failures);
    return Math.min(seconds, this.retry.maxRetryAfterSeconds) * 1000;
  }
}

/** A DomainRecord's target, or what came instead (not retried: asking again gets the same). */
function recordTarget(body: string, type: RecordType): { target: string } | { problem: string } {
  let record: unknown;
  try {
    record = JSON.parse(body);
  } catch {
    return { problem: "the answer is not JSON" };
  }
  const r = (typeof record === "object" && record !== null ? record : {}) as Record<string, unknown>;
  if (typeof r.target !== "string") return { problem: "the answer has no record target" };
  // A wrong id in the settings could name another record of the zone: never take it for traffic.
  if (r.type !== type) return { problem: `the record is of type ${JSON.stringify(r.type)}, not ${type}` };
  return { target: r.target };
}

/** The API's own words: each error's reason, with its field when it names one. */
function reasons(response: HttpResponse): string {
  try {
    const parsed = JSON.parse(response.body) as { errors?: { reason?: unknown; field?: unknown }[] };
    const items = (Array.isArray(parsed.errors) ? parsed.errors : [])
      .filter((e) => typeof e?.reason === "string")
      .map((e) => (typeof e.field === "string" ? `${e.field}: ` : "") + JSON.stringify(e.reason));
    if (items.length > 0) return items.join("; ");
  } catch {
    // Not the API's error shape (a proxy's page, say): said below.
  }
  return "no reason given";
}
