import { gunzipSync } from "node:zlib";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  appFirewallRules,
  databaseFirewallRules,
  MAX_RULES_PER_FIREWALL,
} from "../../components/firewallRules";
import { parseLinodeId, publicIpv4Of, toLinodeId } from "../../components/ids";
import { appTimeoutsFor, firewallLabelPrefix } from "../../components/regionSite";
import { renderCloudConfig, toLinodeUserData, USER_DATA_LIMIT_BYTES } from "../../provisioning/cloudConfig";

function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    output.apply((v) => {
      resolve(v);
      return v;
    });
    setTimeout(() => reject(new Error("output never resolved")), 2000);
  });
}

describe("toLinodeId", () => {
  it("turns a Linode id string into the number reference inputs need", async () => {
    expect(await valueOf(toLinodeId("12345"))).toBe(12345);
  });
  it("refuses a non-numeric id instead of producing NaN", () => {
    expect(() => parseLinodeId("nb-12")).toThrow('expected a numeric Linode id; received "nb-12"');
    expect(() => parseLinodeId("")).toThrow('expected a numeric Linode id; received ""');
  });
});

describe("publicIpv4Of", () => {
  it("picks the public address whatever order Linode reports them in", async () => {
    expect(await valueOf(publicIpv4Of(["192.168.139.4", "203.0.113.9"]))).toBe("203.0.113.9");
  });
});

describe("firewall rules", () => {
  it("admit the app port only from the NodeBalancer range", () => {
    expect(appFirewallRules({ appPort: 8080, adminCidrs: ["192.0.2.0/28", "2001:db8::/64"] })).toEqual([
      {
        label: "app-from-nodebalancer",
        action: "ACCEPT",
        protocol: "TCP",
        ports: "8080",
        ipv4s: ["192.168.255.0/24"],
      },
      {
        label: "ssh-admin",
        action: "ACCEPT",
        protocol: "TCP",
        ports: "22",
        ipv4s: ["192.0.2.0/28"],
        ipv6s: ["2001:db8::/64"],
      },
    ]);
  });

  it("admit PostgreSQL from each app Linode's /32, sorted so reordering is not a change", () => {
    const rules = databaseFirewallRules({
      adminCidrs: ["192.0.2.0/28"],
      appPrivateIpv4s: ["192.168.128.21", "192.168.128.20"],
    });
    expect(rules.find((r) => r.label === "pg-from-app")?.ipv4s).toEqual([
      "192.168.128.20/32",
      "192.168.128.21/32",
    ]);
    expect(rules.find((r) => r.label === "pg-replication-peer")).toBeUndefined();
  });

  it("refuse a rule with more addresses than Linode allows", () => {
    const many = Array.from({ length: 256 }, (_, i) => `192.168.${128 + Math.floor(i / 250)}.${i % 250}`);
    expect(() => databaseFirewallRules({ adminCidrs: ["192.0.2.0/28"], appPrivateIpv4s: many })).toThrow(
      /rule pg-from-app lists 256 addresses; a rule holds at most 255/,
    );
    expect(MAX_RULES_PER_FIREWALL).toBe(25);
  });
});

describe("firewallLabelPrefix", () => {
  it("fits Linode's label rules and keeps project and stack", () => {
    expect(firewallLabelPrefix("linode-dr", "primary")).toBe("linode-dr-primary");
    const long = firewallLabelPrefix("a-very-long-project-name", "organization/with/slashes");
    expect(long.length).toBeLessThanOrEqual(28);
    expect(long).toMatch(/^[A-Za-z0-9][A-Za-z0-9_.-]*[A-Za-z0-9]$/);
  });
});

describe("appTimeoutsFor", () => {
  it("keeps the app's database timeout well inside the NodeBalancer check timeout", () => {
    for (const timeoutSeconds of [1, 2, 3, 10, 30]) {
      const { dbTimeoutMs, healthCacheMs } = appTimeoutsFor({
        intervalSeconds: 40,
        timeoutSeconds,
        attempts: 2,
      });
      expect(dbTimeoutMs).toBeLessThanOrEqual((timeoutSeconds * 1000) / 2);
      expect(dbTimeoutMs).toBeGreaterThan(0);
      expect(healthCacheMs).toBeLessThanOrEqual(2000);
    }
  });
});

describe("renderCloudConfig", () => {
  const config = {
    role: "database (primary)",
    writeFiles: [
      { path: "/etc/linode-dr/secret", content: "s3cret\n", permissions: "0600" },
      {
        path: "/usr/local/src/big.c",
        content: "int main(void) { return 0; }\n".repeat(50),
        permissions: "0644",
        compress: true,
      },
    ],
    runcmd: [["/usr/local/sbin/linode-dr-db-provision"]],
  };

  it("is deterministic: the same input gives the same bytes (user data is ForceNew)", () => {
    expect(renderCloudConfig(config)).toBe(renderCloudConfig(structuredClone(config)));
  });

  it("writes a #cloud-config whose compressed files decode to the original", () => {
    const text = renderCloudConfig(config);
    expect(text.startsWith("#cloud-config\n")).toBe(true);
    const doc = parse(text);
    const big = doc.write_files.find((f: { path: string }) => f.path === "/usr/local/src/big.c");
    expect(big.encoding).toBe("gz+b64");
    expect(gunzipSync(Buffer.from(big.content, "base64")).toString("utf8")).toBe(
      config.writeFiles[1].content,
    );
    expect(doc.write_files[0]).toEqual({
      path: "/etc/linode-dr/secret",
      permissions: "0600",
      content: "s3cret\n",
    });
    expect(doc.runcmd).toEqual([["/usr/local/sbin/linode-dr-db-provision"]]);
  });

  it("rejects relative paths, duplicate paths and malformed permissions with the value received", () => {
    expect(() =>
      renderCloudConfig({
        role: "app",
        writeFiles: [{ path: "etc/x", content: "", permissions: "0600" }],
        runcmd: [],
      }),
    ).toThrow('CloudConfig.writeFiles[0].path: received "etc/x"; expected an absolute path');
    const twice = { path: "/etc/x", content: "", permissions: "0600" };
    expect(() => renderCloudConfig({ role: "app", writeFiles: [twice, twice], runcmd: [] })).toThrow(
      'CloudConfig.writeFiles[1].path: received "/etc/x"; expected a path no other entry writes (each file once)',
    );
    expect(() =>
      renderCloudConfig({
        role: "app",
        writeFiles: [{ path: "/etc/x", content: "", permissions: "600" }],
        runcmd: [],
      }),
    ).toThrow(
      'CloudConfig.writeFiles[0].permissions: received "600"; expected an octal mode string such as "0600"',
    );
  });

  it("refuses user data over 16,384 decoded bytes, naming the host role, the size and the limit", () => {
    const fits = { path: "/x", content: "x".repeat(USER_DATA_LIMIT_BYTES - 200), permissions: "0644" };
    expect(
      Buffer.byteLength(renderCloudConfig({ role: "app", writeFiles: [fits], runcmd: [] })),
    ).toBeLessThanOrEqual(16_384);
    const huge = { path: "/x", content: "x".repeat(USER_DATA_LIMIT_BYTES), permissions: "0644" };
    expect(() => renderCloudConfig({ role: "database (replica)", writeFiles: [huge], runcmd: [] })).toThrow(
      /^user data for the database \(replica\) Linode is 16\d{3} bytes; Linode accepts at most 16384 bytes \(decoded\)/,
    );
  });

  it("base64-encodes for metadata.user_data", () => {
    expect(Buffer.from(toLinodeUserData("#cloud-config\n"), "base64").toString()).toBe("#cloud-config\n");
  });
});
