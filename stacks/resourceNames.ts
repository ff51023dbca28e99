import type { Role } from "../config";
import { ROLES } from "../config/keySpec";
import { addressRecordsChildNames } from "../components/addressRecords";
import { appIndexOf, appInstanceName } from "../components/appTier";
import { artifactStoreChildNames } from "../components/artifactStore";
import { databaseInstanceName } from "../components/database";
import { automationKeyName, hostIdentityChildNames } from "../components/hostIdentity";
import { leaderCommandName } from "../components/leadership";
import { loadBalancerChildNames, type LoadBalancerChildNames } from "../components/loadBalancer";
import { regionSiteChildNames } from "../components/regionSite";
import { siteFirewallsChildNames } from "../components/siteFirewalls";
import { witnessAccessChildNames, witnessInstanceName } from "../components/witness";

/**
 * The full names of the resources the lab, the drill and the tests look up, by the program's
 * roles. A name is the component nesting (stack → site → node → Linode), so each is composed
 * from the child-name functions the components themselves build their children with: renaming a
 * suffix there renames it here. Names are resources' identities in state: a renamed resource is
 * a new one (the old is deleted), so test/unit/resourceNames.test.ts pins them.
 */

/** The stack component: defineStack names it after the stack's role. */
export function stackComponentName(role: Role): string {
  return role;
}

/** What PrimaryStack and DrStack name the children they both or either declare. */
export function stackChildNames(stack: string) {
  return {
    site: `${stack}-site`,
    artifacts: `${stack}-artifacts`,
    regionRecords: `${stack}-region-records`,
    witness: `${stack}-witness`,
    leadership: `${stack}-leadership`,
    traffic: `${stack}-traffic`,
  };
}

/** Which Linode: a stack's database, a stack's app Linode by index, or the witness (stack dr's). */
export type LinodeRole =
  | { tier: "database"; stack: Role }
  | { tier: "app"; stack: Role; index: number }
  | { tier: "witness"; stack: "dr" };

/** One Linode's resources: the Instance, its converge command, its host key and root password. */
export interface LinodeResourceNames {
  linode: string;
  converge: string;
  hostKey: string;
  rootPassword: string;
}

function stackChildren(role: Role) {
  return stackChildNames(stackComponentName(role));
}

function siteChildren(role: Role) {
  return regionSiteChildNames(stackChildren(role).site);
}

export function databaseResourceNames(stack: Role): LinodeResourceNames {
  const site = siteChildren(stack);
  return {
    linode: databaseInstanceName(site.database),
    converge: site.databaseConverge,
    ...hostIdentityChildNames(site.database),
  };
}

export function appResourceNames(stack: Role, index: number): LinodeResourceNames {
  const site = siteChildren(stack);
  const linode = appInstanceName(site.appTier, index);
  return { linode, converge: site.appConverge(index), ...hostIdentityChildNames(linode) };
}

/** The witness's resources, and the Cloud Firewall that admits the databases to it. */
export function witnessResourceNames(): LinodeResourceNames & { firewall: string } {
  const witness = stackChildren("dr").witness;
  const access = witnessAccessChildNames(witness);
  return {
    linode: witnessInstanceName(witness),
    converge: access.converge,
    firewall: access.firewall,
    ...hostIdentityChildNames(witness),
  };
}

export function linodeResourceNames(role: LinodeRole): LinodeResourceNames {
  switch (role.tier) {
    case "database":
      return databaseResourceNames(role.stack);
    case "app":
      return appResourceNames(role.stack, role.index);
    case "witness":
      return witnessResourceNames();
  }
}

/** The role of the Linode (Instance) named `resourceName`; undefined when it is none of the program's. */
export function linodeRoleOf(resourceName: string): LinodeRole | undefined {
  if (resourceName === witnessResourceNames().linode) return { tier: "witness", stack: "dr" };
  for (const stack of ROLES) {
    if (resourceName === databaseResourceNames(stack).linode) return { tier: "database", stack };
    const index = appIndexOf(siteChildren(stack).appTier, resourceName);
    if (index !== undefined) return { tier: "app", stack, index };
  }
  return undefined;
}

/** A stack's NodeBalancer, its config and its nodes. */
export function loadBalancerResourceNames(stack: Role): LoadBalancerChildNames {
  return loadBalancerChildNames(siteChildren(stack).loadBalancer);
}

/** A stack's app and database Cloud Firewalls. */
export function siteFirewallResourceNames(stack: Role): { app: string; database: string } {
  return siteFirewallsChildNames(siteChildren(stack).firewalls);
}

/** The A and AAAA records of `<appName>`, the name users reach (stack dr owns them). */
export function trafficRecordResourceNames(): { a: string; aaaa: string } {
  return addressRecordsChildNames(stackChildren("dr").traffic);
}

/** The A and AAAA records naming a stack's own NodeBalancer (`<role>.<appName>`). */
export function regionRecordResourceNames(stack: Role): { a: string; aaaa: string } {
  return addressRecordsChildNames(stackChildren(stack).regionRecords);
}

/** The failover flag: the Leadership component (records depend on it) and its command. */
export function leadershipResourceNames(): { component: string; leader: string } {
  const component = stackChildren("dr").leadership;
  return { component, leader: leaderCommandName(component) };
}

/** A stack's release bucket and release object. */
export function artifactStoreResourceNames(stack: Role): { bucket: string; release: string } {
  return artifactStoreChildNames(stackChildren(stack).artifacts);
}

/** A stack's own SSH key, which its remote commands log in with. */
export function automationKeyResourceName(stack: Role): string {
  return automationKeyName(stackComponentName(stack));
}
