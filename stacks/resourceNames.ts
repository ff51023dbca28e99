import type { Role } from "../config";
import { ROLES } from "../config/keySpec";
import { addressRecordsChildNames } from "../components/addressRecords";
import { appIndexOf, appInstanceName } from "../components/appTier";
import { artifactStoreChildNames } from "../components/artifactStore";
import { databaseInstanceName } from "../components/database";
import { automationKeyName, hostIdentityChildNames } from "../components/hostIdentity";
import { leaderCommandName, otherMemberCommandName } from "../components/leadership";
import { followerCommandName } from "../components/trafficFollower";
import { loadBalancerChildNames, type LoadBalancerChildNames } from "../components/loadBalancer";
import { regionSiteChildNames } from "../components/regionSite";
import { siteFirewallsChildNames } from "../components/siteFirewalls";
import { serverCertificateChildNames } from "../components/tlsChain";
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
    // The Witness and its WitnessAccess: components of two types may share a name.
    witness: `${stack}-witness`,
    databaseCertificate: `${stack}-db-cert`,
    witnessCertificate: `${stack}-witness-cert`,
    leadership: `${stack}-leadership`,
    traffic: `${stack}-traffic`,
    follower: `${stack}-follower`,
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
  /** Cluster members (databases, witness): the certificate they present, as the program issued it. */
  certificate?: string;
}

export interface AddressRecordNames {
  a: string;
  aaaa: string;
}

/** What either stack declares, by name. */
export interface StackResourceNames {
  database: LinodeResourceNames;
  app(index: number): LinodeResourceNames;
  /** The NodeBalancer, its config and its nodes. */
  loadBalancer: LoadBalancerChildNames;
  firewalls: { app: string; database: string };
  /** The records naming the stack's own NodeBalancer (`<role>.<appName>`). */
  regionRecords: AddressRecordNames;
  /** The release bucket and the release object in it. */
  artifacts: { bucket: string; release: string };
  /** The stack's own SSH key, which its remote commands log in with. */
  automationKey: string;
}

/** What only stack dr declares, by name. */
export interface DrResourceNames {
  /** The witness Linode's resources and the Cloud Firewall that admits the databases to it. */
  witness: LinodeResourceNames & { firewall: string };
  /** The records of `<appName>`, the name users reach. */
  traffic: AddressRecordNames;
  /**
   * The failover flag: the Leadership component, its command on the member the flag names (the
   * traffic records depend on it) and, with automaticFailover=false, on the other member.
   */
  leadership: { component: string; leader: string; other: string };
  /** The traffic follower on the witness (with followerApiToken set) and the command that installs it. */
  follower: { component: string; install: string };
}

function childrenOf(stack: Role) {
  return stackChildNames(stackComponentName(stack));
}

function siteOf(stack: Role) {
  return regionSiteChildNames(childrenOf(stack).site);
}

export function stackResourceNames(stack: Role): StackResourceNames {
  const children = childrenOf(stack);
  const site = siteOf(stack);
  return {
    database: {
      linode: databaseInstanceName(site.database),
      converge: site.databaseConverge,
      certificate: serverCertificateChildNames(children.databaseCertificate).cert,
      ...hostIdentityChildNames(site.database),
    },
    app(index) {
      const linode = appInstanceName(site.appTier, index);
      return { linode, converge: site.appConverge(index), ...hostIdentityChildNames(linode) };
    },
    loadBalancer: loadBalancerChildNames(site.loadBalancer),
    firewalls: siteFirewallsChildNames(site.firewalls),
    regionRecords: addressRecordsChildNames(children.regionRecords),
    artifacts: artifactStoreChildNames(children.artifacts),
    automationKey: automationKeyName(stackComponentName(stack)),
  };
}

export function drResourceNames(): DrResourceNames {
  const children = childrenOf("dr");
  const access = witnessAccessChildNames(children.witness);
  return {
    witness: {
      linode: witnessInstanceName(children.witness),
      converge: access.converge,
      firewall: access.firewall,
      certificate: serverCertificateChildNames(children.witnessCertificate).cert,
      ...hostIdentityChildNames(children.witness),
    },
    traffic: addressRecordsChildNames(children.traffic),
    leadership: {
      component: children.leadership,
      leader: leaderCommandName(children.leadership),
      other: otherMemberCommandName(children.leadership),
    },
    follower: { component: children.follower, install: followerCommandName(children.follower) },
  };
}

export function linodeResourceNames(role: LinodeRole): LinodeResourceNames {
  switch (role.tier) {
    case "database":
      return stackResourceNames(role.stack).database;
    case "app":
      return stackResourceNames(role.stack).app(role.index);
    case "witness":
      return drResourceNames().witness;
  }
}

/** The role of the Linode (Instance) named `resourceName`; undefined when it is none of the program's. */
export function linodeRoleOf(resourceName: string): LinodeRole | undefined {
  if (resourceName === drResourceNames().witness.linode) return { tier: "witness", stack: "dr" };
  for (const stack of ROLES) {
    if (resourceName === stackResourceNames(stack).database.linode) return { tier: "database", stack };
    const index = appIndexOf(siteOf(stack).appTier, resourceName);
    if (index !== undefined) return { tier: "app", stack, index };
  }
  return undefined;
}
