import type { Host } from "../hosts/host";
import type { Lab } from "../hosts/lab";
import type { LinodeRole, Service, Site } from "./roles";

/**
 * What a fault needs from whatever booted the system: the lab it runs in, where the program's
 * roles are, and how a Linode's own machinery brings it back (its init after a power cut, its
 * service manager after a process died). The drill's World implements it.
 */
export interface FaultTarget {
  readonly lab: Lab;
  /** The lab region standing for a site. */
  regionOf(site: Site): string;
  hostOf(linode: LinodeRole): Host;
  /** The Linodes a site has now (the program's roles). */
  linodesAt(site: Site): LinodeRole[];
  /** Power returns: the host boots from its disk and its init starts the Linode's services. */
  powerOn(linode: LinodeRole): Promise<void>;
  /** A killed service is started again, as its service manager would. */
  restartService(linode: LinodeRole, service: Service): Promise<void>;
  /** The Linode API as the stand-in serves it, with failures to inject. */
  readonly linodeApi: LinodeApiControl;
}

/** What an API fault needs of the Linode API stand-in. */
export interface LinodeApiControl {
  /** 429 (with Retry-After) or 5xx, for a number of requests or a time. */
  injectFailure(failure: { status: number; retryAfterSeconds?: number; forMs?: number }): Promise<void>;
  clearFailure(): Promise<void>;
}
