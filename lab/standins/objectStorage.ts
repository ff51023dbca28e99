import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { assertDocumentationAddress } from "../addresses";
import { pointNamesAt } from "../hosts/etcHosts";
import type { Host } from "../hosts/host";
import type { LabProcess } from "../hosts/labProcess";
import type { RecordedResource } from "../../evaluation/mocks";
import { makeServerPki, trustLabCa } from "../tls";
import { endpointOf, objectStorageCatalog, type ObjectStorageCatalog } from "./objectStorageCatalog";
import { controlRequest, startStandInProgram } from "./standInProcess";

/**
 * Object Storage stand-in: an HTTPS server in a lab host's network namespace that serves the
 * objects the program declares (ObjectStorageObject) from the buckets it declares
 * (ObjectStorageBucket) at https://<bucket hostname>/<key>, to requests signed with AWS SigV4 by an
 * ObjectStorageKey whose bucketAccesses cover the bucket; its certificate (for
 * `*.<cluster>.linodeobjects.com` and `<cluster>.linodeobjects.com`) comes from a lab CA that
 * `trustAndResolve` installs on the hosts that should trust it, along with /etc/hosts entries
 * standing in for public DNS.
 *
 * Emulated: virtual-hosted GET and HEAD of objects, SigV4 header authentication (signature, key,
 * bucket access, 15 minute clock skew), S3 XML errors, ETag (MD5 of the body), outages
 * (`setAvailable`), objects published at run time (`putObject`). Not emulated: writes over S3
 * (PUT, DELETE, multipart), listing, path-style URLs, presigned URLs (query-string auth), range
 * requests, ACLs beyond "the key covers the bucket" (read_only and read_write both read), bucket
 * policies, versioning, lifecycle, CORS, rate limits, the Linode API for keys and buckets, IPv6.
 */

export interface ObjectStorageStandInOptions {
  /** Where the service answers; default the host's own address. Another address is added to eth0. */
  address?: string;
  port?: number;
  /** Refuse SigV4 requests without x-amz-content-sha256 as AWS S3 does (Linode does not; curl 7.88 omits it). */
  requireContentSha256?: boolean;
}

export interface PutObject {
  bucket: string;
  key: string;
  body: string | Buffer;
  contentType?: string;
  /** Needed only when two clusters hold a bucket with this label. */
  cluster?: string;
}

const SERVER = path.join(__dirname, "objectStorageServer.ts");
const WHAT = "the Object Storage stand-in";

function control(socketPath: string, method: string, pathname: string, body = ""): Promise<number> {
  return controlRequest(WHAT, socketPath, method, pathname, body);
}

export class ObjectStorageStandIn {
  private constructor(
    readonly host: Host,
    readonly address: string,
    readonly port: number,
    readonly caCertPem: string,
    readonly catalog: ObjectStorageCatalog,
    readonly logFile: string,
    private readonly controlSocket: string,
    private readonly process: LabProcess,
  ) {}

  static async start(
    host: Host,
    resources: readonly RecordedResource[],
    options: ObjectStorageStandInOptions = {},
  ): Promise<ObjectStorageStandIn> {
    const catalog = objectStorageCatalog(resources);
    if (catalog.buckets.length === 0) throw new Error("the program declares no Object Storage bucket");
    const address = assertDocumentationAddress(options.address ?? host.address);
    const port = options.port ?? 443;
    if (address !== host.address)
      await host.execOrThrow(["ip", "addr", "add", `${address}/32`, "dev", "eth0"]);
    const clusters = [...new Set(catalog.buckets.map((b) => b.cluster))];
    const { caCertPem, server } = makeServerPki(
      clusters.flatMap((c) => [`*.${endpointOf(c)}`, endpointOf(c)]),
    );
    const base = path.join(host.lab.stateDir, `object-storage-${host.name}`);
    const settingsFile = `${base}.json`;
    writeFileSync(
      settingsFile,
      JSON.stringify({
        address,
        port,
        certPem: server.certPem,
        keyPem: server.keyPem,
        catalog,
        options: { requireContentSha256: options.requireContentSha256 ?? false },
      }),
      { mode: 0o600 },
    );
    const controlSocket = `${base}.sock`;
    const logFile = `${base}.log`;
    const child = await startStandInProgram(host, {
      what: WHAT,
      script: SERVER,
      env: { OBJ_SETTINGS: settingsFile, OBJ_CONTROL: controlSocket },
      logFile,
      controlSocket,
    });
    return new ObjectStorageStandIn(host, address, port, caCertPem, catalog, logFile, controlSocket, child);
  }

  get pid(): number {
    return this.process.pid;
  }

  /** Every name the service answers for: bucket hostnames and cluster endpoints. */
  get hostnames(): string[] {
    const names = this.catalog.buckets.flatMap((b) => [b.hostname, endpointOf(b.cluster)]);
    return [...new Set(names)];
  }

  /**
   * Makes `host` trust the stand-in's CA the way a Linode trusts the public PKI (Debian's CA store,
   * used by curl, openssl and most clients) and resolve the service's names to its address (the
   * host's /etc/hosts, standing in for public DNS). Hosts have copy-on-write roots: only this host
   * changes. Safe to call again.
   */
  async trustAndResolve(host: Host): Promise<void> {
    await trustLabCa(host, this.caCertPem);
    await pointNamesAt(host, this.address, this.hostnames, "Object Storage stand-in");
  }

  /**
   * Failure injection: unavailable either refuses connections (the listener closes and open
   * connections are cut) or answers every request 503 ServiceUnavailable, until set back.
   */
  async setAvailable(available: boolean, how: "refuse" | "503" = "refuse"): Promise<void> {
    await control(this.controlSocket, "POST", "/available", JSON.stringify({ available, how }));
  }

  /** Publishes (or replaces) an object at run time, e.g. a new release artifact. */
  async putObject(object: PutObject): Promise<void> {
    const candidates = this.catalog.buckets.filter(
      (b) => b.label === object.bucket && (object.cluster === undefined || b.cluster === object.cluster),
    );
    if (candidates.length !== 1)
      throw new Error(
        `bucket ${object.bucket}${object.cluster ? ` in ${object.cluster}` : ""} matches ${candidates.length} buckets`,
      );
    const body = typeof object.body === "string" ? Buffer.from(object.body, "utf8") : object.body;
    await control(
      this.controlSocket,
      "POST",
      "/object",
      JSON.stringify({
        bucket: object.bucket,
        cluster: candidates[0].cluster,
        key: object.key,
        contentBase64: body.toString("base64"),
        contentType: object.contentType ?? "binary/octet-stream",
      }),
    );
  }

  async stop(): Promise<void> {
    await this.process.stop();
  }
}
