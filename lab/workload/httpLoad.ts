/**
 * HTTP load for lab scenarios: LOAD_WORKERS concurrent clients, each with its own keep-alive
 * connection (as browsers and SDKs behave), sending `POST /orders` to LOAD_URL back to back until
 * SIGTERM. Every request's outcome is appended to LOAD_RESULTS as
 * "<epoch ms>\t<status or 0>\t<ms>\t<error or body excerpt>", so a test can count failed requests
 * and see exactly when they happened. Runs inside a lab host's network namespace.
 */
import { createWriteStream } from "node:fs";
import { Agent, request } from "node:http";

const url = new URL(process.env.LOAD_URL ?? "");
const workers = Number(process.env.LOAD_WORKERS ?? "4");
const resultsFile = process.env.LOAD_RESULTS;
const timeoutMs = Number(process.env.LOAD_TIMEOUT_MS ?? "5000");
if (!resultsFile || url.protocol !== "http:" || !(workers > 0)) {
  console.error("httpLoad: LOAD_URL (http://...), LOAD_RESULTS and a positive LOAD_WORKERS are required");
  process.exit(2);
}

const results = createWriteStream(resultsFile, { flags: "a" });
let stopping = false;
process.on("SIGTERM", () => {
  stopping = true;
});

function once(agent: Agent, seq: number): Promise<void> {
  const body = JSON.stringify({ item: `load-${seq}`, quantity: 1 });
  const started = Date.now();
  return new Promise((resolve) => {
    const done = (status: number, detail: string) => {
      results.write(
        `${Date.now()}\t${status}\t${Date.now() - started}\t${detail.replace(/\s+/g, " ").slice(0, 120)}\n`,
      );
      resolve();
    };
    const req = request(
      url,
      {
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => done(res.statusCode ?? 0, Buffer.concat(chunks).toString("utf8")));
        res.on("error", (error) => done(0, error.message));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on("error", (error) => done(0, error.message));
    req.end(body);
  });
}

async function worker(id: number): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  for (let seq = 0; !stopping; seq++) await once(agent, id * 1_000_000 + seq);
  agent.destroy();
}

void Promise.all(Array.from({ length: workers }, (_, i) => worker(i))).then(() => {
  results.end(() => process.exit(0));
});
