/**
 * A Linode API token's scopes, in the format the API reports them (a personal access token's
 * `scopes`): `*` for everything, else a comma-separated list of `<area>:read_only` or
 * `<area>:read_write` (whitespace is tolerated too, as the X-OAuth-Scopes header separates them
 * with spaces). read_write includes read_only, as Cloud Manager's levels cascade. The areas are the
 * OAuth scopes of the 4.189.0 spec's security scheme plus those only its operations name
 * (`databases`, `child_account`, `placement`).
 */

export type Access = "read_only" | "read_write";

const AREAS = new Set([
  "account",
  "child_account",
  "databases",
  "domains",
  "events",
  "firewall",
  "images",
  "ips",
  "linodes",
  "lke",
  "longview",
  "nodebalancers",
  "object_storage",
  "placement",
  "stackscripts",
  "volumes",
  "vpc",
]);

/** Each area the token may use and how; "*" grants read_write on every area. */
export type Scopes = "*" | ReadonlyMap<string, Access>;

export function parseScopes(text: string): Scopes {
  const entries = text.split(/[\s,]+/).filter((entry) => entry !== "");
  if (entries.length === 1 && entries[0] === "*") return "*";
  if (entries.length === 0) throw new Error(`scopes "${text}" are empty; a token needs "*" or area:level`);
  const scopes = new Map<string, Access>();
  for (const entry of entries) {
    const [area, level, ...rest] = entry.split(":");
    if (rest.length > 0 || !AREAS.has(area) || (level !== "read_only" && level !== "read_write"))
      throw new Error(
        `scope "${entry}" in "${text}" is not <area>:read_only or <area>:read_write with a Linode area, nor "*"`,
      );
    if (scopes.get(area) !== "read_write") scopes.set(area, level);
  }
  return scopes;
}

export function allows(scopes: Scopes, area: string, access: Access): boolean {
  if (scopes === "*") return true;
  const granted = scopes.get(area);
  return granted === "read_write" || granted === access;
}
