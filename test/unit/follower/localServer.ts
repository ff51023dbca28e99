import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";

/** A request as a local server saw it. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export type Handler = (request: SeenRequest, response: http.ServerResponse) => void;

export interface LocalServer {
  port: number;
  /** Every request, in order of arrival. */
  seen: SeenRequest[];
  /** Replaces the handler (the next answers). */
  handle(handler: Handler): void;
  close(): Promise<void>;
}

/**
 * An HTTP (or, given a certificate, HTTPS) server on 127.0.0.1 and a port of the system's
 * choosing, never any other address. close() ends open connections too.
 */
export async function startLocalServer(
  handler: Handler,
  tls?: { certPem: string; keyPem: string },
): Promise<LocalServer> {
  const seen: SeenRequest[] = [];
  let current = handler;
  const listener = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const request = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      seen.push(request);
      current(request, res);
    });
  };
  const server = tls
    ? https.createServer({ cert: tls.certPem, key: tls.keyPem }, listener)
    : http.createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    handle: (next) => (current = next),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Sends a JSON answer. */
export function json(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

/** A port nothing listens on: one a server just had. */
export async function closedPort(): Promise<number> {
  const server = await startLocalServer(() => undefined);
  await server.close();
  return server.port;
}
