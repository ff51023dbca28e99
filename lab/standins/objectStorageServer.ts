/**
 * The Object Storage stand-in's server process, started in a lab host's network namespace by
 * objectStorage.ts: HTTPS on the configured address and port, answering S3 reads through
 * objectStorageHandler.ts. The lab drives it over a Unix socket (HTTP, JSON bodies):
 *   POST /available {"available": boolean, "how": "refuse" | "503"}   failure injection
 *   POST /object    CatalogObject                                     add or replace an object
 *   GET  /ready                                                       200 once HTTPS listens
 * Settings come from the environment: OBJ_SETTINGS (path of a JSON file: address, port, certPem,
 * keyPem, catalog, options) and OBJ_CONTROL (path of the Unix socket).
 */
import { readFileSync, rmSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Socket } from "node:net";
import { assertDocumentationAddress } from "../addresses";
import { withObject, type CatalogObject, type ObjectStorageCatalog } from "./objectStorageCatalog";
import { handleS3Request, s3Error, type HandlerOptions } from "./objectStorageHandler";

interface Settings {
  address: string;
  port: number;
  certPem: string;
  keyPem: string;
  catalog: ObjectStorageCatalog;
  options: HandlerOptions;
}

const settingsPath = process.env.OBJ_SETTINGS;
const controlPath = process.env.OBJ_CONTROL;
if (!settingsPath || !controlPath) {
  console.error("object storage stand-in: OBJ_SETTINGS and OBJ_CONTROL are required");
  process.exit(2);
}
const settings = JSON.parse(readFileSync(settingsPath, "utf8")) as Settings;
assertDocumentationAddress(settings.address);
let catalog = settings.catalog;
let mode: "up" | "refuse" | "503" = "up";
let listening = false;
const sockets = new Set<Socket>();

function readBody(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("end", () => resolve(Buffer.concat(chunks)));
    stream.on("error", reject);
  });
}

const https = createHttpsServer({ cert: settings.certPem, key: settings.keyPem }, async (req, res) => {
  const body = await readBody(req);
  const path = (req.url ?? "/").split("?")[0];
  const answer =
    mode === "503"
      ? s3Error(503, "ServiceUnavailable", "Please reduce your request rate.", path)
      : handleS3Request(
          catalog,
          {
            method: req.method ?? "GET",
            url: req.url ?? "/",
            headers: req.headersDistinct as Record<string, string[]>,
            body,
          },
          Date.now(),
          settings.options,
        );
  res.writeHead(answer.status, answer.headers);
  res.end(answer.body);
});
https.on("connection", (socket: Socket) => {
  sockets.add(socket);
  socket.on("close", () => sockets.delete(socket));
});

function listen(): Promise<void> {
  return new Promise((resolve, reject) => {
    https.once("error", reject);
    https.listen(settings.port, settings.address, () => {
      https.off("error", reject);
      listening = true;
      resolve();
    });
  });
}

/** Refusing connections: the listener closes and open connections are cut, as when the service is gone. */
function unlisten(): Promise<void> {
  return new Promise((resolve) => {
    listening = false;
    https.close(() => resolve());
    for (const socket of sockets) socket.destroy();
  });
}

async function setAvailable(available: boolean, how: "refuse" | "503"): Promise<void> {
  if (available) {
    mode = "up";
    if (!listening) await listen();
  } else if (how === "503") {
    mode = "503";
    if (!listening) await listen();
  } else {
    mode = "refuse";
    if (listening) await unlisten();
  }
}

const control = createHttpServer(async (req, res) => {
  try {
    const body = (await readBody(req)).toString("utf8");
    if (req.method === "GET" && req.url === "/ready") {
      res.writeHead(listening || mode === "refuse" ? 200 : 503).end();
    } else if (req.method === "POST" && req.url === "/available") {
      const order = JSON.parse(body) as { available: boolean; how?: "refuse" | "503" };
      await setAvailable(order.available, order.how ?? "refuse");
      res.writeHead(200).end();
    } else if (req.method === "POST" && req.url === "/object") {
      catalog = withObject(catalog, JSON.parse(body) as CatalogObject);
      res.writeHead(200).end();
    } else {
      res.writeHead(404).end();
    }
  } catch (error) {
    res.writeHead(500).end((error as Error).message);
  }
});

rmSync(controlPath, { force: true });
listen().then(
  () => control.listen(controlPath),
  (error: Error) => {
    console.error(
      `object storage stand-in: cannot listen on ${settings.address}:${settings.port}: ${error.message}`,
    );
    process.exit(1);
  },
);
process.on("SIGTERM", () => process.exit(0));
