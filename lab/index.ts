export { Lab } from "./hosts/lab";
export type { LabOptions, HostOptions } from "./hosts/lab";
export { Host } from "./hosts/host";
export type { HostExecOptions, SpawnOptions } from "./hosts/host";
export { LabProcess } from "./hosts/labProcess";
export { cleanLab } from "./hosts/cleanup";
export { DEFAULT_STATE_ROOT } from "./hosts/state";
export { DOCUMENTATION_RANGES, assertDocumentationAddress, assertDocumentationCidr } from "./addresses";
export { run, runOrThrow, waitFor, CommandError } from "./process";
export type { ExecResult } from "./process";
export { makeTestPki } from "./tls";
export {
  Cluster,
  Writer,
  builderClusterUserData,
  CLUSTER_ADDRESSES,
  CLUSTER_SERVER_NAMES,
  REGION_OF,
} from "./consensus/cluster";
export type {
  ClusterUserData,
  ClusterUserDataSource,
  BuilderOptions,
  PatroniView,
} from "./consensus/cluster";
export * as consensusScenarios from "./consensus/scenarios";
export { appPid, stopApp, installedSha256s, HostPostgres, APP_BINARY_PATH, APP_LOG_FILE } from "./app/hosts";
export { LabHttpClient } from "./httpClient";
export type { LabHttpRequest, LabHttpResult, LabHttpFailure } from "./httpClient";
export { evaluateStack, userDataOf } from "../evaluation/evaluate";
export type { Evaluation } from "../evaluation/evaluate";
export { programUserData, labAddressPlan, LAB_ADDRESSES } from "./addressPlan";
export { NodeBalancerStandIn, haproxyCommand } from "./standins/nodeBalancer";
export type { NodeBalancerStandInOptions } from "./standins/nodeBalancer";
export { renderNodeBalancerConfig, backendName } from "./standins/nodeBalancerConfig";
export type { RenderOptions } from "./standins/nodeBalancerConfig";
export { nodeBalancerModel } from "./standins/nodeBalancerModel";
export type { NodeMode, NodeBalancerModel } from "./standins/nodeBalancerModel";
export { parseServerStates, modeChangeCommands } from "./standins/haproxyRuntime";
export type { ServerState } from "./standins/haproxyRuntime";
export { ObjectStorageStandIn } from "./standins/objectStorage";
export type { ObjectStorageStandInOptions, PutObject } from "./standins/objectStorage";
export { objectStorageCatalog, endpointOf } from "./standins/objectStorageCatalog";
export type { ObjectStorageCatalog } from "./standins/objectStorageCatalog";
export { handleS3Request } from "./standins/objectStorageHandler";
export { makeServerPki } from "./tls";
export { startSshd, runRemoteCommand, sshArgv, knownHostsLine } from "./standins/ssh";
export type { Sshd, SshTarget, RemoteCommandOptions } from "./standins/ssh";
export { DnsStandIn, DEFAULT_PUBLISH_DELAY_MS } from "./standins/dns";
export type { DnsStandInOptions, Publication } from "./standins/dns";
export {
  zoneModel,
  renderZone,
  renderZoneModel,
  zoneChanges,
  applyChanges,
  linodeTtl,
  soaMailbox,
} from "./standins/dnsZone";
export type { ZoneModel, ZoneRecord, RecordChange, RecordType, ZoneRenderOptions } from "./standins/dnsZone";
export { renderKnotConfig, renderUnboundConfig } from "./standins/dnsConfig";
export type { KnotConfigOptions, UnboundConfigOptions } from "./standins/dnsConfig";
export { DnsResolver, startResolver } from "./standins/dnsResolver";
export type { AuthoritativeServer, ResolverOptions } from "./standins/dnsResolver";
export { queryDns, digArgv, parseDigJson } from "./standins/dnsQuery";
export type { DnsAnswer, DnsRecordAnswer, DnsQueryOptions } from "./standins/dnsQuery";
