import { describe, expect, it } from "vitest";
import type { RecordedResource } from "../../evaluation/mocks";
import { objectStorageCatalog, withObject } from "../../lab/standins/objectStorageCatalog";
import { handleS3Request } from "../../lab/standins/objectStorageHandler";
import {
  canonicalUri,
  parseAuthorization,
  signature,
  EMPTY_SHA256,
  type SignedRequest,
} from "../../lab/standins/sigv4";
import { RESOURCE_TYPE } from "../../components/resourceTypes";

/** A request curl 7.88.1 signed with `--aws-sigv4 aws:amz:us-iad-1:s3 --user AK:SK` (captured). */
const CURL_REQUEST: SignedRequest = {
  method: "GET",
  url: "/a/b%20c?x=1",
  headers: {
    host: ["bkt.us-iad-1.linodeobjects.com"],
    authorization: [
      "AWS4-HMAC-SHA256 Credential=AK/20261126/us-iad-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=6221b0ef79cfb8ce5c0ea76c4da5b96ab80892c2bb178bd9b23b87dbf3616b9d",
    ],
    "x-amz-date": ["20261126T114545Z"],
  },
};
const CURL_TIME = Date.UTC(2026, 10, 26, 11, 45, 45);

/** AWS's documented S3 example (GET /test.txt with a Range header and x-amz-content-sha256). */
const AWS_EXAMPLE: SignedRequest = {
  method: "GET",
  url: "/test.txt",
  headers: {
    host: ["examplebucket.s3.amazonaws.com"],
    range: ["bytes=0-9"],
    "x-amz-content-sha256": [EMPTY_SHA256],
    "x-amz-date": ["20130524T000000Z"],
  },
};

describe("SigV4", () => {
  it("computes the signature curl 7.88 sends", () => {
    const auth = parseAuthorization(CURL_REQUEST.headers.authorization[0])!;
    expect(auth.credential).toEqual({ accessKey: "AK", date: "20261126", region: "us-iad-1", service: "s3" });
    expect(signature("SK", CURL_REQUEST, auth, EMPTY_SHA256)).toBe(auth.signature);
  });

  it("computes AWS's documented example signature", () => {
    const auth = parseAuthorization(
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    )!;
    expect(signature("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", AWS_EXAMPLE, auth, EMPTY_SHA256)).toBe(
      auth.signature,
    );
  });

  it("encodes each path segment once", () => {
    expect(canonicalUri("/a/b%20c/d~e/f+g")).toBe("/a/b%20c/d~e/f%2Bg");
  });
});

function resources(): RecordedResource[] {
  return [
    {
      type: RESOURCE_TYPE.objectStorageBucket,
      name: "b",
      id: "us-iad-1:bkt",
      inputs: { label: "bkt", region: "us-iad" },
      state: { cluster: "us-iad-1", hostname: "bkt.us-iad-1.linodeobjects.com" },
    },
    {
      type: RESOURCE_TYPE.objectStorageKey,
      name: "k",
      id: "1",
      inputs: {
        label: "k",
        bucketAccesses: [{ bucketName: "bkt", region: "us-iad", permissions: "read_only" }],
      },
      state: { accessKey: "AK", secretKey: "SK" },
    },
    {
      type: RESOURCE_TYPE.objectStorageKey,
      name: "k2",
      id: "2",
      inputs: {
        label: "k2",
        bucketAccesses: [{ bucketName: "elsewhere", region: "us-iad", permissions: "read_write" }],
      },
      state: { accessKey: "AK2", secretKey: "SK" },
    },
    {
      type: RESOURCE_TYPE.objectStorageObject,
      name: "o",
      id: "o",
      inputs: { bucket: "bkt", region: "us-iad", key: "a/b c", content: "hello", contentType: "text/plain" },
      state: {},
    },
  ];
}

function codeOf(body: Buffer): string {
  return /<Code>([^<]+)<\/Code>/.exec(body.toString())?.[1] ?? "";
}

describe("Object Storage handler", () => {
  const catalog = objectStorageCatalog(resources());

  it("serves the object to a valid signature of a key that covers the bucket", () => {
    const answer = handleS3Request(catalog, CURL_REQUEST, CURL_TIME + 60_000);
    expect(answer.status).toBe(200);
    expect(answer.body.toString()).toBe("hello");
    expect(answer.headers["content-type"]).toBe("text/plain");
    const head = handleS3Request(catalog, { ...CURL_REQUEST, method: "HEAD" }, CURL_TIME);
    // HEAD is signed over its own method, so the curl GET signature must not pass for it.
    expect(codeOf(head.body)).toBe("SignatureDoesNotMatch");
  });

  it("refuses with S3's error codes", () => {
    const at = (request: SignedRequest, now = CURL_TIME) => handleS3Request(catalog, request, now);
    const withHeaders = (headers: Record<string, string[]>) => ({
      ...CURL_REQUEST,
      headers: { ...CURL_REQUEST.headers, ...headers },
    });
    const anonymous = Object.fromEntries(
      Object.entries(CURL_REQUEST.headers).filter(([name]) => name !== "authorization"),
    );
    expect(codeOf(at({ ...CURL_REQUEST, headers: anonymous }).body)).toBe("AccessDenied");
    expect(codeOf(at(CURL_REQUEST, CURL_TIME + 16 * 60_000).body)).toBe("RequestTimeTooSkewed");
    expect(codeOf(at(CURL_REQUEST, CURL_TIME - 16 * 60_000).body)).toBe("RequestTimeTooSkewed");
    expect(codeOf(at({ ...CURL_REQUEST, url: "/a/b%20d?x=1" }).body)).toBe("SignatureDoesNotMatch");
    // AK2 shares AK's secret (the access key is not signed over), so only its bucket access fails.
    const other = CURL_REQUEST.headers.authorization[0].replace("Credential=AK/", "Credential=AK2/");
    expect(codeOf(at(withHeaders({ authorization: [other] })).body)).toBe("AccessDenied");
    const unknown = CURL_REQUEST.headers.authorization[0].replace("Credential=AK/", "Credential=NOPE/");
    expect(codeOf(at(withHeaders({ authorization: [unknown] })).body)).toBe("InvalidAccessKeyId");
    const wrongRegion = CURL_REQUEST.headers.authorization[0].replace("us-iad-1", "us-ord-1");
    expect(at(withHeaders({ authorization: [wrongRegion] })).status).toBe(400);
    expect(codeOf(at(withHeaders({ "x-amz-meta-x": ["1"] })).body)).toBe("AccessDenied");
    expect(at(withHeaders({ host: ["nope.us-iad-1.linodeobjects.com"] })).status).toBe(404);
    expect(at({ ...CURL_REQUEST, method: "PUT" }).status).toBe(405);
    expect(
      codeOf(handleS3Request(catalog, CURL_REQUEST, CURL_TIME, { requireContentSha256: true }).body),
    ).toBe("InvalidRequest");
  });

  it("answers NoSuchKey only after authentication, and sees objects added later", () => {
    const missing = withObject(catalog, { ...catalog.objects[0], key: "other" });
    expect(missing.objects).toHaveLength(2);
    const replaced = withObject(catalog, {
      ...catalog.objects[0],
      contentBase64: Buffer.from("v2").toString("base64"),
    });
    expect(replaced.objects).toHaveLength(1);
    expect(handleS3Request(replaced, CURL_REQUEST, CURL_TIME).body.toString()).toBe("v2");
    const empty = { ...catalog, objects: [] };
    expect(codeOf(handleS3Request(empty, CURL_REQUEST, CURL_TIME).body)).toBe("NoSuchKey");
  });
});
