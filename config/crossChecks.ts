import type { ConfigValues } from "./configValues";
import type { RawConfig } from "./keySpec";
import type { Problems } from "./problems";
import { isSet } from "./readKeys";
import type { ConfigKey } from "./schema";

/** Rules between keys; each problem is reported on the key to change. */
export function crossChecks(v: ConfigValues, raw: RawConfig, problems: Problems): void {
  /** What a rule quotes: the value as written, or the default in effect when the key is unset. */
  const shown = (key: ConfigKey): string => raw[key] || String(v[key]);

  if (v.primaryRegion === v.drRegion) {
    problems.mismatch(
      "drRegion",
      shown("drRegion"),
      `a region different from primaryRegion ("${v.primaryRegion}")`,
    );
  }

  if (v.standbyAppCount > v.appCount) {
    problems.mismatch(
      "standbyAppCount",
      shown("standbyAppCount"),
      `at most appCount (${v.appCount}): the DR tier grows from standbyAppCount to appCount on failover`,
    );
  }

  if (v.healthCheckInterval <= v.healthCheckTimeout) {
    problems.mismatch(
      "healthCheckInterval",
      shown("healthCheckInterval"),
      `more seconds than healthCheckTimeout (${v.healthCheckTimeout}); the NodeBalancer rejects an interval that does not exceed the timeout`,
    );
  }

  // By presence, not validity: a malformed URL is reported by its own check, its missing partner here.
  if (isSet(raw.appArtifactUrl) !== isSet(raw.appArtifactSha256)) {
    problems.mismatch(
      isSet(raw.appArtifactUrl) ? "appArtifactSha256" : "appArtifactUrl",
      undefined,
      "appArtifactUrl and appArtifactSha256 set together (or neither, to build from source)",
    );
  }

  const sites = `primaryRegion ("${v.primaryRegion}") and drRegion ("${v.drRegion}")`;
  if (v.artifactRegion === v.primaryRegion || v.artifactRegion === v.drRegion) {
    problems.mismatch(
      "artifactRegion",
      shown("artifactRegion"),
      `an Object Storage region other than ${sites}: releases must survive the loss of either`,
    );
  }
  if (v.witnessRegion === v.primaryRegion || v.witnessRegion === v.drRegion) {
    problems.mismatch(
      "witnessRegion",
      shown("witnessRegion"),
      `a region other than ${sites}: the witness is the third vote that outlives either`,
    );
  }

  const retries = v.leaderLoopWait + 2 * v.leaderRetryTimeout;
  if (retries > v.leaderTtl) {
    problems.mismatch(
      "leaderTtl",
      shown("leaderTtl"),
      `at least leaderLoopWait + 2 x leaderRetryTimeout (${v.leaderLoopWait} + 2 x ${v.leaderRetryTimeout} = ${retries}): Patroni must be able to retry the store twice within one lease`,
    );
  }
}
