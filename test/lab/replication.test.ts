import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DB_PROVISION_PATH, PROMOTE_PATH, REPLICATION_PASSWORD_PATH } from "../../provisioning/database";
import { DatabasePair, REGION_PRIMARY } from "../../lab/databasePair";
import {
  builderUserData,
  LAB_REPLICATION_PASSWORD,
  type LabDatabaseUserDataSource,
} from "../../lab/databaseUserData";
import { waitFor } from "../../lab/process";
import { formatRegionLossReport, runRegionLoss } from "../../lab/scenarios/regionLoss";
import { programDatabaseUserData, type ProgramDatabaseOptions } from "../../lab/program/userData";

/**
 * The one place this file gets database user data from: the Pulumi program itself, both stacks
 * evaluated under mocks whose addresses are the lab's, so what runs here is what Linode would get.
 */
function obtainUserData(options: ProgramDatabaseOptions = {}): LabDatabaseUserDataSource {
  return programDatabaseUserData(options);
}

const DATA_DIR = "/var/lib/postgresql/15/main";
const CLOUD_INIT_OUTPUT = "/var/log/cloud-init-output.log";

async function systemIdentifier(pair: DatabasePair): Promise<string> {
  const result = await pair.replica.execOrThrow(["/usr/lib/postgresql/15/bin/pg_controldata", DATA_DIR], {
    user: "postgres",
  });
  const match = /Database system identifier:\s+(\d+)/.exec(result.stdout);
  if (!match) throw new Error(`no system identifier in pg_controldata output:\n${result.stdout}`);
  return match[1];
}

describe("region loss: primary in A streams to the replica in B over TLS, A is cut, B is promoted", () => {
  it("promotes the replica and reports lag, promotion time and data loss", async () => {
    const report = await runRegionLoss({
      labName: "rloss",
      userData: obtainUserData(),
      writeRate: 500,
      steadyStateMs: 5000,
      log: (line) => console.log(`[region-loss] ${line}`),
    });
    console.log(`[region-loss] report\n${formatRegionLossReport(report)}`);

    expect(report.replicationBeforeCut.state).toBe("streaming");
    expect(report.replicationBeforeCut.ssl).toBe(true);
    expect(report.replicaRefusedWrite).toMatch(/read-only transaction/);
    expect(report.writeRateAchieved).toBeGreaterThanOrEqual(200);
    expect(report.ackedBeforeCut).toBeGreaterThan(1000);
    expect(report.promoteOutput).toMatch(/^last_received_lsn=\d+\/[0-9A-F]+$/m);
    expect(report.promoteOutput).toMatch(/^last_replayed_lsn=\d+\/[0-9A-F]+$/m);
    expect(report.promoteOutput).toMatch(/^last_replay_timestamp=\d{4}-\d\d-\d\d /m);
    expect(report.promoteOutput).toMatch(/^promoted: 15\/main now accepts writes/m);
    expect(report.promotedAcceptedWrite).toBe(true);
    expect(report.promoteMs).toBeLessThan(60_000);
    // Asynchronous replication loses a tail of the stream, never rows in the middle of it: every lost
    // row was acknowledged within the last second before the cut.
    expect(report.lostAcked).toBeLessThanOrEqual(report.writeRateTarget);
    expect(report.lostSpanMs).toBeLessThan(1000);
    // The old primary was cut off, not stopped: it keeps taking writes until fenced.
    expect(report.ackedAfterCut).toBeGreaterThan(0);
  });
});

describe("provisioning is idempotent and promotion is safe to repeat", () => {
  let pair: DatabasePair;
  beforeAll(async () => {
    pair = await DatabasePair.create({ labName: "promote", userData: obtainUserData() });
    await pair.provisionBoth();
    await pair.waitForStreaming();
  });
  afterAll(async () => {
    await pair?.destroy();
  });

  it("a second run of the provisioning converges without restarting or re-copying anything", async () => {
    const receiverBefore = await pair.psql(pair.replica, "SELECT pid FROM pg_stat_wal_receiver");
    for (const host of [pair.primary, pair.replica]) {
      const again = await host.execOrThrow([DB_PROVISION_PATH]);
      expect(again.stderr).toMatch(/provisioned before .*; converging/);
      expect(again.stderr).not.toMatch(/restarting|pg_basebackup|moving the package's data directory/);
    }
    expect(await pair.psql(pair.replica, "SELECT pid FROM pg_stat_wal_receiver")).toBe(receiverBefore);
    expect((await pair.waitForStreaming()).ssl).toBe(true);
  });

  it("promote run twice: the second run reports an existing primary and succeeds", async () => {
    const first = await pair.replica.exec([PROMOTE_PATH]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^promoted: /m);
    const second = await pair.replica.exec([PROMOTE_PATH]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/^already primary: 15\/main is not in recovery; nothing to do$/m);
    expect(await pair.psql(pair.replica, "SELECT pg_is_in_recovery()")).toBe("f");
  });

  it("promote with PostgreSQL stopped fails with a clear message", async () => {
    await pair.replica.execOrThrow(["pg_ctlcluster", "15", "main", "stop"]);
    const result = await pair.replica.exec([PROMOTE_PATH]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/PostgreSQL 15\/main is not running; nothing was promoted/);
  });
});

describe("replica provisioning with a wrong replication password", () => {
  let pair: DatabasePair;
  beforeAll(async () => {
    pair = await DatabasePair.create({
      labName: "badpw",
      userData: obtainUserData({ replicaReplicationPassword: "not-the-primary-password" }),
      waitTimeoutSeconds: 120,
    });
    await pair.provisionPrimary();
  });
  afterAll(async () => {
    await pair?.destroy();
  });

  it("fails fast naming the authentication failure, leaves the data directory alone, and succeeds once fixed", async () => {
    const identifierBefore = await systemIdentifier(pair);
    const started = Date.now();
    const failed = await pair.tryProvisionReplica();
    const output = failed.stdout + failed.stderr;
    expect(failed.code).not.toBe(0);
    expect(output).toMatch(
      /ERROR: attempt 1: authentication failed for replication user replicator at 198\.51\.100\.10/,
    );
    expect(output).toMatch(/password authentication failed for user "replicator"/);
    expect(Date.now() - started).toBeLessThan(60_000);

    expect(await systemIdentifier(pair)).toBe(identifierBefore);
    expect(pair.replica.fileExists(`${DATA_DIR}/standby.signal`)).toBe(false);
    expect(pair.replica.fileExists(`${DATA_DIR}.linode-dr-staging`)).toBe(false);
    expect(pair.replica.fileExists("/var/lib/linode-dr/db-provisioned")).toBe(false);
    expect(pair.replica.fileExists("/var/lib/linode-dr/db-provision-started")).toBe(true);

    // The fix an operator would make: give the replica the password the primary really has.
    const primaryPassword = await pair.primary.readFile(REPLICATION_PASSWORD_PATH);
    await pair.replica.writeFile(REPLICATION_PASSWORD_PATH, primaryPassword, 0o600);
    const retried = await pair.replica.exec([DB_PROVISION_PATH]);
    expect(retried.code, retried.stderr).toBe(0);
    expect(retried.stderr).toMatch(/earlier run started .* but did not finish; resuming/);
    const status = await pair.waitForStreaming();
    expect(status.ssl).toBe(true);
    expect(await systemIdentifier(pair)).not.toBe(identifierBefore);
  });
});

describe("replica provisioning while the primary's region is unreachable", () => {
  let pair: DatabasePair;
  beforeAll(async () => {
    pair = await DatabasePair.create({
      labName: "unreach",
      userData: obtainUserData(),
      waitTimeoutSeconds: 300,
    });
    await pair.provisionPrimary();
  });
  afterAll(async () => {
    await pair?.destroy();
  });

  it("waits with one log line per attempt and joins once the region is back", async () => {
    await pair.lab.cutRegion(REGION_PRIMARY);
    const provisioning = pair.tryProvisionReplica();
    const log = await waitFor(
      "two failed attempts in the replica's cloud-init output",
      async () => {
        const text = pair.replica.fileExists(CLOUD_INIT_OUTPUT)
          ? await pair.replica.readFile(CLOUD_INIT_OUTPUT)
          : "";
        return /attempt 2: primary not ready/.test(text) ? text : undefined;
      },
      120_000,
      500,
    );
    expect(log).toMatch(
      /attempt 1: primary not ready \(.*(timeout expired|No route to host|unreachable).*\); retrying in 1s, giving up in \d+s/,
    );
    expect(log).not.toMatch(/ERROR/);
    await pair.lab.restoreRegion(REGION_PRIMARY);
    const result = await provisioning;
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout + result.stderr).toMatch(
      /primary 198\.51\.100\.10 reachable; running pg_basebackup/,
    );
    const status = await pair.waitForStreaming();
    expect(status.ssl).toBe(true);
    expect(await pair.psql(pair.replica, "SELECT pg_is_in_recovery()")).toBe("t");
  });
});

describe("credentials the program never generates but the renderer accepts", () => {
  let pair: DatabasePair;
  afterAll(async () => {
    await pair?.destroy();
  });

  it("streams with a replication password full of quoting hazards (: \\ ' and more)", async () => {
    // The program's passwords are alphanumeric; the renderer accepts any printable ASCII, so the
    // passfile and psql quoting in the scripts must survive the worst of it.
    expect(LAB_REPLICATION_PASSWORD).toMatch(/[:\\']/);
    pair = await DatabasePair.create({ labName: "quoting", userData: builderUserData() });
    await pair.provisionBoth();
    const status = await pair.waitForStreaming();
    expect(status.state).toBe("streaming");
    expect(status.ssl).toBe(true);
  });
});
