/**
 * The TTLs Linode's DNS API honours: for a record's and a Domain's ttl_sec, and a Domain's
 * refresh_sec, retry_sec and expire_sec. 0 also passes and means the Domain's default; any other
 * value is rounded up to the next of these (so previews never settle), and one beyond the last is
 * refused.
 */
export const LINODE_RECORD_TTLS = [
  30, 120, 300, 3600, 7200, 14400, 28800, 57600, 86400, 172800, 345600, 604800, 1209600, 2419200,
] as const;
