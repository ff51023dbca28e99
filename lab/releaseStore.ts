import type { Host } from "./hosts/host";
import type { Lab } from "./hosts/lab";
import type { Evaluation } from "../evaluation/evaluate";
import { LAB_ADDRESSES, LAB_REGIONS } from "./addressPlan";
import { ObjectStorageStandIn } from "./standins/objectStorage";
import type { ExecResult } from "./process";

/**
 * The program's release buckets in the lab: the Object Storage stand-in on a host of the third
 * site, serving every bucket, key and object the given stack evaluations declare. Lab hosts that
 * boot from the program's user data fetch their release from it, as Linodes fetch from Object
 * Storage in artifactRegion.
 */
export async function startReleaseStore(
  lab: Lab,
  evaluations: readonly Evaluation[],
): Promise<ObjectStorageStandIn> {
  if (!lab.hasRegion("C")) lab.addRegion("C", LAB_REGIONS.C.cidr);
  const host = await lab.addHost({ name: "objstore", region: "C", address: LAB_ADDRESSES.objectStorage });
  return ObjectStorageStandIn.start(
    host,
    evaluations.flatMap((e) => e.resources),
  );
}

/** First boot of a Linode from user data, with the release store reachable and trusted. */
export async function bootFromUserData(
  store: ObjectStorageStandIn,
  host: Host,
  userData: string,
): Promise<ExecResult> {
  await store.trustAndResolve(host);
  return host.tryProvision(userData);
}
