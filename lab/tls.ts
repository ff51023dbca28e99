import { createHash } from "node:crypto";
import {
  mockCertRequest,
  mockLocallySignedCert,
  mockPrivateKey,
  mockSelfSignedCert,
} from "../evaluation/tlsMock";
import type { Host } from "./hosts/host";

export interface ServerCertificate {
  certPem: string;
  keyPem: string;
}

export interface TestPki {
  caCertPem: string;
  servers: Record<string, ServerCertificate>;
}

/**
 * A throwaway CA and one server certificate per DNS name, made by the same openssl-backed stand-ins
 * for the tls provider that the program's mocks use, so the chain has the shape the Pulumi program
 * issues (CA:TRUE root, serverAuth leaf with the name as its SAN) and verify-full behaves as on Linode.
 */
export async function makeTestPki(serverNames: readonly string[]): Promise<TestPki> {
  const ca = makeCa();
  const servers: Record<string, ServerCertificate> = {};
  for (const name of serverNames) servers[name] = issueServerCertificate(ca, [name]);
  return { caCertPem: ca.certPem, servers };
}

interface Ca {
  certPem: string;
  keyPem: string;
}

function makeCa(): Ca {
  const keyPem = mockPrivateKey().privateKeyPem;
  const certPem = mockSelfSignedCert({
    privateKeyPem: keyPem,
    isCaCertificate: true,
    validityPeriodHours: 48,
    allowedUses: ["cert_signing", "crl_signing"],
    subject: { commonName: "linode-dr lab CA" },
  }).certPem as string;
  return { certPem, keyPem };
}

function issueServerCertificate(ca: Ca, dnsNames: readonly string[]): ServerCertificate {
  const keyPem = mockPrivateKey().privateKeyPem;
  const { certRequestPem } = mockCertRequest({
    privateKeyPem: keyPem,
    dnsNames: [...dnsNames],
    subject: { commonName: dnsNames[0] },
  });
  const { certPem } = mockLocallySignedCert({
    certRequestPem,
    caCertPem: ca.certPem,
    caPrivateKeyPem: ca.keyPem,
    validityPeriodHours: 48,
    // One key per host serves etcd (peer and client), Patroni's REST API and PostgreSQL: etcd's
    // client-certificate authentication needs clientAuth as well.
    allowedUses: ["digital_signature", "key_encipherment", "server_auth", "client_auth"],
  });
  return { certPem: certPem as string, keyPem };
}

/** A throwaway CA and one server certificate naming all of `dnsNames` (wildcards allowed). */
export function makeServerPki(dnsNames: readonly string[]): { caCertPem: string; server: ServerCertificate } {
  if (dnsNames.length === 0) throw new Error("a server certificate needs at least one DNS name");
  const ca = makeCa();
  return { caCertPem: ca.certPem, server: issueServerCertificate(ca, dnsNames) };
}

/** Where a lab CA goes in a host's system store: named by its fingerprint, so several CAs coexist. */
export function labCaPath(caPem: string): string {
  const fingerprint = createHash("sha256").update(caPem).digest("hex").slice(0, 16);
  return `/usr/local/share/ca-certificates/linode-dr-lab-${fingerprint}.crt`;
}

/**
 * Makes `host` trust a lab CA the way a Linode trusts the public PKI: Debian's CA store, which curl
 * and openssl read, and which node reads when started with
 * NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt. Hosts have copy-on-write roots: only
 * this host changes. Safe to call again. Returns the certificate's path in the host.
 */
export async function trustLabCa(host: Host, caPem: string): Promise<string> {
  const caPath = labCaPath(caPem);
  await host.writeFile(caPath, caPem);
  await host.execOrThrow(["update-ca-certificates"]);
  return caPath;
}
