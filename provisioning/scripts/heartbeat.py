#!/usr/bin/python3
"""linode-dr-heartbeat: the leader's heartbeat, the yardstick of the data-loss budget.

Runs on both database hosts as PostgreSQL's user (linode-dr-db-provision starts it). Every second,
when the local PostgreSQL is the primary, it commits the row linode_dr.heartbeat (the leader's
clock time, a count, the transaction's ID) and then reports the same row with the WAL position in
etcd, but only while etcd names this member Patroni's leader: a paused old primary that resumes
cannot overwrite the new leader's report. A standby replays the row; linode-dr-promotion-check
compares what it replayed with the last report before Patroni may promote it.

On a standby it also ends a deadlock that a refused promotion leaves behind (docs/facts.md#a-refused-promotion-leaves-patronis-failsafe-topology-naming-only-the-refused-member):
while the refused member held the leader key, Patroni wrote the failsafe topology with the members
it saw, and with failsafe_mode a member missing from it never races. The old primary coming back
(the member the budget was protecting) would wait forever. So when nobody has held the leader key
for a whole TTL and the topology leaves this member out, it deletes the topology (only if it is
unchanged and still nobody leads), and the usual race, the most advanced member first, decides.

It never stops on an error: it logs it (at most every 30 s per kind) and tries again.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "lib"))

from cluster import Cluster  # noqa: E402
from dataloss import HEARTBEAT_SECONDS  # noqa: E402

TAG = "linode-dr-heartbeat"
LOG_EVERY_SECONDS = 30

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS linode_dr;
CREATE TABLE IF NOT EXISTS linode_dr.heartbeat (
  id smallint PRIMARY KEY CHECK (id = 1),
  member text NOT NULL,
  at timestamptz NOT NULL,
  beat bigint NOT NULL,
  xid bigint NOT NULL
);
INSERT INTO linode_dr.heartbeat VALUES (1, %(member)s, clock_timestamp(), 0, 0) ON CONFLICT (id) DO NOTHING;
"""

BEAT = """
UPDATE linode_dr.heartbeat
   SET member = %(member)s, at = clock_timestamp(), beat = beat + 1, xid = pg_current_xact_id()::text::bigint
 WHERE id = 1
RETURNING extract(epoch FROM at)::float8, beat, xid
"""


def log(message):
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {TAG}: {message}", file=sys.stderr, flush=True)


class Heartbeat:
    def __init__(self, cluster):
        self.cluster = cluster
        self.etcd = cluster.etcd(timeout_seconds=2)
        self.conn = None
        self.logged = {}
        self.was_leader = False
        self.leaderless_since = None
        self.schema_ready = False

    def complain(self, kind, message):
        now = time.monotonic()
        if now - self.logged.get(kind, -LOG_EVERY_SECONDS) >= LOG_EVERY_SECONDS:
            self.logged[kind] = now
            log(message)

    def connection(self):
        if self.conn is None or self.conn.closed:
            self.conn = self.cluster.connect(TAG)
            self.conn.autocommit = True
            with self.conn.cursor() as cur:
                # Never wait for a synchronous standby: the heartbeat measures, it must not block.
                cur.execute("SET synchronous_commit = local; SET statement_timeout = 2000")
            self.schema_ready = False
        return self.conn

    def beat(self):
        conn = self.connection()
        with conn.cursor() as cur:
            cur.execute("SELECT pg_is_in_recovery()")
            if cur.fetchone()[0]:
                if self.was_leader:
                    log("PostgreSQL here is a standby now: no heartbeat")
                self.was_leader = False
                self.release_failsafe_without_me()
                return
            if not self.schema_ready:
                cur.execute(SCHEMA, {"member": self.cluster.self})
                self.schema_ready = True
            cur.execute(BEAT, {"member": self.cluster.self})
            at, beat, xid = cur.fetchone()
            cur.execute("SELECT pg_current_wal_flush_lsn()::text")
            lsn = cur.fetchone()[0]
        report = json.dumps({"member": self.cluster.self, "at": at, "beat": beat, "xid": xid, "lsn": lsn})
        if self.etcd.put_if_equal(self.cluster.report_key, report, self.cluster.leader_key, self.cluster.self):
            if not self.was_leader:
                log(f"this member leads: heartbeat {beat} committed and reported")
            self.was_leader = True
        else:
            self.complain("not-leader", "PostgreSQL here is a primary but etcd does not name this member leader: not reporting")

    def release_failsafe_without_me(self):
        cluster = self.cluster
        if self.etcd.get(cluster.leader_key) is not None:
            self.leaderless_since = None
            return
        now = time.monotonic()
        if self.leaderless_since is None:
            self.leaderless_since = now
        if now - self.leaderless_since < cluster.ttl_seconds:
            return
        value, revision = self.etcd.get_revision(cluster.failsafe_key)
        if value is None:
            return
        try:
            members = json.loads(value)
        except ValueError:
            return
        if not isinstance(members, dict) or not members or cluster.self in members:
            return
        if self.etcd.delete_if_unchanged_and_absent(cluster.failsafe_key, revision, cluster.leader_key):
            log(
                f"nobody has led for {now - self.leaderless_since:.0f} s and Patroni's failsafe topology "
                f"names only {', '.join(sorted(members))}, so this member could never race: deleted it"
            )

    def run(self):
        log(f"started: member {self.cluster.self}, every {HEARTBEAT_SECONDS} s, report key {self.cluster.report_key}")
        deadline = time.monotonic()
        while True:
            try:
                self.beat()
            except Exception as error:  # noqa: BLE001 - any failure: log, reconnect, go on
                self.complain(type(error).__name__, f"heartbeat failed ({type(error).__name__}: {str(error).strip()}); retrying")
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
            deadline += HEARTBEAT_SECONDS
            time.sleep(max(0.0, deadline - time.monotonic()))
            deadline = max(deadline, time.monotonic() - HEARTBEAT_SECONDS)


def main():
    if len(sys.argv) > 1:
        print(f"usage: {TAG} (no arguments; settings from /etc/linode-dr/consensus.conf)", file=sys.stderr)
        sys.exit(2)
    Heartbeat(Cluster(TAG)).run()


if __name__ == "__main__":
    main()
