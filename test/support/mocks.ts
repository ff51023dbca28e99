import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { mockCertRequest, mockLocallySignedCert, mockPrivateKey, mockSelfSignedCert } from "./tlsMock";

/**
 * Mocks for the Linode, TLS, random and command providers that return what the real ones would:
 * numeric string ids, a public and a private IPv4 per Linode, NodeBalancer addresses. Any provider
 * function call is unmocked and fails loudly, so the program cannot silently depend on one.
 */

export interface LinodeAddresses {
  publicIpv4: string;
  privateIpv4: string;
  ipv6: string;
}

export interface AddressPlan {
  linode(resourceName: string, region: string): LinodeAddresses;
  nodeBalancer(resourceName: string, region: string): { ipv4: string; ipv6: string };
}

export interface StackOutputsFixture {
  outputs: Record<string, unknown>;
  secretOutputNames?: string[];
}

export interface RecordedResource {
  type: string;
  name: string;
  id: string;
  inputs: Record<string, any>;
  state: Record<string, any>;
}

export interface RegionAddresses {
  /** First three octets of public IPv4s, e.g. "198.51.100". */
  publicPrefix: string;
  /** First three octets of private IPv4s, e.g. "192.168.128". */
  privatePrefix: string;
  /** Added to the host octet of private addresses (lets a lab put both in one /24). */
  privateHostOffset?: number;
  /** IPv6 prefix without the host part, e.g. "2001:db8:a::". */
  ipv6Prefix: string;
}

/** Host octets by role, so an address depends on what a resource is, never on creation order. */
function hostOctet(resourceName: string): number {
  if (/-nodebalancer$/.test(resourceName)) return 5;
  if (/-db-linode$/.test(resourceName)) return 10;
  const app = /-app-([0-9]+)$/.exec(resourceName);
  if (app) return 20 + Number(app[1]);
  throw new Error(`address plan: no host octet for resource ${resourceName}`);
}

/**
 * Deterministic addresses: a region's prefix plus a host octet taken from the resource's role.
 * Unit tests default to documentation ranges for public addresses and Linode's private range.
 */
export function regionAddressPlan(regions: Record<string, RegionAddresses>): AddressPlan {
  const of = (region: string): RegionAddresses => {
    const found = regions[region];
    if (!found) throw new Error(`address plan has no addresses for region "${region}"`);
    return found;
  };
  return {
    linode(name, region) {
      const r = of(region);
      const host = hostOctet(name);
      return {
        publicIpv4: `${r.publicPrefix}.${host}`,
        privateIpv4: `${r.privatePrefix}.${host + (r.privateHostOffset ?? 0)}`,
        ipv6: `${r.ipv6Prefix}${host}/128`,
      };
    },
    nodeBalancer(name, region) {
      const r = of(region);
      const host = hostOctet(name);
      return { ipv4: `${r.publicPrefix}.${host}`, ipv6: `${r.ipv6Prefix}${host}` };
    },
  };
}

export function unitTestAddressPlan(): AddressPlan {
  return regionAddressPlan({
    "us-ord": { publicPrefix: "198.51.100", privatePrefix: "192.168.128", ipv6Prefix: "2001:db8:a::" },
    "us-sea": { publicPrefix: "203.0.113", privatePrefix: "192.168.129", ipv6Prefix: "2001:db8:b::" },
  });
}

function mockPassword(name: string, length: number): string {
  // Deterministic per resource so evaluations compare, alphanumeric like special=false.
  let out = "";
  let counter = 0;
  while (out.length < length) {
    out += createHash("sha256")
      .update(`${name}:${counter++}`)
      .digest("base64")
      .replace(/[^A-Za-z0-9]/g, "");
  }
  return out.slice(0, length);
}

export class LinodeMocks implements pulumi.runtime.Mocks {
  readonly resources: RecordedResource[] = [];
  private nextId = 10_000;

  constructor(
    private readonly plan: AddressPlan = unitTestAddressPlan(),
    private readonly stackOutputs: Record<string, StackOutputsFixture> = {},
  ) {}

  private numericId(): string {
    return String(this.nextId++);
  }

  newResource(args: pulumi.runtime.MockResourceArgs): { id: string | undefined; state: Record<string, any> } {
    const { id, state } = this.resolve(args);
    if (args.custom !== false) {
      this.resources.push({ type: args.type, name: args.name, id: id ?? "", inputs: args.inputs, state });
    }
    return { id, state };
  }

  private resolve(args: pulumi.runtime.MockResourceArgs): {
    id: string | undefined;
    state: Record<string, any>;
  } {
    const inputs = args.inputs;
    switch (args.type) {
      case "linode:index/instance:Instance": {
        const a = this.plan.linode(args.name, inputs.region);
        return {
          id: this.numericId(),
          state: {
            ...inputs,
            ipv4s: [a.publicIpv4, a.privateIpv4],
            ipAddress: a.publicIpv4,
            privateIpAddress: a.privateIpv4,
            ipv6: a.ipv6,
            status: "running",
            label: inputs.label ?? `linode${this.nextId}`,
          },
        };
      }
      case "linode:index/nodeBalancer:NodeBalancer": {
        const a = this.plan.nodeBalancer(args.name, inputs.region);
        const id = this.numericId();
        return {
          id,
          state: { ...inputs, ipv4: a.ipv4, ipv6: a.ipv6, hostname: `nb-${id}.nodebalancer.linode.com` },
        };
      }
      case "linode:index/nodeBalancerConfig:NodeBalancerConfig":
      case "linode:index/nodeBalancerNode:NodeBalancerNode":
      case "linode:index/firewall:Firewall":
      case "linode:index/domain:Domain":
      case "linode:index/domainRecord:DomainRecord":
        return { id: this.numericId(), state: { ...inputs } };
      case "random:index/randomPassword:RandomPassword":
        return {
          id: this.numericId(),
          state: { ...inputs, result: mockPassword(args.name, Number(inputs.length ?? 32)) },
        };
      case "tls:index/privateKey:PrivateKey":
        return { id: this.numericId(), state: { ...inputs, ...mockPrivateKey() } };
      case "tls:index/selfSignedCert:SelfSignedCert":
        return { id: this.numericId(), state: mockSelfSignedCert(inputs) };
      case "tls:index/certRequest:CertRequest":
        return { id: this.numericId(), state: mockCertRequest(inputs) };
      case "tls:index/locallySignedCert:LocallySignedCert":
        return { id: this.numericId(), state: mockLocallySignedCert(inputs) };
      case "command:remote:Command":
        return { id: this.numericId(), state: { ...inputs, stdout: "promoted", stderr: "" } };
      case "pulumi:pulumi:StackReference": {
        const fixture = this.stackOutputs[inputs.name];
        if (!fixture) {
          // What the engine does too: a reference to a stack that does not exist fails the update.
          throw new Error(`unknown stack "${inputs.name}"`);
        }
        return {
          id: inputs.name,
          state: {
            name: inputs.name,
            outputs: fixture.outputs,
            secretOutputNames: fixture.secretOutputNames ?? [],
          },
        };
      }
      default:
        if (args.custom === false || args.type.startsWith("linode-dr:")) {
          return { id: undefined, state: {} };
        }
        throw new Error(`no mock for resource type ${args.type} (${args.name})`);
    }
  }

  call(args: pulumi.runtime.MockCallArgs): Record<string, any> {
    throw new Error(`unmocked provider call ${args.token}: the program must not depend on data sources`);
  }
}
