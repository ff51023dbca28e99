import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Real keys and certificates for the @pulumi/tls resources under mocks, made with the openssl CLI,
 * so the user data the program renders carries a chain PostgreSQL can actually verify (the lab
 * runs it with sslmode=verify-full).
 */

interface Subject {
  commonName?: string;
  organization?: string;
}

function withTempDir<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "linode-dr-tls-"));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function openssl(args: string[], cwd: string): string {
  try {
    return execFileSync("openssl", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    throw new Error(`openssl ${args.join(" ")} failed: ${stderr.trim()}`);
  }
}

function subjectArg(subject: Subject | undefined): string {
  const parts: string[] = [];
  if (subject?.organization) parts.push(`/O=${subject.organization}`);
  if (subject?.commonName) parts.push(`/CN=${subject.commonName}`);
  return parts.join("") || "/CN=linode-dr";
}

const USE_TO_KEY_USAGE: Record<string, string> = {
  cert_signing: "keyCertSign",
  crl_signing: "cRLSign",
  digital_signature: "digitalSignature",
  key_encipherment: "keyEncipherment",
};
const USE_TO_EXTENDED: Record<string, string> = { server_auth: "serverAuth", client_auth: "clientAuth" };

function usageExtensions(allowedUses: string[], isCa: boolean): string {
  const keyUsage = allowedUses.map((u) => USE_TO_KEY_USAGE[u]).filter(Boolean);
  const extended = allowedUses.map((u) => USE_TO_EXTENDED[u]).filter(Boolean);
  const lines = [`basicConstraints=critical,CA:${isCa ? "TRUE" : "FALSE"}`];
  if (keyUsage.length) lines.push(`keyUsage=critical,${keyUsage.join(",")}`);
  if (extended.length) lines.push(`extendedKeyUsage=${extended.join(",")}`);
  return lines.join("\n") + "\n";
}

/** ssh-keygen makes the OpenSSH forms the tls provider reports for ED25519 keys (host and client keys). */
function mockEd25519Key(): Record<string, string> {
  return withTempDir((dir) => {
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", join(dir, "key")]);
    const privateKeyOpenssh = readFileSync(join(dir, "key"), "utf8");
    const publicKeyOpenssh = readFileSync(join(dir, "key.pub"), "utf8").trim() + "\n";
    return { privateKeyOpenssh, publicKeyOpenssh, privateKeyPem: privateKeyOpenssh, algorithm: "ED25519" };
  });
}

export function mockPrivateKey(inputs: Record<string, unknown> = {}): Record<string, string> {
  if (inputs.algorithm === "ED25519") return mockEd25519Key();
  // ECDSA P-256, in every form the provider reports: PEM for certificates, OpenSSH for host keys.
  return withTempDir((dir) => {
    execFileSync("ssh-keygen", [
      "-q",
      "-t",
      "ecdsa",
      "-b",
      "256",
      "-N",
      "",
      "-C",
      "",
      "-f",
      join(dir, "key"),
    ]);
    const privateKeyOpenssh = readFileSync(join(dir, "key"), "utf8");
    const publicKeyOpenssh = readFileSync(join(dir, "key.pub"), "utf8").trim() + "\n";
    execFileSync("ssh-keygen", ["-q", "-p", "-N", "", "-m", "PEM", "-f", join(dir, "key")]);
    const privateKeyPem = readFileSync(join(dir, "key"), "utf8");
    const publicKeyPem = openssl(["ec", "-in", "key", "-pubout"], dir);
    return {
      privateKeyPem,
      publicKeyPem,
      privateKeyOpenssh,
      publicKeyOpenssh,
      algorithm: "ECDSA",
      ecdsaCurve: "P256",
    };
  });
}

function days(validityPeriodHours: number): string {
  return String(Math.max(1, Math.ceil(validityPeriodHours / 24)));
}

export function mockSelfSignedCert(inputs: Record<string, unknown>): Record<string, unknown> {
  return withTempDir((dir) => {
    writeFileSync(join(dir, "key.pem"), String(inputs.privateKeyPem));
    writeFileSync(
      join(dir, "ext.cnf"),
      usageExtensions((inputs.allowedUses as string[]) ?? [], Boolean(inputs.isCaCertificate)),
    );
    openssl(
      ["req", "-new", "-key", "key.pem", "-subj", subjectArg(inputs.subject as Subject), "-out", "csr.pem"],
      dir,
    );
    openssl(
      [
        "x509",
        "-req",
        "-in",
        "csr.pem",
        "-signkey",
        "key.pem",
        "-days",
        days(Number(inputs.validityPeriodHours)),
        "-extfile",
        "ext.cnf",
        "-set_serial",
        "1",
        "-out",
        "cert.pem",
      ],
      dir,
    );
    return { ...inputs, certPem: readFileSync(join(dir, "cert.pem"), "utf8") };
  });
}

export function mockCertRequest(inputs: Record<string, unknown>): Record<string, unknown> {
  return withTempDir((dir) => {
    writeFileSync(join(dir, "key.pem"), String(inputs.privateKeyPem));
    const dnsNames = (inputs.dnsNames as string[]) ?? [];
    const args = [
      "req",
      "-new",
      "-key",
      "key.pem",
      "-subj",
      subjectArg(inputs.subject as Subject),
      "-out",
      "csr.pem",
    ];
    if (dnsNames.length) args.push("-addext", `subjectAltName=${dnsNames.map((d) => `DNS:${d}`).join(",")}`);
    openssl(args, dir);
    return { ...inputs, certRequestPem: readFileSync(join(dir, "csr.pem"), "utf8") };
  });
}

export function mockLocallySignedCert(inputs: Record<string, unknown>): Record<string, unknown> {
  return withTempDir((dir) => {
    writeFileSync(join(dir, "csr.pem"), String(inputs.certRequestPem));
    writeFileSync(join(dir, "ca.pem"), String(inputs.caCertPem));
    writeFileSync(join(dir, "ca-key.pem"), String(inputs.caPrivateKeyPem));
    writeFileSync(join(dir, "ext.cnf"), usageExtensions((inputs.allowedUses as string[]) ?? [], false));
    openssl(
      [
        "x509",
        "-req",
        "-in",
        "csr.pem",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca-key.pem",
        "-CAcreateserial",
        "-days",
        days(Number(inputs.validityPeriodHours)),
        "-copy_extensions",
        "copyall",
        "-extfile",
        "ext.cnf",
        "-out",
        "cert.pem",
      ],
      dir,
    );
    return { ...inputs, certPem: readFileSync(join(dir, "cert.pem"), "utf8") };
  });
}
