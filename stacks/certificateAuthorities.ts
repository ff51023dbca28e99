import * as pulumi from "@pulumi/pulumi";
import type { Role } from "../config";
import { ReplicationCa } from "../components/tlsChain";
import { CA_OUTPUTS } from "./outputs";

/**
 * Each stack has its own CA, whose private key stays in that stack's state: the dr stack signs its
 * members' certificates without the primary stack (which a disaster may have taken) and without
 * ever holding the primary's key. Every member trusts both stacks' CAs (the bundle), so a CA is
 * rolled by listing generations: the first signs, all are trusted (config certificateAuthorities).
 */

/** Which CA generations of each stack a stack's members were given to trust. */
export type TrustedGenerations = Record<Role, number[]>;

/** Generation 1 keeps the name the stack's CA had before there were generations. */
export function caResourceName(stack: string, generation: number): string {
  return generation === 1 ? `${stack}-ca` : `${stack}-ca-${generation}`;
}

/**
 * The witness's own CAs (dr stack): etcd's client port trusts only the databases' CAs, so a
 * certificate they sign serves as a peer and never as a client ("Who can write Patroni's leader
 * key", docs/consensus.md). The hosts leave them out of etcd's client bundle by this name
 * (provisioning/scripts/etcd-member.sh, test/unit/witnessCa.test.ts).
 */
export const WITNESS_CA_NAME = "linode-dr witness CA";

/** What a set of CAs issues: the stack's members, or (dr stack) the witness alone. */
export type CaPurpose = Role | "witness";

export interface StackCas {
  /** The CA that signs this stack's member certificates (the first generation listed). */
  signing: ReplicationCa;
  /** Every listed CA's certificate, in the listed order: what this stack publishes for the other. */
  certsPem: pulumi.Output<string>;
}

/**
 * The stack's CAs, one per listed generation, children of `parent`. Only the signing CA is
 * protected: a CA that only vouches for certificates no longer in use may be retired (deleted)
 * by the next update that drops it from the list.
 */
export function stackCas(
  stack: string,
  args: { role: CaPurpose; domain: string; generations: readonly number[] },
  parent: pulumi.Resource,
): StackCas {
  const resourcePrefix = args.role === "witness" ? `${stack}-witness` : stack;
  const commonName = args.role === "witness" ? WITNESS_CA_NAME : `linode-dr ${args.role} CA`;
  const cas = args.generations.map(
    (generation, i) =>
      new ReplicationCa(
        caResourceName(resourcePrefix, generation),
        { commonName: `${commonName} ${generation} (${args.domain})`, protect: i === 0 },
        { parent },
      ),
  );
  return {
    signing: cas[0],
    certsPem: pulumi.all(cas.map((ca) => ca.certPem)).apply((pems) => pems.map(pemBlock).join("")),
  };
}

/** A PEM text ending in exactly one newline, so that concatenated blocks stay parseable. */
function pemBlock(pem: string): string {
  return `${pem.trim()}\n`;
}

/**
 * What the members of a stack trust: its own CAs and, once known, the other stack's. In a fixed
 * order whatever signs: a roll step that only changes which CA signs leaves the bundle (and so
 * every etcd, which restarts for a new bundle) alone.
 */
export function trustBundle(ownCertsPem: string, peerCertsPem: string | undefined): string {
  const blocks = `${ownCertsPem}\n${peerCertsPem ?? ""}`.match(
    /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g,
  );
  return [...new Set(blocks ?? [])]
    .sort()
    .map((block) => `${block}\n`)
    .join("");
}

/**
 * What a stack publishes about its CAs (never a private key): its CA certificates for the other
 * stack's bundle (the dr stack's include the witness's), its generations, and which generations of both stacks its members were given
 * (the other stack's as this update read them), which the CA guard reads back.
 */
export function caOutputs(
  role: Role,
  certsPem: pulumi.Output<string>,
  generations: readonly number[],
  peerGenerations: pulumi.Output<number[]>,
): Record<string, pulumi.Output<unknown>> {
  const trusted = (peer: number[]): TrustedGenerations =>
    role === "primary" ? { primary: [...generations], dr: peer } : { primary: peer, dr: [...generations] };
  return {
    [CA_OUTPUTS.caCertsPem]: certsPem,
    [CA_OUTPUTS.caGenerations]: pulumi.output([...generations]),
    [CA_OUTPUTS.trustedCaGenerations]: peerGenerations.apply(trusted),
  };
}
