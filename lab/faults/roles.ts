import type { Role } from "../../config";
import type { LinodeRole } from "../../stacks/resourceNames";

export type { LinodeRole };

/**
 * What a fault touches, named by the program's roles rather than by lab host names: the three
 * sites (region A is stack primary's, region B stack dr's, the third site holds the witness) and
 * the Linodes each stack declares (the program's own LinodeRole). How a role maps to a lab host is
 * the target's business.
 */

export type Site = Role | "witness";

export function database(stack: Role): LinodeRole {
  return { tier: "database", stack };
}

export function app(stack: Role, index: number): LinodeRole {
  if (!Number.isInteger(index) || index < 0)
    throw new Error(`app Linode index: received ${index}; expected a whole number from 0`);
  return { tier: "app", stack, index };
}

export const witness: LinodeRole = { tier: "witness", stack: "dr" };

/** Where each site is, in the words a report uses. */
export const SITE_LABELS: Record<Site, string> = {
  primary: "region A",
  dr: "region B",
  witness: "the third site",
};

export function describeLinode(linode: LinodeRole): string {
  if (linode.tier === "witness") return "the witness Linode";
  const where = SITE_LABELS[linode.stack];
  return linode.tier === "database" ? `${where}'s database Linode` : `${where}'s app Linode ${linode.index}`;
}

/** The services a fault can kill or freeze on a Linode. */
export type Service = "app" | "postgres" | "patroni" | "etcd" | "follower";

/** Which services run on which tier (a fault on a service the Linode lacks is refused). */
export const SERVICES_OF: Record<LinodeRole["tier"], readonly Service[]> = {
  database: ["postgres", "patroni", "etcd"],
  app: ["app"],
  witness: ["etcd", "follower"],
};
