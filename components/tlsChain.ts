import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";

const CA_VALIDITY_HOURS = 10 * 365 * 24;
/**
 * Host certificates live a year and are renewed by any `pulumi up` in their last 90 days (the tls
 * provider replaces a certificate once it is within `earlyRenewalHours`): renewal is routine, and
 * an update a quarter before expiry is enough. The new one reaches the host through
 * linode-dr-converge and is reloaded in place (docs/consensus.md "Certificates").
 */
export const SERVER_VALIDITY_HOURS = 365 * 24;
export const SERVER_EARLY_RENEWAL_HOURS = 90 * 24;

/**
 * A private CA the cluster members trust: replication, etcd and Patroni's REST API all cross the
 * public internet, so every peer is verified (sslmode=verify-full, client certificates). Protected
 * while it signs (`protect`): a new CA would invalidate every certificate the running members
 * present; one that only vouches for retired certificates may be deleted.
 */
export class ReplicationCa extends pulumi.ComponentResource {
  readonly certPem: pulumi.Output<string>;
  readonly privateKeyPem: pulumi.Output<string>;

  constructor(
    name: string,
    args: { commonName: string; protect: boolean },
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super("linode-dr:index:ReplicationCa", name, {}, opts);
    const key = new tls.PrivateKey(
      `${name}-key`,
      { algorithm: "ECDSA", ecdsaCurve: "P256" },
      { parent: this, protect: args.protect },
    );
    const cert = new tls.SelfSignedCert(
      `${name}-cert`,
      {
        privateKeyPem: key.privateKeyPem,
        isCaCertificate: true,
        validityPeriodHours: CA_VALIDITY_HOURS,
        allowedUses: ["cert_signing", "crl_signing"],
        subject: { commonName: args.commonName, organization: "linode-dr" },
      },
      { parent: this, protect: args.protect },
    );
    this.certPem = cert.certPem;
    this.privateKeyPem = pulumi.secret(key.privateKeyPem);
    this.registerOutputs({ certPem: this.certPem, privateKeyPem: this.privateKeyPem });
  }
}

export interface ServerCertificateArgs {
  /**
   * The name the peer verifies. Not an IP: the certificate goes into first-boot user data, before
   * the Linode (and so its address) exists. Peers connect with host=<serverName> hostaddr=<ip>.
   */
  serverName: string;
  caCertPem: pulumi.Input<string>;
  caPrivateKeyPem: pulumi.Input<string>;
  /**
   * The stack's certificateGeneration: raising it replaces the key (and so the request and the
   * certificate) at the next update, a rotation on demand.
   */
  generation: number;
}

/** What a ServerCertificate named `name` names its key, request and certificate. */
export function serverCertificateChildNames(name: string): { key: string; request: string; cert: string } {
  return { key: `${name}-key`, request: `${name}-csr`, cert: `${name}-cert` };
}

/** A cluster member's certificate (server and client) signed by the replication CA. */
export class ServerCertificate extends pulumi.ComponentResource {
  readonly certPem: pulumi.Output<string>;
  readonly privateKeyPem: pulumi.Output<string>;

  constructor(name: string, args: ServerCertificateArgs, opts?: pulumi.ComponentResourceOptions) {
    super("linode-dr:index:ServerCertificate", name, {}, opts);
    const names = serverCertificateChildNames(name);
    const key = new tls.PrivateKey(
      names.key,
      { algorithm: "ECDSA", ecdsaCurve: "P256" },
      { parent: this, replacementTrigger: args.generation },
    );
    const request = new tls.CertRequest(
      names.request,
      {
        privateKeyPem: key.privateKeyPem,
        dnsNames: [args.serverName],
        subject: { commonName: args.serverName, organization: "linode-dr" },
      },
      { parent: this },
    );
    const cert = new tls.LocallySignedCert(
      names.cert,
      {
        certRequestPem: request.certRequestPem,
        caCertPem: args.caCertPem,
        caPrivateKeyPem: args.caPrivateKeyPem,
        validityPeriodHours: SERVER_VALIDITY_HOURS,
        earlyRenewalHours: SERVER_EARLY_RENEWAL_HOURS,
        allowedUses: ["digital_signature", "key_encipherment", "server_auth", "client_auth"],
      },
      { parent: this },
    );
    this.certPem = cert.certPem;
    this.privateKeyPem = pulumi.secret(key.privateKeyPem);
    this.registerOutputs({ certPem: this.certPem, privateKeyPem: this.privateKeyPem });
  }
}
