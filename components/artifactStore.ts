import * as linode from "@pulumi/linode";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import type { ReleaseSource } from "../provisioning/host";
import { releaseObjectKey } from "../provisioning/release";

export interface ArtifactStoreArgs {
  /** Object Storage region; neither region A nor B, so a lost region never takes releases with it. */
  region: string;
  /** Account-unique prefix derived from project and stack. */
  labelPrefix: string;
  release: { tar: Buffer; sha256: string };
}

/** What an ArtifactStore named `store` names its bucket and release object. */
export function artifactStoreChildNames(store: string): { bucket: string; release: string } {
  return { bucket: `${store}-bucket`, release: `${store}-release` };
}

/**
 * The stack's release bucket in Linode Object Storage, private, with the current release as a
 * content-addressed object. Every Linode fetches its release from here on first boot (and later
 * through linode-dr-converge) with a read-only key limited to this bucket, and verifies the sha256.
 * Each stack owns its own bucket, so destroying one stack never removes what the other's Linodes
 * (including a DR app Linode created at failover time) need.
 */
export class ArtifactStore extends pulumi.ComponentResource {
  readonly bucket: linode.ObjectStorageBucket;
  readonly releaseSource: pulumi.Output<ReleaseSource>;

  constructor(name: string, args: ArtifactStoreArgs, opts?: pulumi.ComponentResourceOptions) {
    super("linode-dr:index:ArtifactStore", name, {}, opts);
    const names = artifactStoreChildNames(name);

    // Bucket labels are unique across every customer of a cluster, so a fixed label could collide.
    const suffix = new random.RandomString(
      `${name}-suffix`,
      { length: 8, upper: false, special: false },
      { parent: this },
    );
    this.bucket = new linode.ObjectStorageBucket(
      names.bucket,
      {
        label: pulumi.interpolate`${bucketLabelPrefix(args.labelPrefix)}-${suffix.result}`,
        region: args.region,
        acl: "private",
      },
      { parent: this },
    );
    const access = (permissions: "read_only" | "read_write") => [
      { bucketName: this.bucket.label, region: args.region, permissions },
    ];
    const writer = new linode.ObjectStorageKey(
      `${name}-writer-key`,
      { label: pulumi.interpolate`${this.bucket.label}-writer`, bucketAccesses: access("read_write") },
      { parent: this, additionalSecretOutputs: ["secretKey"] },
    );
    // Goes into user data: it can read this bucket and nothing else.
    const reader = new linode.ObjectStorageKey(
      `${name}-reader-key`,
      { label: pulumi.interpolate`${this.bucket.label}-reader`, bucketAccesses: access("read_only") },
      { parent: this, additionalSecretOutputs: ["secretKey"] },
    );

    const key = releaseObjectKey(args.release.sha256);
    const object = new linode.ObjectStorageObject(
      names.release,
      {
        bucket: this.bucket.label,
        region: args.region,
        key,
        contentBase64: args.release.tar.toString("base64"),
        contentType: "application/x-tar",
        acl: "private",
        accessKey: writer.accessKey,
        secretKey: writer.secretKey,
      },
      { parent: this },
    );

    this.releaseSource = pulumi.secret(
      pulumi
        .all([this.bucket.hostname, this.bucket.s3Endpoint, reader.accessKey, reader.secretKey, object.key])
        .apply(([hostname, s3Endpoint, accessKey, secretKey]) => ({
          baseUrl: `https://${hostname}/releases`,
          sha256: args.release.sha256,
          cluster: clusterOf(s3Endpoint),
          accessKey,
          secretKey,
        })),
    );
    this.registerOutputs({ bucket: this.bucket.label, releaseKey: object.key });
  }
}

/** Bucket labels: 3-63 lower-case letters, digits and hyphens; 9 are left for "-" + the suffix. */
export function bucketLabelPrefix(labelPrefix: string): string {
  const cleaned = labelPrefix
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "");
  return (cleaned.slice(0, 54).replace(/-+$/, "") || "linode-dr").padEnd(3, "x");
}

/** "us-iad-1.linodeobjects.com" → "us-iad-1": the cluster is the SigV4 region of every request. */
export function clusterOf(s3Endpoint: string): string {
  const match = /^([a-z0-9-]+)\.linodeobjects\.com$/.exec(s3Endpoint);
  if (!match)
    throw new Error(
      `expected an Object Storage endpoint like "us-iad-1.linodeobjects.com"; received "${s3Endpoint}"`,
    );
  return match[1];
}
