import type { ConfigValues } from "./configValues";

/** StackConfig fields that no single key holds: each is computed from several. */

export interface AppArtifact {
  url: string;
  sha256: string;
}

export interface DerivedFields {
  /** The region this stack deploys into (primaryRegion for role primary, drRegion for dr). */
  region: string;
  /** Both artifact keys, or absent: the app is then built from source (crossChecks refuses one alone). */
  appArtifact?: AppArtifact;
}

export function derivedFields(v: ConfigValues): DerivedFields {
  const region = v.role === "primary" ? v.primaryRegion : v.drRegion;
  if (v.appArtifactUrl === undefined || v.appArtifactSha256 === undefined) return { region };
  return { region, appArtifact: { url: v.appArtifactUrl, sha256: v.appArtifactSha256 } };
}
