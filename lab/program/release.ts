import type { ReleaseSource } from "../../provisioning/host";
import { baseConfig } from "./configs";
import { evaluateStack, type Evaluation } from "./evaluate";
import type { RecordedResource } from "./mocks";
import { labAddressPlan } from "./userData";

/**
 * The release source a stack's Linodes receive (bucket URL, cluster, read-only key, sha256), read
 * back from the resources the program declared, for lab code that builds user data by hand.
 */
export function releaseSourceOf(evaluation: Evaluation, stack: "primary" | "dr"): ReleaseSource {
  const bucket: RecordedResource = evaluation.byName(`${stack}-artifacts-bucket`);
  const reader: RecordedResource = evaluation.byName(`${stack}-artifacts-reader-key`);
  const release: RecordedResource = evaluation.byName(`${stack}-artifacts-release`);
  const match = /^releases\/([0-9a-f]{64})\.tar$/.exec(String(release.inputs.key));
  if (!match) throw new Error(`unexpected release object key ${String(release.inputs.key)}`);
  return {
    baseUrl: `https://${String(bucket.state.hostname)}/releases`,
    sha256: match[1],
    cluster: String(bucket.state.cluster),
    accessKey: String(reader.state.accessKey),
    secretKey: String(reader.state.secretKey),
  };
}

/** Stack primary evaluated with the lab address plan, and its release source. */
export async function releaseStoreEvaluation(): Promise<{ evaluation: Evaluation; release: ReleaseSource }> {
  const evaluation = await evaluateStack({
    stack: "primary",
    config: baseConfig("primary"),
    addressPlan: labAddressPlan(),
  });
  return { evaluation, release: releaseSourceOf(evaluation, "primary") };
}
