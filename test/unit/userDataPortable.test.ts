import { describe, expect, it, vi } from "vitest";

/**
 * User data is ForceNew, so it must not depend on the machine that runs `pulumi`. zlib stamps
 * every gzip header with the platform it runs on (Linux 0x03, macOS 0x13, Windows 0x0a); here
 * zlib is made to behave like each platform's, and every Linode's user data must come out the same.
 */
const platform = vi.hoisted(() => ({ osByte: 0x03 }));

vi.mock("node:zlib", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:zlib")>();
  return {
    ...real,
    gzipSync: (data: Parameters<typeof real.gzipSync>[0], options?: Parameters<typeof real.gzipSync>[1]) => {
      const out = Buffer.from(real.gzipSync(data, options));
      out[9] = platform.osByte;
      return out;
    },
  };
});

const PLATFORMS = { linux: 0x03, macos: 0x13, windows: 0x0a };

describe("user data rendered on Linux, macOS and Windows", () => {
  it("is byte-identical for app and database Linodes", async () => {
    const { renderAppUserData } = await import("../../provisioning/app");
    const { renderDatabaseUserData } = await import("../../provisioning/database");
    const { fixtureHost } = await import("../../evaluation/fixtures/host");
    const { fixtureConsensus } = await import("../../evaluation/fixtures/consensus");
    const { POSTGRES_PORT } = await import("../../provisioning/consensus");
    const { makeTestPki } = await import("../../lab/tls");
    const pki = await makeTestPki(["db.example.com"]);
    const renders = Object.entries(PLATFORMS).map(([name, osByte]) => {
      platform.osByte = osByte;
      const app = renderAppUserData(
        {
          listenPort: 8080,
          region: "us-ord",
          database: {
            members: [
              { serverName: "db.example.com", address: "192.168.128.10" },
              { serverName: "db-dr.example.com", address: "203.0.113.10" },
            ],
            port: POSTGRES_PORT,
            name: "app",
            user: "app",
            password: "app-password",
            caCertPem: pki.caCertPem,
          },
          dbTimeoutMs: 1500,
          healthCacheMs: 1000,
        },
        fixtureHost(),
      );
      const database = renderDatabaseUserData({
        postgresVersion: 15,
        walKeepSize: "512MB",
        maxSlotWalKeepSize: "8GB",
        tls: {
          caCertPem: pki.caCertPem,
          serverCertPem: pki.servers["db.example.com"].certPem,
          serverKeyPem: pki.servers["db.example.com"].keyPem,
        },
        replication: { user: "replicator", password: "replication-password" },
        superuser: { password: "superuser-password" },
        app: { database: "app", user: "app", password: "app-password" },
        consensus: fixtureConsensus("primary"),
        ...fixtureHost(),
      });
      return { name, app, database };
    });
    // The renders do compress something, or this test would prove nothing.
    expect(renders[0].app).toContain("encoding: gz+b64");
    for (const r of renders.slice(1)) {
      expect(r.app, r.name).toBe(renders[0].app);
      expect(r.database, r.name).toBe(renders[0].database);
    }
  });
});
