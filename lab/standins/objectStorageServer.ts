/**
 * The Object Storage stand-in's server program, started in a lab host's network namespace by
 * objectStorage.ts: HTTPS on the configured address and port (standInServer.ts), answering S3
 * reads through objectStorageHandler.ts. The lab drives it over a Unix socket (HTTP, JSON bodies):
 *   POST /available {"available": boolean, "how": "refuse" | "503"}   failure injection
 *   POST /object    CatalogObject                                     add or replace an object
 *   GET  /ready                                                       200 once HTTPS listens
 * Settings come from the environment: OBJ_SETTINGS (path of a JSON file: address, port, certPem,
 * keyPem, catalog, options) and OBJ_CONTROL (path of the Unix socket).
 */
import { withObject, type CatalogObject, type ObjectStorageCatalog } from "./objectStorageCatalog";
import { handleS3Request, s3Error, type HandlerOptions } from "./objectStorageHandler";
import {
  readBody,
  readSettings,
  requiredEnv,
  serveStandIn,
  SwitchableHttps,
  type HttpsEndpoint,
} from "./standInServer";

interface Settings extends HttpsEndpoint {
  catalog: ObjectStorageCatalog;
  options: HandlerOptions;
}

const PROGRAM = "object storage stand-in";
const settings = readSettings<Settings>(requiredEnv(PROGRAM, "OBJ_SETTINGS"));
const controlPath = requiredEnv(PROGRAM, "OBJ_CONTROL");
let catalog = settings.catalog;
let answer503 = false;

const https = new SwitchableHttps(settings, async (req, res) => {
  const body = await readBody(req);
  const path = (req.url ?? "/").split("?")[0];
  const answer = answer503
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

async function setAvailable(available: boolean, how: "refuse" | "503"): Promise<void> {
  answer503 = !available && how === "503";
  if (available || how === "503") await https.listen();
  else await https.unlisten();
}

serveStandIn(PROGRAM, https, controlPath, async (method, url, body) => {
  if (method === "POST" && url === "/available") {
    const order = JSON.parse(body) as { available: boolean; how?: "refuse" | "503" };
    await setAvailable(order.available, order.how ?? "refuse");
    return 200;
  }
  if (method === "POST" && url === "/object") {
    catalog = withObject(catalog, JSON.parse(body) as CatalogObject);
    return 200;
  }
  return undefined;
});
