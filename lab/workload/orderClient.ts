import { setTimeout as sleep } from "node:timers/promises";
/**
 * A user of the application, for drills: writes numbered orders by name (`http://<ORDER_NAME>/orders`)
 * the way a careful client does. Every attempt resolves the name through the resolver at
 * ORDER_DNS (the client host's caching resolver, which honours the records' TTLs), opens a fresh
 * connection to whatever address it got (the NodeBalancer of one region), and sends the order with
 * `Idempotency-Key: <ORDER_PREFIX>-<seq>`. A failed or unanswered attempt is retried with the same
 * key until it is acknowledged, so an order is either acknowledged once or still pending at the end.
 *
 * Runs in the client host's network namespace. One JSON line per attempt goes to ORDER_LOG:
 * {seq, attempt, start, end, address, status, id?, replayed?, error?} (times: epoch ms; status 0
 * when no HTTP answer arrived). Settings: ORDER_NAME, ORDER_DNS, ORDER_LOG, ORDER_RATE (orders/s
 * over all workers), ORDER_WORKERS, ORDER_TIMEOUT_MS, ORDER_RETRY_MS, ORDER_PREFIX. SIGTERM ends
 * it after the attempts in flight.
 */
import { createWriteStream } from "node:fs";
import { request } from "node:http";
import { Resolver } from "node:dns/promises";
import type { OrderAttempt as Attempt } from "./orders";

function setting(name: string, fallback?: string): string {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === "") {
    console.error(`order client: ${name} is required`);
    process.exit(2);
  }
  return value;
}

function positive(name: string, fallback: string): number {
  const value = Number(setting(name, fallback));
  if (!(value > 0)) {
    console.error(`order client: ${name} must be a positive number; received "${process.env[name]}"`);
    process.exit(2);
  }
  return value;
}

const name = setting("ORDER_NAME");
const dnsServer = setting("ORDER_DNS", "127.0.0.1");
const logFile = setting("ORDER_LOG");
const rate = positive("ORDER_RATE", "10");
const workers = Math.floor(positive("ORDER_WORKERS", "2"));
const timeoutMs = positive("ORDER_TIMEOUT_MS", "2000");
const retryMs = positive("ORDER_RETRY_MS", "200");
const prefix = setting("ORDER_PREFIX", "order");

const resolver = new Resolver({ timeout: Math.min(timeoutMs, 1000), tries: 1 });
resolver.setServers([dnsServer]);
const log = createWriteStream(logFile, { flags: "a" });
let stopping = false;
let next = 1;

function post(
  address: string,
  key: string,
  body: string,
): Promise<{ status: number; body: string; replayed: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: address,
        port: 80,
        path: "/orders",
        method: "POST",
        agent: false,
        timeout: timeoutMs,
        headers: {
          host: name,
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
          "idempotency-key": key,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString("utf8"),
            replayed: res.headers["idempotent-replayed"] === "true",
          }),
        );
        res.on("error", reject);
      },
    );
    // The whole exchange is bounded, not only the idle time between packets.
    const deadline = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on("close", () => clearTimeout(deadline));
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}

async function attemptOnce(seq: number, attempt: number): Promise<Attempt> {
  const start = Date.now();
  let address: string | null = null;
  try {
    const addresses = await resolver.resolve4(name);
    address = addresses[0] ?? null;
    if (!address) throw new Error(`${name} has no A record`);
    const body = JSON.stringify({ item: `${prefix}-${seq}`, quantity: 1 });
    const answer = await post(address, `${prefix}-${seq}`, body);
    const result: Attempt = { seq, attempt, start, end: Date.now(), address, status: answer.status };
    if (answer.status === 201) {
      result.id = (JSON.parse(answer.body) as { id: number }).id;
      result.replayed = answer.replayed;
    } else {
      result.error = answer.body.trim().slice(0, 200);
    }
    return result;
  } catch (error) {
    return {
      seq,
      attempt,
      start,
      end: Date.now(),
      address,
      status: 0,
      error: (error as Error).message.slice(0, 200),
    };
  }
}

async function worker(): Promise<void> {
  const interval = (1000 * workers) / rate;
  while (!stopping) {
    const seq = next++;
    for (let attempt = 1; ; attempt++) {
      const started = Date.now();
      const result = await attemptOnce(seq, attempt);
      log.write(`${JSON.stringify(result)}\n`);
      if (result.status === 201) break;
      // An unacknowledged order is retried with its key even while stopping: a drill ends with
      // every order either acknowledged or reported pending, never silently dropped.
      if (stopping && attempt >= 3) break;
      await sleep(Math.max(0, retryMs - (Date.now() - started)));
    }
    await sleep(Math.max(0, interval - 1));
  }
}

process.on("SIGTERM", () => {
  stopping = true;
});

Promise.all(Array.from({ length: workers }, () => worker())).then(
  () => log.end(() => process.exit(0)),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
