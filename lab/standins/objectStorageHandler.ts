import { createHash, randomBytes } from "node:crypto";
import type { ObjectStorageCatalog } from "./objectStorageCatalog";
import {
  parseAmzDate,
  parseAuthorization,
  payloadHash,
  signature,
  signaturesEqual,
  type SignedRequest,
} from "./sigv4";

/**
 * One S3 read (GET or HEAD, virtual-hosted style) against the catalog, authenticated with SigV4
 * the way S3 answers it: S3-style XML errors, authentication before existence. Pure apart from
 * the request id.
 */

export const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;

export interface S3Response {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface HandlerOptions {
  /** AWS S3 refuses header-signed requests without x-amz-content-sha256; Linode's RGW does not. */
  requireContentSha256?: boolean;
}

function xmlEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

export function s3Error(status: number, code: string, message: string, resource: string): S3Response {
  const body =
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message>` +
    `<Resource>${xmlEscape(resource)}</Resource><RequestId>${randomBytes(8).toString("hex")}</RequestId></Error>\n`;
  return { status, headers: { "content-type": "application/xml" }, body: Buffer.from(body) };
}

function header(request: SignedRequest, name: string): string | undefined {
  return request.headers[name]?.[0];
}

export function handleS3Request(
  catalog: ObjectStorageCatalog,
  request: SignedRequest,
  now: number,
  options: HandlerOptions = {},
): S3Response {
  const path = request.url.split("?")[0];
  if (request.method !== "GET" && request.method !== "HEAD")
    return s3Error(405, "MethodNotAllowed", "The stand-in serves GET and HEAD only.", path);
  const host = (header(request, "host") ?? "").replace(/:\d+$/, "").toLowerCase();
  const bucket = catalog.buckets.find((b) => b.hostname === host);
  if (!bucket)
    return s3Error(404, "NoSuchBucket", `No bucket is served at ${host} (virtual-hosted style only).`, path);

  const authorization = header(request, "authorization");
  if (authorization === undefined)
    return s3Error(403, "AccessDenied", "Anonymous access is not allowed.", path);
  const auth = parseAuthorization(authorization);
  if (!auth) return s3Error(400, "AuthorizationHeaderMalformed", "Not an AWS4-HMAC-SHA256 header.", path);
  const { credential } = auth;
  if (credential.service !== "s3" || credential.region !== bucket.cluster)
    return s3Error(
      400,
      "AuthorizationHeaderMalformed",
      `The credential scope names ${credential.region}/${credential.service}; expected ${bucket.cluster}/s3.`,
      path,
    );
  const amzDate = header(request, "x-amz-date") ?? "";
  const signedAt = parseAmzDate(amzDate);
  if (signedAt === undefined)
    return s3Error(403, "AccessDenied", "A valid x-amz-date header is required.", path);
  if (Math.abs(now - signedAt) > MAX_CLOCK_SKEW_MS)
    return s3Error(
      403,
      "RequestTimeTooSkewed",
      "The difference between the request time and the current time is too large.",
      path,
    );
  const unsigned = [
    "host",
    "x-amz-date",
    ...Object.keys(request.headers).filter((h) => h.startsWith("x-amz-")),
  ].filter((h) => !auth.signedHeaders.includes(h));
  if (unsigned.length > 0)
    return s3Error(403, "AccessDenied", `Headers must be signed: ${unsigned.join(", ")}.`, path);
  if (options.requireContentSha256 && header(request, "x-amz-content-sha256") === undefined)
    return s3Error(
      400,
      "InvalidRequest",
      "Missing required header for this request: x-amz-content-sha256.",
      path,
    );

  const key = catalog.keys.find((k) => k.accessKey === credential.accessKey);
  if (!key)
    return s3Error(
      403,
      "InvalidAccessKeyId",
      "The access key you provided does not exist in our records.",
      path,
    );
  const hash = payloadHash(request);
  if (hash === undefined)
    return s3Error(400, "XAmzContentSHA256Mismatch", "x-amz-content-sha256 does not match the body.", path);
  if (
    credential.date !== amzDate.slice(0, 8) ||
    !signaturesEqual(signature(key.secretKey, request, auth, hash), auth.signature)
  )
    return s3Error(
      403,
      "SignatureDoesNotMatch",
      "The request signature we calculated does not match the signature you provided.",
      path,
    );
  if (!key.access.some((a) => a.bucket === bucket.label && a.cluster === bucket.cluster))
    return s3Error(403, "AccessDenied", `Key ${key.label} has no access to bucket ${bucket.label}.`, path);

  const objectKey = decodeURIComponent(path.replace(/^\//, ""));
  const object = catalog.objects.find(
    (o) => o.bucket === bucket.label && o.cluster === bucket.cluster && o.key === objectKey,
  );
  if (!object) return s3Error(404, "NoSuchKey", "The specified key does not exist.", path);
  const body = Buffer.from(object.contentBase64, "base64");
  return {
    status: 200,
    headers: {
      "content-type": object.contentType,
      "content-length": String(body.length),
      etag: `"${createHash("md5").update(body).digest("hex")}"`,
      "accept-ranges": "none",
    },
    body: request.method === "HEAD" ? Buffer.alloc(0) : body,
  };
}
