import type { WriteFile } from "./cloudConfig";
import {
  CONSENSUS_SETTINGS_PATH,
  ConsensusInputError,
  renderConsensusSettings,
  validateConsensus,
  type ConsensusSettings,
} from "./consensus";
import { TLS_CA_PATH, TLS_CERT_PATH, TLS_KEY_PATH } from "./database";
import { renderHostUserData, type HostAccess, type ReleaseSource } from "./host";

/**
 * First-boot user data for the witness Linode in the third site: an etcd member only (no
 * PostgreSQL, no Patroni), so that the two database sites never decide leadership alone. Its entry
 * is linode-dr-etcd-member; day 2 is linode-dr-converge witness.
 */

export interface WitnessUserDataInput {
  tls: { caCertPem: string; serverCertPem: string; serverKeyPem: string };
  consensus: ConsensusSettings;
  release: ReleaseSource;
  access: HostAccess;
}

export const WITNESS_ENTRY = "linode-dr-etcd-member";

class WitnessInputError extends Error {}

function checkPem(field: string, value: unknown, kind: "CERTIFICATE" | "PRIVATE KEY"): void {
  const begin = kind === "CERTIFICATE" ? /-----BEGIN CERTIFICATE-----/ : /-----BEGIN [A-Z ]*PRIVATE KEY-----/;
  if (typeof value !== "string" || !begin.test(value)) {
    const shown =
      kind === "PRIVATE KEY"
        ? typeof value === "string"
          ? `a string of ${value.length} characters`
          : typeof value
        : typeof value === "string"
          ? `"${value.slice(0, 40)}..."`
          : typeof value;
    throw new WitnessInputError(
      `WitnessUserDataInput.${field}: received ${shown}; expected a PEM-encoded ${kind.toLowerCase()}`,
    );
  }
}

export function renderWitnessUserData(input: WitnessUserDataInput): string {
  if (!input.tls)
    throw new WitnessInputError(
      "WitnessUserDataInput.tls: received undefined; expected { caCertPem, serverCertPem, serverKeyPem }",
    );
  checkPem("tls.caCertPem", input.tls.caCertPem, "CERTIFICATE");
  checkPem("tls.serverCertPem", input.tls.serverCertPem, "CERTIFICATE");
  checkPem("tls.serverKeyPem", input.tls.serverKeyPem, "PRIVATE KEY");
  try {
    validateConsensus("WitnessUserDataInput", input.consensus, "witness");
  } catch (error) {
    if (error instanceof ConsensusInputError) throw new WitnessInputError(error.message);
    throw error;
  }
  const files: WriteFile[] = [
    {
      path: CONSENSUS_SETTINGS_PATH,
      content: renderConsensusSettings(input.consensus),
      permissions: "0644",
      owner: "root:root",
    },
    { path: TLS_CA_PATH, content: input.tls.caCertPem, permissions: "0644", owner: "root:root" },
    { path: TLS_CERT_PATH, content: input.tls.serverCertPem, permissions: "0644", owner: "root:root" },
    { path: TLS_KEY_PATH, content: input.tls.serverKeyPem, permissions: "0600", owner: "root:root" },
  ];
  return renderHostUserData({
    role: "witness",
    release: input.release,
    access: input.access,
    files,
    entry: WITNESS_ENTRY,
  });
}
