import {
  adminCidrs,
  caGenerations,
  debianImage,
  dnsLabel,
  domainName,
  email,
  httpsUrl,
  instanceType,
  keyGenerations,
  linodeApiToken,
  postgresSize,
  postgresVersion,
  recordTtl,
  region,
  sha256,
  sshPublicKeys,
  stackName,
} from "./formats";
import { Derived, key, OPTIONAL, REQUIRED, ROLES } from "./keySpec";
import { boolean, integer, oneOf } from "./validators";

/**
 * Every stack config key, each stated once. Pulumi.yaml's `config:` block and the README's table
 * are generated from here (`npm run config:sync`), StackConfig's type is inferred from it, and
 * parseConfig reads each key as its row says. Rules between keys are in crossChecks.ts.
 *
 * The order is the order of Pulumi.yaml, the README table and the known-keys list in errors.
 */
export const CONFIG_SCHEMA = {
  role: key({
    stacks: "both",
    secret: false,
    default: REQUIRED,
    description:
      'Which side this stack is: "primary" (PostgreSQL primary, DNS zone) or "dr" (hot standby, traffic records, failover flag).',
    validator: oneOf(ROLES),
  }),
  primaryRegion: key({
    stacks: "both",
    secret: false,
    default: "us-ord",
    description: "Linode region of the primary site, e.g. us-ord. Both stacks must agree.",
    validator: region,
  }),
  drRegion: key({
    stacks: "both",
    secret: false,
    default: "us-sea",
    description: "Linode region of the DR site; must differ from primaryRegion. Both stacks must agree.",
    validator: region,
  }),
  domain: key({
    stacks: "both",
    secret: false,
    default: REQUIRED,
    description:
      "The DNS zone managed in Linode DNS Manager, e.g. example.com (the primary stack creates it).",
    validator: domainName,
  }),
  appName: key({
    stacks: "both",
    secret: false,
    default: "app",
    description: "Label of the traffic record; users reach <appName>.<domain>.",
    validator: dnsLabel,
  }),
  appCount: key({
    stacks: "both",
    secret: false,
    default: 2,
    description: "App Linodes per region when the region serves traffic.",
    validator: integer(1, 20),
  }),
  standbyAppCount: key({
    stacks: "both",
    secret: false,
    default: 1,
    description:
      "App Linodes in the DR region while failover=false (warm standby); grows to appCount on failover.",
    validator: integer(0, 20),
  }),
  appInstanceType: key({
    stacks: "both",
    secret: false,
    default: "g6-nanode-1",
    description: "Linode type of the app Linodes.",
    validator: instanceType,
  }),
  databaseInstanceType: key({
    stacks: "both",
    secret: false,
    default: "g6-standard-1",
    description: "Linode type of the PostgreSQL Linodes.",
    validator: instanceType,
  }),
  image: key({
    stacks: "both",
    secret: false,
    default: "linode/debian12",
    description: "Image of every Linode; the provisioning scripts are tested on Debian 12 only.",
    validator: debianImage,
  }),
  appPort: key({
    stacks: "both",
    secret: false,
    default: 8080,
    description: "Port the C service listens on behind the NodeBalancer.",
    validator: integer(1024, 65535),
  }),
  healthCheckInterval: key({
    stacks: "both",
    secret: false,
    default: 5,
    description: "Seconds between NodeBalancer health checks of /healthz (2-3600, more than the timeout).",
    validator: integer(2, 3600),
    field: "healthCheck.intervalSeconds",
  }),
  healthCheckTimeout: key({
    stacks: "both",
    secret: false,
    default: 3,
    description: "Seconds a /healthz check may take (1-30).",
    validator: integer(1, 30),
    field: "healthCheck.timeoutSeconds",
  }),
  healthCheckAttempts: key({
    stacks: "both",
    secret: false,
    default: 2,
    description: "Failed checks before a node is taken out (1-30).",
    validator: integer(1, 30),
    field: "healthCheck.attempts",
  }),
  recordTtl: key({
    stacks: "both",
    secret: false,
    default: 30,
    description: "TTL of the DNS records in seconds; 30 is the lowest value Linode honours.",
    validator: recordTtl,
    field: "recordTtlSeconds",
  }),
  adminCidrs: key({
    stacks: "both",
    secret: false,
    default: REQUIRED,
    description:
      "CIDRs allowed to SSH to the Linodes; must include where `pulumi up` runs (the failover command uses SSH).",
    validator: adminCidrs,
  }),
  sshPublicKeys: key({
    stacks: "both",
    secret: false,
    default: REQUIRED,
    description: "OpenSSH public keys installed for root on every Linode.",
    validator: sshPublicKeys,
  }),
  protectDatabases: key({
    stacks: "both",
    secret: false,
    default: true,
    description:
      "Protect the database Linodes and the witness (the cluster's three members) against deletion and replacement.",
    validator: boolean,
  }),
  certificateGeneration: key({
    stacks: "both",
    secret: false,
    default: 1,
    description:
      "Raise by one to give this stack's cluster members (databases, and the witness in dr) new TLS keys and certificates at the next pulumi up; they are installed and reloaded in place (no Linode replaced, no leader change). Certificates also renew by themselves in any update within their last 90 days.",
    validator: integer(1, 9999),
    field: "tls.generation",
  }),
  certificateAuthorities: key({
    stacks: "both",
    secret: false,
    default: [1],
    description:
      "This stack's CA generations, comma-separated: the first signs this stack's member certificates, and members of both stacks trust every one listed. Each stack's CA key stays in its own state. Roll a CA in three steps, each a pulumi up of this stack then of the other: 1 to 1,2 (trust the new CA), then 2,1 (sign with it), then 2 (retire the old). A step the members are not ready for is refused.",
    validator: caGenerations,
    field: "tls.authorities",
  }),
  automationKeys: key({
    stacks: "both",
    secret: false,
    default: [1],
    description:
      "This stack's automation key generations, comma-separated: remote commands log in with the first, and every Linode of this stack authorizes each one listed. Rotate in two updates of this stack: 1 to 1,2 (authorize the new key), then 2 (log in with it; the old one is removed everywhere). A step the Linodes are not ready for is refused.",
    validator: keyGenerations,
    field: "automationKeys",
  }),
  hostKeys: key({
    stacks: "both",
    secret: false,
    default: [1],
    description:
      "This stack's SSH host key generations, comma-separated: every Linode of this stack serves each one listed and remote commands pin the first (odd generations are Ed25519, even ones ECDSA P-256, so old and new are served side by side). Rotate in two updates of this stack: 1 to 1,2 (serve the new key), then 2 (pin it; the old one is removed everywhere). A step the Linodes are not ready for is refused.",
    validator: keyGenerations,
    field: "hostKeys",
  }),
  passwordGeneration: key({
    stacks: {
      only: "primary",
      because: "the primary stack generates the cluster's passwords and the dr stack reads them",
    },
    secret: false,
    default: 1,
    description:
      "Raise by one to rotate the database passwords (replication, superuser, app) and the Patroni REST API password at the next pulumi up: the leader gets the new ones, each database and app Linode installs them in place (no Linode replaced). Run pulumi up -s dr right after, so region B takes them too.",
    validator: integer(1, 9999),
    field: "passwordGeneration",
  }),
  postgresVersion: key({
    stacks: "both",
    secret: false,
    default: 15,
    description: "PostgreSQL major version (Debian 12 ships 15).",
    validator: postgresVersion,
    field: "postgres.version",
  }),
  walKeepSize: key({
    stacks: "both",
    secret: false,
    default: "512MB",
    description: "wal_keep_size on the databases.",
    validator: postgresSize,
    field: "postgres.walKeepSize",
  }),
  maxSlotWalKeepSize: key({
    stacks: "both",
    secret: false,
    default: "8GB",
    description:
      "max_slot_wal_keep_size; bounds the WAL a dead replica's slot can pin, so it cannot fill the disk.",
    validator: postgresSize,
    field: "postgres.maxSlotWalKeepSize",
  }),
  replicaWaitTimeoutSeconds: key({
    stacks: "both",
    secret: false,
    default: 3600,
    description: "How long the replica's first boot waits for the primary to admit it (bring-up order).",
    validator: integer(60, 86400),
    field: "postgres.replicaWaitTimeoutSeconds",
  }),
  appArtifactUrl: key({
    stacks: "both",
    secret: false,
    default: OPTIONAL,
    description:
      "Optional https URL of a prebuilt linode-dr-app binary to install instead of building from source.",
    validator: httpsUrl,
    field: null,
  }),
  appArtifactSha256: key({
    stacks: "both",
    secret: false,
    default: OPTIONAL,
    description: "sha256 of the binary at appArtifactUrl; installation refuses a mismatch.",
    validator: sha256,
    field: null,
  }),
  artifactRegion: key({
    stacks: "both",
    secret: false,
    default: "us-iad",
    description:
      "Object Storage region of each stack's release bucket (the scripts and the C service every Linode fetches); must differ from primaryRegion and drRegion so releases survive the loss of either.",
    validator: region,
  }),
  clientConnThrottle: key({
    stacks: "both",
    secret: false,
    default: 20,
    description:
      "NodeBalancer per-client connection throttle, new connections per second from one client address (0-20, 0 = off); see README.",
    validator: integer(0, 20),
  }),
  witnessRegion: key({
    stacks: "both",
    secret: false,
    default: "us-iad",
    description:
      "Region of the witness Linode (one etcd member, the third vote in leadership); must differ from primaryRegion and drRegion. Declared by the dr stack.",
    validator: region,
  }),
  witnessInstanceType: key({
    stacks: "both",
    secret: false,
    default: "g6-nanode-1",
    description: "Linode type of the witness (etcd only).",
    validator: instanceType,
  }),
  leaderTtl: key({
    stacks: "both",
    secret: false,
    default: 10,
    description:
      "Patroni's leader lease in seconds; a primary cut off from the other two sites stops accepting writes within it, and the DR database takes over after it. At least leaderLoopWait + 2 x leaderRetryTimeout.",
    validator: integer(6, 300),
    field: "leadership.ttlSeconds",
  }),
  leaderLoopWait: key({
    stacks: "both",
    secret: false,
    default: 2,
    description: "Seconds between Patroni's checks of the cluster.",
    validator: integer(1, 60),
    field: "leadership.loopWaitSeconds",
  }),
  leaderRetryTimeout: key({
    stacks: "both",
    secret: false,
    default: 4,
    description:
      "Seconds Patroni retries etcd and PostgreSQL before treating them as gone (a primary then demotes itself).",
    validator: integer(1, 120),
    field: "leadership.retryTimeoutSeconds",
  }),
  automaticFailover: key({
    stacks: "both",
    secret: false,
    default: true,
    description:
      "true lets Patroni promote the DR database when the primary region is lost (decided by quorum); false tags every member but the flag's with nofailover, so leadership moves only through the failover flag (a cut-off primary still fences itself).",
    validator: boolean,
    field: "leadership.automatic",
  }),
  maximumLagOnFailover: key({
    stacks: "both",
    secret: false,
    default: 16 * 1024 * 1024,
    description:
      "Bytes of WAL a standby may lag and still be promoted automatically (Patroni's own guard, a second line behind maximumDataLossSeconds); the failover flag refuses beyond it unless forceFailover is set.",
    validator: integer(0, 2 ** 40),
    field: "leadership.maximumLagOnFailoverBytes",
  }),
  maximumDataLossSeconds: key({
    stacks: "both",
    secret: false,
    default: 10,
    description:
      "Seconds of acknowledged writes a failover may lose (RPO budget, measured by the leader's heartbeat): Patroni promotes no standby further behind (its pre_promote hook refuses and the cluster stays without a writable leader), and the failover flag's command refuses it unless forceFailover is set. The default equals the default leaderTtl, the time a primary cut off from everyone may still acknowledge writes.",
    validator: integer(2, 86_400),
    field: "leadership.maximumDataLossSeconds",
  }),
  synchronousReplication: key({
    stacks: "both",
    secret: false,
    default: false,
    description:
      "Patroni synchronous mode (non-strict); zero acknowledged writes lost on failover, one cross-region round trip per commit; a dead standby does not stop writes.",
    validator: boolean,
    field: "leadership.synchronous",
  }),
  forceFailover: key({
    stacks: { only: "dr", because: "it belongs to the dr stack, next to the failover flag it forces" },
    secret: false,
    default: false,
    description:
      "dr stack only. Lets the failover flag's command promote a standby beyond maximumDataLossSeconds or maximumLagOnFailover (accepting the loss). Never skips the other refusals.",
    validator: boolean,
    field: "leadership.force",
  }),
  followerApiToken: key({
    stacks: { only: "dr", because: "the traffic follower runs on the witness, which the dr stack declares" },
    secret: true,
    default: OPTIONAL,
    description:
      "dr stack only, set with --secret. A Linode personal access token with the domains:read_write scope and nothing else; the traffic follower on the witness uses it to point <appName>.<domain> at the leader's region. Unset: traffic moves only with the failover flag.",
    validator: linodeApiToken,
    field: "follower.apiToken",
  }),
  followerDebounceSeconds: key({
    stacks: { only: "dr", because: "it tunes the traffic follower, which the dr stack deploys" },
    secret: false,
    default: 5,
    description:
      "dr stack only. Seconds the database leader must stay in one region before the follower moves traffic there.",
    validator: integer(0, 60),
    field: "follower.debounceSeconds",
  }),
  followerCooldownSeconds: key({
    stacks: { only: "dr", because: "it tunes the traffic follower, which the dr stack deploys" },
    secret: false,
    default: 60,
    description: "dr stack only. Seconds after a move during which the follower moves traffic no further.",
    validator: integer(0, 3600),
    field: "follower.cooldownSeconds",
  }),
  linodeApiUrl: key({
    stacks: {
      only: "dr",
      because: "only the traffic follower, deployed by the dr stack, calls the API from a Linode",
    },
    secret: false,
    default: "https://api.linode.com/v4",
    description: "dr stack only. The Linode API v4 base URL the traffic follower calls.",
    validator: httpsUrl,
    field: "follower.apiUrl",
  }),
  soaEmail: key({
    stacks: "both",
    secret: false,
    // domain is required: when it is missing the run stops there, and this default is never used.
    default: new Derived("hostmaster@<domain>", (raw) => `hostmaster@${raw.domain}`),
    description: "SOA contact of the zone (default hostmaster@<domain>).",
    validator: email,
  }),
  failover: key({
    stacks: {
      only: "dr",
      because: "the failover flag lives on the dr stack (pulumi config set failover true -s dr)",
    },
    secret: false,
    default: false,
    description:
      "dr stack only. true promotes the DR database and points <appName>.<domain> at the DR NodeBalancer.",
    validator: boolean,
  }),
  primaryStack: key({
    stacks: { only: "dr", because: "it is the dr stack's reference to primary" },
    secret: false,
    default: REQUIRED,
    description: "dr stack only. Fully qualified name of the primary stack, e.g. acme/linode-dr/primary.",
    validator: stackName,
  }),
  drStack: key({
    stacks: { only: "primary", because: "it is the primary stack's reference to dr" },
    secret: false,
    default: OPTIONAL,
    description: "primary stack only, set after the dr stack exists. Fully qualified name of the dr stack.",
    validator: stackName,
  }),
};

export type ConfigKey = keyof typeof CONFIG_SCHEMA;

/** Every key the program reads, in table order. */
export const CONFIG_KEYS: readonly ConfigKey[] = Object.keys(CONFIG_SCHEMA) as ConfigKey[];
