import { appPid, CLOUD_INIT_OUTPUT, HostPostgres, stopApp } from "./hosts";
import { LabHttpClient, type LabHttpRequest } from "../httpClient";
import { Host } from "../hosts/host";
import { Lab } from "../hosts/lab";
import { ExecResult, waitFor } from "../process";
import { runProgramCommand } from "../programCommands";
import type { RecordedResource } from "../../evaluation/mocks";
import { bootFromUserData, startReleaseStore } from "../releaseStore";
import { FETCH_RELEASE_PATH } from "../../provisioning/host";
import type { ObjectStorageStandIn } from "../standins/objectStorage";
import { startSshd, type Sshd } from "../standins/ssh";
import type { Role } from "../../config";
import { baseConfig } from "../../evaluation/configs";
import { drResourceNames, stackResourceNames } from "../../stacks/resourceNames";
import { evaluateStack, userDataOf, type Evaluation } from "../../evaluation/evaluate";
import type { HttpResult } from "./healthScenario";
import {
  LAB_ADDRESSES,
  LAB_REGIONS,
  labAddressPlan,
  programUserData,
  type ProgramUserData,
} from "../addressPlan";

/**
 * Both regions of the program on lab hosts: PostgreSQL primary and app in region A, hot standby
 * and app in region B, each provisioned from the user data the Pulumi program renders (releases
 * fetched from the Object Storage stand-in in the third site), plus a witness host in the third
 * site from which every HTTP request and the failover command are made (it stands where users, the
 * NodeBalancers' checks and the operator come from, outside both regions, so cutting region A
 * leaves it B).
 */

export const WITNESS_REGION = "C";
export const WITNESS_ADDRESS = LAB_ADDRESSES.client;

/** What the program says about one region's NodeBalancer: where it sends checks and how long it waits. */
export interface BalancerCheck {
  /** The first app node's address:port, as the NodeBalancerNode has it. */
  node: string;
  checkPath: string;
  checkTimeoutMs: number;
}

export interface AppRegionsProgram {
  userData: ProgramUserData;
  primaryCheck: BalancerCheck;
  drCheck: BalancerCheck;
  /** The failover step as the dr stack with failover=true defines it (remote.Command). */
  promotion: RecordedResource;
}

function balancerCheck(evaluation: Evaluation, stack: Role): BalancerCheck {
  const names = stackResourceNames(stack).loadBalancer;
  const config = evaluation.byName(names.config).inputs;
  const node = evaluation.byName(names.node(0)).inputs;
  return {
    node: String(node.address),
    checkPath: String(config.checkPath),
    checkTimeoutMs: Number(config.checkTimeout) * 1000,
  };
}

/**
 * Bring-up (primary, then dr with failover=false) gives the user data; a second evaluation of dr
 * with failover=true gives the promotion command. The DR Linodes' user data must not differ
 * between the two, or the failover would replace them instead of promoting.
 */
export async function appRegionsProgram(): Promise<AppRegionsProgram> {
  // A short replica wait: when something is wrong the test fails in minutes, not after an hour.
  const userData = await programUserData({}, { replicaWaitTimeoutSeconds: "120" });
  const failedOver = await evaluateStack({
    stack: "dr",
    config: baseConfig("dr", { replicaWaitTimeoutSeconds: "120", failover: "true" }),
    addressPlan: labAddressPlan(),
    stackOutputs: {
      "acme/linode-dr/primary": {
        outputs: userData.primary.outputs,
        secretOutputNames: [...userData.primary.secretOutputs],
      },
    },
  });
  for (const name of [stackResourceNames("dr").database.linode, stackResourceNames("dr").app(0).linode]) {
    if (userDataOf(failedOver.byName(name)) !== userDataOf(userData.dr.byName(name))) {
      throw new Error(`failover=true changes the user data of ${name}; the failover would replace it`);
    }
  }
  return {
    userData,
    primaryCheck: balancerCheck(userData.primary, "primary"),
    drCheck: balancerCheck(userData.dr, "dr"),
    promotion: failedOver.byName(drResourceNames().leadership.leader),
  };
}

export class AppRegionsLab {
  private readonly appPids = new Map<Host, number>();
  private promotionSshd: Sshd | undefined;
  readonly dbA: HostPostgres;
  readonly dbB: HostPostgres;

  private constructor(
    readonly lab: Lab,
    readonly program: AppRegionsProgram,
    readonly pgA: Host,
    readonly pgB: Host,
    readonly appA: Host,
    readonly appB: Host,
    readonly witness: Host,
    readonly client: LabHttpClient,
    readonly store: ObjectStorageStandIn,
    /** The third site's etcd member (stack dr's witness Linode). */
    readonly etcdWitness: Host,
  ) {
    this.dbA = new HostPostgres(pgA);
    this.dbB = new HostPostgres(pgB);
  }

  static async create(labName: string, program: AppRegionsProgram): Promise<AppRegionsLab> {
    const lab = await Lab.create({ name: labName });
    try {
      lab.addRegion("A", LAB_REGIONS.A.cidr);
      lab.addRegion("B", LAB_REGIONS.B.cidr);
      lab.addRegion(WITNESS_REGION, LAB_REGIONS.C.cidr);
      const store = await startReleaseStore(lab, [program.userData.primary, program.userData.dr]);
      const pgA = await lab.addHost({ name: "pg-a", region: "A", address: LAB_ADDRESSES.primaryDatabase });
      const pgB = await lab.addHost({ name: "pg-b", region: "B", address: LAB_ADDRESSES.drDatabase });
      const appA = await lab.addHost({ name: "app-a", region: "A", address: LAB_ADDRESSES.primaryApp(0) });
      const appB = await lab.addHost({ name: "app-b", region: "B", address: LAB_ADDRESSES.drApp(0) });
      const witness = await lab.addHost({ name: "client", region: WITNESS_REGION, address: WITNESS_ADDRESS });
      const etcdWitness = await lab.addHost({
        name: "witness",
        region: WITNESS_REGION,
        address: LAB_ADDRESSES.witness,
      });
      const client = await LabHttpClient.start(witness);
      return new AppRegionsLab(lab, program, pgA, pgB, appA, appB, witness, client, store, etcdWitness);
    } catch (error) {
      await lab.destroy();
      throw error;
    }
  }

  /** The URL a NodeBalancer's check would fetch from this region's first app node. */
  checkUrl(region: "primary" | "dr"): string {
    const check = region === "primary" ? this.program.primaryCheck : this.program.drCheck;
    return `http://${check.node}${check.checkPath}`;
  }

  appUrl(region: "primary" | "dr"): string {
    return `http://${(region === "primary" ? this.program.primaryCheck : this.program.drCheck).node}`;
  }

  /** The scenario's HTTP function: every request leaves from the witness host. */
  readonly http = (url: string, init?: LabHttpRequest): Promise<HttpResult> => this.client.request(url, init);

  /**
   * First boot of all four Linodes at once, as `pulumi up` of both stacks would have them: both
   * databases (after the package's cluster exists, as on Debian) and both app hosts, each running
   * its user data under cloud-init. Returns the app hosts' cloud-init output.
   */
  async provisionAll(): Promise<{ appA: string; appB: string }> {
    const { userData } = this.program;
    await Promise.all([this.pgA.simulatePackageInstall(15), this.pgB.simulatePackageInstall(15)]);
    // `pulumi up` starts each Linode's converge command as soon as the Linode exists; the
    // cluster members learn each other's addresses from it while their first boot runs (a joining
    // member cannot sync with peers whose names it cannot resolve). Run here inside the host, as
    // root through a shell, as SSH would (SSH itself is proven by the rollout test).
    const converging = [
      { host: this.pgA, resource: userData.primary.byName(stackResourceNames("primary").database.converge) },
      { host: this.pgB, resource: userData.dr.byName(stackResourceNames("dr").database.converge) },
      { host: this.etcdWitness, resource: userData.dr.byName(drResourceNames().witness.converge) },
    ].map(async ({ host, resource }) => {
      // SSH answers once cloud-init's first stage has written the host's files (and its host key).
      await waitFor(
        `${host.name}'s first-stage files`,
        () => (host.fileExists(FETCH_RELEASE_PATH) ? true : undefined),
        120_000,
        100,
      );
      return host.exec(["bash", "-c", String(resource.inputs.create)], {
        input: String(resource.inputs.stdin),
        timeoutMs: 600_000,
      });
    });
    const results = await Promise.all([
      bootFromUserData(this.store, this.pgA, userData.primaryDatabase),
      bootFromUserData(this.store, this.pgB, userData.drDatabase),
      bootFromUserData(this.store, this.etcdWitness, userData.witness),
      bootFromUserData(this.store, this.appA, userData.primaryApp),
      bootFromUserData(this.store, this.appB, userData.drApp),
    ]);
    for (const converged of await Promise.all(converging)) {
      if (converged.code !== 0)
        throw new Error(`a converge command failed:\n${converged.stdout}${converged.stderr}`);
    }
    const hosts = [this.pgA, this.pgB, this.etcdWitness, this.appA, this.appB];
    const failed = results
      .map((result: ExecResult, index) => ({ result, host: hosts[index] }))
      .filter(({ result }) => result.code !== 0);
    // Record the apps that did start, so cleanup can stop them by pid even when a database failed.
    for (const host of [this.appA, this.appB]) {
      const pid = await appPid(host).catch(() => undefined);
      if (pid !== undefined) this.appPids.set(host, pid);
    }
    if (failed.length > 0) {
      throw new Error(
        failed
          .map(
            ({ host, result }) =>
              `provisioning ${host.name} exited ${result.code}:\n${result.stdout}${result.stderr}`,
          )
          .join("\n"),
      );
    }
    return {
      appA: await this.appA.readFile(CLOUD_INIT_OUTPUT),
      appB: await this.appB.readFile(CLOUD_INIT_OUTPUT),
    };
  }

  pidOfApp(host: Host): number {
    const pid = this.appPids.get(host);
    if (pid === undefined) throw new Error(`no app process recorded on ${host.name}`);
    return pid;
  }

  /** The replica streams from the primary, over TLS; returns pg_stat_replication's state. */
  async waitForStreaming(timeoutMs = 60_000): Promise<string> {
    let last = "";
    try {
      return await waitFor(
        "the DR database to stream from the primary over TLS",
        async () => {
          last = await this.dbA.psql(
            "SELECT r.application_name, r.state, s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)",
          );
          return /^[^|\n]+\|streaming\|t$/.test(last) ? last : undefined;
        },
        timeoutMs,
        250,
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}; pg_stat_replication on ${this.pgA.name}: "${last}"`);
    }
  }

  /**
   * Region A seen from inside (the cut hides it from the witness): waits until its app's /healthz
   * is red, then sends it a write. Returns when that happened relative to `sinceMs` and the answer.
   */
  async waitForRegionARed(
    sinceMs: number,
    timeoutMs: number,
  ): Promise<{ redAfterMs: number; writeAnswer: string }> {
    const url = `http://${this.program.primaryCheck.node}`;
    const red = await waitFor(
      "region A's app to report its fenced database",
      async () => {
        const r = await this.appA.exec([
          "curl",
          "-s",
          "-o",
          "/dev/null",
          "-w",
          "%{http_code}",
          "--max-time",
          "2",
          `${url}/healthz`,
        ]);
        return r.stdout === "503" ? performance.now() : undefined;
      },
      timeoutMs,
      100,
    );
    const write = await this.appA.exec([
      "curl",
      "-s",
      "--max-time",
      "5",
      "-w",
      " %{http_code}",
      "-H",
      "content-type: application/json",
      "-d",
      JSON.stringify({ item: "written-in-fenced-region", quantity: 1 }),
      `${url}/orders`,
    ]);
    const [body, status] = [
      write.stdout.slice(0, write.stdout.lastIndexOf(" ")),
      write.stdout.slice(write.stdout.lastIndexOf(" ") + 1),
    ];
    return { redAfterMs: red - sinceMs, writeAnswer: `${status} ${body.trim()}` };
  }

  /**
   * Runs the failover remote.Command as `pulumi up` would: over SSH from the witness (the
   * operator's machine), as the command's user, trusting only the DR database's pinned host key.
   */
  async runPromotion(): Promise<ExecResult> {
    const target = String((this.program.promotion.inputs.connection as { host: string }).host);
    if (target !== this.pgB.address)
      throw new Error(`the promotion targets ${target}; the DR database host is at ${this.pgB.address}`);
    this.promotionSshd ??= await startSshd(this.pgB);
    return runProgramCommand(this.witness, this.program.promotion);
  }

  /**
   * Stops what this lab started, by pid: the apps (SIGTERM, so their graceful exit is exercised),
   * the HTTP relay, then every host with the lab itself. Each step runs even if an earlier one failed.
   */
  async destroy(): Promise<{ appsStoppedGracefully: Map<string, boolean> }> {
    const graceful = new Map<string, boolean>();
    const errors: unknown[] = [];
    for (const [host, pid] of this.appPids) {
      try {
        graceful.set(host.name, await stopApp(host, pid));
      } catch (error) {
        errors.push(error);
      }
    }
    for (const stop of [
      () => this.client.stop(),
      () => this.promotionSshd?.stop(),
      () => this.store.stop(),
    ]) {
      try {
        await stop();
      } catch (error) {
        errors.push(error);
      }
    }
    await this.lab.destroy();
    if (errors.length > 0) throw errors[0];
    return { appsStoppedGracefully: graceful };
  }
}
