import { request } from "node:http";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import type { Host } from "../hosts/host";
import type { LabProcess } from "../hosts/labProcess";
import { waitFor } from "../process";

/**
 * The lab's side of the HTTPS stand-ins' server programs (standInServer.ts): start one in a host's
 * network namespace (recorded with the lab, so a crashed run is cleaned) and give it orders over
 * its Unix control socket.
 */

const REPO_ROOT = path.resolve(__dirname, "..", "..");
const TSX_LOADER = pathToFileURL(path.join(REPO_ROOT, "node_modules", "tsx", "dist", "loader.mjs")).href;

/** Sends one order; resolves with the status, rejects with the server's message when it answers 500. */
export function controlRequest(
  what: string,
  socketPath: string,
  method: string,
  pathname: string,
  body = "",
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: pathname, method, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => {
        const status = res.statusCode ?? 0;
        if (status === 500) reject(new Error(`${what}: ${Buffer.concat(chunks).toString("utf8")}`));
        else resolve(status);
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

export interface StandInProgram {
  /** For messages: "the Object Storage stand-in". */
  what: string;
  /** The server program, a TypeScript file run by node with tsx's loader. */
  script: string;
  env: Record<string, string>;
  logFile: string;
  controlSocket: string;
}

/** Starts the program in `host`'s network namespace and waits until its control socket answers. */
export async function startStandInProgram(host: Host, program: StandInProgram): Promise<LabProcess> {
  const child = host.spawnInNetwork([process.execPath, "--import", TSX_LOADER, program.script], {
    logFile: program.logFile,
    env: program.env,
  });
  try {
    await waitFor(
      `${program.what} in ${host.name}`,
      async () => {
        if (!child.running) throw new Error(`${program.what} exited; see ${program.logFile}`);
        const status = await controlRequest(program.what, program.controlSocket, "GET", "/ready").catch(
          () => 0,
        );
        return status === 200 ? true : undefined;
      },
      30_000,
      100,
    );
  } catch (error) {
    await child.stop();
    throw error;
  }
  return child;
}
