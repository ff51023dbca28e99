/**
 * Benchmark of the consensus layer's timed scenarios on one booted three-site lab cluster
 * (defaults: ttl 10, loop_wait 2, retry_timeout 4, etcd heartbeat 150 ms / election 1500 ms):
 * region A cut off (→ dr writable; the last write A acknowledged after the cut; acknowledged writes
 * lost), A's return and the switchover back (write-unavailable window), and a planned switchover
 * with A healthy. Each is run RUNS times (default 5); prints a Markdown table with the median.
 *
 *   sudo npx tsx lab/bench-consensus.ts [runs]
 */
import { builderClusterUserData, Cluster } from "./consensus/cluster";
import {
  failoverScenario,
  rejoinAndSwitchBack,
  restoreToPrimary,
  switchoverScenario,
  type FailoverReport,
  type RejoinReport,
  type SwitchoverReport,
} from "./consensus/scenarios";

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? "5");
  const cluster = await Cluster.create({
    labName: "h9bench",
    userData: builderClusterUserData(),
    log: (line) => console.error(`[bench] ${line}`),
  });
  const cuts: FailoverReport[] = [];
  const rejoins: RejoinReport[] = [];
  const planned: SwitchoverReport[] = [];
  try {
    await cluster.bootAll();
    await cluster.waitForLeader("primary");
    await cluster.waitForStreaming("dr");
    for (let i = 1; i <= runs; i++) {
      const cut = await failoverScenario(cluster, "region-cut");
      cuts.push(cut);
      console.error(`[bench] run ${i}: cut ${JSON.stringify(cut)}`);
      const rejoin = await rejoinAndSwitchBack(cluster, "restore-region");
      rejoins.push(rejoin);
      console.error(
        `[bench] run ${i}: rejoin ${JSON.stringify({ ...rejoin, switchBack: { ...rejoin.switchBack, commandOutput: undefined } })}`,
      );
      const there = await switchoverScenario(cluster, "dr");
      planned.push(there);
      console.error(`[bench] run ${i}: planned ${JSON.stringify({ ...there, commandOutput: undefined })}`);
      await cluster.waitForStreaming("primary");
      await restoreToPrimary(cluster);
    }
  } finally {
    await cluster.destroy();
  }
  const row = (name: string, values: (number | null)[], unit = "ms") => {
    const nums = values.map((v) => v ?? NaN);
    return `| ${name} | ${nums.map((v) => (Number.isNaN(v) ? "–" : String(Math.round(v)))).join(" / ")} | ${Math.round(median(nums.filter((v) => !Number.isNaN(v))))} ${unit} |`;
  };
  console.log(`| measure (${runs} runs) | runs | median |`);
  console.log("| --- | --- | --- |");
  console.log(
    row(
      "region A cut → dr writable",
      cuts.map((c) => c.faultToDrWritableMs),
    ),
  );
  console.log(
    row(
      "last write acknowledged by A after the cut",
      cuts.map((c) => c.lastPrimaryAckAfterFaultMs),
    ),
  );
  console.log(
    row(
      "A refuses writes (demoted) after the cut",
      cuts.map((c) => c.primaryFencedAfterMs),
    ),
  );
  console.log(
    row(
      "acknowledged writes lost, acknowledged before the cut",
      cuts.map((c) => c.ackedLostBeforeFault),
      "rows",
    ),
  );
  console.log(
    row(
      "acknowledged writes lost, acknowledged by A after the cut",
      cuts.map((c) => c.ackedLost - c.ackedLostBeforeFault),
      "rows",
    ),
  );
  console.log(
    row(
      "A restored → rejoined as a replica (pg_rewind)",
      rejoins.map((r) => r.rejoinMs),
    ),
  );
  console.log(
    row(
      "switchover back: command",
      rejoins.map((r) => r.switchBack.commandMs),
    ),
  );
  console.log(
    row(
      "switchover back: write-unavailable window",
      rejoins.map((r) => r.switchBack.writeUnavailableMs),
    ),
  );
  console.log(
    row(
      "switchover back: acknowledged writes lost",
      rejoins.map((r) => r.switchBack.ackedLost),
      "rows",
    ),
  );
  console.log(
    row(
      "planned switchover A → B: command",
      planned.map((p) => p.commandMs),
    ),
  );
  console.log(
    row(
      "planned switchover: write-unavailable window",
      planned.map((p) => p.writeUnavailableMs),
    ),
  );
  console.log(
    row(
      "planned switchover: acknowledged writes lost",
      planned.map((p) => p.ackedLost),
      "rows",
    ),
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
