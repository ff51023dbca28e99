import { database, type LinodeRole } from "../../lab/faults";
import { labHostName } from "../../lab/world/hostNames";
import type { Member, World } from "../../lab/world/world";
import { RESOURCE_TYPE } from "../../components/resourceTypes";
import { APP_DATABASE, APP_DATABASE_USER, databaseServerName, REPLICATION_USER } from "../../stacks/names";
import { stackComponentName } from "../../stacks/resourceNames";
import type { Scenario } from "../run";
import { rejoined } from "./common";

/**
 * A password rotation as an operator does it: passwordGeneration raised on the primary stack (which
 * generates the cluster's passwords), `pulumi up -s primary`, then `pulumi up -s dr`, with the order
 * client writing throughout. The passwords reach the running Linodes through their converge
 * commands: the leader's roles get the new ones, each database installs them and reloads Patroni,
 * each app restarts with its new connection string, one node at a time. Proof that the new ones are
 * in use and the old ones (first boot's user data included) are worthless: from each database
 * member, new connections to the leader over verified TLS succeed with the new password and fail
 * with the old, for every role; each Patroni REST API accepts the new password and refuses the old;
 * the replica's replication connection, dropped on purpose, comes back with the new one.
 */

const ROLES = [
  { secret: "replication", user: REPLICATION_USER, db: "replication", replication: true },
  { secret: "superuser", user: "postgres", db: "postgres" },
  { secret: "app", user: APP_DATABASE_USER, db: APP_DATABASE },
] as const;

/** The passwords the last applied update of the primary stack generated, by secret name. */
function passwords(world: World): Record<string, string> {
  const owner = stackComponentName("primary");
  const result = (suffix: string) => String(world.stacks.primary.byName(`${owner}-${suffix}`).state.result);
  return {
    replication: result("replication-password"),
    superuser: result("superuser-password"),
    app: result("app-db-password"),
    rest: result("rest-api-password"),
  };
}

/** Linode ids of both stacks, by resource name. */
function linodeIds(world: World): Map<string, string> {
  return new Map(
    (["primary", "dr"] as const).flatMap((stack) =>
      world.stacks[stack].ofType(RESOURCE_TYPE.instance).map((r) => [r.name, r.id] as [string, string]),
    ),
  );
}

/** A new connection from `from` to the leader's PostgreSQL over verify-full TLS: "ok" or the error. */
async function connectAs(
  world: World,
  from: LinodeRole,
  leaderName: string,
  role: (typeof ROLES)[number],
  password: string,
): Promise<string> {
  const replication = "replication" in role ? " replication=true" : "";
  const r = await world
    .hostOf(from)
    .exec(
      [
        "psql",
        "-X",
        "-At",
        "-c",
        "replication" in role ? "IDENTIFY_SYSTEM" : "SELECT 1",
        `host=${leaderName} port=5432 user=${role.user} dbname=${role.db}${replication} sslmode=verify-full sslrootcert=/etc/linode-dr/tls/ca.crt connect_timeout=10`,
      ],
      { env: { PGPASSWORD: password }, timeoutMs: 20_000 },
    );
  return r.code === 0 ? "ok" : r.stderr.trim().split("\n").at(-1) || `exit ${r.code}`;
}

/** The status of an authenticated request (POST /reload) to a member's own Patroni REST API. */
async function restStatus(world: World, member: LinodeRole, password: string): Promise<string> {
  const r = await world
    .hostOf(member)
    .exec(
      [
        "bash",
        "-c",
        'set -euo pipefail; source /opt/linode-dr/current/scripts/lib/consensus.sh; load_consensus; curl -s -o /dev/null -w "%{http_code}" --max-time 5 --cacert /etc/linode-dr/tls/ca.crt --user "$(consensus REST_USER):$REST_PASSWORD" -X POST "https://$(self_name):8008/reload"',
      ],
      { env: { REST_PASSWORD: password }, timeoutMs: 15_000 },
    );
  return r.stdout.trim() || `exit ${r.code}`;
}

const MEMBERS: { role: LinodeRole; stack: Member }[] = [
  { role: database("primary"), stack: "primary" },
  { role: database("dr"), stack: "dr" },
];

export const secretRotation: Scenario = {
  name: "secret-rotation",
  description:
    "Password rotation: passwordGeneration raised, pulumi up -s primary then -s dr under client load; the replication, superuser, app and REST passwords change in place (leader first, then each member and app), no Linode replaced, no failed write, the old passwords refused",
  expects: ["decision", "firstWriteByName", "recovered"],
  leaderBefore: "primary",
  leaderAfter: "primary",
  maxLostAcknowledged: 0,
  noFailedWrites: true,
  async respond(ctx) {
    const world = ctx.world;
    const old = passwords(world);
    const ids = linodeIds(world);
    const generation = Number(world.configValue("primary", "passwordGeneration") ?? "1") + 1;
    ctx.mark("decision", `passwordGeneration=${generation}: pulumi up -s primary, then pulumi up -s dr`);
    const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    for (const [stack, config] of [
      ["primary", { passwordGeneration: String(generation) }],
      ["dr", {}],
    ] as const) {
      const at = Date.now();
      const plan = await ctx.up(stack, config);
      const ran = plan.steps
        .filter((s) => s.name.endsWith("converge"))
        .map((s) => `${s.name} ${seconds(s.endedAt - s.startedAt)}`);
      ctx.note(
        `pulumi up -s ${stack} took ${seconds(Date.now() - at)}: ${ran.join(", ") || "no converge ran"}.`,
      );
    }
    const fresh = passwords(world);
    const same = Object.keys(fresh).filter((k) => fresh[k] === old[k]);
    ctx.check(
      "every password is new",
      same.length === 0,
      same.length ? `unchanged: ${same.join(", ")}` : "4 of 4 new",
    );
    const after = linodeIds(world);
    const replaced = [...ids].filter(([name, id]) => after.get(name) !== id).map(([name]) => name);
    ctx.check(
      "no Linode replaced",
      replaced.length === 0,
      replaced.length ? `replaced: ${replaced.join(", ")}` : `${ids.size} Linodes kept their ids`,
    );
    const leaderName = databaseServerName("primary", ctx.config.appName, ctx.config.domain);
    for (const m of MEMBERS) {
      const name = labHostName(m.role);
      for (const role of ROLES) {
        const withNew = await connectAs(world, m.role, leaderName, role, fresh[role.secret]);
        const withOld = await connectAs(world, m.role, leaderName, role, old[role.secret]);
        ctx.check(
          `from ${name}, ${role.user} logs in to the leader with the new password only`,
          withNew === "ok" && /password authentication failed/.test(withOld),
          `new password: ${withNew}; old password: ${withOld === "ok" ? "accepted" : withOld}`,
        );
      }
      const restNew = await restStatus(world, m.role, fresh.rest);
      const restOld = await restStatus(world, m.role, old.rest);
      ctx.check(
        `${name}'s Patroni REST API takes the new password only`,
        restNew === "202" && restOld === "401",
        `new password: HTTP ${restNew}; old password: HTTP ${restOld}`,
      );
    }
    // A fresh replication connection: the replica must log in with the new password.
    const ms = await world.replicationReconnects("primary", "dr").catch((error: Error) => error);
    ctx.check(
      "the replica reconnects with the new replication password",
      typeof ms === "number",
      typeof ms === "number"
        ? `a new replication connection streams ${seconds(ms)} after the old one was terminated`
        : ms.message,
    );
  },
  async recover(ctx) {
    await rejoined(ctx, "dr", "primary");
  },
};
