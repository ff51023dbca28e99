import { setTimeout as sleep } from "node:timers/promises";
import { ChildProcess, execFile, spawn } from "node:child_process";
import { chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { pgQuote } from "../../provisioning/app";

/** PostgreSQL and linode-dr-app processes on loopback only, each stopped by pid. */

const execFileP = promisify(execFile);
export const PG_BIN = "/usr/lib/postgresql/15/bin";
export const REPO = path.join(__dirname, "..", "..");
export const APP_BINARY = path.join(REPO, "app", "build", "linode-dr-app");

export async function sh(argv: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  try {
    const { stdout } = await execFileP(argv[0], argv.slice(1), {
      env: env ?? process.env,
      maxBuffer: 16 << 20,
    });
    return stdout;
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${argv.join(" ")} failed: ${err.message}\n${err.stdout ?? ""}\n${err.stderr ?? ""}`);
  }
}

const asPostgres = (argv: string[]) => sh(["runuser", "-u", "postgres", "--", ...argv]);

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const line of readFileSync("/proc/" + pid + "/task/" + pid + "/children", "utf8")
    .trim()
    .split(/\s+/)) {
    if (/^\d+$/.test(line)) out.push(Number(line));
  }
  return out;
}

/**
 * A plain single-member connection string to a loopback server, for tests of the service itself
 * (the program's own string, with both members and verify-full, is provisioning/app.ts's).
 */
export function loopbackConninfo(port: number, db: { database: string; user: string; password: string }): string {
  return `host=127.0.0.1 port=${port} dbname=${pgQuote(db.database)} user=${pgQuote(db.user)} password=${pgQuote(db.password)}`;
}

export class LoopbackPostgres {
  readonly dir: string;
  readonly socketDir: string;
  readonly dataDir: string;
  private stopped: number[] = [];

  private constructor(
    readonly name: string,
    readonly port: number,
    root: string,
  ) {
    this.dir = root;
    this.socketDir = root;
    this.dataDir = path.join(root, "data");
  }

  static async tempRoot(name: string): Promise<string> {
    const root = mkdtempSync(path.join(tmpdir(), `ldr-app-${name}-`));
    chownSync(
      root,
      Number((await sh(["id", "-u", "postgres"])).trim()),
      Number((await sh(["id", "-g", "postgres"])).trim()),
    );
    return root;
  }

  /** A new primary with an application role that logs in with a password over TCP. */
  static async primary(app: { database: string; user: string; password: string }): Promise<LoopbackPostgres> {
    const pg = new LoopbackPostgres("primary", await freePort(), await LoopbackPostgres.tempRoot("primary"));
    await asPostgres([
      `${PG_BIN}/initdb`,
      "-D",
      pg.dataDir,
      "-U",
      "postgres",
      "--auth-local=trust",
      "--auth-host=scram-sha-256",
      "-N",
    ]);
    await pg.start();
    const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
    await pg.psql(`CREATE ROLE ${app.user} LOGIN PASSWORD ${lit(app.password)}`);
    await pg.psql(`CREATE DATABASE ${app.database} OWNER ${app.user}`);
    return pg;
  }

  /** A streaming hot standby of primary (pg_basebackup -R over the unix socket). */
  static async standbyOf(primary: LoopbackPostgres): Promise<LoopbackPostgres> {
    const pg = new LoopbackPostgres("standby", await freePort(), await LoopbackPostgres.tempRoot("standby"));
    await asPostgres([
      `${PG_BIN}/pg_basebackup`,
      "-D",
      pg.dataDir,
      "-R",
      "-X",
      "stream",
      // An immediate checkpoint: the default spread one makes this take minutes.
      "--checkpoint=fast",
      "-h",
      primary.socketDir,
      "-p",
      String(primary.port),
      "-U",
      "postgres",
    ]);
    await pg.start();
    return pg;
  }

  get postmasterPid(): number {
    return Number(readFileSync(path.join(this.dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
  }

  async start(): Promise<void> {
    const opts = [
      `-p ${this.port}`,
      `-k ${this.socketDir}`,
      "-c listen_addresses=127.0.0.1",
      "-c wal_level=replica -c max_wal_senders=5 -c hot_standby=on",
      "-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
      "-c max_connections=100 -c shared_buffers=32MB",
    ].join(" ");
    await asPostgres([
      `${PG_BIN}/pg_ctl`,
      "-D",
      this.dataDir,
      "-o",
      opts,
      "-l",
      path.join(this.dir, "server.log"),
      "-w",
      "-t",
      "60",
      "start",
    ]);
  }

  async stop(mode: "fast" | "immediate" = "fast"): Promise<void> {
    await asPostgres([`${PG_BIN}/pg_ctl`, "-D", this.dataDir, "-m", mode, "-w", "-t", "60", "stop"]);
  }

  async psql(sql: string, dbname = "postgres"): Promise<string> {
    return asPostgres([
      `${PG_BIN}/psql`,
      "-X",
      "-q",
      "-At",
      "-v",
      "ON_ERROR_STOP=1",
      "-h",
      this.socketDir,
      "-p",
      String(this.port),
      "-d",
      dbname,
      "-c",
      sql,
    ]);
  }

  /** Serves TLS with this certificate from now on (ssl is reloadable): what verify-full meets on a member. */
  async enableTls(server: { certPem: string; keyPem: string }): Promise<void> {
    const uid = Number((await sh(["id", "-u", "postgres"])).trim());
    const gid = Number((await sh(["id", "-g", "postgres"])).trim());
    for (const [name, content] of [
      ["tls.crt", server.certPem],
      ["tls.key", server.keyPem],
    ] as const) {
      const file = path.join(this.dir, name);
      writeFileSync(file, content, { mode: 0o600 });
      chownSync(file, uid, gid);
    }
    await this.psql(`ALTER SYSTEM SET ssl_cert_file = '${path.join(this.dir, "tls.crt")}'`);
    await this.psql(`ALTER SYSTEM SET ssl_key_file = '${path.join(this.dir, "tls.key")}'`);
    await this.psql("ALTER SYSTEM SET ssl = on");
    await this.psql("SELECT pg_reload_conf()");
  }

  /** SIGSTOP the postmaster and every backend, so the server accepts TCP but never answers. */
  async hang(): Promise<void> {
    const pm = this.postmasterPid;
    const pids = [pm, ...childrenOf(pm)];
    for (const pid of pids) process.kill(pid, "SIGSTOP");
    this.stopped = pids;
  }

  async resume(): Promise<void> {
    for (const pid of this.stopped) if (alive(pid)) process.kill(pid, "SIGCONT");
    this.stopped = [];
  }

  /** Always safe: resumes anything stopped, stops the server by pid if pg_ctl cannot, removes files. */
  async destroy(): Promise<void> {
    await this.resume();
    let pid = 0;
    try {
      pid = this.postmasterPid;
    } catch {
      pid = 0;
    }
    if (pid && alive(pid)) {
      await this.stop("immediate").catch(() => undefined);
      if (alive(pid)) process.kill(pid, "SIGKILL");
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface AppProcess {
  url: string;
  port: number;
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<number | null>;
}

/**
 * Starts the built binary with the given config; resolves once it accepts connections. With
 * `wrapper` (e.g. ["prlimit", "--nofile=64:64", "--"]) the binary runs under that command.
 */
export async function startApp(
  env: Record<string, string>,
  binary = APP_BINARY,
  wrapper: string[] = [],
): Promise<AppProcess> {
  const port = env.LINODE_DR_LISTEN_PORT ?? String(await freePort());
  const argv = [...wrapper, binary];
  const child = spawn(argv[0], argv.slice(1), {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      LINODE_DR_LISTEN_ADDR: "127.0.0.1",
      LINODE_DR_LISTEN_PORT: port,
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr?.on("data", (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const app: AppProcess = {
    url: `http://127.0.0.1:${port}`,
    port: Number(port),
    child,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null && child.pid) process.kill(child.pid, "SIGTERM");
      const timer = setTimeout(
        () => child.pid && alive(child.pid) && process.kill(child.pid, "SIGKILL"),
        15_000,
      );
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`linode-dr-app exited with ${child.exitCode}:\n${out}`);
    if (/event=start /.test(out)) {
      try {
        await fetch(`${app.url}/metrics`, { signal: AbortSignal.timeout(2000) });
        return app;
      } catch {
        // not listening yet
      }
    }
    await sleep(100);
  }
  await app.stop();
  throw new Error(`linode-dr-app did not start:\n${out}`);
}
