import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { runOrThrow } from "./process";

export interface ServerCertificate {
  certPem: string;
  keyPem: string;
}

export interface TestPki {
  caCertPem: string;
  servers: Record<string, ServerCertificate>;
}

/**
 * A throwaway CA and one server certificate per DNS name, made with the openssl CLI, shaped like
 * the replication chain the Pulumi program issues (CA:TRUE root, serverAuth leaf with the name as a
 * SAN) so libpq's verify-full behaves as it will on Linode.
 */
export async function makeTestPki(serverNames: readonly string[]): Promise<TestPki> {
  const dir = mkdtempSync(path.join(tmpdir(), "linode-dr-pki-"));
  try {
    const ca = path.join(dir, "ca");
    await runOrThrow(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${ca}.key`]);
    await runOrThrow([
      "openssl",
      "req",
      "-x509",
      "-new",
      "-key",
      `${ca}.key`,
      "-sha256",
      "-days",
      "2",
      "-subj",
      "/CN=linode-dr lab CA",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
      "-out",
      `${ca}.crt`,
    ]);
    const servers: Record<string, ServerCertificate> = {};
    for (const [index, name] of serverNames.entries()) {
      const base = path.join(dir, `server${index}`);
      writeFileSync(
        `${base}.ext`,
        `subjectAltName=DNS:${name}\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n`,
      );
      await runOrThrow([
        "openssl",
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        `${base}.ec.key`,
      ]);
      // PKCS#8, the form the Pulumi tls provider emits as private_key_pem_pkcs8.
      await runOrThrow([
        "openssl",
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        `${base}.ec.key`,
        "-out",
        `${base}.key`,
      ]);
      await runOrThrow([
        "openssl",
        "req",
        "-new",
        "-key",
        `${base}.key`,
        "-subj",
        `/CN=${name}`,
        "-out",
        `${base}.csr`,
      ]);
      await runOrThrow([
        "openssl",
        "x509",
        "-req",
        "-in",
        `${base}.csr`,
        "-CA",
        `${ca}.crt`,
        "-CAkey",
        `${ca}.key`,
        "-CAcreateserial",
        "-days",
        "2",
        "-sha256",
        "-extfile",
        `${base}.ext`,
        "-out",
        `${base}.crt`,
      ]);
      servers[name] = {
        certPem: readFileSync(`${base}.crt`, "utf8"),
        keyPem: readFileSync(`${base}.key`, "utf8"),
      };
    }
    return { caCertPem: readFileSync(`${ca}.crt`, "utf8"), servers };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
