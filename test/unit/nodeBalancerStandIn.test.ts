import { describe, expect, it } from "vitest";
import type { RecordedResource } from "../../evaluation/mocks";
import { modeChangeCommands, parseServerStates } from "../../lab/standins/haproxyRuntime";
import { renderNodeBalancerConfig } from "../../lab/standins/nodeBalancerConfig";
import { nodeBalancerModel } from "../../lab/standins/nodeBalancerModel";
import { RESOURCE_TYPE } from "../../components/resourceTypes";

const OPTIONS = { adminSocket: "/s/admin.sock", certificateDir: "/s" };

function resources(
  config: Record<string, unknown> = {},
  nodes: Record<string, unknown>[] = [],
): RecordedResource[] {
  const nb = { region: "us-ord", clientConnThrottle: 0 };
  const cfg = {
    nodebalancerId: 7,
    port: 80,
    protocol: "http",
    algorithm: "roundrobin",
    stickiness: "none",
    check: "http",
    checkPath: "/healthz",
    checkInterval: 5,
    checkTimeout: 3,
    checkAttempts: 2,
    checkPassive: true,
    ...config,
  };
  const nodeList = nodes.length
    ? nodes
    : [
        { label: "app-0", address: "198.51.100.20:8080", mode: "accept", weight: 100 },
        { label: "app-1", address: "198.51.100.21:8080", mode: "backup", weight: 50 },
      ];
  return [
    {
      type: RESOURCE_TYPE.nodeBalancer,
      name: "lb",
      id: "7",
      inputs: nb,
      state: { ...nb, ipv4: "198.51.100.5" },
    },
    // A second NodeBalancer's config must not leak into the first.
    {
      type: RESOURCE_TYPE.nodeBalancerConfig,
      name: "other",
      id: "9",
      inputs: { ...cfg, nodebalancerId: 8, port: 81 },
      state: {},
    },
    {
      type: RESOURCE_TYPE.nodeBalancerConfig,
      name: "http",
      id: "11",
      inputs: cfg,
      state: cfg,
    },
    ...nodeList.map((n, i) => ({
      type: RESOURCE_TYPE.nodeBalancerNode,
      name: `node-${i}`,
      id: String(20 + i),
      inputs: { nodebalancerId: 7, configId: 11, ...n },
      state: {},
    })),
  ];
}

describe("NodeBalancer stand-in configuration", () => {
  it("maps checks, passive checks, weights and backup the way Linode documents them", () => {
    const text = renderNodeBalancerConfig(resources(), "lb", OPTIONS);
    expect(text).toContain("  stats socket /s/admin.sock mode 600 level admin");
    expect(text).toContain("  bind 198.51.100.5:80\n  mode http");
    expect(text).not.toContain(":81");
    expect(text).toContain("  option httpchk GET /healthz\n  http-check expect rstatus ^[23]");
    expect(text).toContain("  timeout check 3s");
    expect(text).toContain(
      "  server app-0 198.51.100.20:8080 weight 100 check inter 5s fall 2 rise 2 observe layer7 error-limit 1 on-error mark-down\n",
    );
    expect(text).toMatch(/server app-1 198\.51\.100\.21:8080 weight 50 .* backup\n/);
    expect(text).toContain("option forwardfor");
  });

  it("renders tcp, connection checks, source hashing, table stickiness, throttle and reject", () => {
    const list = resources(
      { protocol: "tcp", check: "connection", algorithm: "source", stickiness: "table", proxyProtocol: "v2" },
      [{ label: "db-0", address: "198.51.100.10:5432", mode: "reject" }],
    );
    list[0].inputs.clientConnThrottle = 5;
    const text = renderNodeBalancerConfig(list, "lb", OPTIONS);
    expect(text).toContain("  mode tcp\n  balance source\n  hash-type consistent");
    expect(text).not.toContain("httpchk");
    expect(text).toContain("stick on src");
    expect(text).toContain("tcp-request connection reject if { sc0_conn_rate gt 5 }");
    expect(text).toContain(
      "  server db-0 198.51.100.10:5432 weight 100 check inter 5s fall 2 rise 2 observe layer4 error-limit 1 on-error mark-down send-proxy-v2 disabled",
    );
  });

  it("renders http_body checks, https termination, cookie stickiness and a chosen rise", () => {
    const text = renderNodeBalancerConfig(
      resources({
        protocol: "https",
        check: "http_body",
        checkBody: 'say "ok"',
        stickiness: "http_cookie",
        sslCert: "C",
        sslKey: "K",
      }),
      "lb",
      { ...OPTIONS, rise: 1 },
    );
    expect(text).toContain("  bind 198.51.100.5:80 ssl crt /s/11.pem");
    expect(text).toContain('  http-check expect string "say \\"ok\\""');
    expect(text).toContain("cookie NB_SRVID insert indirect nocache");
    expect(text).toMatch(/server app-0 .* rise 1 .* cookie app-0\n/);
    expect(text).toContain("X-Forwarded-Proto https");
  });

  it("refuses what the Linode API refuses", () => {
    expect(() => nodeBalancerModel(resources({ checkInterval: 3, checkTimeout: 3 }), "lb")).toThrow(
      /must exceed/,
    );
    expect(() => nodeBalancerModel(resources({ protocol: "https" }), "lb")).toThrow(/sslCert/);
    expect(() => nodeBalancerModel(resources({ check: "http_body" }), "lb")).toThrow(/checkBody/);
    expect(() =>
      nodeBalancerModel(resources({}, [{ label: "x", address: "198.51.100.20:80" }]), "lb"),
    ).toThrow(/label/);
    expect(() => nodeBalancerModel(resources(), "nope")).toThrow(/no linode:index\/nodeBalancer/);
  });
});

describe("NodeBalancer stand-in runtime", () => {
  const csv = [
    "# pxname,svname,qcur,status,weight",
    "nb-port80,FRONTEND,,OPEN,",
    "port80,app-0,0,UP 1/2,100",
    "port80,app-1,0,DRAIN,0",
    "port80,app-2,0,MAINT (resolution),1",
    "port80,app-3,0,DOWN 1/2,1",
    "port80,app-4,0,no check,1",
    "port80,BACKEND,0,UP,100",
    "port81,app-9,0,DOWN,1",
  ].join("\n");

  it("reads server states of one backend", () => {
    expect(parseServerStates(csv, "port80")).toEqual({
      "app-0": "UP",
      "app-1": "DRAIN",
      "app-2": "MAINT",
      "app-3": "DOWN",
      "app-4": "UP",
    });
  });

  it("changes accept/drain/reject in place and re-adds a server to toggle backup", () => {
    const model = nodeBalancerModel(resources(), "lb");
    const [config] = model.configs;
    const [app0] = config.nodes;
    expect(modeChangeCommands(config, app0, "accept", "drain", true)).toEqual({
      remove: [],
      add: ["set server port80/app-0 state drain"],
    });
    const change = modeChangeCommands(config, app0, "accept", "backup", false);
    expect(change.remove.at(-1)).toBe("del server port80/app-0");
    expect(change.add).toEqual([
      "add server port80/app-0 198.51.100.20:8080 weight 100 check inter 5s fall 2 rise 2 observe layer7 error-limit 1 on-error mark-down backup",
      "enable health port80/app-0",
      "set server port80/app-0 health down",
      "set server port80/app-0 state ready",
    ]);
  });
});
