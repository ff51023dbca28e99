import {
  mockCertRequest,
  mockLocallySignedCert,
  mockPrivateKey,
  mockSelfSignedCert,
} from "./program/tlsMock";

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
  const caKey = mockPrivateKey().privateKeyPem;
  const caCertPem = mockSelfSignedCert({
    privateKeyPem: caKey,
    isCaCertificate: true,
    validityPeriodHours: 48,
    allowedUses: ["cert_signing", "crl_signing"],
    subject: { commonName: "linode-dr lab CA" },
  }).certPem as string;
  const servers: Record<string, ServerCertificate> = {};
  for (const name of serverNames) {
    const keyPem = mockPrivateKey().privateKeyPem;
    const { certRequestPem } = mockCertRequest({
      privateKeyPem: keyPem,
      dnsNames: [name],
      subject: { commonName: name },
    });
    const { certPem } = mockLocallySignedCert({
      certRequestPem,
      caCertPem,
      caPrivateKeyPem: caKey,
      validityPeriodHours: 48,
      allowedUses: ["digital_signature", "key_encipherment", "server_auth"],
    });
    servers[name] = { certPem: certPem as string, keyPem };
  }
  return { caCertPem, servers };
}
