import { isIP, isIPv4 } from "node:net";
import { parseCidr } from "./cidr";
import { anyOf, explained, integer, listOf, matching, refined, satisfying, secret } from "./kit";

/**
 * One rule per kind of value this project has, shared by the stack config and the user-data
 * builders, so that a value the config accepts is never refused later by a builder (or the other
 * way round) and every message words the same kind the same way.
 */

// Linode's own ids.

export const regionId = matching(
  /^[a-z]{2}-[a-z]+(-[0-9])?$/,
  'a Linode region id such as "us-ord" or "de-fra-2" (see GET /v4/regions)',
);

export const instanceType = matching(
  /^g[0-9]+-[a-z0-9-]+$/,
  'a Linode type id such as "g6-nanode-1" or "g6-standard-2"',
);

export const imageId = matching(/^[a-z0-9-]+\/[a-z0-9.-]+$/, 'a Linode image id such as "linode/debian12"');

export const objectStorageCluster = matching(
  /^[a-z0-9-]+$/,
  'an Object Storage cluster id such as "us-iad-1"',
);

/** Access and secret keys alike; they go into a double-quoted line of a settings file. */
export const objectStorageKey = secret(
  matching(/^[A-Za-z0-9/+=]{8,128}$/, "an Object Storage key (8 to 128 letters, digits, /, + or =)"),
);

export const stackName = matching(
  /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/,
  'a fully qualified stack name "<org>/<project>/<stack>", such as "acme/linode-dr/primary"',
);

// Names. Lower-case throughout: the program derives every name from the lower-case domain and
// appName, and one spelling keeps certificates, /etc/hosts and SQL from disagreeing on case.

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

export const dnsLabel = matching(LABEL, "a lower-case DNS label of letters, digits and hyphens");

function dnsLabels(value: unknown, atLeast: number): value is string {
  if (typeof value !== "string" || value.length > 253) return false;
  const labels = value.split(".");
  return labels.length >= atLeast && labels.every((label) => LABEL.test(label));
}

export const dnsName = satisfying(
  'a DNS name in lower case, such as "db-primary.app.example.com"',
  (value): value is string => dnsLabels(value, 1),
);

export const domainName = satisfying(
  'a lower-case domain name you control, such as "example.com"',
  (value): value is string => dnsLabels(value, 2),
);

export const email = matching(
  /^[^@\s]+@[^@\s]+\.[^@\s]+$/,
  'an e-mail address for the zone\'s SOA record, such as "hostmaster@example.com"',
);

/** Lower-case so that a name never needs quoting in SQL, pg_hba.conf or a settings file. */
export const sqlIdentifier = matching(
  /^[a-z_][a-z0-9_]{0,62}$/,
  "a lower-case SQL identifier (letters, digits, underscore; at most 63 characters)",
);

/** An HTTP basic-auth user (Patroni's REST API). */
export const httpUser = matching(
  /^[A-Za-z0-9_.-]{1,64}$/,
  "a user name of 1 to 64 letters, digits, dots, underscores or hyphens",
);

// Secrets and digests.

/**
 * Printable ASCII without spaces: survives libpq conninfo, the passfile, YAML double quotes and a
 * one-line file. Every password the program generates fits (40 alphanumerics; root passwords add
 * only -_.,:+=).
 */
export const password = secret(
  matching(/^[\x21-\x7e]{8,256}$/, "8 to 256 printable ASCII characters without spaces"),
);

/** A Linode personal access token (64 hex characters today; the API documents no format, so a range). */
export const linodeApiToken = secret(
  matching(
    /^[A-Za-z0-9]{32,128}$/,
    "a Linode personal access token (letters and digits, as the Cloud Manager shows it)",
  ),
);

/** What sha256sum prints; releases and artifacts are named and verified by it. */
export const sha256 = matching(/^[0-9a-f]{64}$/, "a sha256 digest as 64 lower-case hex characters");

// Keys and certificates.

export const sshPublicKey = matching(
  /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/=]+( [^\n\r]*)?$/,
  'an OpenSSH public key line such as "ssh-ed25519 AAAA... you@host"',
);

/** root's authorized_keys: without one, nobody (not even the program) could log in. */
export const authorizedKeys = refined(listOf(sshPublicKey), (keys) =>
  keys.length > 0 ? undefined : "at least one OpenSSH public key",
);

/** A host key as the tls provider writes it (a trailing newline included). */
/** The host key types the program generates (hostIdentity.ts alternates them by generation). */
export const hostPublicKey = matching(
  /^(ssh-ed25519|ecdsa-sha2-nistp256) [A-Za-z0-9+/=]+\s*$/,
  "an ssh-ed25519 or ecdsa-sha2-nistp256 public key",
);

export const openSshPrivateKey = secret(
  matching(
    /^-----BEGIN OPENSSH PRIVATE KEY-----\n[\s\S]+-----END OPENSSH PRIVATE KEY-----\n?$/,
    "an OpenSSH private key (PEM block)",
  ),
);

/** One or more certificates (a chain), each a whole PEM block. */
export const pemCertificate = matching(
  /^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----\n?$/,
  "a PEM-encoded certificate",
);

/** PKCS#8 ("PRIVATE KEY") or a typed one ("EC PRIVATE KEY", "RSA PRIVATE KEY"). */
export const pemPrivateKey = secret(
  matching(
    /^-----BEGIN ([A-Z]+ )?PRIVATE KEY-----\n[\s\S]+\n-----END ([A-Z]+ )?PRIVATE KEY-----\n?$/,
    "a PEM-encoded private key",
  ),
);

// Addresses.

/** No characters that need quoting in a settings file: spaces, quotes, backslashes, $ or `. */
export const httpsUrl = matching(
  /^https:\/\/[A-Za-z0-9._~:/?#[\]@!&'()*+,;=%-]+$/,
  "an https:// URL without spaces, quotes or backslashes",
);

export const tcpPort = explained(integer(1, 65535), "a TCP port");

export const ipv4Address = satisfying(
  "an IPv4 literal",
  (value): value is string => typeof value === "string" && isIPv4(value),
);

export const ipAddress = satisfying(
  "an IPv4 or IPv6 literal",
  (value): value is string => typeof value === "string" && isIP(value) !== 0,
);

/** Where a client connects: an address or a name. */
export const hostAddress = anyOf([ipAddress, dnsName], "an IPv4/IPv6 address or a DNS name");

export const cidr = satisfying(
  'an IPv4 or IPv6 CIDR such as "203.0.113.7/32"',
  (value): value is string => typeof value === "string" && parseCidr(value) !== undefined,
);

// PostgreSQL.

/** wal_keep_size, which the provisioning relies on, exists from 13 on. */
export const postgresVersion = integer(13, 17);

export const postgresSize = matching(
  /^[1-9][0-9]*(kB|MB|GB|TB)$/,
  'a positive PostgreSQL size with a unit, such as "512MB" or "8GB"',
);

// Files that user data writes.

export const absolutePath = matching(/^\/[^\n]*$/, "an absolute path");

export const fileMode = matching(/^0[0-7]{3}$/, 'an octal mode string such as "0600"');
