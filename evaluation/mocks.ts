import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { GET_DOMAIN_RECORD, RESOURCE_TYPE } from "../components/resourceTypes";
import { unitTestAddressPlan, type AddressPlan } from "./addressPlan";
import { mockCertRequest, mockLocallySignedCert, mockPrivateKey, mockSelfSignedCert } from "./tlsMock";

/**
 * Mocks for the Linode, TLS, random and command providers that return what the real ones would:
 * numeric string ids, a public and a private IPv4 per Linode, NodeBalancer addresses. Any provider
 * function call is unmocked and fails loudly, so the program cannot silently depend on one.
 */

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
  /** The `replacementTrigger` option as the program set it: a change replaces the resource. */
  replacementTrigger?: unknown;
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

/**
 * Keys and certificates are random, but a real stack keeps them in state across updates. Caching
 * them per resource and inputs for the whole test process gives two evaluations of the same stack
 * (failover false and true) the same keys, as two `pulumi up`s would have.
 */
/** openssl-backed stand-ins for the tls provider, by resource type. */
const TLS_MAKERS: Record<string, (inputs: Record<string, unknown>) => Record<string, unknown>> = {
  [RESOURCE_TYPE.privateKey]: mockPrivateKey,
  [RESOURCE_TYPE.selfSignedCert]: mockSelfSignedCert,
  [RESOURCE_TYPE.certRequest]: mockCertRequest,
  [RESOURCE_TYPE.locallySignedCert]: mockLocallySignedCert,
};

const resourceIds = new Map<string, string>();

const tlsCache = new Map<string, Record<string, unknown>>();
function tlsState(
  type: string,
  name: string,
  inputs: Record<string, unknown>,
  trigger: unknown,
  make: () => Record<string, unknown>,
): Record<string, unknown> {
  const key = `${type}|${name}|${JSON.stringify(inputs)}|${JSON.stringify(trigger ?? null)}`;
  let state = tlsCache.get(key);
  if (!state) {
    state = make();
    tlsCache.set(key, state);
  }
  return state;
}

/** How the SDK hands secret values to mocks: wrapped in an object tagged with this signature. */
const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG_VALUE = "1b47061264138c4ac30d75fd1eb44270";

/** Plain values for assertions and for the TLS mock; secretness is checked on the program's Outputs. */
export function unwrapSecrets(value: any): any {
  if (Array.isArray(value)) return value.map(unwrapSecrets);
  if (value !== null && typeof value === "object") {
    if (value[SECRET_SIG_KEY] === SECRET_SIG_VALUE) return unwrapSecrets(value.value);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrapSecrets(v)]));
  }
  return value;
}

export class LinodeMocks implements pulumi.runtime.Mocks {
  readonly resources: RecordedResource[] = [];

  constructor(
    private readonly plan: AddressPlan = unitTestAddressPlan(),
    private readonly stackOutputs: Record<string, StackOutputsFixture> = {},
    /** DNS record id → the target Linode serves (what the program reads with getDomainRecord). */
    private readonly liveRecords: Record<string, string> = {},
    /** Linodes replaced since they were first created, by resource name: how many times. */
    private readonly replacements: Readonly<Record<string, number>> = {},
  ) {}

  /**
   * `replacementTrigger` options by resource name, filled in by the evaluation's transformation
   * (mocks see inputs only). A TLS key whose trigger changed is a new key, as the engine's
   * replacement would make.
   */
  readonly replacementTriggers = new Map<string, unknown>();

  /**
   * Like real ids, an id belongs to the resource: the same name keeps its id in every evaluation,
   * and a replaced Linode has a new one.
   */
  private numericId(type: string, name: string, replacement = 0): string {
    const key = replacement > 0 ? `${type}|${name}|${replacement}` : `${type}|${name}`;
    let id = resourceIds.get(key);
    if (id === undefined) {
      id = String(10_000 + resourceIds.size);
      resourceIds.set(key, id);
    }
    return id;
  }

  newResource(args: pulumi.runtime.MockResourceArgs): { id: string | undefined; state: Record<string, any> } {
    const plainArgs = { ...args, inputs: unwrapSecrets(args.inputs) };
    const { id, state } = this.resolve(plainArgs);
    const trigger = this.replacementTriggers.get(args.name);
    if (args.custom !== false) {
      this.resources.push({
        type: args.type,
        name: args.name,
        id: id ?? "",
        inputs: plainArgs.inputs,
        state,
        ...(trigger !== undefined ? { replacementTrigger: trigger } : {}),
      });
    }
    return { id, state };
  }

  private resolve(args: pulumi.runtime.MockResourceArgs): {
    id: string | undefined;
    state: Record<string, any>;
  } {
    const inputs = args.inputs;
    switch (args.type) {
      case RESOURCE_TYPE.instance: {
        const replacement = this.replacements[args.name] ?? 0;
        const a = this.plan.linode(args.name, inputs.region, replacement);
        const id = this.numericId(args.type, args.name, replacement);
        return {
          id,
          state: {
            ...inputs,
            ipv4s: [a.publicIpv4, a.privateIpv4],
            ipAddress: a.publicIpv4,
            privateIpAddress: a.privateIpv4,
            ipv6: a.ipv6,
            status: "running",
            label: inputs.label ?? `linode${id}`,
          },
        };
      }
      case RESOURCE_TYPE.nodeBalancer: {
        const a = this.plan.nodeBalancer(args.name, inputs.region);
        const id = this.numericId(args.type, args.name);
        return {
          id,
          state: { ...inputs, ipv4: a.ipv4, ipv6: a.ipv6, hostname: `nb-${id}.nodebalancer.linode.com` },
        };
      }
      case RESOURCE_TYPE.nodeBalancerConfig:
      case RESOURCE_TYPE.nodeBalancerNode:
      case RESOURCE_TYPE.firewall:
      case RESOURCE_TYPE.domain:
      case RESOURCE_TYPE.domainRecord:
        return { id: this.numericId(args.type, args.name), state: { ...inputs } };
      case RESOURCE_TYPE.objectStorageBucket: {
        // What the API reports for a bucket made with `region`: the region's first cluster.
        const cluster = `${inputs.region}-1`;
        return {
          id: `${cluster}:${inputs.label}`,
          state: {
            ...inputs,
            cluster,
            hostname: `${inputs.label}.${cluster}.linodeobjects.com`,
            s3Endpoint: `${cluster}.linodeobjects.com`,
            endpoint: `${cluster}.linodeobjects.com`,
          },
        };
      }
      case RESOURCE_TYPE.objectStorageKey:
        return {
          id: this.numericId(args.type, args.name),
          state: {
            ...inputs,
            accessKey: mockPassword(`${args.name}:access`, 20).toUpperCase(),
            secretKey: mockPassword(`${args.name}:secret`, 40),
          },
        };
      case RESOURCE_TYPE.objectStorageObject:
        return { id: `${inputs.bucket}/${inputs.key}`, state: { ...inputs } };
      case RESOURCE_TYPE.randomString:
        return {
          id: this.numericId(args.type, args.name),
          state: {
            ...inputs,
            result: mockPassword(args.name, Number(inputs.length ?? 8))
              .toLowerCase()
              .replace(/[^a-z0-9]/g, "x"),
          },
        };
      case RESOURCE_TYPE.randomPassword:
        return {
          id: this.numericId(args.type, args.name),
          // A new keepers value is a replacement, hence a new password (what the provider does).
          state: {
            ...inputs,
            result: mockPassword(
              inputs.keepers ? `${args.name}:${JSON.stringify(inputs.keepers)}` : args.name,
              Number(inputs.length ?? 32),
            ),
          },
        };
      case RESOURCE_TYPE.privateKey:
      case RESOURCE_TYPE.selfSignedCert:
      case RESOURCE_TYPE.certRequest:
      case RESOURCE_TYPE.locallySignedCert:
        return {
          id: this.numericId(args.type, args.name),
          state: {
            ...inputs,
            ...tlsState(args.type, args.name, inputs, this.replacementTriggers.get(args.name), () =>
              TLS_MAKERS[args.type](inputs),
            ),
          },
        };
      case RESOURCE_TYPE.command:
        return {
          id: this.numericId(args.type, args.name),
          state: { ...inputs, stdout: "promoted", stderr: "" },
        };
      case RESOURCE_TYPE.stackReference: {
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
    if (args.token === GET_DOMAIN_RECORD) {
      const target = this.liveRecords[String(args.inputs.id)];
      if (target === undefined)
        throw new Error(`no live DNS record ${args.inputs.id} (of domain ${args.inputs.domainId})`);
      return { ...args.inputs, target };
    }
    throw new Error(
      `unmocked provider call ${args.token}: the only data source the program reads is ${GET_DOMAIN_RECORD}`,
    );
  }
}
