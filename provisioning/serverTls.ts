import { pemCertificate, pemPrivateKey } from "../validation/formats";
import type { InputCheck } from "../validation/inputError";
import type { WriteFile } from "./cloudConfig";

/**
 * A consensus member's TLS identity (databases and witness alike): the replication CA and the
 * member's own certificate and key, verified by peers (verify-full) under its serverName.
 */

export interface ServerTls {
  caCertPem: string;
  serverCertPem: string;
  serverKeyPem: string;
}

export const TLS_DIR = "/etc/linode-dr/tls";
export const TLS_CA_PATH = `${TLS_DIR}/ca.crt`;
export const TLS_CERT_PATH = `${TLS_DIR}/server.crt`;
export const TLS_KEY_PATH = `${TLS_DIR}/server.key`;

/** `check` is scoped at the tls field. */
export function checkServerTls(check: InputCheck, tls: ServerTls): void {
  const fields = check.object("", tls, "{ caCertPem, serverCertPem, serverKeyPem }");
  if (!fields) return;
  fields.field("caCertPem", tls.caCertPem, pemCertificate);
  fields.field("serverCertPem", tls.serverCertPem, pemCertificate);
  fields.field("serverKeyPem", tls.serverKeyPem, pemPrivateKey);
}

/** The three files, the key readable by root only. */
export function serverTlsFiles(tls: ServerTls): WriteFile[] {
  return [
    { path: TLS_CA_PATH, content: tls.caCertPem, permissions: "0644", owner: "root:root" },
    { path: TLS_CERT_PATH, content: tls.serverCertPem, permissions: "0644", owner: "root:root" },
    { path: TLS_KEY_PATH, content: tls.serverKeyPem, permissions: "0600", owner: "root:root" },
  ];
}
