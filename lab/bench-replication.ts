/**
 * Runs the region-loss scenario N times on the user data the Pulumi program renders (both stacks
 * evaluated under mocks with the lab address plan) and prints per-run figures and a summary as Markdown.
 * Usage (root): npx tsx lab/bench-replication.ts [--runs 5] [--rate 500] [--steady-ms 5000]
 */
import { execFileSync } from "node:child_process";
import { cpus } from "node:os";
import { programDatabaseUserData } from "./program/userData";
import { RegionLossReport, runRegionLoss } from "./scenarios/regionLoss";

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  if (index === -1) return fallback;
  const value = Number(process.argv[index + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} needs a positive number`);
  return value;
}

function summary(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const median =
    sorted.length % 2
      ? sorted[(sorted.length - 1) / 2]
      : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
  const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(1));
  return `${fmt(median)} (min ${fmt(sorted[0])}, max ${fmt(sorted[sorted.length - 1])})`;
}

async function main(): Promise<void> {
  const runs = option("runs", 5);
  const rate = option("rate", 500);
  const steadyStateMs = option("steady-ms", 5000);
  const reports: RegionLossReport[] = [];
  for (let i = 1; i <= runs; i++) {
    const report = await runRegionLoss({
      labName: "bench",
      userData: programDatabaseUserData(),
      writeRate: rate,
      steadyStateMs,
      log: (line) => console.error(`run ${i}: ${line}`),
    });
    reports.push(report);
    console.error(
      `run ${i}: promote ${report.promoteMs.toFixed(0)} ms, lost ${report.lostAcked} acknowledged rows`,
    );
  }
  const nproc = execFileSync("nproc").toString().trim();
  const lines = [
    `Machine: ${nproc} CPUs (\`nproc\`), ${cpus()[0]?.model ?? "unknown CPU"}, kernel ${execFileSync("uname", ["-r"]).toString().trim()}.`,
    `Command: \`npx tsx lab/bench-replication.ts --runs ${runs} --rate ${rate} --steady-ms ${steadyStateMs}\` (root).`,
    "",
    "| run | writes/s achieved | acked before cut | lag before cut (bytes) | replay lag before cut (ms) | max lag bytes / ms | promote (ms) | RPO rows lost | RPO span (ms) | acked by isolated primary after cut |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...reports.map((r, i) => {
      const lag = r.lagBeforeCut;
      return `| ${i + 1} | ${r.writeRateAchieved.toFixed(0)} | ${r.ackedBeforeCut} | ${lag.lastBytes} | ${lag.lastReplayLagMs ?? "NULL (caught up)"} | ${lag.maxBytes} / ${lag.maxReplayLagMs ?? "NULL"} | ${r.promoteMs.toFixed(0)} | ${r.lostAcked} | ${r.lostSpanMs} | ${r.ackedAfterCut} |`;
    }),
    "",
    `Summary over ${runs} runs, median (min, max): lag before cut ${summary(reports.map((r) => r.lagBeforeCut.lastBytes))} bytes; ` +
      `max lag while writing ${summary(reports.map((r) => r.lagBeforeCut.maxBytes))} bytes; ` +
      `promotion ${summary(reports.map((r) => Math.round(r.promoteMs)))} ms; ` +
      `RPO ${summary(reports.map((r) => r.lostAcked))} acknowledged rows lost.`,
  ];
  console.log(lines.join("\n"));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
