/**
 * What the HTTPS stand-ins' server programs share (Object Storage, the Linode API): each runs in a
 * lab host's network namespace, serves HTTPS on one documentation address, can refuse connections
 * and take them again (a service that is gone, not one that answers errors), and takes the lab's
 * orders over a Unix socket (HTTP, JSON bodies), because the machine's root namespace has no route
 * into the lab but shares its filesystem. The control socket listens only once HTTPS does, so an
 * answer to GET /ready means the service is up.
 */
import { readFileSync, rmSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type RequestListener } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { Socket } from "node:net";
import { assertDocumentationAddress } from "../addresses";

export function readBody(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => resolve(Buffer.concat(chunks)));
    stream.on("error", reject);
  });
}

/** The value of an environment variable the lab must set, or exit 2 naming it. */
export function requiredEnv(program: string, name: string): string {
  const value = process.env[name];
  if (!value) {
    console.error(`${program}: ${name} is required`);
    process.exit(2);
  }
  return value;
}

/** A JSON settings file written by the lab (it holds a private key, so it is not in the environment). */
export function readSettings<T>(path: string): T {
  return JSON.parse(readFileSync(path, "utf8")) as T;
}

export interface HttpsEndpoint {
  address: string;
  port: number;
  certPem: string;
  keyPem: string;
}

/** An HTTPS listener that can stop accepting connections and start again. */
export class SwitchableHttps {
  private readonly server: HttpsServer;
  private readonly sockets = new Set<Socket>();
  private isListening = false;

  constructor(
    private readonly endpoint: HttpsEndpoint,
    handler: RequestListener,
  ) {
    assertDocumentationAddress(endpoint.address);
    this.server = createHttpsServer({ cert: endpoint.certPem, key: endpoint.keyPem }, handler);
    this.server.on("connection", (socket: Socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
  }

  get where(): string {
    return `${this.endpoint.address}:${this.endpoint.port}`;
  }

  get listening(): boolean {
    return this.isListening;
  }

  listen(): Promise<void> {
    if (this.isListening) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.endpoint.port, this.endpoint.address, () => {
        this.server.off("error", reject);
        this.isListening = true;
        resolve();
      });
    });
  }

  /** Connections are refused from now on and open ones are cut, as when the service is gone. */
  unlisten(): Promise<void> {
    if (!this.isListening) return Promise.resolve();
    return new Promise((resolve) => {
      this.isListening = false;
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
  }
}

/** One control order: the status to answer, or undefined when the stand-in has no such order (404). */
export type ControlRoute = (method: string, url: string, body: string) => Promise<number | undefined>;

/**
 * Starts serving: HTTPS first, then the control socket (GET /ready answers 200; every other order
 * goes to `route`, and an order that throws is answered 500 with its message). Exits 1 if HTTPS
 * cannot listen, 0 on SIGTERM.
 */
export function serveStandIn(
  program: string,
  https: SwitchableHttps,
  controlPath: string,
  route: ControlRoute,
): void {
  const control = createHttpServer(async (req, res) => {
    try {
      const body = (await readBody(req)).toString("utf8");
      const status =
        req.method === "GET" && req.url === "/ready"
          ? 200
          : await route(req.method ?? "GET", req.url ?? "/", body);
      res.writeHead(status ?? 404).end();
    } catch (error) {
      res.writeHead(500).end((error as Error).message);
    }
  });
  rmSync(controlPath, { force: true });
  https.listen().then(
    () => control.listen(controlPath),
    (error: Error) => {
      console.error(`${program}: cannot listen on ${https.where}: ${error.message}`);
      process.exit(1);
    },
  );
  process.on("SIGTERM", () => process.exit(0));
}
