/**
 * HTTP client that runs inside a lab host's network namespace and takes its orders over a Unix
 * socket: the machine's root namespace has no route into the lab, but it shares this process's
 * filesystem. Each order is one JSON object ({ url, method?, body?, timeoutMs? }); the answer is
 * { status, body, ms } or { error, ms }, where ms is measured here, next to the network, so the
 * relay's own overhead never counts against a check timeout.
 *
 * Every request opens a new connection (no keep-alive pool), as a NodeBalancer health check does,
 * and only documentation-range addresses may be contacted.
 *
 * Settings come from the environment: RELAY_SOCKET (path of the Unix socket to listen on).
 */
import { rmSync } from "node:fs";
import { createServer, request, type IncomingMessage } from "node:http";
import { assertDocumentationAddress } from "../addresses";

interface RelayOrder {
  url: string;
  method?: string;
  body?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

type RelayAnswer =
  | { status: number; body: string; headers: Record<string, string>; ms: number }
  | { error: string; ms: number };

const socketPath = process.env.RELAY_SOCKET;
if (!socketPath) {
  console.error("http relay: RELAY_SOCKET is required");
  process.exit(2);
}

function readAll(stream: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    stream.on("error", reject);
  });
}

function forward(order: RelayOrder): Promise<RelayAnswer> {
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  let url: URL;
  try {
    url = new URL(order.url);
    if (url.protocol !== "http:") throw new Error(`only http:// URLs; received ${order.url}`);
    assertDocumentationAddress(url.hostname);
  } catch (error) {
    return Promise.resolve({ error: (error as Error).message, ms: elapsed() });
  }
  const timeoutMs = order.timeoutMs ?? 10_000;
  return new Promise((resolve) => {
    let settled = false;
    const settle = (answer: RelayAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(answer);
    };
    const body = order.body === undefined ? undefined : Buffer.from(order.body, "utf8");
    const req = request(
      {
        host: url.hostname,
        port: url.port === "" ? 80 : Number(url.port),
        path: `${url.pathname}${url.search}`,
        method: order.method ?? "GET",
        agent: false,
        headers: {
          ...(body ? { "content-type": "application/json", "content-length": String(body.length) } : {}),
          ...order.headers,
        },
      },
      (res) => {
        readAll(res).then(
          (text) =>
            settle({
              status: res.statusCode ?? 0,
              body: text,
              headers: Object.fromEntries(
                Object.entries(res.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : String(v)]),
              ),
              ms: elapsed(),
            }),
          (error: Error) => settle({ error: error.message, ms: elapsed() }),
        );
      },
    );
    // The bound covers connect, request and the whole response, like the NodeBalancer's timeout.
    const timer = setTimeout(() => {
      settle({ error: `no complete answer within ${timeoutMs} ms`, ms: elapsed() });
      req.destroy();
    }, timeoutMs);
    req.on("error", (error) => settle({ error: error.message, ms: elapsed() }));
    req.end(body);
  });
}

rmSync(socketPath, { force: true });
const server = createServer((req, res) => {
  readAll(req)
    .then((text): Promise<RelayAnswer | { ready: true }> | { ready: true } =>
      req.url === "/ready" ? { ready: true } : forward(JSON.parse(text) as RelayOrder),
    )
    .then(
      (answer) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(answer));
      },
      (error: Error) => {
        res.writeHead(400, { "content-type": "text/plain" });
        res.end(error.message);
      },
    );
});
server.listen(socketPath, () => console.error(`http relay: listening on ${socketPath}`));

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections();
    rmSync(socketPath, { force: true });
    process.exit(0);
  });
}
