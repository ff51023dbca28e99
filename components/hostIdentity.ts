import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as tls from "@pulumi/tls";
import type { HostAccess, ReleaseSource } from "../provisioning/host";

/**
 * What makes one Linode its own host: an SSH host key the program generates (installed by
 * cloud-init and pinned by every remote command, so a command never trusts whatever answers on
 * the address) and a root password of its own (for the Lish console; SSH is key-only). Both are
 * stable in state: root_pass and user data force a new Linode when they change.
 */
export interface HostIdentity {
  hostKey: tls.PrivateKey;
  rootPassword: random.RandomPassword;
}

/** What hostIdentity(`host`) names its key and password. */
export function hostIdentityChildNames(host: string): { hostKey: string; rootPassword: string } {
  return { hostKey: `${host}-host-key`, rootPassword: `${host}-root-password` };
}

export function hostIdentity(name: string, parent: pulumi.Resource): HostIdentity {
  const names = hostIdentityChildNames(name);
  return {
    hostKey: new tls.PrivateKey(names.hostKey, { algorithm: "ED25519" }, { parent }),
    rootPassword: new random.RandomPassword(
      names.rootPassword,
      { length: 32, special: true, overrideSpecial: "-_.,:+=" },
      { parent },
    ),
  };
}

/** The automation key automationKey(`owner`) declares. */
export function automationKeyName(owner: string): string {
  return `${owner}-automation-key`;
}

export interface AutomationKey {
  privateKeyOpenssh: pulumi.Output<string>;
  publicKeyOpenssh: pulumi.Output<string>;
}

/**
 * The stack's own SSH identity for remote commands. Operators' keys (sshPublicKeys) can then be
 * rotated freely: the command that installs the new set logs in with this key, which never
 * changes. Protected: losing it would leave the program unable to reach its own Linodes.
 */
export function automationKey(name: string, parent: pulumi.Resource): AutomationKey {
  const key = new tls.PrivateKey(
    automationKeyName(name),
    { algorithm: "ED25519" },
    { parent, protect: true },
  );
  return {
    privateKeyOpenssh: pulumi.secret(key.privateKeyOpenssh),
    publicKeyOpenssh: key.publicKeyOpenssh.apply((k) => k.trim()),
  };
}

/** The leadership key leadershipKey(`owner`) declares. */
export function leadershipKeyName(owner: string): string {
  return `${owner}-leadership-key`;
}

/**
 * The primary stack's key for the dr stack's failover flag: authorized on the primary database
 * only, where it may run nothing but linode-dr-leader (a forced command, written by converge).
 * The dr stack reads the private half as a secret output, so the flag can make region A lead
 * without going through region B and without the primary stack's automation key. Not protected:
 * a new key is installed by the next `up -s primary` and used by the next `up -s dr`.
 */
export function leadershipKey(name: string, parent: pulumi.Resource): AutomationKey {
  const key = new tls.PrivateKey(leadershipKeyName(name), { algorithm: "ED25519" }, { parent });
  return {
    privateKeyOpenssh: pulumi.secret(key.privateKeyOpenssh),
    publicKeyOpenssh: key.publicKeyOpenssh.apply((k) => k.trim()),
  };
}

/** root's keys on every Linode: the operators' and the stack's automation key. */
export function authorizedKeysWith(
  automation: AutomationKey,
  sshPublicKeys: string[],
): pulumi.Output<string[]> {
  return pulumi
    .output(automation.publicKeyOpenssh)
    .apply((automationPublicKey) => [...sshPublicKeys, automationPublicKey]);
}

/**
 * A Linode's user data: its role's settings rendered together with the release it fetches and its
 * own SSH access (host key, root's keys). Secret: it carries credentials and the host's private key.
 */
export function hostUserData<T>(
  identity: HostIdentity,
  args: {
    config: pulumi.Input<T>;
    release: pulumi.Input<ReleaseSource>;
    authorizedKeys: pulumi.Input<string[]>;
  },
  render: (config: T, host: { release: ReleaseSource; access: HostAccess }) => string,
): pulumi.Output<string> {
  return pulumi.secret(
    pulumi
      .all([
        pulumi.output(args.config) as pulumi.Output<unknown>,
        args.release,
        args.authorizedKeys,
        identity.hostKey.privateKeyOpenssh,
        identity.hostKey.publicKeyOpenssh,
      ])
      .apply(([config, release, authorizedKeys, privateKeyOpenssh, publicKeyOpenssh]) =>
        render(config as T, {
          release,
          access: { hostKey: { privateKeyOpenssh, publicKeyOpenssh }, authorizedKeys },
        }),
      ),
  );
}
