export { fault, flapping, together, type Fault, type Flapping, type Injected } from "./fault";
export { linkCut, regionCut } from "./network";
export { apiOutage } from "./api";
export { hostCrash, linodeLost, linodePaused, processFreeze, processKill, siteLost } from "./hosts";
export { app, database, describeLinode, SITE_LABELS, witness } from "./roles";
export type { LinodeRole, Service, Site } from "./roles";
export type { FaultTarget, LinodeApiControl } from "./target";
