import { describeWan, type WanSettings } from "../hosts/wan";
import { setTimeout as sleep } from "node:timers/promises";
import { bringUp, evaluateDr, evaluatePrimary, type BringUp } from "../../evaluation/bringUp";
import { userDataOf, withoutResources, type Evaluation } from "../../evaluation/evaluate";
import type { RecordedResource } from "../../evaluation/mocks";
import { FETCH_RELEASE_PATH } from "../../provisioning/host";
import { FOLLOWER_LOG_PATH } from "../../provisioning/follower";
import { DB_PROVISION_PATH } from "../../provisioning/database";
import { ETCD_MEMBER_PATH, ETCD_PEER_PORT, PATRONI_REST_PORT } from "../../provisioning/consensus";
import { TLS_CA_PATH, TLS_CERT_PATH, TLS_KEY_PATH } from "../../provisioning/serverTls";
import { databaseServerName, witnessServerName } from "../../stacks/names";
import { APP_DATABASE } from "../../stacks/names";
import { parseConfig, type StackConfig } from "../../config";
import { applyPlan, runCommandResource, type AppliedPlan } from "./apply";
import { baseConfig } from "../../evaluation/configs";
import { LAB_ADDRESSES, LAB_REGIONS, labAddressPlan, SITE_REGIONS } from "../addressPlan";
import { appPid, HostPostgres, stopApp } from "../app/hosts";
import { Host } from "../hosts/host";
import { Lab } from "../hosts/lab";
import { waitFor, type ExecResult } from "../process";
import { bootFromUserData, startReleaseStore } from "../releaseStore";
import { DnsStandIn } from "../standins/dns";
import { startResolver, type DnsResolver } from "../standins/dnsResolver";
import { NodeBalancerStandIn } from "../standins/nodeBalancer";
import type { ObjectStorageStandIn } from "../standins/objectStorage";
import { startSshd, type Sshd } from "../standins/ssh";
import { database, witness, type FaultTarget, type LinodeRole, type Service, type Site } from "../faults";
import { LinodeApiStandIn } from "../standins/linodeApi";
import { trustLabCa } from "../tls";
import { RESOURCE_TYPE } from "../../components/resourceTypes";
import {
  drResourceNames,
  linodeResourceNames,
  linodeRoleOf,
  stackResourceNames,
} from "../../stacks/resourceNames";
import { requestFrom } from "../hosts/curl";
import { parse as parseYaml } from "yaml";
import { labHostName } from "./hostNames";

export type Region = "A" | "B";

/**
 * The lab's Linode API tokens: the follower's has the one scope it needs; the operator's (what
 * `pulumi up` uses) has every scope, as a personal token of the account owner usually does.
 */
export const LAB_FOLLOWER_TOKEN = "f011077e7".padEnd(64, "0");
export const LAB_OPERATOR_TOKEN = "0e7a7012".padEnd(64, "1");
const LAB_API_TOKENS = { [LAB_FOLLOWER_TOKEN]: "domains:read_write", [LAB_OPERATOR_TOKEN]: "*" };

export type Member = "primary" | "dr";

/** Patroni's GET /cluster, as much of it as the drill reads. */
export interface PatroniCluster {
  members?: {
    name: string;
    role: string;
    state?: string;
    lag?: number | string;
    timeline?: number;
    tags?: { nofailover?: boolean };
  }[];
}

export interface WorldOptions {
  labName: string;
  /** How long a DNS change takes to go live after the API accepted it. */
  publishDelayMs: number;
  /** Raw config values for both stacks on top of the example config (evaluation/configs.ts). */
  config?: Record<string, string>;
  /** The WAN between the sites (lab/wanDefaults.ts has the default); undefined: none. */
  wan: WanSettings | undefined;
  log?: (line: string) => void;
}

/** The lab host of a Linode the program declares, by its resource name. */
function hostNameOf(resourceName: string): string {
  const role = linodeRoleOf(resourceName);
  if (!role)
    throw new Error(`the lab has no host for ${resourceName}: it is not a Linode the program declares`);
  return labHostName(role);
}

function labRegionOf(address: string): keyof typeof LAB_REGIONS {
  const found = (Object.keys(LAB_REGIONS) as (keyof typeof LAB_REGIONS)[]).find((r) =>
    address.startsWith(`${LAB_REGIONS[r].prefix}.`),
  );
  if (!found) throw new Error(`${address} is in none of the lab's regions`);
  return found;
}

function ipv4Of(resource: RecordedResource): string {
  const ipv4 = resource.state.ipv4s?.[0] ?? resource.state.ipAddress ?? resource.state.ipv4;
  if (typeof ipv4 !== "string") throw new Error(`${resource.name} has no IPv4 in its state`);
  return ipv4;
}

/**
 * The whole system of both stacks on lab hosts, as `pulumi up` of the README's bring-up leaves it:
 * one host per Linode booted from the user data the program renders (real cloud-init, releases
 * fetched from the Object Storage stand-in), a real sshd on each, one HAProxy per NodeBalancer, the
 * zone served by Knot with the program's records, and a client host in the third site that
 * resolves through a caching resolver and is also where the operator's `pulumi up` runs.
 */
export class World implements FaultTarget {
  readonly hosts = new Map<string, Host>();
  readonly sshd = new Map<string, Sshd>();
  readonly balancers = new Map<Region, NodeBalancerStandIn>();
  private readonly appPids = new Map<string, number>();
  private readonly log: (line: string) => void;
  /** The database the C service stores orders in. */
  readonly appDatabase = APP_DATABASE;
  dns!: DnsStandIn;
  /** The Linode API (its domain record endpoints): the follower's and `pulumi up`'s way to the records. */
  api!: LinodeApiStandIn;
  resolver!: DnsResolver;
  store!: ObjectStorageStandIn;
  client!: Host;
  /** Stack dr's raw config: the world's, plus the follower's token unless the world's says otherwise. */
  readonly config: Record<string, string>;
  /** Stack dr's config as the program parses it at boot: the settings every member started with. */
  readonly drConfig: StackConfig;
  /** The stacks as last applied (stack dr changes when a drill flips the flag). */
  stacks: { primary: Evaluation; dr: Evaluation };
  /** The failover flag as last applied to stack dr: what an update that does not set it keeps. */
  private failover: boolean;
  /** Linodes replaced since bring-up, by resource name: how many times (their addresses moved). */
  private readonly replacements: Record<string, number> = {};
  /** `pulumi config set` of each stack since bring-up: kept for every later update of that stack. */
  private readonly configChanges: Record<Member, Record<string, string>> = { primary: {}, dr: {} };
  /** First boots still running or done, by host name: a database's outlives its Linode's creation. */
  private readonly firstBoots = new Map<string, Promise<ExecResult>>();

  private constructor(
    readonly lab: Lab,
    readonly options: WorldOptions,
    readonly program: BringUp,
  ) {
    this.log = options.log ?? (() => undefined);
    this.stacks = { primary: program.primary, dr: program.dr };
    this.config = drConfigOf(options);
    this.drConfig = parseConfig(baseConfig("dr", this.config));
    this.failover = this.drConfig.failover;
  }

  /** Evaluates both stacks with the lab's addresses, then boots everything; destroys what it built on failure. */
  static async boot(options: WorldOptions): Promise<World> {
    const program = await bringUp(labAddressPlan(), options.config ?? {}, drConfigOf(options));
    const lab = await Lab.create({ name: options.labName });
    const world = new World(lab, options, program);
    try {
      await world.start();
      return world;
    } catch (error) {
      await world.destroy().catch(() => undefined);
      throw error;
    }
  }

  /**
   * `pulumi config set failover <value> -s dr && pulumi up -s dr`, with any other stack dr config
   * changed in the same update, applied to the lab (lab/world/apply.ts); each step is logged.
   */
  async setFailover(
    failover: boolean,
    config: Record<string, string>,
    log: (line: string) => void,
  ): Promise<AppliedPlan> {
    const to = await this.evaluateDr({ ...config, failover: String(failover) });
    const applied = await applyPlan(this, "dr", this.stacks.dr, to, log);
    this.stacks.dr = to;
    this.failover = failover;
    return applied;
  }

  /**
   * The operator's rebuild of Linodes that are gone with their disks (a region lost for good):
   * `pulumi refresh -s <stack>` drops them from the stack's state, then `pulumi up -s <stack>`
   * creates them anew (new ids, new addresses), points what referred to them at the new ones (the
   * NodeBalancer's nodes) and runs their converge commands. The other stack's members learn the new
   * addresses only at that stack's next update (`admit`), as on Linode, where their Cloud Firewalls
   * and host entries come from it. Every Linode named must belong to one stack.
   */
  async rebuild(linodes: readonly LinodeRole[], log: (line: string) => void): Promise<AppliedPlan> {
    const stacks = new Set(linodes.map((l) => l.stack));
    if (stacks.size !== 1)
      throw new Error(
        `rebuild: expected Linodes of one stack; received ${linodes.map(labHostName).join(", ")}`,
      );
    const stack = linodes[0].stack;
    const names = linodes.map((l) => linodeResourceNames(l).linode);
    for (const linode of linodes) {
      const host = this.hosts.get(labHostName(linode));
      if (host?.isUp)
        throw new Error(`rebuild: ${host.name} is running; a rebuild replaces Linodes that are gone`);
    }
    // pulumi refresh: the API no longer has them.
    for (const linode of linodes) await this.forgetHost(labHostName(linode));
    const refreshed = withoutResources(this.stacks[stack], names);
    for (const name of names) this.replacements[name] = (this.replacements[name] ?? 0) + 1;
    const to = stack === "primary" ? await this.evaluatePrimary() : await this.evaluateDr({});
    const applied = await applyPlan(this, stack, refreshed, to, log);
    this.stacks[stack] = to;
    return applied;
  }

  /**
   * `pulumi config set ... -s <stack>` for each of `config` (none: config unchanged), then
   * `pulumi up -s <stack>`; it also takes in the other stack's latest outputs. The changed config
   * stays for the stack's later updates.
   */
  async up(
    stack: Member,
    log: (line: string) => void,
    config: Record<string, string> = {},
  ): Promise<AppliedPlan> {
    Object.assign(this.configChanges[stack], config);
    const to = stack === "primary" ? await this.evaluatePrimary() : await this.evaluateDr({});
    const applied = await applyPlan(this, stack, this.stacks[stack], to, log);
    this.stacks[stack] = to;
    return applied;
  }

  /** How a Linode's first boot ended; waits while it runs. Undefined for a Linode booted at bring-up. */
  firstBoot(linode: LinodeRole): Promise<ExecResult> | undefined {
    return this.firstBoots.get(labHostName(linode));
  }

  /** Only the failover flag's command of stack dr evaluated with `config`, run over SSH as `pulumi up` would. */
  async runLeaderCommand(config: Record<string, string>): Promise<ExecResult> {
    const evaluation = await this.evaluateDr(config);
    return (await runCommandResource(this, evaluation.byName(drResourceNames().leadership.leader))).result;
  }

  /**
   * Stack dr evaluated with `overrides` on top of the config it was booted with, as an update would
   * find it: its last applied outputs, and the records as the Linode API serves them now.
   */
  evaluateDr(overrides: Record<string, string>): Promise<Evaluation> {
    return evaluateDr(
      labAddressPlan(),
      this.stacks.primary,
      { ...this.config, failover: String(this.failover), ...this.configChanges.dr, ...overrides },
      { previous: this.stacks.dr, liveRecords: this.liveRecords(), replacements: this.replacements },
    );
  }

  /** A raw config value of `stack` as its next update would read it; undefined when unset (the default). */
  configValue(stack: Member, key: string): string | undefined {
    const base = stack === "dr" ? this.config : (this.options.config ?? {});
    return this.configChanges[stack][key] ?? base[key];
  }

  /** Stack primary (after bring-up) as an update would find it: reading stack dr's last outputs. */
  evaluatePrimary(): Promise<Evaluation> {
    return evaluatePrimary(
      labAddressPlan(),
      this.stacks.dr,
      { ...this.options.config, ...this.configChanges.primary },
      {
        previous: this.stacks.primary,
        replacements: this.replacements,
      },
    );
  }

  private async start(): Promise<void> {
    const { lab, program } = this;
    for (const region of ["A", "B", "C"] as const) lab.addRegion(region, LAB_REGIONS[region].cidr);
    await lab.setWan(this.options.wan);
    this.log(`WAN between the sites: ${describeWan(this.options.wan)}`);
    this.store = await startReleaseStore(lab, [program.primary, program.dr]);
    this.client = await lab.addHost({ name: "client", region: "C", address: LAB_ADDRESSES.client });
    const dnsHost = await lab.addHost({ name: "dns", region: "C", address: LAB_ADDRESSES.dns });
    this.dns = await DnsStandIn.start(dnsHost, [program.primary.resources, program.dr.resources], {
      publishDelayMs: this.options.publishDelayMs,
    });
    this.resolver = await startResolver(this.client, this.dns);
    const apiHost = await lab.addHost({ name: "api", region: "C", address: LAB_ADDRESSES.linodeApi });
    this.api = await LinodeApiStandIn.start(apiHost, [program.primary.resources, program.dr.resources], {
      dns: this.dns,
      tokens: LAB_API_TOKENS,
    });
    // The operator's `pulumi up` calls the API from the client host.
    await this.trustApi(this.client);
    this.log("DNS and Linode API stand-ins and the client's resolver up");

    // Region A's Linodes were created by step 1 of the bring-up and boot from its user data (the
    // primary database founds the cluster); step 3 changed only what converge delivers. For the app
    // Linodes that is their configuration, now naming region B's member too (apps write to the
    // leader wherever it is): they boot with it, as if step 3's rollout had run, which would only
    // add its drain waits to every world's boot (test/lab/rollout.test.ts runs rollouts).
    const linodes = [
      ...program.primary.ofType(RESOURCE_TYPE.instance).map((r) => ({
        r,
        userData: userDataOf(
          (linodeRoleOf(r.name)?.tier === "app" ? program.primary : program.primaryAtFirstUp).byName(r.name),
        ),
      })),
      ...program.dr.ofType(RESOURCE_TYPE.instance).map((r) => ({ r, userData: userDataOf(r) })),
    ];
    for (const { r } of linodes) await this.addLinodeHost(r);
    const databases = [this.hostOf(database("primary")), this.hostOf(database("dr"))];
    await Promise.all(databases.map((h) => h.simulatePackageInstall(15)));

    // `pulumi up` starts each database member's converge command as soon as its Linode exists;
    // the members learn each other's addresses from it while their first boot runs.
    const converges = [
      { stack: program.primary, name: stackResourceNames("primary").database.converge },
      { stack: program.dr, name: stackResourceNames("dr").database.converge },
      { stack: program.dr, name: drResourceNames().witness.converge },
    ].map(({ stack, name }) => this.runAtFirstBoot(stack.byName(name)));
    const boots = linodes.map(async ({ r, userData }) => {
      const host = this.host(hostNameOf(r.name));
      const result = await bootFromUserData(this.store, host, userData);
      return { host, result };
    });
    const booted = await Promise.all(boots);
    const converged = await Promise.all(converges);
    for (const host of this.hosts.values()) await this.recordApp(host);
    const failed = booted.filter(({ result }) => result.code !== 0);
    if (failed.length > 0)
      throw new Error(
        failed
          .map(({ host, result }) => `first boot of ${host.name} exited ${result.code}:\n${result.stderr}`)
          .join("\n"),
      );
    for (const c of converged)
      if (c.code !== 0) throw new Error(`a database converge command failed:\n${c.stdout}${c.stderr}`);
    this.log(`${linodes.length} Linodes booted from the program's user data`);
    await this.installFollower();

    for (const [region, stack] of [
      ["A", program.primary],
      ["B", program.dr],
    ] as const) {
      const balancer = stack.ofType(RESOURCE_TYPE.nodeBalancer)[0];
      const host = await lab.addHost({
        name: `nb-${region.toLowerCase()}`,
        region,
        address: ipv4Of(balancer),
      });
      this.balancers.set(region, await NodeBalancerStandIn.start(host, stack.resources, balancer.name));
    }
    this.log("NodeBalancer stand-ins up");
  }

  /**
   * The traffic follower, when the stack declares it: `pulumi up` runs its remote command once the
   * witness has booted; the witness reaches the Linode API stand-in as api.linode.com.
   */
  async installFollower(): Promise<void> {
    const follower = this.stacks.dr.resources.find((r) => r.name === drResourceNames().follower.install);
    if (!follower) return;
    await this.trustApi(this.hostOf(witness));
    const { result } = await runCommandResource(this, follower);
    if (result.code !== 0)
      throw new Error(`the follower's install command failed:\n${result.stdout}${result.stderr}`);
    this.log("traffic follower running on the witness");
  }

  /** A host that calls the Linode API: it resolves api.linode.com to the stand-in and trusts its CA. */
  private async trustApi(host: Host): Promise<void> {
    await trustLabCa(host, this.api.caCertPem);
    await this.api.resolveOn(host);
  }

  /**
   * A DNS record change of a `pulumi up`, made the way the provider makes it: a PUT to the Linode
   * API from where `pulumi up` runs, with the operator's token. The API hands it to DNS Manager.
   */
  async updateRecord(record: RecordedResource): Promise<string> {
    const url = `${this.api.url}/domains/${Number(record.inputs.domainId)}/records/${Number(record.id)}`;
    const answer = await requestFrom(this.client, url, {
      method: "PUT",
      headers: { authorization: `Bearer ${LAB_OPERATOR_TOKEN}` },
      json: { target: String(record.inputs.target), ttl_sec: Number(record.inputs.ttlSec) },
      maxTimeSeconds: 10,
    });
    if (answer.status !== 200)
      throw new Error(`PUT ${url} answered ${answer.status}: ${answer.body.slice(0, 200)}`);
    return `PUT through the Linode API: ${String(record.inputs.name) || "@"} ${String(record.inputs.recordType)} → ${String(record.inputs.target)}`;
  }

  /** The follower's log on the witness (one line per decision and per action), "" before it ran. */
  async followerLog(): Promise<string> {
    const host = this.hostOf(witness);
    return host.isUp && host.fileExists(FOLLOWER_LOG_PATH) ? host.readFile(FOLLOWER_LOG_PATH) : "";
  }

  /** Every record's target as the Linode API serves it now, by record id (what `pulumi up` reads back). */
  liveRecords(): Record<string, string> {
    const live: Record<string, string> = {};
    for (const record of this.api.domain.records) live[String(record.id)] = record.target;
    for (const change of this.api.changes()) live[String(change.recordId)] = change.target;
    return live;
  }

  /** A new host for a Linode the program declares, with sshd started once its first stage wrote the host key. */
  async addLinodeHost(resource: RecordedResource): Promise<Host> {
    const address = ipv4Of(resource);
    const host = await this.lab.addHost({
      name: hostNameOf(resource.name),
      region: labRegionOf(address),
      address,
    });
    this.hosts.set(host.name, host);
    return host;
  }

  /**
   * Boots a Linode created by a plan from its user data. An app Linode is ready when its first boot
   * is done (app, sshd). A database or witness is "created" as soon as it runs sshd, as the Linode
   * API reports a Linode running long before cloud-init ends: its first boot waits for its converge
   * command (the members' addresses), which `pulumi up` runs once the Linode exists; the first
   * boot goes on (`firstBoot`).
   */
  async bootLinode(resource: RecordedResource): Promise<Host> {
    const host = this.hosts.get(hostNameOf(resource.name)) ?? (await this.addLinodeHost(resource));
    // The witness's follower calls the Linode API.
    if (linodeRoleOf(resource.name)?.tier === "witness") await this.trustApi(host);
    const boot = bootFromUserData(this.store, host, userDataOf(resource));
    this.firstBoots.set(host.name, boot);
    if (linodeRoleOf(resource.name)?.tier !== "app") {
      await Promise.race([
        boot.then((result) => {
          if (result.code !== 0)
            throw new Error(`first boot of ${host.name} exited ${result.code}:\n${result.stderr}`);
        }),
        // sshd must answer with the Linode's own host key, which cloud-init's ssh module installs
        // after the first-stage files: before that the host would show the lab machine's.
        waitFor(
          `${host.name}'s first-stage files and its own host key`,
          async () =>
            host.fileExists(FETCH_RELEASE_PATH) && (await hasHostKey(host, userDataOf(resource)))
              ? true
              : undefined,
          180_000,
          100,
        ),
      ]);
      await this.ensureSshd(host);
      return host;
    }
    const result = await boot;
    if (result.code !== 0)
      throw new Error(`first boot of ${host.name} exited ${result.code}:\n${result.stderr}`);
    await this.ensureSshd(host);
    await this.recordApp(host);
    return host;
  }

  /** Starts a host's installed app again, as its service manager would after a crash. */
  async restartApp(name: string): Promise<void> {
    const host = this.host(name);
    await host.execOrThrow(["/usr/local/sbin/linode-dr-app-install", "--restart-only"], {
      timeoutMs: 60_000,
    });
    await this.recordApp(host);
  }

  /** A Linode the plan deletes: its app stops gracefully, then the host is powered off and removed. */
  async deleteLinode(resource: RecordedResource): Promise<string> {
    const name = hostNameOf(resource.name);
    const host = this.hosts.get(name);
    if (!host) return name;
    const pid = this.appPids.get(name);
    if (pid !== undefined && host.isUp) await stopApp(host, pid, 10_000).catch(() => false);
    await this.forgetHost(name);
    return name;
  }

  /** Removes a host and what the world kept of it (its sshd, its app's pid, its first boot). */
  private async forgetHost(name: string): Promise<void> {
    this.appPids.delete(name);
    await this.sshd
      .get(name)
      ?.stop()
      .catch(() => undefined);
    this.sshd.delete(name);
    this.firstBoots.delete(name);
    if (this.hosts.has(name)) await this.lab.removeHost(name);
    this.hosts.delete(name);
  }

  /**
   * Runs a converge command inside its host once the host's first stage has written its files, as
   * root through a shell, as SSH would deliver it: at bring-up the sshd of a Linode still booting
   * is not the subject of the drill (SSH is exercised by every command a drill applies).
   */
  private async runAtFirstBoot(resource: RecordedResource): Promise<ExecResult> {
    const target = String((resource.inputs.connection as { host: string }).host);
    const host = [...this.hosts.values()].find((h) => h.address === target);
    if (!host) throw new Error(`${resource.name} targets ${target}, which is no lab host`);
    await waitFor(
      `${host.name}'s first-stage files`,
      () => (host.fileExists(FETCH_RELEASE_PATH) ? true : undefined),
      180_000,
      100,
    );
    const result = await host.exec(["bash", "-c", String(resource.inputs.create)], {
      input: String(resource.inputs.stdin),
      timeoutMs: 600_000,
    });
    await this.ensureSshd(host);
    return result;
  }

  async ensureSshd(host: Host): Promise<void> {
    if (!this.sshd.has(host.name)) this.sshd.set(host.name, await startSshd(host));
  }

  private async recordApp(host: Host): Promise<void> {
    if (!host.name.startsWith("app-")) return;
    const pid = await appPid(host).catch(() => undefined);
    if (pid !== undefined) this.appPids.set(host.name, pid);
  }

  host(name: string): Host {
    const host = this.hosts.get(name);
    if (!host) throw new Error(`no host ${name}; have ${[...this.hosts.keys()].join(", ")}`);
    return host;
  }

  hostAt(address: string): Host | undefined {
    return [...this.hosts.values()].find((h) => h.address === address);
  }

  database(member: Member): HostPostgres {
    return new HostPostgres(this.hostOf(database(member)));
  }

  /** Which region a NodeBalancer address belongs to (how the client's answers are attributed). */
  regionOfBalancer(address: string): Region | null {
    for (const [region, balancer] of this.balancers) if (balancer.host.address === address) return region;
    return null;
  }

  /** true when the member's PostgreSQL answers locally and is out of recovery. */
  async writable(member: Member): Promise<boolean> {
    const host = this.hostOf(database(member));
    if (!host.isUp) return false;
    const r = await host.exec(
      ["psql", "-h", "/var/run/postgresql", "-X", "-At", "-c", "SELECT pg_is_in_recovery()", "postgres"],
      { user: "postgres", timeoutMs: 3000 },
    );
    return r.code === 0 && r.stdout.trim() === "f";
  }

  /**
   * Terminates the leader's replication connections and waits for `replica` to stream again over a
   * new one, which logs in and verifies the leader's certificate afresh: the proof that a new
   * password or certificate works, not merely the connection opened before it. Returns how long
   * the new connection took (ms); throws after `timeoutMs`.
   */
  async replicationReconnects(leader: Member, replica: Member, timeoutMs = 60_000): Promise<number> {
    const primary = this.database(leader);
    const cutAt = await primary.psql("SELECT now()");
    await primary.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_replication");
    const cut = Date.now();
    while (Date.now() - cut < timeoutMs) {
      const streams = await primary
        .psql(
          `SELECT count(*) FROM pg_stat_replication WHERE application_name = '${replica}' AND state = 'streaming' AND backend_start > '${cutAt}'`,
        )
        .catch(() => "0");
      if (streams === "1") return Date.now() - cut;
      await sleep(250);
    }
    throw new Error(
      `${replica} did not stream from ${leader} over a new connection within ${timeoutMs / 1000} s`,
    );
  }

  /** The cluster as the member's own Patroni REST API reports it; undefined when it does not answer. */
  async patroniCluster(member: Member): Promise<PatroniCluster | undefined> {
    const host = this.hostOf(database(member));
    if (!host.isUp) return undefined;
    // Asked inside the host, of its own API, unverified: this is the drill observing, not a client
    // that must authenticate the server (the program's clients verify with the project CA).
    const answer = await requestFrom(host, `https://${host.address}:${PATRONI_REST_PORT}/cluster`);
    if (answer.status !== 200) return undefined;
    try {
      return JSON.parse(answer.body) as PatroniCluster;
    } catch {
      return undefined;
    }
  }

  /** Patroni's leader as the member's own REST API reports it: null when it names none, undefined when it does not answer. */
  async patroniLeader(member: Member): Promise<string | null | undefined> {
    const view = await this.patroniCluster(member);
    if (view === undefined) return undefined;
    return view.members?.find((m) => m.role === "leader")?.name ?? null;
  }

  /**
   * The etcd cluster each running member serves, by lab host name: the cluster id its own etcd
   * reports and whether it is still a learner (asked inside its host, of itself, so a second
   * cluster founded apart would show). Asked through the peer API (`/members`), which every
   * member's certificate may read: the witness's is refused on the client port. A member whose
   * etcd does not answer is left out.
   */
  async etcdMembers(): Promise<Record<string, { clusterId: string; learner: boolean }>> {
    const { appName, domain } = this.drConfig;
    const members: [LinodeRole, string][] = [
      [database("primary"), databaseServerName("primary", appName, domain)],
      [database("dr"), databaseServerName("dr", appName, domain)],
      [witness, witnessServerName(appName, domain)],
    ];
    const ids: Record<string, { clusterId: string; learner: boolean }> = {};
    for (const [linode, serverName] of members) {
      const host = this.hosts.get(labHostName(linode));
      if (!host?.isUp) continue;
      const peerUrl = `https://${serverName}:${ETCD_PEER_PORT}`;
      const r = await host.exec(
        [
          "curl",
          "--http1.1",
          "-sS",
          "-i",
          "--max-time",
          "5",
          "--cacert",
          TLS_CA_PATH,
          "--cert",
          TLS_CERT_PATH,
          "--key",
          TLS_KEY_PATH,
          `${peerUrl}/members`,
        ],
        { timeoutMs: 10_000 },
      );
      const hexId = /^x-etcd-cluster-id:\s*([0-9a-f]+)\s*$/im.exec(r.stdout)?.[1];
      const body = r.stdout.slice(r.stdout.indexOf("\r\n\r\n") + 4);
      if (r.code !== 0 || !hexId) continue;
      let self: { isLearner?: boolean } | undefined;
      try {
        self = (JSON.parse(body) as { peerURLs: string[]; isLearner?: boolean }[]).find((m) =>
          m.peerURLs.includes(peerUrl),
        );
      } catch {
        continue;
      }
      // Decimal, as etcdctl's JSON has it.
      if (self)
        ids[host.name] = { clusterId: BigInt(`0x${hexId}`).toString(), learner: self.isLearner === true };
    }
    return ids;
  }

  /** The idempotency keys of every order stored in a member's database. */
  async orderKeys(member: Member): Promise<Set<string>> {
    const text = await this.database(member).psql("SELECT key FROM idempotency_keys", this.appDatabase);
    return new Set(text.split("\n").filter(Boolean));
  }

  get linodeApi(): LinodeApiStandIn {
    return this.api;
  }

  regionOf(site: Site): string {
    return SITE_REGIONS[site];
  }

  hostOf(linode: LinodeRole): Host {
    return this.host(labHostName(linode));
  }

  linodesAt(site: Site): LinodeRole[] {
    const stack = site === "witness" ? this.stacks.dr : this.stacks[site];
    return stack
      .ofType(RESOURCE_TYPE.instance)
      .map((r) => linodeRoleOf(r.name)!)
      .filter((role) => (site === "witness" ? role.tier === "witness" : role.tier !== "witness"));
  }

  /** What a Linode's init does after a power cut: the host comes back and its services start. */
  async powerOn(linode: LinodeRole): Promise<void> {
    const host = this.hostOf(linode);
    if (!host.isUp) await host.start();
    this.sshd.delete(host.name);
    if (linode.tier === "app") await this.restartApp(host.name);
    else await host.execOrThrow([entryOf(linode)], { timeoutMs: 300_000 });
    await this.ensureSshd(host);
    // On a Linode, systemd starts the follower's enabled unit at boot as well.
    if (linode.tier === "witness") await this.installFollower();
  }

  /** A killed service started again, as systemd's Restart= would on a Linode. */
  async restartService(linode: LinodeRole, service: Service): Promise<void> {
    if (linode.tier === "app") return this.restartApp(labHostName(linode));
    if (service === "follower") return this.installFollower();
    // The Linode's idempotent entry starts whichever of its daemons is missing (PostgreSQL is
    // Patroni's to start).
    if (service === "postgres") return;
    await this.hostOf(linode).execOrThrow([entryOf(linode)], { timeoutMs: 300_000 });
  }

  /** Stops what the world started, by pid, then every host; each step runs even if one failed. */
  async destroy(): Promise<void> {
    const steps: (() => Promise<unknown>)[] = [];
    for (const [name, pid] of this.appPids) {
      const host = this.hosts.get(name);
      if (host?.isUp) steps.push(() => stopApp(host, pid, 3000));
    }
    for (const balancer of this.balancers.values()) steps.push(() => balancer.stop());
    for (const sshd of this.sshd.values()) steps.push(() => sshd.stop());
    if (this.resolver) steps.push(() => this.resolver.stop());
    if (this.api) steps.push(() => this.api.stop());
    if (this.dns) steps.push(() => this.dns.stop());
    if (this.store) steps.push(() => this.store.stop());
    for (const step of steps) await step().catch((error: unknown) => this.log(`cleanup: ${String(error)}`));
    await this.lab.destroy();
  }
}

/**
 * Stack dr's raw config in the lab: the traffic follower runs with a token the API stand-in
 * accepts, unless the world's config sets followerApiToken itself ("" leaves the follower out).
 */
function drConfigOf(options: WorldOptions): Record<string, string> {
  const config: Record<string, string> = { followerApiToken: LAB_FOLLOWER_TOKEN, ...options.config };
  if (config.followerApiToken === "") delete config.followerApiToken;
  return config;
}

/**
 * Whether the host serves the host key its #cloud-config installs (ssh_keys): Ed25519 or ECDSA,
 * whichever generation the stack pins (components/hostIdentity.ts).
 */
async function hasHostKey(host: Host, cloudConfig: string): Promise<boolean> {
  const keys =
    (parseYaml(cloudConfig.replace(/^#cloud-config\n/, "")) as { ssh_keys?: Record<string, string> })
      .ssh_keys ?? {};
  const type = ["ed25519", "ecdsa"].find((t) => keys[`${t}_public`] !== undefined);
  if (!type) throw new Error(`${host.name}'s user data installs no ed25519 or ecdsa host key`);
  const path = `/etc/ssh/ssh_host_${type}_key.pub`;
  if (!host.fileExists(path)) return false;
  const key = (text: string) => text.trim().split(/\s+/).slice(0, 2).join(" ");
  return key(await host.readFile(path)) === key(keys[`${type}_public`]);
}

/** The command a Linode's init runs at boot (the program's idempotent first-boot entry). */
function entryOf(linode: Exclude<LinodeRole, { tier: "app" }>): string {
  return linode.tier === "database" ? DB_PROVISION_PATH : ETCD_MEMBER_PATH;
}
