/**
 * The Linode API stand-in's server program, started in a lab host's network namespace by
 * linodeApi.ts: HTTPS on the configured address and port (standInServer.ts), answering through
 * linodeApiHandler.ts. Every request is appended to the request log and every accepted change to
 * the change log (JSON lines, written before the answer is sent, so a client that saw 200 finds its
 * change there). The lab drives it over a Unix socket (HTTP, JSON bodies):
 *   POST   /failure   FailureOrder           answer 429 or 5xx for some requests or some time
 *   DELETE /failure                          stop answering the injected failure
 *   POST   /available {"available": boolean}  refuse connections, or take them again
 *   GET    /ready                            200 once HTTPS listens
 * Settings come from the environment: API_SETTINGS (path of a JSON file: address, port, certPem,
 * keyPem, state), API_CONTROL (path of the Unix socket), API_REQUESTS and API_CHANGES (paths of
 * the two logs).
 */
import { appendFileSync } from "node:fs";
import { failureFrom, handleApiRequest, type ApiState, type FailureOrder } from "./linodeApiHandler";
import {
  readBody,
  readSettings,
  requiredEnv,
  serveStandIn,
  SwitchableHttps,
  type HttpsEndpoint,
} from "./standInServer";

interface Settings extends HttpsEndpoint {
  state: ApiState;
}

/** One line of the request log. */
export interface LoggedRequest {
  /** Epoch ms when the answer was made. */
  at: number;
  method: string;
  /** Path and query. */
  path: string;
  /** The presented token's scopes; null without a known token. */
  scopes: string | null;
  status: number;
}

const PROGRAM = "linode api stand-in";
const settings = readSettings<Settings>(requiredEnv(PROGRAM, "API_SETTINGS"));
const controlPath = requiredEnv(PROGRAM, "API_CONTROL");
const requestLog = requiredEnv(PROGRAM, "API_REQUESTS");
const changeLog = requiredEnv(PROGRAM, "API_CHANGES");
let state = settings.state;

const https = new SwitchableHttps(settings, async (req, res) => {
  const body = (await readBody(req)).toString("utf8");
  const method = req.method ?? "GET";
  const url = req.url ?? "/";
  const at = Date.now();
  const outcome = handleApiRequest(
    state,
    { method, url, authorization: req.headers.authorization, body },
    at,
  );
  state = outcome.state;
  if (outcome.change) appendFileSync(changeLog, `${JSON.stringify(outcome.change)}\n`);
  const logged: LoggedRequest = {
    at,
    method,
    path: url,
    scopes: outcome.scopes ?? null,
    status: outcome.response.status,
  };
  appendFileSync(requestLog, `${JSON.stringify(logged)}\n`);
  res.writeHead(outcome.response.status, outcome.response.headers);
  res.end(outcome.response.body);
});

serveStandIn(PROGRAM, https, controlPath, async (method, url, body) => {
  if (method === "POST" && url === "/failure") {
    state = { ...state, failure: failureFrom(JSON.parse(body) as FailureOrder, Date.now()) };
    return 200;
  }
  if (method === "DELETE" && url === "/failure") {
    state = { ...state, failure: undefined };
    return 200;
  }
  if (method === "POST" && url === "/available") {
    const { available } = JSON.parse(body) as { available: boolean };
    await (available ? https.listen() : https.unlisten());
    return 200;
  }
  return undefined;
});
