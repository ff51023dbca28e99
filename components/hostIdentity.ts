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

/** The automation key of `generation` that automationKey(`owner`) declares (generation 1 keeps its first name). */
export function automationKeyName(owner: string, generation = 1): string {
  return generation === 1 ? `${owner}-automation-key` : `${owner}-automation-key-${generation}`;
}

/** An SSH key pair the program generates and logs in with. */
export interface SshKeyPair {
  privateKeyOpenssh: pulumi.Output<string>;
  publicKeyOpenssh: pulumi.Output<string>;
}

/** The stack's automation key: the one its commands log in with, and every one its Linodes authorize. */
export interface AutomationKey extends SshKeyPair {
  authorizedPublicKeys: pulumi.Output<string[]>;
}

function ed25519Key(name: string, parent: pulumi.Resource): SshKeyPair {
  const key = new tls.PrivateKey(name, { algorithm: "ED25519" }, { parent });
  return {
    privateKeyOpenssh: pulumi.secret(key.privateKeyOpenssh),
    publicKeyOpenssh: key.publicKeyOpenssh.apply((k) => k.trim()),
  };
}

/**
 * The stack's own SSH identity for remote commands, one key per listed generation (automationKeys):
 * commands log in with the first, every Linode authorizes them all. Operators' keys (sshPublicKeys)
 * can then be rotated freely: the command that installs the new set logs in with this key. The key
 * itself rotates in two updates (authorize the new one, then log in with it), and the automation
 * key guard refuses to log in with a key the Linodes were not given. Not protected: a protected
 * key could not be retired, and the guard is what keeps the program from locking itself out.
 */
export function automationKey(
  name: string,
  parent: pulumi.Resource,
  generations: readonly number[] = [1],
): AutomationKey {
  const keys = generations.map((generation) => ed25519Key(automationKeyName(name, generation), parent));
  return {
    ...keys[0],
    authorizedPublicKeys: pulumi.all(keys.map((k) => k.publicKeyOpenssh)),
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
export function leadershipKey(name: string, parent: pulumi.Resource): SshKeyPair {
  return ed25519Key(leadershipKeyName(name), parent);
}

/** root's keys on every Linode: the operators' and the stack's automation keys. */
export function authorizedKeysWith(
  automation: AutomationKey,
  sshPublicKeys: string[],
): pulumi.Output<string[]> {
  return automation.authorizedPublicKeys.apply((automationKeys) => [...sshPublicKeys, ...automationKeys]);
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
