import type { Host } from "./host";

/**
 * One HTTP request made from inside a lab host with its curl, as a program on that Linode would
 * make it: through the host's own network, resolver and /etc/hosts. `status` is 0 when no answer
 * came (refused, unreachable, timed out).
 */
export interface HostRequest {
  method?: string;
  headers?: Record<string, string>;
  /** Sent as the request body with content-type application/json. */
  json?: unknown;
  /** Verify the server against this CA file on the host; without it, https is not verified. */
  cacert?: string;
  maxTimeSeconds?: number;
}

export interface HostResponse {
  status: number;
  body: string;
}

const STATUS_MARK = "\n--linode-dr-status:";

export async function requestFrom(host: Host, url: string, request: HostRequest = {}): Promise<HostResponse> {
  const maxTime = request.maxTimeSeconds ?? 2;
  const argv = ["curl", "-s", "--max-time", String(maxTime), "-w", `${STATUS_MARK}%{http_code}`];
  if (request.method) argv.push("-X", request.method);
  for (const [name, value] of Object.entries(request.headers ?? {})) argv.push("-H", `${name}: ${value}`);
  if (request.json !== undefined)
    argv.push("-H", "content-type: application/json", "-d", JSON.stringify(request.json));
  argv.push(...(request.cacert ? ["--cacert", request.cacert] : ["-k"]), url);
  const result = await host.exec(argv, { timeoutMs: (maxTime + 3) * 1000 });
  const at = result.stdout.lastIndexOf(STATUS_MARK);
  if (at < 0) return { status: 0, body: "" };
  return {
    status: Number(result.stdout.slice(at + STATUS_MARK.length)) || 0,
    body: result.stdout.slice(0, at),
  };
}
