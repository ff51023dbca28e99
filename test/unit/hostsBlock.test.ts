import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

/**
 * The members resolve each other's certificate names through a managed /etc/hosts block. An image
 * whose cloud-init has manage_etc_hosts: true rewrites /etc/hosts at every boot, which would drop
 * the block after a reboot; writing the block also tells cloud-init to leave the file alone, and
 * cloud-init's own configuration merge (Debian 12's cloud-init, installed by lab/setup.sh) agrees.
 */
const LIB = path.join(__dirname, "..", "..", "provisioning", "scripts", "lib", "consensus.sh");

let scratch: string;
let cloudCfg: string;
let hosts: string;

beforeEach(() => {
  scratch = mkdtempSync(path.join(tmpdir(), "hosts-block-test-"));
  cloudCfg = path.join(scratch, "cloud.cfg.d");
  hosts = path.join(scratch, "hosts");
  mkdirSync(cloudCfg);
  mkdirSync(path.join(scratch, "etc"));
  writeFileSync(
    path.join(scratch, "etc", "consensus.conf"),
    [
      "SCOPE=linode-dr",
      "SELF=witness",
      "FOUNDER=false",
      "NAME_PRIMARY=db-primary.app.example.com",
      "NAME_DR=db-dr.app.example.com",
      "NAME_WITNESS=witness.app.example.com",
      "IPV4_PRIMARY=198.51.100.10",
      "IPV4_DR=203.0.113.10",
      "IPV4_WITNESS=192.0.2.40",
      "ETCD_HEARTBEAT_MS=100",
      "ETCD_ELECTION_MS=1000",
      "JOIN_TIMEOUT_SECONDS=60",
      "",
    ].join("\n"),
  );
  // What an image that manages /etc/hosts ships.
  writeFileSync(path.join(cloudCfg, "50_image.cfg"), "manage_etc_hosts: true\n");
  writeFileSync(hosts, "127.0.0.1 localhost\n");
});
afterEach(() => rmSync(scratch, { recursive: true, force: true }));

function writeBlock() {
  return spawnSync("bash", ["-c", `set -euo pipefail; source "${LIB}"; load_consensus; write_hosts_block`], {
    encoding: "utf8",
    // Not a socket on stdin: bash would take that for a remote shell and read ~/.bashrc.
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      PATH: "/usr/bin:/bin",
      LINODE_DR_ETC_DIR: path.join(scratch, "etc"),
      LINODE_DR_STATE_DIR: path.join(scratch, "state"),
      LINODE_DR_HOSTS_FILE: hosts,
      LINODE_DR_CLOUD_CFG_DIR: cloudCfg,
    },
  });
}

/** manage_etc_hosts as cloud-init itself merges cloud.cfg.d, and whether its module would act. */
function cloudInitManagesHosts(): string {
  const r = spawnSync(
    "/usr/bin/python3",
    [
      "-c",
      `import sys
from cloudinit import util
cfg = util.read_conf_d(sys.argv[1])
value = util.get_cfg_option_str(cfg, "manage_etc_hosts", False)
acts = util.translate_bool(value, addons=["template"]) or value == "localhost"
print("%s %s" % (value, "acts" if acts else "leaves-it"))`,
      cloudCfg,
    ],
    { encoding: "utf8" },
  );
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.trim();
}

describe("the members' /etc/hosts block", () => {
  it("is written with the members' addresses and keeps what was there", () => {
    const r = writeBlock();
    expect(r.status, r.stderr).toBe(0);
    const text = readFileSync(hosts, "utf8");
    expect(text.startsWith("127.0.0.1 localhost\n")).toBe(true);
    expect(text).toContain("198.51.100.10 db-primary.app.example.com\n");
    expect(text).toContain("203.0.113.10 db-dr.app.example.com\n");
    expect(text).toContain("192.0.2.40 witness.app.example.com\n");
  });

  it("survives a reboot: cloud-init's merged configuration no longer regenerates /etc/hosts", () => {
    expect(cloudInitManagesHosts()).toBe("True acts");
    expect(writeBlock().status).toBe(0);
    expect(cloudInitManagesHosts()).toBe("False leaves-it");
  });

  it("changes nothing on a second run", () => {
    expect(writeBlock().status).toBe(0);
    const before = readFileSync(hosts, "utf8");
    const again = writeBlock();
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toBe("");
    expect(readFileSync(hosts, "utf8")).toBe(before);
  });
});
