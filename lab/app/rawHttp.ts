import { Socket, connect } from "node:net";

/**
 * Raw-socket HTTP clients for the C service's hostile-client tests: exact bytes on the wire
 * (malformed requests, pipelining), clients that never read, and a slowloris swarm. Loopback only.
 */

export interface RawResult {
  /** Everything received before the peer closed or the timeout passed. */
  data: string;
  /** Milliseconds from connect until the first complete response head arrived (or the end). */
  ms: number;
  closed: boolean;
}

/** Sends bytes on a new connection and collects the answer until close or timeoutMs. */
export function rawRequest(port: number, bytes: string, timeoutMs = 3000): Promise<RawResult> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let data = "";
    let headAt = 0;
    let settled = false;
    const sock = connect({ host: "127.0.0.1", port });
    const done = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ data, ms: headAt || performance.now() - t0, closed });
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.on("connect", () => sock.write(bytes));
    sock.on("data", (c: Buffer) => {
      data += c.toString("latin1");
      if (!headAt && data.includes("\r\n\r\n")) headAt = performance.now() - t0;
    });
    sock.on("end", () => done(true));
    sock.on("close", () => done(true));
    sock.on("error", () => done(true));
  });
}

/** GET path on a fresh connection; status, body and time to the complete answer. */
export async function freshGet(
  port: number,
  path: string,
  timeoutMs: number,
): Promise<{ status: number; body: string; ms: number }> {
  const t0 = performance.now();
  const r = await rawRequest(port, `GET ${path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`, timeoutMs);
  const m = /^HTTP\/1\.1 (\d{3}) /.exec(r.data);
  const body = r.data.split("\r\n\r\n").slice(1).join("\r\n\r\n");
  return { status: m ? Number(m[1]) : 0, body, ms: r.closed ? performance.now() - t0 : timeoutMs };
}

/**
 * Holds `count` connections that each send a request head one header at a time, slowly, never
 * finishing; when the server closes one, it reconnects (as an attacker would).
 */
export class Slowloris {
  private socks = new Set<Socket>();
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  reconnects = 0;

  constructor(
    private readonly port: number,
    private readonly count: number,
  ) {}

  async start(): Promise<void> {
    const opened: Promise<void>[] = [];
    for (let i = 0; i < this.count; i++) opened.push(this.open());
    await Promise.all(opened);
    // One more header line every 2 s on every connection: the head never completes.
    this.timer = setInterval(() => {
      for (const s of this.socks) if (!s.destroyed) s.write("X-a: b\r\n");
    }, 2000);
  }

  private open(): Promise<void> {
    return new Promise((resolve) => {
      const sock = connect({ host: "127.0.0.1", port: this.port });
      this.socks.add(sock);
      sock.on("connect", () => {
        sock.write("GET /healthz HTTP/1.1\r\nHost: t\r\n");
        resolve();
      });
      sock.on("data", () => undefined);
      sock.on("error", () => resolve());
      sock.on("close", () => {
        this.socks.delete(sock);
        resolve();
        if (!this.stopped) {
          this.reconnects++;
          void this.open();
        }
      });
    });
  }

  get open_(): number {
    return this.socks.size;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    for (const s of this.socks) s.destroy();
    this.socks.clear();
  }
}

/**
 * Connections that pipeline many requests and never read a byte of the answers, so the server's
 * responses back up into its socket buffers.
 */
export class SlowReaders {
  private socks: Socket[] = [];

  constructor(
    private readonly port: number,
    private readonly count: number,
    private readonly path: string,
    private readonly pipelined = 400,
  ) {}

  async start(): Promise<void> {
    const req = `GET ${this.path} HTTP/1.1\r\nHost: t\r\n\r\n`.repeat(this.pipelined);
    await Promise.all(
      Array.from(
        { length: this.count },
        () =>
          new Promise<void>((resolve) => {
            const sock = connect({ host: "127.0.0.1", port: this.port });
            sock.on("error", () => resolve());
            sock.on("connect", () => {
              sock.pause(); // never read
              sock.write(req);
              resolve();
            });
            this.socks.push(sock);
          }),
      ),
    );
  }

  stop(): void {
    for (const s of this.socks) s.destroy();
    this.socks = [];
  }
}
