/**
 * The Pulumi type token of every custom resource the program declares, spelled once. The SDK
 * classes keep theirs in an internal static (`__pulumiType`, absent from the typings), so they are
 * written out here; test/unit/resourceTypes.test.ts checks them against what the SDK registers
 * when the program runs. Mocks, the lab and tests recognise resources by these.
 */
export const RESOURCE_TYPE = {
  instance: "linode:index/instance:Instance",
  firewall: "linode:index/firewall:Firewall",
  nodeBalancer: "linode:index/nodeBalancer:NodeBalancer",
  nodeBalancerConfig: "linode:index/nodeBalancerConfig:NodeBalancerConfig",
  nodeBalancerNode: "linode:index/nodeBalancerNode:NodeBalancerNode",
  domain: "linode:index/domain:Domain",
  domainRecord: "linode:index/domainRecord:DomainRecord",
  objectStorageBucket: "linode:index/objectStorageBucket:ObjectStorageBucket",
  objectStorageKey: "linode:index/objectStorageKey:ObjectStorageKey",
  objectStorageObject: "linode:index/objectStorageObject:ObjectStorageObject",
  randomPassword: "random:index/randomPassword:RandomPassword",
  randomString: "random:index/randomString:RandomString",
  privateKey: "tls:index/privateKey:PrivateKey",
  selfSignedCert: "tls:index/selfSignedCert:SelfSignedCert",
  certRequest: "tls:index/certRequest:CertRequest",
  locallySignedCert: "tls:index/locallySignedCert:LocallySignedCert",
  command: "command:remote:Command",
  stackReference: "pulumi:pulumi:StackReference",
} as const;

export type ResourceType = (typeof RESOURCE_TYPE)[keyof typeof RESOURCE_TYPE];

/** The one data source the program reads: a DNS record as Linode serves it now (stacks/trafficGuard.ts). */
export const GET_DOMAIN_RECORD = "linode:index/getDomainRecord:getDomainRecord";
