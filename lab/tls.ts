import {
  mockCertRequest,
  mockLocallySignedCert,
  mockPrivateKey,
  mockSelfSignedCert,
} from "../evaluation/tlsMock";

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
