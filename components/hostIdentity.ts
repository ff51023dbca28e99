import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as tls from "@pulumi/tls";
import type { HostAccess, ReleaseSource } from "../provisioning/host";

/**
 * What makes one Linode its own host: SSH host keys the program generates (installed by cloud-init
 * and by every converge, and the first one pinned by every remote command, so a command never
 * trusts whatever answers on the address) and a root password of its own (for the Lish console;
 * SSH is key-only). Host keys rotate through their generations (hostKeys): odd generations are
 * Ed25519, even ones ECDSA P-256, because sshd serves one key per type and a client pinned to a key
 * asks for that type only (pulumi-command sets HostKeyAlgorithms to it), so during a rotation the
 * old and the new key are served side by side. The root password is stable in state: root_pass
 * forces a new Linode when it changes.
 */
export interface HostIdentity {
  /** One per listed generation, in the listed order: the first is pinned. */
  hostKeys: HostKey[];
  rootPassword: random.RandomPassword;
}

export interface HostKey {
  generation: number;
  key: tls.PrivateKey;
}

/** What hostIdentity(`host`) names its key of `generation` and its password. */
export function hostIdentityChildNames(
  host: string,
  generation = 1,
): { hostKey: string; rootPassword: string } {
  return {
    hostKey: generation === 1 ? `${host}-host-key` : `${host}-host-key-${generation}`,
    rootPassword: `${host}-root-password`,
  };
}

/** The host key type of a generation: two consecutive generations are never of the same type. */
function hostKeyAlgorithm(
  generation: number,
): { algorithm: "ED25519" } | { algorithm: "ECDSA"; ecdsaCurve: "P256" } {
  return generation % 2 === 1 ? { algorithm: "ED25519" } : { algorithm: "ECDSA", ecdsaCurve: "P256" };
}

export function hostIdentity(
  name: string,
  parent: pulumi.Resource,
  generations: readonly number[] = [1],
): HostIdentity {
  return {
    hostKeys: generations.map((generation) => ({
      generation,
      key: new tls.PrivateKey(
        hostIdentityChildNames(name, generation).hostKey,
        hostKeyAlgorithm(generation),
        {
          parent,
        },
      ),
    })),
    rootPassword: new random.RandomPassword(
      hostIdentityChildNames(name).rootPassword,
      { length: 32, special: true, overrideSpecial: "-_.,:+=" },
      { parent },
    ),
  };
}

/** The public key remote commands pin: the first listed generation's. */
export function pinnedHostPublicKey(identity: HostIdentity): pulumi.Output<string> {
  return identity.hostKeys[0].key.publicKeyOpenssh.apply((k) => k.trim());
}

/** Every listed host key's private half (OpenSSH), for converge to install. Secret. */
export function hostPrivateKeys(identity: HostIdentity): pulumi.Output<string[]> {
  return pulumi.secret(pulumi.all(identity.hostKeys.map((h) => h.key.privateKeyOpenssh)));
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
        identity.hostKeys[0].key.privateKeyOpenssh,
        identity.hostKeys[0].key.publicKeyOpenssh,
      ])
      .apply(([config, release, authorizedKeys, privateKeyOpenssh, publicKeyOpenssh]) =>
        render(config as T, {
          release,
          access: { hostKey: { privateKeyOpenssh, publicKeyOpenssh }, authorizedKeys },
        }),
      ),
  );
}
