import { SITE_REGIONS } from "../addressPlan";
import type { LinodeRole } from "../faults/roles";

/** A lab host's name for a Linode: short, and saying region and role ("pg-a", "app-b1", "witness"). */
export function labHostName(linode: LinodeRole): string {
  if (linode.tier === "witness") return "witness";
  const region = SITE_REGIONS[linode.stack].toLowerCase();
  return linode.tier === "database" ? `pg-${region}` : `app-${region}${linode.index}`;
}
