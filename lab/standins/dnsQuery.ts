import type { Host } from "../hosts/host";

/**
 * DNS queries made with kdig (Debian package knot-dnsutils) from inside a lab host, so they leave
 * from that host's address and, through a resolver, see that host's cache. kdig's RFC 8427 JSON
 * output is parsed, not its text.
 */

export interface DnsRecordAnswer {
  /** Fully qualified, lowercase, without the trailing dot. */
  name: string;
  type: string;
  ttl: number;
  data: string;
}

export interface DnsAnswer {
  /** NOERROR, NXDOMAIN, REFUSED, ... */
  status: string;
  authoritative: boolean;
  answers: DnsRecordAnswer[];
  authority: DnsRecordAnswer[];
}

export interface DnsQueryOptions {
  tcp?: boolean;
  port?: number;
  timeoutSeconds?: number;
}

const RCODES = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"];

export function digArgv(server: string, name: string, type: string, options: DnsQueryOptions = {}): string[] {
  return [
    "kdig",
    `@${server}`,
    "-p",
    String(options.port ?? 53),
    options.tcp ? "+tcp" : "+notcp",
    // One try: a test that measures caching must not have kdig retry behind its back.
    "+retry=0",
    `+time=${options.timeoutSeconds ?? 2}`,
    "+json",
    name,
    type,
  ];
}

interface JsonRecord {
  NAME?: string;
  TYPEname?: string;
  TYPE?: number;
  TTL?: number;
  rdataA?: string;
  rdataAAAA?: string;
  rdataNS?: string;
  rdataSOA?: unknown;
  RDATAHEX?: string;
  [key: string]: unknown;
}

interface JsonMessage {
  RCODE?: number;
  AA?: number | boolean;
  answerRRs?: JsonRecord[];
  authorityRRs?: JsonRecord[];
}

function rdataOf(record: JsonRecord, type: string): string {
  const field = record[`rdata${type}`];
  if (typeof field === "string") return field;
  if (field !== undefined) return JSON.stringify(field);
  return String(record.RDATAHEX ?? "");
}

function recordOf(record: JsonRecord): DnsRecordAnswer {
  const type = record.TYPEname ?? `TYPE${String(record.TYPE)}`;
  return {
    name: String(record.NAME ?? "")
      .toLowerCase()
      .replace(/\.$/, ""),
    type,
    ttl: Number(record.TTL),
    data: rdataOf(record, type),
  };
}

export function parseDigJson(text: string): DnsAnswer {
  let message: JsonMessage;
  try {
    message = JSON.parse(text) as JsonMessage;
  } catch {
    throw new Error(`kdig printed no JSON message:\n${text}`);
  }
  const rcode = Number(message.RCODE);
  return {
    status: RCODES[rcode] ?? `RCODE${rcode}`,
    authoritative: message.AA === 1 || message.AA === true,
    answers: (message.answerRRs ?? []).map(recordOf),
    authority: (message.authorityRRs ?? []).map(recordOf),
  };
}

/** One query from inside `host`; throws when no answer came back (timeout, refused connection). */
export async function queryDns(
  host: Host,
  server: string,
  name: string,
  type: string,
  options: DnsQueryOptions = {},
): Promise<DnsAnswer> {
  const argv = digArgv(server, name, type, options);
  const result = await host.exec(argv, { timeoutMs: ((options.timeoutSeconds ?? 2) + 5) * 1000 });
  if (result.code !== 0 || !result.stdout.trim().startsWith("{"))
    throw new Error(
      `${argv.join(" ")} on ${host.name} got no answer: ${result.stderr.trim() || result.stdout.trim()}`,
    );
  return parseDigJson(result.stdout);
}
