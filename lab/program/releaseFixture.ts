import type { ReleaseSource } from "../../provisioning/host";
import { buildRelease, releaseObjectKey } from "../../provisioning/release";
import { BUCKET_TYPE, KEY_TYPE, OBJECT_TYPE } from "../standins/objectStorageCatalog";
import type { RecordedResource } from "./mocks";

/**
 * The release bucket as plain recorded resources (bucket, read-only key, the release object),
 * without evaluating the Pulumi program: for lab code that builds user data by hand and must not
 * depend on the program compiling.
 */
export function releaseFixtureResources(): { resources: RecordedResource[]; release: ReleaseSource } {
  const release = buildRelease();
  const cluster = "us-iad-1";
  const label = "linode-dr-lab-releases";
  const hostname = `${label}.${cluster}.linodeobjects.com`;
  const accessKey = "LABREADONLYKEY0001";
  const secretKey = "labReadOnlySecretKeyForTheLabOnly0123456789";
  const resources: RecordedResource[] = [
    {
      type: BUCKET_TYPE,
      name: "lab-releases-bucket",
      id: `${cluster}:${label}`,
      inputs: { label, cluster },
      state: { hostname, cluster },
    },
    {
      type: KEY_TYPE,
      name: "lab-releases-reader-key",
      id: "1",
      inputs: {
        label: "lab-reader",
        bucketAccesses: [{ bucketName: label, cluster, permissions: "read_only" }],
      },
      state: { accessKey, secretKey },
    },
    {
      type: OBJECT_TYPE,
      name: "lab-releases-release",
      id: `${label}/${releaseObjectKey(release.sha256)}`,
      inputs: {
        bucket: label,
        cluster,
        key: releaseObjectKey(release.sha256),
        contentBase64: release.tar.toString("base64"),
        contentType: "application/x-tar",
      },
      state: {},
    },
  ];
  return {
    resources,
    release: {
      baseUrl: `https://${hostname}/releases`,
      sha256: release.sha256,
      cluster,
      accessKey,
      secretKey,
    },
  };
}
