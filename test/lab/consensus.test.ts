import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ETCD_CLIENT_PORT, PATRONI_REST_PORT } from "../../provisioning/consensus";
import { DB_PROVISION_PATH, REPLICATION_PASSWORD_PATH } from "../../provisioning/database";
import {
  builderClusterUserData,
  Cluster,
  CLUSTER_SERVER_NAMES,
  LAB_REPLICATION_PASSWORD,
} from "../../lab/consensus/cluster";
import {
  failoverScenario,
  flappingScenario,
  formatReport,
  lagGuardScenario,
  partitionScenario,
  rejoinAndSwitchBack,
  restoreToPrimary,
  switchoverScenario,
  witnessDownScenario,
} from "../../lab/consensus/scenarios";
import { waitFor } from "../../lab/process";

/**
 * The consensus proof on lab hosts booted from the builders' user data with the real cloud-init:
 * etcd on three sites (A, B, witness in C), Patroni on the two databases, under steady writers.
 * One booted cluster serves the scenarios in order; each leaves primary leading and dr streaming.
 */

const log = (line: string) => console.log(`[consensus] ${line}`);
const TTL_MS = 10_000;

describe.sequential("consensus: etcd on three sites, Patroni on both databases (defaults)", () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await Cluster.create({ labName: "h9c", userData: builderClusterUserData(), log });
    await cluster.bootAll();
    await cluster.waitForLeader("primary");
    await cluster.waitForStreaming("dr");
  });
  afterAll(async () => {
    await cluster?.destroy();
  });

  it("brings up primary as leader and dr streaming over verify-full TLS through Patroni's slot", async () => {
    const repl = await cluster.psql(
      "primary",
      "SELECT r.application_name, r.state, s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)",
    );
    expect(repl).toBe("dr|streaming|t");
    const conninfo = await cluster.psql("dr", "SELECT conninfo FROM pg_stat_wal_receiver");
    expect(conninfo).toContain("sslmode=verify-full");
    expect(conninfo).toContain(`host=${CLUSTER_SERVER_NAMES.primary}`);
    expect(await cluster.psql("primary", "SELECT slot_name, active FROM pg_replication_slots")).toBe("dr|t");
    for (const [setting, value] of [
      ["max_slot_wal_keep_size", "1GB"],
      ["wal_log_hints", "on"],
      ["data_checksums", "on"],
      ["password_encryption", "scram-sha-256"],
      ["ssl", "on"],
    ]) {
      expect(await cluster.psql("primary", `SHOW ${setting}`), setting).toBe(value);
    }
    // Only the socket and TLS: no plain host lines; every network line uses SCRAM.
    const hba = await cluster.psql(
      "primary",
      "SELECT DISTINCT type || ':' || auth_method FROM pg_hba_file_rules ORDER BY 1",
    );
    expect(hba.split("\n")).toEqual(["hostssl:scram-sha-256", "local:peer", "local:scram-sha-256"]);
    expect(await cluster.psql("primary", "SELECT count(*) FROM pg_database WHERE datname = 'orders'")).toBe(
      "1",
    );
    // Debian's own cluster is gone; Patroni owns the data directory.
    expect(cluster.host("primary").fileExists("/etc/postgresql/15/main/postgresql.conf")).toBe(false);
    const members = await cluster
      .host("witness")
      .execOrThrow([
        "env",
        "ETCDCTL_API=3",
        "etcdctl",
        `--endpoints=https://${CLUSTER_SERVER_NAMES.witness}:${ETCD_CLIENT_PORT}`,
        "--cacert=/etc/linode-dr/tls/ca.crt",
        "--cert=/etc/linode-dr/tls/server.crt",
        "--key=/etc/linode-dr/tls/server.key",
        "member",
        "list",
      ]);
    expect(members.stdout.trim().split("\n")).toHaveLength(3);
    expect(members.stdout).not.toMatch(/, true$/m); // no learner left
    expect(members.stdout).not.toContain("http://");
    // Without a client certificate from the project CA, etcd refuses.
    const anonymous = await cluster
      .host("witness")
      .exec([
        "env",
        "ETCDCTL_API=3",
        "etcdctl",
        `--endpoints=https://${CLUSTER_SERVER_NAMES.witness}:${ETCD_CLIENT_PORT}`,
        "--cacert=/etc/linode-dr/tls/ca.crt",
        "--dial-timeout=2s",
        "--command-timeout=3s",
        "member",
        "list",
      ]);
    expect(anonymous.code).not.toBe(0);
    const hosts = await cluster.host("dr").readFile("/etc/hosts");
    expect(hosts).toContain(`198.51.100.10 ${CLUSTER_SERVER_NAMES.primary}`);
    // The REST API is TLS and refuses unauthenticated changes.
    const post = await cluster
      .host("dr")
      .exec([
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--cacert",
        "/etc/linode-dr/tls/ca.crt",
        "-X",
        "POST",
        "-d",
        '{"leader":"primary","candidate":"dr"}',
        `https://${CLUSTER_SERVER_NAMES.dr}:${PATRONI_REST_PORT}/switchover`,
      ]);
    expect(post.stdout).toBe("401");
  });

  it("re-running provisioning converges without restarting anything", async () => {
    const started = await cluster.psql("primary", "SELECT pg_postmaster_start_time()");
    for (const member of ["primary", "dr"] as const) {
      const again = await cluster.host(member).execOrThrow([DB_PROVISION_PATH]);
      expect(again.stderr).toMatch(/provisioned before .*; converging/);
      expect(again.stderr).toMatch(/etcd is running/);
      expect(again.stderr).toMatch(/Patroni is running/);
      expect(again.stderr).not.toMatch(/started patroni|dropping Debian|founding/);
    }
    const witness = await cluster.host("witness").execOrThrow(["/usr/local/sbin/linode-dr-etcd-member"]);
    expect(witness.stderr).toMatch(/etcd data present/);
    expect(await cluster.psql("primary", "SELECT pg_postmaster_start_time()")).toBe(started);
    expect((await cluster.leader())?.name).toBe("primary");
  });

  it("the leader command does nothing when the desired member already leads", async () => {
    const result = await cluster.leaderCommand("primary");
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^found: leader=primary \(running\)/m);
    expect(result.stdout).toMatch(/^nothing to do: primary is the leader and accepts writes$/m);
  });

  it("planned switchover to dr and back loses no acknowledged write", async () => {
    const there = await switchoverScenario(cluster, "dr");
    log(`switchover to dr\n${formatReport(there)}`);
    expect(there.commandExit).toBe(0);
    expect(there.commandOutput).toMatch(/^doing: switchover primary -> dr/m);
    expect(there.ackedLost).toBe(0);
    await cluster.waitForStreaming("primary");
    const back = await switchoverScenario(cluster, "primary");
    log(`switchover back\n${formatReport(back)}`);
    expect(back.commandExit).toBe(0);
    expect(back.ackedLost).toBe(0);
    await cluster.waitForStreaming("dr");
  });

  it("A↔B link cut, both still reach the witness: no failover, nothing lost, replication resumes", async () => {
    const report = await partitionScenario(cluster, 30_000);
    log(`partition\n${formatReport(report)}`);
    expect(report.leadershipChanges).toBe(0);
    expect(report.ackedLost).toBe(0);
    expect((await cluster.leader())?.name).toBe("primary");
  });

  it("witness down: no leadership change, writes continue", async () => {
    const report = await witnessDownScenario(cluster, 30_000);
    log(`witness down\n${formatReport(report)}`);
    expect(report.leadershipChanges).toBe(0);
    expect(report.ackedLost).toBe(0);
    expect(report.longestGapMs).toBeLessThan(3000);
  });

  it("region A cut off: dr leads within 15 s, A stops acknowledging within ttl; A rejoins and switches back losslessly", async () => {
    const cut = await failoverScenario(cluster, "region-cut");
    log(`region cut\n${formatReport(cut)}`);
    expect(cut.leaderAfter).toBe("dr");
    expect(cut.faultToDrWritableMs).toBeLessThanOrEqual(15_000);
    expect(cut.lastPrimaryAckAfterFaultMs ?? 0).toBeLessThanOrEqual(TTL_MS);
    expect(cut.ackedLostBeforeFault).toBeLessThanOrEqual(200);
    const back = await rejoinAndSwitchBack(cluster, "restore-region");
    log(`rejoin and switch back\n${formatReport(back)}`);
    expect(back.rewound).toBe(true);
    expect(back.switchBack.commandExit).toBe(0);
    expect(back.switchBack.ackedLost).toBe(0);
  });

  it("the primary's host crashes: automatic failover; restarted, it rejoins as a replica", async () => {
    const crash = await failoverScenario(cluster, "host-crash");
    log(`host crash\n${formatReport(crash)}`);
    expect(crash.leaderAfter).toBe("dr");
    expect(crash.faultToDrWritableMs).toBeLessThanOrEqual(20_000);
    const back = await rejoinAndSwitchBack(cluster, "restart-host");
    log(`restart and switch back\n${formatReport(back)}`);
    expect(back.switchBack.ackedLost).toBe(0);
  });

  it("synchronous mode, region A cut: no acknowledged write is lost", async () => {
    await cluster.setDynamic("synchronous_mode", "true");
    await waitFor(
      "dr to be the synchronous standby",
      async () =>
        (await cluster.view())?.members.find((m) => m.name === "dr")?.role === "sync_standby"
          ? true
          : undefined,
      60_000,
      500,
    );
    try {
      const cut = await failoverScenario(cluster, "region-cut");
      log(`synchronous region cut\n${formatReport(cut)}`);
      expect(cut.leaderAfter).toBe("dr");
      expect(cut.ackedLost).toBe(0);
    } finally {
      try {
        await restoreToPrimary(cluster);
      } finally {
        await cluster.setDynamic("synchronous_mode", "false");
      }
    }
  });

  it("flapping uplink of A (3 s down / 10 s up for 5 minutes): no leadership change", async () => {
    await restoreToPrimary(cluster);
    const report = await flappingScenario(cluster, { durationMs: 300_000, downMs: 3000, upMs: 10_000 });
    log(`flapping\n${formatReport(report)}`);
    expect(report.leadershipChanges).toBe(0);
    expect(report.ackedLost).toBe(0);
  }, 900_000);

  it("dr lagging beyond the guard when A is lost: no automatic promotion; the command refuses without force", async () => {
    await restoreToPrimary(cluster);
    const report = await lagGuardScenario(cluster, 30_000);
    log(`lag guard\n${formatReport(report)}`);
    expect(report.drLagBytes).toBeGreaterThan(report.guardBytes);
    expect(report.drPromotedAutomatically).toBe(false);
    expect(report.refusal.exit).toBe(3);
    expect(report.refusal.output).toMatch(
      /^refused: dr lags \d+ bytes .* more than maximum_lag_on_failover/m,
    );
    expect(report.forced.exit).toBe(0);
    expect(report.forced.output).toMatch(/^doing: failover to dr/m);
    await restoreToPrimary(cluster);
  });
});

describe("bring-up order and a wrong replication password", () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await Cluster.create({
      labName: "h9j",
      userData: builderClusterUserData({ drReplicationPassword: "not-the-founders-password" }),
      log,
    });
  });
  afterAll(async () => {
    await cluster?.destroy();
  });

  it("dr waits for the founder (one line per attempt), fails clearly on the wrong password, and joins once fixed", async () => {
    const drBoot = cluster.boot("dr");
    // The founder is not up: dr logs one line per attempt, with the reason, and keeps waiting.
    await waitFor(
      "dr to log two join attempts",
      async () => {
        const text = cluster.host("dr").fileExists("/var/log/linode-dr-first-boot.log")
          ? await cluster.host("dr").readFile("/var/log/linode-dr-first-boot.log")
          : "";
        const attempts = text.match(/attempt \d+: waiting to join etcd \(cluster not reachable/g) ?? [];
        return attempts.length >= 2 ? true : undefined;
      },
      120_000,
      500,
    );
    const [primary, witness] = await Promise.all([cluster.boot("primary"), cluster.boot("witness")]);
    expect(primary.code, primary.stderr).toBe(0);
    expect(witness.code, witness.stderr).toBe(0);
    const dr = await drBoot;
    expect(dr.code).not.toBe(0);
    const drLog = await cluster.host("dr").readFile("/var/log/linode-dr-first-boot.log");
    expect(drLog).toMatch(/added as a learner/);
    expect(drLog).toMatch(
      /ERROR: attempt \d+: authentication failed for replication user replicator at leader primary/,
    );
    // It never copied anything: there is nothing to promote, and the flag's command refuses, even forced.
    expect(cluster.host("dr").fileExists("/var/lib/postgresql/15/main/PG_VERSION")).toBe(false);
    for (const force of [false, true]) {
      const refused = await cluster.leaderCommand("dr", { on: "primary", force });
      expect(refused.code).toBe(3);
      expect(refused.stdout).toMatch(/^refused: dr is not a member of the Patroni cluster/m);
    }
    expect((await cluster.leader())?.name).toBe("primary");
    // Fixed by hand, provisioning runs again and completes.
    await cluster.host("dr").writeFile(REPLICATION_PASSWORD_PATH, LAB_REPLICATION_PASSWORD, 0o600);
    const again = await cluster.host("dr").exec([DB_PROVISION_PATH]);
    expect(again.code, again.stderr).toBe(0);
    await cluster.waitForStreaming("dr");
  });
});
