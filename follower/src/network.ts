import { HttpFailure, httpRequest, type HttpRequest } from "./http";
import { LinodeApi, type ApiRetry } from "./linodeApi";
import type { Health, Network } from "./observe";
import type { FollowerSettings, Site } from "./settings";

/** Where to connect instead of a URL's host and port; undefined: there. Tests only. */
export type Redirect = (host: string, port: number) => HttpRequest["connectTo"];

export interface NetworkOptions {
  /** The API token (from settings.tokenFile). */
  token: string;
  /** The project CA (from settings.caFile): the only CA trusted for the members. */
  ca: string;
  apiRetry?: ApiRetry;
  /** Tests: the CA of a local API stand-in. */
  apiCa?: string;
  redirect?: Redirect;
}

/** The real network: the members' REST APIs, the NodeBalancers' health checks, the Linode API. */
export function realNetwork(settings: FollowerSettings, options: NetworkOptions): Network {
  const redirect: Redirect = options.redirect ?? (() => undefined);
  const api = new URL(settings.apiUrl);
  return {
    async cluster(site: Site): Promise<unknown> {
      const { serverName, restPort } = settings.regions[site].member;
      const response = await httpRequest({
        url: `https://${serverName}:${restPort}/cluster`,
        timeoutMs: settings.patroniTimeoutMs,
        ca: options.ca,
        connectTo: redirect(serverName, restPort),
      });
      if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
      try {
        return JSON.parse(response.body);
      } catch {
        throw new Error("the answer is not JSON");
      }
    },

    async health(site: Site): Promise<Health> {
      const { ipv4 } = settings.regions[site].nodeBalancer;
      try {
        const response = await httpRequest({
          url: `http://${ipv4}:${settings.health.port}${settings.health.path}`,
          timeoutMs: settings.health.timeoutMs,
          connectTo: redirect(ipv4, settings.health.port),
        });
        return response.status === 200
          ? { state: "healthy" }
          : { state: "unhealthy", status: response.status };
      } catch (error) {
        return { state: "unreachable", reason: error instanceof HttpFailure ? error.reason : String(error) };
      }
    },

    api: new LinodeApi({
      apiUrl: settings.apiUrl,
      token: options.token,
      domainId: settings.domainId,
      timeoutMs: settings.apiTimeoutMs,
      retry: options.apiRetry,
      ca: options.apiCa,
      connectTo: redirect(api.hostname, Number(api.port || 443)),
    }),
  };
}
