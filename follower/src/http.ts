import * as http from "node:http";
import * as https from "node:https";
import { checkServerIdentity } from "node:tls";

/**
 * One HTTP(S) request with a time limit on the whole exchange, on Node's own modules (Node 18's
 * fetch cannot take a CA). No connection is reused: every poll opens fresh ones, so a peer that
 * vanished is noticed at once rather than through a stale keep-alive socket.
 */

export interface HttpRequest {
  url: string;
  method?: "GET" | "PUT";
  headers?: Record<string, string>;
  body?: string;
  timeoutMs: number;
  /** PEM CA(s) that alone are trusted for https (the project CA); absent: Node's usual CAs. */
  ca?: string;
  /**
   * Connect here instead of resolving the URL's host; the certificate is still checked against
   * the URL's host. Tests use it to reach local servers under the names and addresses of settings.
   */
  connectTo?: { host: string; port: number };
}

export interface HttpResponse {
  status: number;
  /** Lower-case names, as Node gives them. */
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** No HTTP answer: refused, unreachable, timed out, TLS refused, or cut short. */
export class HttpFailure extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = "HttpFailure";
  }
}

/** Answers are small (a record, a cluster of two); a larger one is not what was asked. */
const MAX_BODY_BYTES = 1024 * 1024;

export function httpRequest(request: HttpRequest): Promise<HttpResponse> {
  const url = new URL(request.url);
  const secure = url.protocol === "https:";
  const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = Number(url.port || (secure ? 443 : 80));
  const body = request.body === undefined ? undefined : Buffer.from(request.body, "utf8");
  const options: https.RequestOptions = {
    method: request.method ?? "GET",
    host: request.connectTo?.host ?? hostname,
    port: request.connectTo?.port ?? port,
    path: `${url.pathname}${url.search}`,
    agent: false,
    headers: {
      host: url.host,
      ...(body === undefined ? {} : { "content-length": String(body.length) }),
      ...request.headers,
    },
  };
  if (secure) {
    if (request.ca !== undefined) options.ca = request.ca;
    options.checkServerIdentity = (_host, cert) => checkServerIdentity(hostname, cert);
    // SNI carries names only (RFC 6066).
    if (!/^[0-9.]+$|:/.test(hostname)) options.servername = hostname;
  }
  return new Promise((resolve, reject) => {
    const req = (secure ? https : http).request(options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) req.destroy(new HttpFailure(`answer larger than ${MAX_BODY_BYTES} bytes`));
        else chunks.push(chunk);
      });
      res.on("end", () => {
        clearTimeout(timer);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString("utf8"),
        });
      });
      res.on("error", fail);
    });
    const timer = setTimeout(
      () => req.destroy(new HttpFailure(`no answer within ${request.timeoutMs} ms`)),
      request.timeoutMs,
    );
    function fail(error: Error): void {
      clearTimeout(timer);
      reject(error instanceof HttpFailure ? error : new HttpFailure(describeError(error)));
    }
    req.on("error", fail);
    req.end(body);
  });
}

/** Node's message names the address and the cause; a TLS refusal gets its code as well. */
function describeError(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  return code !== undefined && !error.message.includes(code) ? `${error.message} (${code})` : error.message;
}
