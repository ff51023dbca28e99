import { setTimeout as sleep } from "node:timers/promises";
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { APP_ENV_PATH, APP_INSTALL_PATH, APP_SOURCE_DIR, renderAppUserData } from "../../provisioning/app";
import { materializeRelease, materializeWriteFiles } from "../../lab/app/writeFiles";
import { fixtureHost } from "../../evaluation/fixtures/host";
import { makeServerPki } from "../../lab/tls";

/**
 * Users can install their own prebuilt binary (appArtifactUrl + appArtifactSha256) instead of the
 * shipped source. The install script must download it over https and refuse anything whose sha256
 * is not the configured one, leaving the installed binary untouched. Served here from loopback with
 * a throwaway CA that curl is told to trust.
 */

const repoRoot = path.join(__dirname, "..", "..");
let work: string;
let server: Server;
let baseUrl: string;
let artifact: Buffer;
let artifactSha: string;
const startedPids: number[] = [];

function openssl(args: string[]): void {
  execFileSync("openssl", args, { cwd: work, stdio: ["ignore", "ignore", "pipe"] });
}

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), "ldr-artifact-"));
  execFileSync("make", ["-C", path.join(repoRoot, "app")], { stdio: ["ignore", "ignore", "inherit"] });
  artifact = readFileSync(path.join(repoRoot, "app/build/linode-dr-app"));
  artifactSha = createHash("sha256").update(artifact).digest("hex");

  openssl([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=artifact test CA",
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
  ]);
  openssl([
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-subj",
    "/CN=127.0.0.1",
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
  ]);
  writeFileSync(path.join(work, "san.cnf"), "subjectAltName=IP:127.0.0.1\n");
  openssl([
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "1",
    "-extfile",
    "san.cnf",
    "-out",
    "server.crt",
  ]);

  server = createServer(
    { key: readFileSync(path.join(work, "server.key")), cert: readFileSync(path.join(work, "server.crt")) },
    (req, res) => {
      if (req.url === "/linode-dr-app") {
        res.writeHead(200, { "content-type": "application/octet-stream" });
        res.end(artifact);
      } else if (req.url === "/tampered") {
        res.writeHead(200, { "content-type": "application/octet-stream" });
        res.end(Buffer.concat([artifact, Buffer.from("tampered")]));
      } else {
        res.writeHead(404);
        res.end();
      }
    },
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const pid of startedPids) {
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      // already gone
    }
  }
  for (let i = 0; i < 50 && startedPids.some((pid) => existsSync(`/proc/${pid}`)); i++) {
    await sleep(100);
  }
  await new Promise((resolve) => server?.close(resolve));
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A fresh install root laid out from the rendered user data for the given artifact. */
function installRoot(url: string, sha256: string) {
  const root = mkdtempSync(path.join(work, "root-"));
  const userData = renderAppUserData(
    {
      listenPort: 18_000 + Math.floor(Math.random() * 1000),
      region: "us-iad",
      // Nothing listens there: the service starts and reports its database unreachable.
      database: {
        members: [{ serverName: "db-primary.artifact.example", address: "127.0.0.1" }],
        port: 1,
        name: "app",
        user: "app",
        password: "artifact-test-password",
        caCertPem: makeServerPki(["db-primary.artifact.example"]).caCertPem,
      },
      dbTimeoutMs: 500,
      healthCacheMs: 500,
      artifact: { url, sha256 },
    },
    fixtureHost(),
  );
  materializeWriteFiles(userData, root);
  materializeRelease(root);
  const envPath = path.join(root, APP_ENV_PATH);
  writeFileSync(envPath, readFileSync(envPath, "utf8").replace('"0.0.0.0"', '"127.0.0.1"'), { mode: 0o600 });
  const binary = path.join(root, "usr/local/bin/linode-dr-app");
  const env = {
    ...process.env,
    CURL_CA_BUNDLE: path.join(work, "ca.crt"),
    LINODE_DR_APP_SRC_DIR: path.join(root, APP_SOURCE_DIR),
    LINODE_DR_APP_ETC_DIR: path.join(root, "etc/linode-dr"),
    LINODE_DR_APP_BIN: binary,
    LINODE_DR_APP_UNIT_DIR: path.join(root, "etc/systemd/system"),
    LINODE_DR_APP_RUN_DIR: path.join(root, "run"),
    LINODE_DR_APP_LOG: path.join(root, "var/log/linode-dr-app.log"),
    LINODE_DR_APP_USER: "nobody",
  };
  // Asynchronous on purpose: the https server lives in this process and must keep serving while
  // the script's curl downloads from it.
  const install = async (): Promise<{ status: number | null; stderr: string }> => {
    const child = spawn(path.join(root, APP_INSTALL_PATH), [], { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    const killer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    const status = await new Promise<number | null>((resolve) => child.on("close", resolve));
    clearTimeout(killer);
    const pidFile = path.join(root, "run/app.pid");
    if (existsSync(pidFile)) startedPids.push(Number(readFileSync(pidFile, "utf8").trim()));
    return { status, stderr };
  };
  return { root, binary, install };
}

describe("installing a prebuilt artifact instead of building the shipped source", () => {
  it("downloads over https, checks the sha256, installs and starts it", async () => {
    const target = installRoot(`${baseUrl}/linode-dr-app`, artifactSha);
    const result = await target.install();
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toContain(`installed ${target.binary} sha256=${artifactSha}`);
    expect(result.stderr).toMatch(/started linode-dr-app in the background pid=\d+/);
    expect(readFileSync(target.binary).equals(artifact)).toBe(true);
    // Nothing was built: the artifact path never touches the compiler.
    expect(existsSync(path.join(target.root, APP_SOURCE_DIR, "build"))).toBe(false);
  });

  it("refuses a download whose sha256 differs and leaves the installed binary untouched", async () => {
    const target = installRoot(`${baseUrl}/tampered`, artifactSha);
    const previous = Buffer.from("#!/bin/sh\necho previous build\n");
    mkdirSync(path.dirname(target.binary), { recursive: true });
    writeFileSync(target.binary, previous, { mode: 0o755 });

    const result = await target.install();
    const tamperedSha = createHash("sha256")
      .update(Buffer.concat([artifact, Buffer.from("tampered")]))
      .digest("hex");
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(
      `refusing to install ${baseUrl}/tampered: sha256 is ${tamperedSha}, expected ${artifactSha}`,
    );
    expect(readFileSync(target.binary).equals(previous)).toBe(true);
    expect(readdirSync(path.dirname(target.binary)).filter((f) => f.includes(".download."))).toEqual([]);
  });

  it("fails clearly when the artifact cannot be downloaded", async () => {
    const target = installRoot(`${baseUrl}/missing`, artifactSha);
    const result = await target.install();
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(`download of ${baseUrl}/missing failed`);
    expect(existsSync(target.binary)).toBe(false);
  });
});
