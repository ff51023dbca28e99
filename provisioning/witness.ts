import { InputCheck } from "../validation/inputError";
import type { WriteFile } from "./cloudConfig";
import {
  checkConsensus,
  CONSENSUS_SETTINGS_PATH,
  renderConsensusSettings,
  type ConsensusSettings,
} from "./consensus";
import { renderHostUserData, type HostAccess, type ReleaseSource } from "./host";
import { checkServerTls, serverTlsFiles, type ServerTls } from "./serverTls";

/**
 * First-boot user data for the witness Linode in the third site: an etcd member only (no
 * PostgreSQL, no Patroni), so that the two database sites never decide leadership alone. Its entry
 * is linode-dr-etcd-member; day 2 is linode-dr-converge witness.
 */

export interface WitnessUserDataInput {
  tls: ServerTls;
  consensus: ConsensusSettings;
  release: ReleaseSource;
  access: HostAccess;
}

export const WITNESS_ENTRY = "linode-dr-etcd-member";

export function renderWitnessUserData(input: WitnessUserDataInput): string {
  const check = new InputCheck("WitnessUserDataInput");
  checkServerTls(check.under("tls"), input.tls);
  checkConsensus(check.under("consensus"), input.consensus, "witness");
  check.throwIfAny();
  const files: WriteFile[] = [
    {
      path: CONSENSUS_SETTINGS_PATH,
      content: renderConsensusSettings(input.consensus),
      permissions: "0644",
      owner: "root:root",
    },
    ...serverTlsFiles(input.tls),
  ];
  return renderHostUserData({
    role: "witness",
    release: input.release,
    access: input.access,
    files,
    entry: WITNESS_ENTRY,
  });
}
