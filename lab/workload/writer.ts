/**
 * Steady-rate writer for replication drills. Inserts sequence-numbered rows into the application
 * database and appends "<seq>\t<ack epoch ms>" to the ack file only after the commit returned, so the
 * file is exactly the set of writes a client was told had succeeded.
 *
 * Settings come from the environment: PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE (read by pg),
 * WRITER_RATE (rows/s), WRITER_WORKERS (connections), WRITER_ACK_FILE; optionally WRITER_HOSTS
 * (comma-separated: a worker whose write fails moves to the next one, as a client following the
 * leader does), WRITER_SEQ_OFFSET (so two writers never collide) and WRITER_SSL=1 (TLS, the
 * server is not verified: the lab connects by address). Ack lines then carry the host as a third
 * column: "<seq>\t<ack epoch ms>\t<host>".
 */
import { createWriteStream } from "node:fs";
import { Client } from "pg";

const rate = Number(process.env.WRITER_RATE ?? "500");
const workers = Number(process.env.WRITER_WORKERS ?? "4");
const ackFile = process.env.WRITER_ACK_FILE;
const hosts = (process.env.WRITER_HOSTS ?? process.env.PGHOST ?? "").split(",").filter(Boolean);
const seqOffset = Number(process.env.WRITER_SEQ_OFFSET ?? "0");
const ssl = process.env.WRITER_SSL === "1" ? { rejectUnauthorized: false } : undefined;
if (!ackFile || !(rate > 0) || !(workers > 0)) {
  console.error("writer: WRITER_ACK_FILE, a positive WRITER_RATE and WRITER_WORKERS are required");
  process.exit(2);
}

const acks = createWriteStream(ackFile, { flags: "a" });
let stopping = false;
let next = 0;
let failures = 0;
const startedAt = Date.now();

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function connect(host = hosts[0]): Promise<Client> {
  const client = new Client({ host, ssl, connectionTimeoutMillis: 3000, query_timeout: 10_000 });
  client.on("error", () => undefined);
  await client.connect();
  return client;
}

async function worker(): Promise<void> {
  let client: Client | undefined;
  let hostIndex = 0;
  while (!stopping) {
    const seq = seqOffset + next++;
    // Rows are scheduled on a fixed timeline, so the rate holds however the workers interleave.
    const due = startedAt + ((seq - seqOffset) * 1000) / rate;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    if (stopping) return;
    try {
      client ??= await connect(hosts[hostIndex]);
      await client.query("INSERT INTO lab_writes (seq) VALUES ($1)", [seq]);
      acks.write(`${seq}\t${Date.now()}\t${hosts[hostIndex] ?? ""}\n`);
    } catch (error) {
      failures++;
      console.error(`writer: seq ${seq} not acknowledged: ${(error as Error).message}`);
      await client?.end().catch(() => undefined);
      client = undefined;
      hostIndex = (hostIndex + 1) % Math.max(hosts.length, 1);
      await sleep(100);
    }
  }
  await client?.end().catch(() => undefined);
}

async function setUp(): Promise<void> {
  // The table is made on whichever host accepts writes.
  for (let attempt = 0; ; attempt++) {
    const host = hosts[attempt % Math.max(hosts.length, 1)];
    try {
      const setup = await connect(host);
      try {
        await setup.query(
          "CREATE TABLE IF NOT EXISTS lab_writes (seq bigint PRIMARY KEY, committed_at timestamptz NOT NULL DEFAULT clock_timestamp())",
        );
        return;
      } finally {
        await setup.end().catch(() => undefined);
      }
    } catch (error) {
      if (attempt >= 50) throw error;
      await sleep(200);
    }
  }
}

async function main(): Promise<void> {
  await setUp();
  process.on("SIGTERM", () => {
    stopping = true;
  });
  console.error(`writer: started, ${rate} rows/s over ${workers} connections`);
  await Promise.all(Array.from({ length: workers }, () => worker()));
  await new Promise<void>((resolve) => acks.end(resolve));
  console.error(`writer: stopped after ${next} scheduled rows, ${failures} failures`);
}

main().catch((error) => {
  console.error(`writer: ${(error as Error).stack ?? error}`);
  process.exit(1);
});
