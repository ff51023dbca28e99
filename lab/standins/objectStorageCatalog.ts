import { RESOURCE_TYPE } from "../../components/resourceTypes";
import type { RecordedResource } from "../../evaluation/mocks";

/**
 * What the program declared in Linode Object Storage, gathered from its recorded resources:
 * buckets (label, cluster, virtual-hosted hostname), access keys with the buckets they cover, and
 * objects. Pure; plain data so it can be handed to the server process as JSON.
 */

export interface CatalogBucket {
  label: string;
  /** e.g. us-iad-1: the SigV4 signing region and the endpoint's first label. */
  cluster: string;
  hostname: string;
}

export interface CatalogKey {
  label: string;
  accessKey: string;
  secretKey: string;
  access: { bucket: string; cluster: string; permissions: "read_only" | "read_write" }[];
}

export interface CatalogObject {
  bucket: string;
  cluster: string;
  key: string;
  contentBase64: string;
  contentType: string;
}

export interface ObjectStorageCatalog {
  buckets: CatalogBucket[];
  keys: CatalogKey[];
  objects: CatalogObject[];
}

export const OBJECT_STORAGE_DOMAIN = "linodeobjects.com";

/** Linode's cluster for a region: the provider's `cluster`, else `<region>-1` (us-iad -> us-iad-1). */
function clusterOf(inputs: Record<string, unknown>, state: Record<string, unknown> = {}): string {
  const cluster =
    state.cluster ?? inputs.cluster ?? (inputs.region ? `${String(inputs.region)}-1` : undefined);
  if (typeof cluster !== "string" || !/^[a-z]+-[a-z]+(-\d+)?-\d+$/.test(cluster))
    throw new Error(`no Object Storage cluster in ${JSON.stringify({ ...inputs, ...state })}`);
  return cluster;
}

export function endpointOf(cluster: string): string {
  return `${cluster}.${OBJECT_STORAGE_DOMAIN}`;
}

export function objectStorageCatalog(resources: readonly RecordedResource[]): ObjectStorageCatalog {
  const buckets = resources
    .filter((r) => r.type === RESOURCE_TYPE.objectStorageBucket)
    .map((r) => {
      const label = String(r.inputs.label);
      const cluster = clusterOf(r.inputs, r.state);
      return { label, cluster, hostname: String(r.state.hostname ?? `${label}.${endpointOf(cluster)}`) };
    });
  const keys = resources
    .filter((r) => r.type === RESOURCE_TYPE.objectStorageKey)
    .map((r) => {
      const { accessKey, secretKey } = r.state as { accessKey?: unknown; secretKey?: unknown };
      if (typeof accessKey !== "string" || typeof secretKey !== "string")
        throw new Error(`Object Storage key ${r.name} has no accessKey/secretKey in its state`);
      const accesses = (r.inputs.bucketAccesses ?? []) as Record<string, unknown>[];
      return {
        label: String(r.inputs.label ?? r.name),
        accessKey,
        secretKey,
        access: accesses.map((a) => ({
          bucket: String(a.bucketName),
          cluster: clusterOf(a),
          permissions: a.permissions === "read_write" ? ("read_write" as const) : ("read_only" as const),
        })),
      };
    });
  const objects = resources
    .filter((r) => r.type === RESOURCE_TYPE.objectStorageObject)
    .map((r) => ({
      bucket: String(r.inputs.bucket),
      cluster: clusterOf(r.inputs),
      key: String(r.inputs.key),
      contentBase64:
        typeof r.inputs.contentBase64 === "string"
          ? r.inputs.contentBase64
          : Buffer.from(String(r.inputs.content ?? ""), "utf8").toString("base64"),
      contentType: String(r.inputs.contentType ?? "binary/octet-stream"),
    }));
  for (const object of objects) {
    if (!buckets.some((b) => b.label === object.bucket && b.cluster === object.cluster))
      throw new Error(
        `object ${object.key} is in bucket ${object.bucket} (${object.cluster}), which the program does not declare`,
      );
  }
  return { buckets, keys, objects };
}

/** Adds or replaces an object (same bucket, cluster and key). */
export function withObject(catalog: ObjectStorageCatalog, object: CatalogObject): ObjectStorageCatalog {
  const others = catalog.objects.filter(
    (o) => !(o.bucket === object.bucket && o.cluster === object.cluster && o.key === object.key),
  );
  return { ...catalog, objects: [...others, object] };
}
