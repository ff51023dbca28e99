import { existsSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import type { Host } from "../hosts/host";
import type { LabProcess } from "../hosts/labProcess";

/**
 * A tiny HTTP backend for load-balancer tests: answers every path with its name, and /healthz with
 * 200 or 503 depending on a flag file the test flips (a file on this machine, because the backend
 * runs in the host's network namespace only). A second flag makes live requests answer 500, which
 * is what a NodeBalancer's passive check reacts to.
 */

const SCRIPT = `
const http = require("node:http");
const fs = require("node:fs");
const [address, port, name, sick, failing] = process.argv.slice(1);
http.createServer((req, res) => {
  const code = req.url === "/healthz" ? (fs.existsSync(sick) ? 503 : 200) : fs.existsSync(failing) ? 500 : 200;
  res.writeHead(code, { "content-type": "text/plain", connection: "close" });
  res.end(name + "\\n");
}).listen(Number(port), address);
`;

export class FlipBackend {
  private constructor(
    readonly name: string,
    private readonly process: LabProcess,
    private readonly sickFlag: string,
    private readonly failingFlag: string,
  ) {}

  static start(host: Host, port: number, name = host.name): FlipBackend {
    const sick = path.join(host.lab.stateDir, `backend-${host.name}.sick`);
    const failing = path.join(host.lab.stateDir, `backend-${host.name}.failing`);
    rmSync(sick, { force: true });
    rmSync(failing, { force: true });
    const child = host.spawnInNetwork(
      [process.execPath, "-e", SCRIPT, host.address, String(port), name, sick, failing],
      { logFile: path.join(host.lab.stateDir, `backend-${host.name}.log`) },
    );
    return new FlipBackend(name, child, sick, failing);
  }

  /** /healthz answers 503 while unhealthy. */
  setHealthy(healthy: boolean): void {
    this.flag(this.sickFlag, !healthy);
  }

  /** Every other path answers 500 while failing. */
  setFailing(failing: boolean): void {
    this.flag(this.failingFlag, failing);
  }

  private flag(file: string, on: boolean): void {
    if (on && !existsSync(file)) writeFileSync(file, "");
    if (!on) rmSync(file, { force: true });
  }

  async stop(): Promise<void> {
    await this.process.stop();
  }
}
