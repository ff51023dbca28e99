import { createHash, createHmac, timingSafeEqual } from "node:crypto";

/**
 * AWS Signature Version 4, header form, as S3 (and Linode Object Storage) checks it: canonical
 * request, string to sign, signing key, with node:crypto only. Pure.
 */

export const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD";

export interface SignedRequest {
  method: string;
  /** Path and query exactly as sent on the request line. */
  url: string;
  /** Header values by lowercase name; repeated headers keep every value. */
  headers: Record<string, string[]>;
  body?: Buffer;
}

export interface Credential {
  accessKey: string;
  date: string;
  region: string;
  service: string;
}

export interface ParsedAuthorization {
  credential: Credential;
  signedHeaders: string[];
  signature: string;
}

export function sha256Hex(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac("sha256", key).update(data, "utf8").digest();
}

/** RFC 3986 encoding as SigV4 wants it: everything but A-Z a-z 0-9 - . _ ~ is %XX (uppercase). */
export function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** S3 encodes each path segment once, so the canonical path is the decoded path encoded again. */
export function canonicalUri(path: string): string {
  return (
    path
      .split("/")
      .map((segment) => uriEncode(decodeURIComponent(segment)))
      .join("/") || "/"
  );
}

export function canonicalQuery(query: string): string {
  if (query === "") return "";
  return query
    .split("&")
    .filter((pair) => pair !== "")
    .map((pair) => {
      const eq = pair.indexOf("=");
      const key = eq < 0 ? pair : pair.slice(0, eq);
      const value = eq < 0 ? "" : pair.slice(eq + 1);
      const decode = (s: string) => decodeURIComponent(s.replace(/\+/g, "%20"));
      return [uriEncode(decode(key)), uriEncode(decode(value))] as const;
    })
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
}

export function canonicalRequest(
  request: SignedRequest,
  signedHeaders: readonly string[],
  payloadHash: string,
): string {
  const q = request.url.indexOf("?");
  const path = q < 0 ? request.url : request.url.slice(0, q);
  const query = q < 0 ? "" : request.url.slice(q + 1);
  const headerLines = signedHeaders.map((name) => {
    const values = (request.headers[name] ?? []).map((v) => v.trim().replace(/\s+/g, " "));
    return `${name}:${values.join(",")}\n`;
  });
  return [
    request.method,
    canonicalUri(path),
    canonicalQuery(query),
    headerLines.join(""),
    signedHeaders.join(";"),
    payloadHash,
  ].join("\n");
}

export function stringToSign(amzDate: string, credential: Credential, canonical: string): string {
  const scope = `${credential.date}/${credential.region}/${credential.service}/aws4_request`;
  return ["AWS4-HMAC-SHA256", amzDate, scope, sha256Hex(canonical)].join("\n");
}

export function signingKey(secret: string, credential: Credential): Buffer {
  const date = hmac(`AWS4${secret}`, credential.date);
  const region = hmac(date, credential.region);
  const service = hmac(region, credential.service);
  return hmac(service, "aws4_request");
}

/** `AWS4-HMAC-SHA256 Credential=AK/20240101/us-iad-1/s3/aws4_request, SignedHeaders=a;b, Signature=hex` */
export function parseAuthorization(header: string): ParsedAuthorization | undefined {
  const match =
    /^AWS4-HMAC-SHA256\s+Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request\s*,\s*SignedHeaders=([a-z0-9;-]+)\s*,\s*Signature=([0-9a-f]{64})\s*$/.exec(
      header.trim(),
    );
  if (!match) return undefined;
  return {
    credential: { accessKey: match[1], date: match[2], region: match[3], service: match[4] },
    signedHeaders: match[5].split(";"),
    signature: match[6],
  };
}

/**
 * The payload hash the client signed: `x-amz-content-sha256` when sent (a hex digest that must
 * match the body, or UNSIGNED-PAYLOAD), otherwise the body's digest. curl 7.88 (Debian 12) does
 * not send the header; Ceph RGW, which Linode Object Storage runs, accepts that, AWS S3 does not.
 */
export function payloadHash(request: SignedRequest): string | undefined {
  const bodyHash = sha256Hex(request.body ?? Buffer.alloc(0));
  const declared = request.headers["x-amz-content-sha256"]?.[0];
  if (declared === undefined) return bodyHash;
  if (declared === UNSIGNED_PAYLOAD) return declared;
  return declared === bodyHash ? declared : undefined;
}

export function signature(
  secret: string,
  request: SignedRequest,
  auth: ParsedAuthorization,
  hash: string,
): string {
  const amzDate = request.headers["x-amz-date"]?.[0] ?? "";
  const canonical = canonicalRequest(request, auth.signedHeaders, hash);
  return createHmac("sha256", signingKey(secret, auth.credential))
    .update(stringToSign(amzDate, auth.credential, canonical), "utf8")
    .digest("hex");
}

export function signaturesEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === y.length && timingSafeEqual(x, y);
}

/** `20240101T120000Z` to epoch milliseconds, or undefined when malformed. */
export function parseAmzDate(text: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) return undefined;
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  return Number.isNaN(ms) ? undefined : ms;
}
