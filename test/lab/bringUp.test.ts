import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConsensusMembers, LAB_REPLICATION_PASSWORD } from "../../lab/consensus/members";
import { waitFor } from "../../lab/process";
import { DB_PROVISION_PATH, REPLICATION_PASSWORD_PATH } from "../../provisioning/database";
import { FIRST_BOOT_LOG_PATH } from "../../provisioning/host";

/**
 * Bring-up in the wrong order and with a deployment mistake, on the three consensus members alone
 * (booted one by one from the builders' user data with the real cloud-init).
 */

const log = (line: string) => console.log(`[bring-up] ${line}`);

describe("bring-up order and a wrong replication password", () => {
  let members: ConsensusMembers | undefined;
  beforeAll(async () => {
    members = await ConsensusMembers.create("bringup", {
      drReplicationPassword: "not-the-founders-password",
    });
  });
  afterAll(() => members?.destroy());

  it("dr waits for the founder (one line per attempt), fails clearly on the wrong password, and joins once fixed", async () => {
    if (!members) throw new Error("the members were not created; see beforeAll's error");
    const m = members;
    const drBoot = m.boot("dr");
    // The founder is not up: dr logs one line per attempt, with the reason, and keeps waiting.
    await waitFor(
      "dr to log two join attempts",
      async () => {
        const text = m.host("dr").fileExists(FIRST_BOOT_LOG_PATH)
          ? await m.host("dr").readFile(FIRST_BOOT_LOG_PATH)
          : "";
        const attempts = text.match(/attempt \d+: waiting to join etcd \(cluster not reachable/g) ?? [];
        return attempts.length >= 2 ? true : undefined;
      },
      120_000,
      500,
    );
    const [primary, witness] = await Promise.all([m.boot("primary"), m.boot("witness")]);
    expect(primary.code, primary.stderr).toBe(0);
    expect(witness.code, witness.stderr).toBe(0);
    const dr = await drBoot;
    expect(dr.code).not.toBe(0);
    const drLog = await m.host("dr").readFile(FIRST_BOOT_LOG_PATH);
    log(
      drLog
        .split("\n")
        .filter((line) => /ERROR|learner/.test(line))
        .join("\n"),
    );
    expect(drLog).toMatch(/added as a learner/);
    expect(drLog).toMatch(
      /ERROR: attempt \d+: authentication failed for replication user replicator at leader primary/,
    );
    // It never copied anything: there is nothing to promote, and the flag's command refuses, even forced.
    expect(m.host("dr").fileExists("/var/lib/postgresql/15/main/PG_VERSION")).toBe(false);
    for (const force of [false, true]) {
      const refused = await m.leaderCommand("dr", { on: "primary", force });
      expect(refused.code).toBe(3);
      expect(refused.stdout).toMatch(/^refused: dr is not a member of the Patroni cluster/m);
    }
    expect(await m.leader("primary")).toBe("primary");
    // Fixed by hand, provisioning runs again and completes.
    await m.host("dr").writeFile(REPLICATION_PASSWORD_PATH, LAB_REPLICATION_PASSWORD, 0o600);
    const again = await m.host("dr").exec([DB_PROVISION_PATH]);
    expect(again.code, again.stderr).toBe(0);
    await waitFor(
      "dr to stream from primary",
      async () => ((await m.streaming("dr")) ? true : undefined),
      180_000,
      500,
    );
  });
});
