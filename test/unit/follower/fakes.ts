import { LinodeApiError, type RecordType } from "../../../follower/src/linodeApi";
import type { Health, Network } from "../../../follower/src/observe";
import type { FollowerSettings, Site } from "../../../follower/src/settings";

/**
 * A world without sockets: what each member's Patroni says, how each NodeBalancer answers, and
 * the two traffic records as the Linode API holds them. Every API call is recorded.
 */
export class FakeWorld {
  /** Each member's view: the leader it names, none, or no answer. */
  views: Record<Site, Site | "none" | "down"> = { primary: "primary", dr: "primary" };
  health: Record<Site, Health> = { primary: { state: "healthy" }, dr: { state: "healthy" } };
  records: { A: string; AAAA: string };
  /** false: every API call fails with no answer. */
  apiUp = true;
  /** The next PUTs of these records fail (each entry once), with this status. */
  failPut: { record: RecordType; status: number }[] = [];
  calls: string[] = [];

  constructor(private readonly settings: FollowerSettings) {
    const nb = settings.regions.primary.nodeBalancer;
    this.records = { A: nb.ipv4, AAAA: nb.ipv6 };
  }

  /** Where both records point, by the settings' addresses. */
  pointsAt(): Site | "elsewhere" {
    for (const site of ["primary", "dr"] as const) {
      const nb = this.settings.regions[site].nodeBalancer;
      if (this.records.A === nb.ipv4 && this.records.AAAA === nb.ipv6) return site;
    }
    return "elsewhere";
  }

  puts(): string[] {
    return this.calls.filter((c) => c.startsWith("PUT"));
  }

  network(): Network {
    return {
      cluster: async (site) => {
        const view = this.views[site];
        if (view === "down") throw new Error("connect ECONNREFUSED");
        return {
          members: (["primary", "dr"] as const).map((name) => ({
            name,
            role: name === view ? "leader" : "replica",
            state: name === view ? "running" : "streaming",
          })),
        };
      },
      health: async (site) => this.health[site],
      api: {
        getRecord: async (id, type) => {
          this.calls.push(`GET ${type}`);
          if (!this.apiUp) throw new LinodeApiError(`GET ${id} (${type}): no answer (refused)`, undefined, 4);
          return { target: this.records[type], status: 200, attempts: 1 };
        },
        setTarget: async (id, type, target) => {
          this.calls.push(`PUT ${type} ${target}`);
          if (!this.apiUp) throw new LinodeApiError(`PUT ${id} (${type}): no answer (refused)`, undefined, 4);
          const failure = this.failPut.findIndex((f) => f.record === type);
          if (failure >= 0) {
            const { status } = this.failPut.splice(failure, 1)[0];
            throw new LinodeApiError(
              `PUT /domains/1234/records/${id} (${type}): HTTP ${status}: "unavailable"`,
              status,
              4,
            );
          }
          this.records[type] = target;
          return { target, status: 200, attempts: 1 };
        },
      },
    };
  }
}
