import type { Host } from "./hosts/host";
import type { ExecResult } from "./process";
import type { RecordedResource } from "../evaluation/mocks";
import { runRemoteCommand } from "./standins/ssh";
import { RESOURCE_TYPE } from "../components/resourceTypes";

/**
 * Runs a `command:remote:Command` the program declared the way `pulumi up` would: its `create`
 * over SSH as `connection.user` with `connection.privateKey`, trusting only `connection.hostKey`,
 * with `stdin`. The command runs from `operator` (where `pulumi up` runs, inside adminCidrs).
 * Not emulated: remote.Command's dial retries and the `timeout` of the Pulumi engine itself.
 */
export async function runProgramCommand(
  operator: Host,
  resource: RecordedResource,
  options: { create?: string; timeoutMs?: number } = {},
): Promise<ExecResult> {
  if (resource.type !== RESOURCE_TYPE.command) {
    throw new Error(`${resource.name} is a ${resource.type}, not a remote.Command`);
  }
  const connection = resource.inputs.connection as {
    host: string;
    user: string;
    privateKey: string;
    hostKey?: string;
  };
  if (!connection.hostKey) {
    throw new Error(
      `${resource.name} pins no host key: it would trust whatever answers on ${connection.host}`,
    );
  }
  return runRemoteCommand(
    operator,
    {
      host: connection.host,
      user: connection.user,
      privateKey: connection.privateKey,
      hostKey: connection.hostKey,
    },
    options.create ?? String(resource.inputs.create),
    { stdin: resource.inputs.stdin as string | undefined, timeoutMs: options.timeoutMs ?? 600_000 },
  );
}
