import { database, type LinodeRole } from "../../lab/faults";
import { runRemoteCommand } from "../../lab/standins/ssh";
import { automationKeyName } from "../../components/hostIdentity";
import { labHostName } from "../../lab/world/hostNames";
import type { Member, World } from "../../lab/world/world";
import { RESOURCE_TYPE } from "../../components/resourceTypes";
import { APP_DATABASE, APP_DATABASE_USER, databaseServerName, REPLICATION_USER } from "../../stacks/names";
import { stackComponentName } from "../../stacks/resourceNames";
import type { Scenario } from "../run";
import { applyOperatorStep, rejoined, type OperatorStep } from "./common";

/**
 * A secret rotation as an operator does it, with the order client writing throughout:
 * passwordGeneration raised on the primary stack (which generates the cluster's passwords), a new
 * automation key authorized and new host keys served in each stack (`pulumi up -s primary`, then
 * `-s dr`), then each stack's commands switched to the new keys, retiring the old (`-s primary`,
 * `-s dr` again).
 * Everything reaches the running Linodes through their converge commands: the leader's roles get
 * the new passwords, each database installs them and reloads Patroni, each app restarts with its
 * new connection string, one node at a time; root's authorized keys are rewritten. Proof that the
 * new secrets are in use and the old ones (first boot's user data included) are worthless: from
 * each database member, new connections to the leader over verified TLS succeed with the new
 * password and fail with the old, for every role; each Patroni REST API accepts the new password
 * and refuses the old; the replica's replication connection, dropped on purpose, comes back with
 * the new one; every Linode accepts its stack's new automation key and refuses the old, and
 * serves only its new host key.
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

/** A stack's key generations as its next update reads them (config automationKeys or hostKeys). */
function generationsOf(world: World, stack: Member, key: "automationKeys" | "hostKeys"): number[] {
  return (world.configValue(stack, key) ?? "1").split(",").map(Number);
}

/** The private half of a stack's automation key of `generation`, as its last update left it. */
function automationPrivateKey(world: World, stack: Member, generation: number): string {
  return String(
    world.stacks[stack].byName(automationKeyName(stackComponentName(stack), generation)).state
      .privateKeyOpenssh,
  );
}

/** Each host `stack`'s commands reach with `privateKey`, once, with the host key they pin. */
function targetsOf(world: World, stack: Member, privateKey: string): { host: string; hostKey: string }[] {
  const targets = new Map<string, string>();
  for (const command of world.stacks[stack].ofType(RESOURCE_TYPE.command)) {
    const connection = command.inputs.connection as { host: string; privateKey: string; hostKey: string };
    if (connection.privateKey === privateKey && !targets.has(connection.host))
      targets.set(connection.host, connection.hostKey);
  }
  return [...targets].map(([host, hostKey]) => ({ host, hostKey }));
}

/**
 * Every remote command target of `stack` that its last update reached with `privateKey`, tried
 * again with `tryKey` (host key still pinned): "ok", or why the login failed.
 */
async function loginsWith(
  world: World,
  stack: Member,
  privateKey: string,
  tryKey: string,
): Promise<Map<string, string>> {
  const hosts = targetsOf(world, stack, privateKey);
  const results = await Promise.all(
    hosts.map(async ({ host, hostKey }) => {
      const r = await runRemoteCommand(
        world.client,
        { host, user: "root", privateKey: tryKey, hostKey },
        "true",
        { timeoutMs: 20_000 },
      );
      return [host, r.code === 0 ? "ok" : r.stderr.trim().split("\n").at(-1) || `exit ${r.code}`] as const;
    }),
  );
  return new Map(results);
}

/**
 * The host keys each Linode of `stack` serves now (ssh-keyscan from the operator's machine, every
 * type), beside the one the stack's commands pin, for every host its commands reach with `privateKey`.
 */
async function servedHostKeys(
  world: World,
  stack: Member,
  privateKey: string,
): Promise<Map<string, { pinned: string; served: string[] }>> {
  const results = await Promise.all(
    targetsOf(world, stack, privateKey).map(async ({ host, hostKey }) => {
      const r = await world.client.exec(["ssh-keyscan", "-T", "5", "-t", "rsa,ecdsa,ed25519", host], {
        timeoutMs: 20_000,
      });
      const served = r.stdout
        .split("\n")
        .filter((line) => line && !line.startsWith("#"))
        .map((line) => line.split(/\s+/).slice(1, 3).join(" "))
        .sort();
      return [host, { pinned: hostKey.trim().split(/\s+/).slice(0, 2).join(" "), served }] as const;
    }),
  );
  return new Map(results);
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
    "Secret rotation: passwordGeneration raised, each stack's automation key and host keys rotated (give the Linodes the new key, then use it), four pulumi up under client load; the replication, superuser, app and REST passwords change in place (leader first, then each member and app), no Linode replaced, no failed write, the old passwords and keys refused",
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
    // Each stack's automation key and host keys move from generation n to n + 1 in two updates.
    const gens = (stack: Member) => {
      const automation = generationsOf(world, stack, "automationKeys");
      const host = generationsOf(world, stack, "hostKeys");
      if (automation.length !== 1 || host.length !== 1)
        throw new Error(
          `secret-rotation starts from one automation key and one host key generation per stack; stack ${stack} lists automationKeys=${automation.join(",")} hostKeys=${host.join(",")} (a rotation left half done)`,
        );
      return { automation: [automation[0], automation[0] + 1], host: [host[0], host[0] + 1] };
    };
    const plan = { primary: gens("primary"), dr: gens("dr") };
    const introduce = (stack: Member) => ({
      automationKeys: plan[stack].automation.join(","),
      hostKeys: plan[stack].host.join(","),
    });
    const switchTo = (stack: Member) => ({
      automationKeys: String(plan[stack].automation[1]),
      hostKeys: String(plan[stack].host[1]),
    });
    ctx.mark(
      "decision",
      `passwordGeneration=${generation}, a new automation key and new host keys in each stack: four updates, primary then dr, twice`,
    );
    const steps: OperatorStep[] = [
      {
        stack: "primary",
        config: { passwordGeneration: String(generation), ...introduce("primary") },
        why: "new passwords; authorize a new automation key, serve new host keys",
      },
      {
        stack: "dr",
        config: introduce("dr"),
        why: "take the new passwords; authorize a new automation key, serve new host keys",
      },
      {
        stack: "primary",
        config: switchTo("primary"),
        why: "log in with the new key, pin the new host keys, retire the old",
      },
      {
        stack: "dr",
        config: switchTo("dr"),
        why: "log in with the new key, pin the new host keys, retire the old",
      },
    ];
    const retired: Partial<Record<Member, string>> = {};
    for (const [i, step] of steps.entries()) {
      if (i >= 2)
        retired[step.stack] = automationPrivateKey(world, step.stack, plan[step.stack].automation[0]);
      await applyOperatorStep(ctx, i, step);
    }
    // Every probe below is independent of the others: they run side by side.
    const keyProbes = await Promise.all(
      (["primary", "dr"] as const).map(async (stack) => {
        const current = automationPrivateKey(world, stack, plan[stack].automation[1]);
        // Logging in pins each Linode's new host key: success proves sshd serves it.
        const [withNew, withOld, served] = await Promise.all([
          loginsWith(world, stack, current, current),
          loginsWith(world, stack, current, retired[stack]!),
          servedHostKeys(world, stack, current),
        ]);
        return { stack, withNew, withOld, served };
      }),
    );
    for (const { stack, withNew, withOld, served } of keyProbes) {
      const badNew = [...withNew].filter(([, r]) => r !== "ok");
      const badOld = [...withOld].filter(([, r]) => !/Permission denied/.test(r));
      ctx.check(
        `stack ${stack}'s Linodes take its new automation key only`,
        withNew.size > 0 && badNew.length === 0 && badOld.length === 0,
        `${withNew.size} Linodes; new key: ${badNew.length ? badNew.map(([h, r]) => `${h} ${r}`).join("; ") : "every login ok"}; old key: ${badOld.length ? badOld.map(([h, r]) => `${h} ${r}`).join("; ") : "refused everywhere"}`,
      );
      const wrong = [...served].filter(([, r]) => r.served.length !== 1 || r.served[0] !== r.pinned);
      ctx.check(
        `stack ${stack}'s Linodes serve only their new host key`,
        served.size > 0 && wrong.length === 0,
        wrong.length
          ? wrong.map(([h, r]) => `${h} serves ${r.served.join(", ") || "nothing"}`).join("; ")
          : `${served.size} Linodes each serve one key, the pinned ${plan[stack].host[1] % 2 === 1 ? "Ed25519" : "ECDSA"} one`,
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
    const memberProbes = await Promise.all(
      MEMBERS.map(async (m) => ({
        m,
        logins: await Promise.all(
          ROLES.map(async (role) => ({
            role,
            withNew: await connectAs(world, m.role, leaderName, role, fresh[role.secret]),
            withOld: await connectAs(world, m.role, leaderName, role, old[role.secret]),
          })),
        ),
        restNew: await restStatus(world, m.role, fresh.rest),
        restOld: await restStatus(world, m.role, old.rest),
      })),
    );
    for (const { m, logins, restNew, restOld } of memberProbes) {
      const name = labHostName(m.role);
      for (const { role, withNew, withOld } of logins) {
        ctx.check(
          `from ${name}, ${role.user} logs in to the leader with the new password only`,
          withNew === "ok" && /password authentication failed/.test(withOld),
          `new password: ${withNew}; old password: ${withOld === "ok" ? "accepted" : withOld}`,
        );
      }
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
        ? `a new replication connection streams ${(ms / 1000).toFixed(1)} s after the old one was terminated`
        : ms.message,
    );
  },
  async recover(ctx) {
    await rejoined(ctx, "dr", "primary");
  },
};
