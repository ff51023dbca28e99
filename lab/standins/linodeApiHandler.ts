import { STATUS_CODES } from "node:http";
import { isIPv4, isIPv6 } from "node:net";
import { LINODE_RECORD_TTLS } from "../../config/linodeTtls";
import type { RecordType } from "./dnsZone";
import { apiTtl, recordJson, servedTtl, type ApiDomain, type ApiRecord } from "./linodeApiRecords";
import { allows, parseScopes, type Access } from "./linodeApiScopes";

/**
 * One request to the Linode API stand-in's part of API v4 — list, view and update a Domain's
 * Records — answered as the 4.189.0 spec describes: JSON bodies, the pagination envelope
 * ({ data, page, pages, results }; page from 1, page_size 25 to 500, default 100) and the error
 * envelope ({ errors: [{ reason, field? }] }, every problem of a request at once). Pure: the state
 * goes in and the next state comes out.
 *
 * Order of checks (assumed, not documented): an injected failure answers first, whatever the
 * request; then the path (404), the method (405), the token (401), its scopes (401), the Domain and
 * Record (404), the body (400).
 *
 * Tokens: `Authorization: Bearer <token>`. A missing or unknown token is 401 "Invalid Token", the
 * reason clients report from the API. A token whose scopes do not cover the operation (GET needs
 * domains:read_only, PUT domains:read_write) is 401 "Your OAuth token is not authorized to use this
 * endpoint.": the status and text clients report, although the docs' status table describes such
 * a request as 403. Authenticated answers carry X-OAuth-Scopes and X-Accepted-OAuth-Scopes, as the
 * API's do.
 *
 * Updates: target (an IPv4 address for an A record, IPv6 for AAAA; `[remote_addr]` is not
 * emulated) and ttl_sec (a whole number of seconds; 0 is the Domain's default, any other value is
 * rounded up to the next of LINODE_RECORD_TTLS, beyond the last it is refused). The update
 * request's other fields are refused as not emulated, any other field as unknown (the spec allows
 * no others). The 400, 404, 405 and injected errors' reason texts are the stand-in's own.
 */

export interface ApiRequest {
  method: string;
  /** Path and query, as in the request line. */
  url: string;
  authorization?: string;
  body: string;
}

export interface ApiResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A failure the lab injected: every request is answered `status` until it runs out. */
export interface InjectedFailure {
  status: number;
  retryAfterSeconds?: number;
  /** For this many more requests... */
  remaining?: number;
  /** ...or until this time (epoch ms). */
  untilMs?: number;
}

/** What the lab asks for: a status for the next `requests` requests or for `forMs` from now. */
export interface FailureOrder {
  status: number;
  /** Sent as Retry-After; required for 429, as Linode documents Retry-After with its rate limits. */
  retryAfterSeconds?: number;
  requests?: number;
  forMs?: number;
}

export interface ApiState {
  domain: ApiDomain;
  /** Token to its scopes (see linodeApiScopes.ts). */
  tokens: Readonly<Record<string, string>>;
  failure?: InjectedFailure;
}

/** An update that changed a record: what the nameservers are to serve once it is published. */
export interface AcceptedChange {
  recordId: number;
  name: string;
  type: RecordType;
  target: string;
  /** The TTL the nameservers serve (the Domain's default for ttl_sec 0). */
  ttl: number;
  /** Epoch ms. */
  acceptedAt: number;
}

export interface ApiOutcome {
  response: ApiResponse;
  state: ApiState;
  /** The presented token's scopes; undefined when there was no known token. */
  scopes?: string;
  change?: AcceptedChange;
}

interface ApiError {
  reason: string;
  field?: string;
}

const ROUTE = /^\/v4(?:beta)?\/domains\/(\d+)\/records(?:\/(\d+))?\/?$/;
const UPDATE_FIELDS_NOT_EMULATED = new Set([
  "name",
  "priority",
  "weight",
  "port",
  "service",
  "protocol",
  "tag",
]);
const PAGE_SIZE = { min: 25, max: 500, default: 100 };

function json(status: number, body: unknown, headers: Record<string, string> = {}): ApiResponse {
  return { status, headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) };
}

function errors(status: number, list: ApiError[], headers: Record<string, string> = {}): ApiResponse {
  return json(status, { errors: list }, headers);
}

export function failureFrom(order: FailureOrder, now: number): InjectedFailure {
  const { status, retryAfterSeconds, requests, forMs } = order;
  if (!Number.isInteger(status) || (status !== 429 && (status < 500 || status > 599)))
    throw new Error(`an injected failure is 429 or 5xx; received ${status}`);
  if (retryAfterSeconds !== undefined && !(Number.isInteger(retryAfterSeconds) && retryAfterSeconds >= 0))
    throw new Error(`Retry-After is whole seconds; received ${retryAfterSeconds}`);
  if (status === 429 && retryAfterSeconds === undefined)
    throw new Error("a 429 needs retryAfterSeconds: Linode's rate-limit answers carry Retry-After");
  if ((requests === undefined) === (forMs === undefined))
    throw new Error("an injected failure lasts either a number of requests or a time, not both or neither");
  if (requests !== undefined && !(Number.isInteger(requests) && requests >= 1))
    throw new Error(`requests must be a positive integer; received ${requests}`);
  if (forMs !== undefined && !(forMs > 0)) throw new Error(`forMs must be positive; received ${forMs}`);
  return {
    status,
    retryAfterSeconds,
    ...(requests !== undefined ? { remaining: requests } : { untilMs: now + (forMs as number) }),
  };
}

function isActive(failure: InjectedFailure, now: number): boolean {
  return failure.remaining !== undefined ? failure.remaining > 0 : now < (failure.untilMs ?? 0);
}

/** The failure after it answered one request; undefined once it has run out. */
function afterOneRequest(failure: InjectedFailure, now: number): InjectedFailure | undefined {
  const next = failure.remaining !== undefined ? { ...failure, remaining: failure.remaining - 1 } : failure;
  return isActive(next, now) ? next : undefined;
}

function failureResponse(failure: InjectedFailure): ApiResponse {
  const headers: Record<string, string> = {};
  if (failure.retryAfterSeconds !== undefined) headers["retry-after"] = String(failure.retryAfterSeconds);
  return errors(failure.status, [{ reason: STATUS_CODES[failure.status] ?? "Error" }], headers);
}

function bearerToken(authorization: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
  return match?.[1];
}

function scopesOf(state: ApiState, authorization: string | undefined): string | undefined {
  const token = bearerToken(authorization);
  return token !== undefined && Object.hasOwn(state.tokens, token) ? state.tokens[token] : undefined;
}

function pageParameter(
  query: URLSearchParams,
  name: string,
  min: number,
  max: number,
  fallback: number,
): number | ApiError {
  const text = query.get(name);
  if (text === null) return fallback;
  const value = /^\d{1,9}$/.test(text) ? Number(text) : NaN;
  return value >= min && value <= max
    ? value
    : { field: name, reason: `${name} must be from ${min} to ${max}` };
}

function listRecords(
  domain: ApiDomain,
  query: URLSearchParams,
  headers: Record<string, string>,
): ApiResponse {
  const page = pageParameter(query, "page", 1, Number.MAX_SAFE_INTEGER, 1);
  const size = pageParameter(query, "page_size", PAGE_SIZE.min, PAGE_SIZE.max, PAGE_SIZE.default);
  const problems = [page, size].filter((p): p is ApiError => typeof p === "object");
  if (problems.length > 0) return errors(400, problems, headers);
  const [p, s] = [page as number, size as number];
  const results = domain.records.length;
  const data = domain.records.slice((p - 1) * s, p * s).map(recordJson);
  return json(200, { data, page: p, pages: Math.max(1, Math.ceil(results / s)), results }, headers);
}

/** The record as `body` would leave it, or the problems with `body`, all of them. */
function updated(record: ApiRecord, body: string): ApiRecord | ApiError[] {
  let fields: unknown;
  try {
    fields = JSON.parse(body === "" ? "{}" : body);
  } catch {
    return [{ reason: "The request body is not valid JSON" }];
  }
  if (typeof fields !== "object" || fields === null || Array.isArray(fields))
    return [{ reason: "The request body must be a JSON object" }];
  const problems: ApiError[] = [];
  let { target, ttl_sec } = record;
  for (const [field, value] of Object.entries(fields)) {
    if (field === "target") {
      const family = record.type === "A" ? isIPv4 : isIPv6;
      if (typeof value === "string" && family(value)) target = value;
      else
        problems.push({
          field,
          reason: `target must be an ${record.type === "A" ? "IPv4" : "IPv6"} address for an ${record.type} record`,
        });
    } else if (field === "ttl_sec") {
      const largest = LINODE_RECORD_TTLS[LINODE_RECORD_TTLS.length - 1];
      if (Number.isInteger(value) && (value as number) >= 0 && (value as number) <= largest)
        ttl_sec = apiTtl(value as number);
      else problems.push({ field, reason: `ttl_sec must be a whole number of seconds from 0 to ${largest}` });
    } else if (UPDATE_FIELDS_NOT_EMULATED.has(field)) {
      problems.push({
        field,
        reason: `the lab's API stand-in does not update ${field}; it updates target and ttl_sec`,
      });
    } else {
      problems.push({ field, reason: `${field} is not a field of a Domain Record update` });
    }
  }
  return problems.length > 0 ? problems : { ...record, target, ttl_sec };
}

function updateRecord(
  state: ApiState,
  record: ApiRecord,
  body: string,
  now: number,
  headers: Record<string, string>,
): { response: ApiResponse; state: ApiState; change?: AcceptedChange } {
  const next = updated(record, body);
  if (Array.isArray(next)) return { response: errors(400, next, headers), state };
  if (next.target === record.target && next.ttl_sec === record.ttl_sec)
    return { response: json(200, recordJson(record), headers), state };
  const saved = { ...next, updated: now };
  const domain = {
    ...state.domain,
    records: state.domain.records.map((r) => (r.id === saved.id ? saved : r)),
  };
  const change: AcceptedChange = {
    recordId: saved.id,
    name: saved.name,
    type: saved.type,
    target: saved.target,
    ttl: servedTtl(domain, saved),
    acceptedAt: now,
  };
  return { response: json(200, recordJson(saved), headers), state: { ...state, domain }, change };
}

export function handleApiRequest(given: ApiState, request: ApiRequest, now: number): ApiOutcome {
  const scopes = scopesOf(given, request.authorization);
  const failure = given.failure;
  if (failure && isActive(failure, now))
    return {
      response: failureResponse(failure),
      state: { ...given, failure: afterOneRequest(failure, now) },
      scopes,
    };
  const state = failure ? { ...given, failure: undefined } : given;
  const [pathname, search = ""] = request.url.split("?", 2);
  const route = ROUTE.exec(pathname);
  if (!route) return { response: errors(404, [{ reason: "Not found" }]), state, scopes };
  const recordId = route[2] === undefined ? undefined : Number(route[2]);
  const methods = recordId === undefined ? ["GET"] : ["GET", "PUT"];
  if (!methods.includes(request.method))
    return {
      response: errors(405, [{ reason: `The lab's API stand-in answers ${methods.join(" and ")} here` }], {
        allow: methods.join(", "),
      }),
      state,
      scopes,
    };
  if (scopes === undefined) return { response: errors(401, [{ reason: "Invalid Token" }]), state };
  const access: Access = request.method === "GET" ? "read_only" : "read_write";
  const headers = { "x-oauth-scopes": scopes, "x-accepted-oauth-scopes": `domains:${access}` };
  if (!allows(parseScopes(scopes), "domains", access))
    return {
      response: errors(
        401,
        [{ reason: "Your OAuth token is not authorized to use this endpoint." }],
        headers,
      ),
      state,
      scopes,
    };
  const notFound = { response: errors(404, [{ reason: "Not found" }], headers), state, scopes };
  if (Number(route[1]) !== state.domain.id) return notFound;
  if (recordId === undefined)
    return { response: listRecords(state.domain, new URLSearchParams(search), headers), state, scopes };
  const record = state.domain.records.find((r) => r.id === recordId);
  if (!record) return notFound;
  if (request.method === "GET") return { response: json(200, recordJson(record), headers), state, scopes };
  return { ...updateRecord(state, record, request.body, now, headers), scopes };
}
