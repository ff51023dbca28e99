import { setTimeout as sleep } from "node:timers/promises";
import {
  database,
  linodeLost,
  regionCut,
  siteLost,
  witness,
  type Fault,
  type LinodeRole,
} from "../../lab/faults";
import type { ExecResult } from "../../lab/process";
import { labHostName } from "../../lab/world/hostNames";
import { FIRST_BOOT_LOG_PATH } from "../../provisioning/host";
import type { Member } from "../../lab/world/world";
import { PHASE_ORDER, type PhaseName } from "../report/model";
import { DrillFailure, type DrillContext, type Scenario } from "../run";
import { ETCD_LOG, leaderTtlMs, PATRONI_LOG, rejoined, trafficFollows } from "./common";

/**
 * The rest of a disaster: Linodes destroyed with their disks are rebuilt by `pulumi up` with new
 * addresses, the other stack's update admits them, and a rebuilt database rejoins the cluster it
 * left as a replica (never founding a second one), all with the order client writing throughout.
 */

const FAILOVER_PHASES: PhaseName[] = PHASE_ORDER.filter((phase) => phase !== "fault");

/** How long a rebuilt database may take to copy the leader and stream (package install, etcd, basebackup). */
const REJOIN_TIMEOUT_MS = 600_000;

/** Lines of a stuck first boot's log that say where it was, and of its daemons' logs. */
const FIRST_BOOT_TAIL_LINES = 12;
const OTHER_TAIL_LINES = 4;

/** The other stack, whose update admits a rebuilt stack's new addresses. */
function otherStack(stack: Member): Member {
  return stack === "primary" ? "dr" : "primary";
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}

/**
 * The operator's runbook after Linodes of one stack were destroyed: `pulumi refresh && pulumi up`
 * of that stack (new Linodes, new addresses), then `pulumi up` of the other stack, which admits the
 * new addresses (`admit` says how: the flag to adopt, or unchanged). Notes how long each took.
 */
async function rebuildAndAdmit(
  ctx: DrillContext,
  lost: readonly LinodeRole[],
  admit: () => Promise<unknown>,
): Promise<number> {
  const stack = lost[0].stack;
  const started = Date.now();
  const plan = await ctx.rebuild(lost);
  const created = plan.steps
    .filter((s) => s.operation === "create" && s.effect.startsWith("booted "))
    .map((s) => s.effect);
  ctx.note(
    `pulumi up -s ${stack} rebuilt ${created.length} Linode${created.length === 1 ? "" : "s"} in ${seconds(Date.now() - started)} s (${created.join("; ")}).`,
  );
  const admitted = Date.now();
  await admit();
  ctx.note(
    `pulumi up -s ${otherStack(stack)} admitted the new addresses in ${seconds(Date.now() - admitted)} s.`,
  );
  for (const linode of lost) {
    const boot = ctx.world.firstBoot(linode);
    if (!boot) continue;
    const result = await firstBootEnded(ctx, linode, boot);
    ctx.check(
      `${labHostName(linode)}'s first boot completed`,
      result.code === 0,
      result.code === 0
        ? "exit 0"
        : `exit ${result.code}: ${result.stderr.trim().split("\n").slice(-3).join(" | ")}`,
    );
  }
  return started;
}

/**
 * Waits (bounded, like every phase) for a rebuilt Linode's first boot; one that does not end says
 * where it was: the tail of its log goes into the drill's failure (the line a CI log shows) and the
 * report.
 */
async function firstBootEnded(
  ctx: DrillContext,
  linode: LinodeRole,
  boot: Promise<ExecResult>,
): Promise<ExecResult> {
  let ended: ExecResult | undefined;
  void boot.then((result) => {
    ended = result;
  });
  try {
    return await ctx.until(`${labHostName(linode)}'s first boot to end`, () => ended);
  } catch (error) {
    if (!(error instanceof DrillFailure)) throw error;
    const host = ctx.world.hostOf(linode);
    // A database's first boot waits on etcd and Patroni: their last lines say which one held it.
    const logs = [FIRST_BOOT_LOG_PATH, ...(linode.tier === "database" ? [PATRONI_LOG, ETCD_LOG] : [])];
    const tails = await Promise.all(
      logs.map(async (file) => {
        const text = await host.readFile(file).catch((e: unknown) => `(unreadable: ${String(e)})`);
        const lines = text.trim().split("\n");
        const tail = lines
          .slice(file === FIRST_BOOT_LOG_PATH ? -FIRST_BOOT_TAIL_LINES : -OTHER_TAIL_LINES)
          .map((line) => (line.length > 300 ? `${line.slice(0, 300)}…` : line))
          .join(" | ");
        return `${file} ends: ${tail}`;
      }),
    );
    ctx.note(`${labHostName(linode)}'s first boot had not ended; ${tails.join("; ")}`);
    throw new DrillFailure(`${error.message}; ${tails.join("; ")}`);
  }
}

/**
 * A rebuilt database member is a copy of the cluster it rejoined: it has the leader's system
 * identifier (initdb would have made a new one) and a data directory restored from a base backup.
 * Notes the bytes it copied.
 */
async function rebuiltMemberIsACopy(ctx: DrillContext, rebuilt: Member, leader: Member): Promise<void> {
  const sysid = "SELECT system_identifier FROM pg_control_system()";
  const [own, leaders] = await Promise.all([
    ctx.world.database(rebuilt).psql(sysid),
    ctx.world.database(leader).psql(sysid),
  ]);
  const db = ctx.world.database(rebuilt);
  const fromBackup = db.host.fileExists(`${db.dataDir}/backup_label.old`);
  ctx.check(
    "the rebuilt member never ran initdb",
    own === leaders && fromBackup,
    `system identifier ${own} (${leader}: ${leaders}); ${fromBackup ? "restored from a base backup (backup_label.old)" : "no backup_label.old: not restored from a base backup"}`,
  );
  const size = await db.host.exec(["du", "-sb", db.dataDir]);
  const bytes = Number(size.stdout.split(/\s/)[0]);
  if (size.code === 0 && Number.isFinite(bytes))
    ctx.note(
      `The rebuilt ${rebuilt} member copied ${(bytes / 1048576).toFixed(1)} MiB (its data directory once rejoined).`,
    );
}

function oneVotingCluster(members: Record<string, { clusterId: string; learner: boolean }>): boolean {
  const all = Object.values(members);
  return all.length === 3 && new Set(all.map((m) => m.clusterId)).size === 1 && all.every((m) => !m.learner);
}

/** One etcd cluster, served by all three voting members. */
async function oneEtcdCluster(ctx: DrillContext): Promise<void> {
  const members = await ctx.world.etcdMembers();
  ctx.check(
    "one etcd cluster, served by all three members",
    oneVotingCluster(members),
    Object.entries(members)
      .map(([host, m]) => `${host}: cluster ${m.clusterId}${m.learner ? " (learner)" : ""}`)
      .join(", ") || "no member answered",
  );
}

/** Never two writable databases at once, as the watcher polled them since the fault. */
function neverTwoWritable(ctx: DrillContext): void {
  const both = ctx.leadership.bothWritable;
  ctx.check(
    "never two writable members",
    both === undefined,
    both === undefined
      ? "no poll found both members accepting writes"
      : `both members accepted writes ${seconds(both - ctx.faultAt)} s after the fault`,
  );
}

/** Region A lost for good, B serves, A rebuilt and admitted rejoins as B's replica. */
function rebuiltAfterLoss(
  name: string,
  description: string,
  fault: () => Fault,
  lost: (ctx: DrillContext) => LinodeRole[],
): Scenario {
  return {
    name,
    description,
    fault,
    expects: FAILOVER_PHASES,
    leaderBefore: "primary",
    leaderAfter: "dr",
    maxLostAcknowledged: 0,
    async respond(ctx) {
      await trafficFollows(ctx, "dr");
      // The follower moved traffic, so the dr stack's update adopts failover=true as it admits
      // the new addresses (with the old flag it would refuse: README "Automatic failover").
      const started = await rebuildAndAdmit(ctx, lost(ctx), () => ctx.setFailover(true));
      await ctx.until(
        "the rebuilt primary member to stream from dr",
        () => rejoinedOnce(ctx),
        REJOIN_TIMEOUT_MS,
      );
      ctx.note(
        `The rebuilt primary member streamed from dr ${seconds(Date.now() - started)} s after pulumi up -s primary began.`,
      );
    },
    async recover(ctx) {
      await rejoined(ctx, "primary", "dr");
      await rebuiltMemberIsACopy(ctx, "primary", "dr");
      await oneEtcdCluster(ctx);
      neverTwoWritable(ctx);
    },
  };
}

/** True once the primary member streams from dr (Patroni's view on dr), undefined before. */
async function rejoinedOnce(ctx: DrillContext): Promise<true | undefined> {
  const state = await ctx.world
    .database("dr")
    .psql("SELECT state FROM pg_stat_replication WHERE application_name = 'primary'")
    .catch(() => "");
  return state === "streaming" ? true : undefined;
}

export const regionRebuild = rebuiltAfterLoss(
  "region-rebuild",
  "Region A lost for good (its Linodes destroyed with their disks): B leads by quorum and serves, the operator runs pulumi up -s primary (new Linodes, new addresses) and pulumi up -s dr with failover=true (adopts the move, admits them); A's database rejoins as a replica by itself",
  () => siteLost("primary"),
  (ctx) => ctx.world.linodesAt("primary"),
);

export const dbRebuild = rebuiltAfterLoss(
  "db-rebuild",
  "Region A's database Linode destroyed with its disk: B leads by quorum and serves, the operator rebuilds it with pulumi up -s primary (new address; A's apps are pointed at it) and admits it with pulumi up -s dr; it rejoins as a replica",
  () => linodeLost(database("primary")),
  () => [database("primary")],
);

/**
 * Starts with region B leading (where the drills before it leave the world) so that no switchover
 * is needed first; the story is the same from either side.
 */
export const witnessRebuild: Scenario = {
  name: "witness-rebuild",
  description:
    "The witness destroyed with its disk while region B leads: the leader stays on two of three etcd members, the operator rebuilds the witness with pulumi up -s dr (new address; it replaces its old etcd member and the follower is reinstalled) and admits it with pulumi up -s primary; then region B is cut off and the quorum promotes A, and traffic follows",
  fault: () => linodeLost(witness),
  expects: FAILOVER_PHASES,
  leaderBefore: "dr",
  leaderAfter: "primary",
  maxLostAcknowledged: 0,
  probeFencedRegion: true,
  async respond(ctx) {
    await sleep(leaderTtlMs(ctx));
    ctx.check(
      "the leader stayed while the witness was gone",
      ctx.leadership.decision === undefined,
      ctx.leadership.decision === undefined
        ? "dr held the lease"
        : `the lease moved to ${ctx.leadership.newLeader ?? "another member"}`,
    );
    await rebuildAndAdmit(ctx, [witness], () => ctx.up("primary"));
    await ctx.until(
      "the rebuilt witness to be a voting etcd member of the one cluster",
      async () => (oneVotingCluster(await ctx.world.etcdMembers()) ? true : undefined),
      REJOIN_TIMEOUT_MS,
    );
    await oneEtcdCluster(ctx);
    await ctx.inject(regionCut("dr"));
    await trafficFollows(ctx, "primary");
  },
  async recover(ctx) {
    await rejoined(ctx, "dr", "primary");
    neverTwoWritable(ctx);
  },
};
