import { expect, it } from "vitest";
import { database, witness } from "../../../lab/faults";
import { requestFrom } from "../../../lab/hosts/curl";
import type { World } from "../../../lab/world/world";
import { DB_PROVISION_PATH, TLS_CA_PATH, TLS_CERT_PATH, TLS_KEY_PATH } from "../../../provisioning/database";
import { ETCD_CLIENT_PORT, ETCD_MEMBER_PATH, PATRONI_REST_PORT } from "../../../provisioning/consensus";
import { databaseServerName, witnessServerName } from "../../../stacks/names";

/**
 * The consensus layer as the program's user data leaves it: etcd on three sites, Patroni on both
 * databases, everything between them TLS with the project's CA, and provisioning that converges.
 */
export function consensusSpecs(world: () => World): void {
  const names = () => {
    const { appName, domain } = world().drConfig;
    return {
      primary: databaseServerName("primary", appName, domain),
      dr: databaseServerName("dr", appName, domain),
      witness: witnessServerName(appName, domain),
    };
  };
  const etcdctl = (endpoint: string, extra: string[]) => [
    "env",
    "ETCDCTL_API=3",
    "etcdctl",
    `--endpoints=https://${endpoint}:${ETCD_CLIENT_PORT}`,
    `--cacert=${TLS_CA_PATH}`,
    "--dial-timeout=2s",
    "--command-timeout=3s",
    ...extra,
    "member",
    "list",
  ];
  const withCertificate = [`--cert=${TLS_CERT_PATH}`, `--key=${TLS_KEY_PATH}`];

  it("brings up primary leading and dr streaming over verify-full TLS through Patroni's slot", async () => {
    const primary = world().database("primary");
    expect(
      await primary.psql(
        "SELECT r.application_name, r.state, s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)",
      ),
    ).toBe("dr|streaming|t");
    const conninfo = await world().database("dr").psql("SELECT conninfo FROM pg_stat_wal_receiver");
    expect(conninfo).toContain("sslmode=verify-full");
    expect(conninfo).toContain(`host=${names().primary}`);
    expect(await primary.psql("SELECT slot_name, active FROM pg_replication_slots")).toBe("dr|t");
    const { postgres } = world().drConfig;
    for (const [setting, value] of [
      ["max_slot_wal_keep_size", postgres.maxSlotWalKeepSize],
      ["wal_log_hints", "on"],
      ["data_checksums", "on"],
      ["password_encryption", "scram-sha-256"],
      ["ssl", "on"],
    ]) {
      expect(await primary.psql(`SHOW ${setting}`), setting).toBe(value);
    }
    // Only the socket and TLS: no plain host lines; every network line uses SCRAM.
    const hba = await primary.psql(
      "SELECT DISTINCT type || ':' || auth_method FROM pg_hba_file_rules ORDER BY 1",
    );
    expect(hba.split("\n")).toEqual(["hostssl:scram-sha-256", "local:peer", "local:scram-sha-256"]);
    // Debian's own cluster is gone; Patroni owns the data directory.
    expect(primary.host.fileExists("/etc/postgresql/15/main/postgresql.conf")).toBe(false);
  });

  it("etcd has three voting members over TLS, refuses a client without a certificate, and names resolve from the managed hosts block", async () => {
    const host = world().hostOf(database("dr"));
    const members = await host.execOrThrow(etcdctl(names().witness, withCertificate));
    expect(members.stdout.trim().split("\n")).toHaveLength(3);
    expect(members.stdout).not.toMatch(/, true$/m); // no learner left
    expect(members.stdout).not.toContain("http://");
    const anonymous = await host.exec(etcdctl(names().witness, []));
    expect(anonymous.code).not.toBe(0);
    const hosts = await host.readFile("/etc/hosts");
    expect(hosts).toContain(`${world().hostOf(database("primary")).address} ${names().primary}`);
  });

  it("the witness's certificate is a peer's only: every client port refuses it, and it still votes and holds etcd leadership", async () => {
    const host = world().hostOf(witness);
    for (const member of [names().primary, names().dr, names().witness]) {
      const refused = await host.exec(etcdctl(member, withCertificate));
      expect(refused.code, `${member} admitted the witness as a client`).not.toBe(0);
    }
    const voting = await world().etcdMembers();
    expect(Object.keys(voting).sort()).toEqual(["pg-a", "pg-b", "witness"]);
    expect(new Set(Object.values(voting).map((m) => m.clusterId)).size).toBe(1);
    expect(Object.values(voting).some((m) => m.learner)).toBe(false);
    // The databases handed etcd leadership to it once it voted (a region loss then needs no etcd election).
    const status = await world()
      .hostOf(database("dr"))
      .execOrThrow([
        "env",
        "ETCDCTL_API=3",
        "etcdctl",
        `--endpoints=https://${names().witness}:${ETCD_CLIENT_PORT}`,
        `--cacert=${TLS_CA_PATH}`,
        ...withCertificate,
        "endpoint",
        "status",
        "-w",
        "simple",
      ]);
    expect(status.stdout.split(", ")[4], status.stdout).toBe("true");
  });

  it("Patroni's REST API is TLS and refuses an unauthenticated switchover", async () => {
    const post = await requestFrom(
      world().hostOf(database("dr")),
      `https://${names().dr}:${PATRONI_REST_PORT}/switchover`,
      {
        method: "POST",
        json: { leader: "primary", candidate: "dr" },
        cacert: TLS_CA_PATH,
      },
    );
    expect(post.status).toBe(401);
  });

  it("re-running provisioning converges without restarting anything", async () => {
    const primary = world().database("primary");
    const started = await primary.psql("SELECT pg_postmaster_start_time()");
    for (const member of ["primary", "dr"] as const) {
      const again = await world()
        .hostOf(database(member))
        .execOrThrow([DB_PROVISION_PATH], { timeoutMs: 300_000 });
      expect(again.stderr).toMatch(/provisioned before .*; converging/);
      expect(again.stderr).toMatch(/etcd is running/);
      expect(again.stderr).toMatch(/Patroni is running/);
      expect(again.stderr).not.toMatch(/started patroni|dropping Debian|founding/);
    }
    const again = await world().hostOf(witness).execOrThrow([ETCD_MEMBER_PATH]);
    expect(again.stderr).toMatch(/etcd data present/);
    expect(await primary.psql("SELECT pg_postmaster_start_time()")).toBe(started);
    expect(await world().patroniLeader("dr")).toBe("primary");
  });

  it("a replica rotates a password through the leader (ALTER ROLE over verified TLS), reloads its Patroni and streams with it; and back", async () => {
    const primary = world().database("primary");
    const replica = world().hostOf(database("dr"));
    const verifier = () => primary.psql("SELECT rolpassword FROM pg_authid WHERE rolname = 'replicator'");
    // The replica's own files, with the replication password replaced (when NEW is given).
    const install = (replication: string) =>
      replica.exec(
        [
          "bash",
          "-c",
          'set -euo pipefail; d=$(mktemp -d); cp /etc/linode-dr/{replication,superuser,app}-password /etc/linode-dr/patroni-rest-password "$d"; ' +
            '[[ -z $NEW ]] || printf %s "$NEW" >"$d/replication-password"; /usr/local/sbin/linode-dr-secret-install "$d"; rc=$?; rm -rf "$d"; exit $rc',
        ],
        { env: { NEW: replication }, timeoutMs: 120_000 },
      );
    const original = (await replica.readFile("/etc/linode-dr/replication-password")).trim();
    const before = await verifier();
    const rotated = await install("RotatedInLab0123456789abcdef");
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stderr).toMatch(/new passwords: replication/);
    expect(rotated.stderr).toMatch(/role replicator has its new replication password/);
    expect(rotated.stderr).toMatch(
      /a new replication connection \(replicator\) over TLS succeeds with the new password/,
    );
    expect(await verifier()).not.toBe(before);
    expect(await world().replicationReconnects("primary", "dr")).toBeLessThan(60_000);
    // Back to the program's password: the same path, from the replica again.
    const restored = await install(original);
    expect(restored.code, restored.stderr).toBe(0);
    expect((await replica.readFile("/etc/linode-dr/replication-password")).trim()).toBe(original);
    expect(await world().replicationReconnects("primary", "dr")).toBeLessThan(60_000);
    // Nothing left to change: a rerun with the program's passwords writes nothing.
    const again = await install("");
    expect(again.stderr).toMatch(/passwords unchanged/);
  });

  it("the flag's command does nothing when the member it names already leads", async () => {
    const result = await world().runLeaderCommand({ failover: "false" });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^found: leader=primary \(running\)/m);
    expect(result.stdout).toMatch(/^nothing to do: primary is the leader and accepts writes$/m);
  });
}
