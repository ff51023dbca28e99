import * as linode from "@pulumi/linode";
import * as pulumi from "@pulumi/pulumi";
import type { HealthCheckSettings } from "../config";
import { toLinodeId } from "./ids";

export const HEALTH_CHECK_PATH = "/healthz";

export interface LoadBalancerArgs {
  region: string;
  appPort: number;
  healthCheck: HealthCheckSettings;
  /**
   * Per-client connection limit per second (clientConnThrottle, 0-20; 0 disables). The first line
   * of defence against one address opening connections in bulk; see README.
   */
  clientConnThrottle: number;
  /**
   * Backends by stable index; the NodeBalancer reaches them on their private IPv4. A node is added
   * only after `ready` (the node's converge command) has verified the app on the host.
   */
  backends: { privateIpv4: pulumi.Input<string>; ready?: pulumi.Resource }[];
  tags: string[];
}

export interface LoadBalancerChildNames {
  nodeBalancer: string;
  /** The NodeBalancerConfig (port 80, HTTP). */
  config: string;
  /** The NodeBalancerNode of backend `index`. */
  node(index: number): string;
}

/** What a LoadBalancer named `balancer` names its NodeBalancer, config and nodes. */
export function loadBalancerChildNames(balancer: string): LoadBalancerChildNames {
  return {
    nodeBalancer: `${balancer}-nodebalancer`,
    config: `${balancer}-http`,
    node: (index) => `${balancer}-node-${index}`,
  };
}

/**
 * A NodeBalancer on port 80 in front of the app tier. Nodes are judged by the C service's /healthz,
 * which fails unless the region's database is reachable and writable, so a region whose database is
 * a standby (or gone) has no healthy backend.
 */
export class LoadBalancer extends pulumi.ComponentResource {
  readonly nodeBalancer: linode.NodeBalancer;
  readonly config: linode.NodeBalancerConfig;
  readonly nodes: linode.NodeBalancerNode[];
  readonly ipv4: pulumi.Output<string>;
  readonly ipv6: pulumi.Output<string>;

  constructor(name: string, args: LoadBalancerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("linode-dr:index:LoadBalancer", name, {}, opts);
    const names = loadBalancerChildNames(name);

    // region is explicit: the API silently defaults a missing region to us-east.
    this.nodeBalancer = new linode.NodeBalancer(
      names.nodeBalancer,
      { region: args.region, clientConnThrottle: args.clientConnThrottle, tags: args.tags },
      { parent: this },
    );
    const nodebalancerId = toLinodeId(this.nodeBalancer.id);

    this.config = new linode.NodeBalancerConfig(
      names.config,
      {
        nodebalancerId,
        port: 80,
        protocol: "http",
        algorithm: "roundrobin",
        stickiness: "none",
        check: "http",
        checkPath: HEALTH_CHECK_PATH,
        checkInterval: args.healthCheck.intervalSeconds,
        checkTimeout: args.healthCheck.timeoutSeconds,
        checkAttempts: args.healthCheck.attempts,
        // Live 5xx responses and timeouts take a node out between active checks.
        checkPassive: true,
      },
      { parent: this },
    );
    const configId = toLinodeId(this.config.id);

    this.nodes = args.backends.map(
      ({ privateIpv4, ready }, index) =>
        new linode.NodeBalancerNode(
          names.node(index),
          {
            nodebalancerId,
            configId,
            label: `app-${index}`,
            address: pulumi.interpolate`${privateIpv4}:${args.appPort}`,
            mode: "accept",
            weight: 100,
          },
          { parent: this, ...(ready ? { dependsOn: [ready] } : {}) },
        ),
    );

    this.ipv4 = this.nodeBalancer.ipv4;
    this.ipv6 = this.nodeBalancer.ipv6;
    this.registerOutputs({ ipv4: this.ipv4, ipv6: this.ipv6 });
  }
}
