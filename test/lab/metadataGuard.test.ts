import { readFileSync } from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LAB_ADDRESSES, LAB_REGIONS } from "../../lab/addressPlan";
import type { Host } from "../../lab/hosts/host";
import { Lab } from "../../lab/hosts/lab";

/**
 * linode-dr-metadata-guard on a lab host: afterwards only root reaches the Metadata service. The
 * lab has no Metadata service and sends nothing outside the documentation ranges, so a stand-in
 * listens on documentation addresses local to the host (192.0.2.254, 2001:db8::254 on its
 * loopback) and the guard is pointed at them; what it renders for a Linode (169.254.169.254 and
 * fd00:a9fe:a9fe::1, fe80::a9fe:a9fe) is checked by nft itself without being applied there.
 */
const SCRIPTS = path.join(__dirname, "..", "..", "provisioning", "scripts");
// Installed into the host as the release lays it out: the repository may be under /tmp, which a
// lab host does not share.
const GUARD = "/opt/linode-dr-test/scripts/metadata-guard.sh";
const STAND_IN = { ipv4: "192.0.2.254", ipv6: "2001:db8::254" };
const GUARD_ENV = { LINODE_DR_METADATA_IPV4: STAND_IN.ipv4, LINODE_DR_METADATA_IPV6: STAND_IN.ipv6 };

let lab: Lab;
let host: Host;
let standInPid = "";

beforeAll(async () => {
  lab = await Lab.create({ name: "mdguard" });
  lab.addRegion("C", LAB_REGIONS.C.cidr);
  host = await lab.addHost({ name: "linode", region: "C", address: LAB_ADDRESSES.client });
  for (const file of ["metadata-guard.sh", "lib/retry.sh"])
    await host.writeFile(
      `/opt/linode-dr-test/scripts/${file}`,
      readFileSync(path.join(SCRIPTS, file), "utf8"),
      0o755,
    );
  await host.execOrThrow(["ip", "addr", "add", `${STAND_IN.ipv4}/32`, "dev", "lo"]);
  await host.execOrThrow(["ip", "-6", "addr", "add", `${STAND_IN.ipv6}/128`, "dev", "lo"]);
  // The stand-in answers on both addresses (a dual-stack socket).
  const started = await host.execOrThrow([
    "sh",
    "-c",
    "python3 -m http.server --bind :: 8080 >/dev/null 2>&1 & echo $!",
  ]);
  standInPid = started.stdout.trim();
  for (let i = 0; i < 50; i++) {
    if ((await fetchAs("root", STAND_IN.ipv4)).code === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the Metadata stand-in did not answer");
}, 120_000);

afterAll(async () => {
  if (standInPid) await host?.exec(["kill", "-9", standInPid]).catch(() => undefined);
  await lab?.destroy();
});

function fetchAs(user: "root" | "nobody", address: string) {
  const url = address.includes(":") ? `http://[${address}]:8080/` : `http://${address}:8080/`;
  return host.exec(["curl", "-sS", "-o", "/dev/null", "--max-time", "3", "-w", "%{http_code}", url], {
    user: user === "root" ? undefined : user,
  });
}

describe("the Metadata guard", () => {
  it("lets root through and refuses every other user, over IPv4 and IPv6", async () => {
    for (const address of [STAND_IN.ipv4, STAND_IN.ipv6]) {
      expect((await fetchAs("nobody", address)).stdout, address).toBe("200");
    }
    const applied = await host.exec(["bash", GUARD], { env: GUARD_ENV });
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stderr).toContain(
      `only root reaches the Metadata service (${STAND_IN.ipv4}, ${STAND_IN.ipv6})`,
    );
    for (const address of [STAND_IN.ipv4, STAND_IN.ipv6]) {
      const root = await fetchAs("root", address);
      expect(root.stdout, `${address}: ${root.stderr}`).toBe("200");
      const nobody = await fetchAs("nobody", address);
      expect(nobody.code, address).not.toBe(0);
      expect(nobody.stdout, address).toBe("000");
    }
  });

  it("replaces its table instead of adding to it when run again", async () => {
    for (let i = 0; i < 2; i++) {
      const again = await host.exec(["bash", GUARD], { env: GUARD_ENV });
      expect(again.code, again.stderr).toBe(0);
    }
    const table = await host.execOrThrow(["nft", "list", "table", "inet", "linode_dr_metadata"]);
    expect(table.stdout.match(/reject/g)).toHaveLength(2);
    expect((await fetchAs("nobody", STAND_IN.ipv4)).stdout).toBe("000");
  });

  it("renders the Linode Metadata service's own addresses, which nft accepts", async () => {
    const rendered = await host.execOrThrow(["bash", "-c", `source "${GUARD}"; render_rules`]);
    expect(rendered.stdout).toContain("ip daddr 169.254.169.254");
    expect(rendered.stdout).toContain("ip6 daddr { fd00:a9fe:a9fe::1, fe80::a9fe:a9fe }");
    const check = await host.exec(["nft", "--check", "-f", "-"], { input: rendered.stdout });
    expect(check.code, check.stderr).toBe(0);
  });
});
