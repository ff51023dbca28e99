import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { WITNESS_CA_NAME } from "../../stacks/certificateAuthorities";

/**
 * etcd's client port trusts the databases' CAs only: the witness's certificate, signed by a CA of
 * its own, is a peer's and never a client's. The hosts tell its CAs apart by the common name the
 * program gives them.
 */
const SCRIPTS = path.join(__dirname, "..", "..", "provisioning", "scripts");
const scratch = mkdtempSync(path.join(tmpdir(), "witness-ca-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A self-signed CA certificate (PEM) with `commonName`, made by openssl. */
function ca(commonName: string): string {
  const dir = mkdtempSync(path.join(scratch, "ca-"));
  const r = spawnSync(
    "openssl",
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"].concat([
      "-keyout",
      path.join(dir, "key"),
      "-subj",
      `/O=linode-dr/CN=${commonName}`,
    ]),
    { encoding: "utf8" },
  );
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

function clientBundle(bundle: string) {
  const file = path.join(mkdtempSync(path.join(scratch, "bundle-")), "ca.crt");
  writeFileSync(file, bundle);
  return spawnSync(
    "bash",
    ["-c", `set -euo pipefail; source "${path.join(SCRIPTS, "etcd-member.sh")}"; client_bundle "${file}"`],
    { encoding: "utf8" },
  );
}

describe("etcd's client bundle", () => {
  it("names the witness's CAs as the program does", () => {
    const text = readFileSync(path.join(SCRIPTS, "lib", "consensus.sh"), "utf8");
    expect(text).toMatch(new RegExp(`^readonly WITNESS_CA_NAME="${WITNESS_CA_NAME}"$`, "m"));
  });

  it("keeps both stacks' database CAs and leaves out every generation of the witness's", () => {
    const primary = ca("linode-dr primary CA 1 (example.com)");
    const dr = ca("linode-dr dr CA 2 (example.com)");
    const witness = [ca(`${WITNESS_CA_NAME} 1 (example.com)`), ca(`${WITNESS_CA_NAME} 2 (example.com)`)];
    const r = clientBundle([witness[0], primary, witness[1], dr].join(""));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(primary + dr);
  });

  it("refuses a bundle that would leave etcd admitting no client", () => {
    const r = clientBundle(ca(`${WITNESS_CA_NAME} 1 (example.com)`));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/holds no CA but the witness's: etcd would admit no client/);
  });
});
