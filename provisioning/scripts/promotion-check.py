#!/usr/bin/python3
"""linode-dr-promotion-check [--report]: Patroni's pre_promote hook, the data-loss budget's gate.

Patroni runs it (as PostgreSQL's user) after this member took the leader key and before it
promotes PostgreSQL. Exit 0 lets the promotion go on; any other status makes Patroni promote
nothing and release the key (Patroni 3.0.2 then keeps this member out of the race for one TTL and
tries again: docs/facts.md). It compares the last heartbeat this standby replayed with the last one
the leader reported in etcd (lib/dataloss.py decides) and refuses when the standby lacks more than
maximumDataLossSeconds of acknowledged writes, unless linode-dr-leader --force allowed this member.

--report: prints the same assessment as one key=value line on stdout and exits 0 whatever the
verdict; linode-dr-leader uses it to say how much a failover would lose.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "lib"))

from cluster import FORCED_PROMOTION_FILE, Cluster  # noqa: E402
from dataloss import assess  # noqa: E402

TAG = "linode-dr-promotion-check"
# WAL the standby received is replayed before the heartbeat row is read (promotion replays it
# anyway, so it is not lost); bounded, as Patroni holds the leader key meanwhile.
REPLAY_WAIT_SECONDS = 5


def log(message):
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {TAG}: {message}", file=sys.stderr, flush=True)


def forced_for(member, now):
    """Whether linode-dr-leader --force allowed `member` to be promoted whatever it lacks."""
    try:
        with open(FORCED_PROMOTION_FILE, encoding="utf-8") as forced:
            fields = dict(part.partition("=")[::2] for part in forced.read().split())
    except OSError:
        return False
    try:
        return fields.get("member") == member and float(fields.get("until", "0")) > now
    except ValueError:
        return False


def leader_report(cluster):
    raw = cluster.etcd(timeout_seconds=3).get(cluster.report_key)
    if raw is None:
        return None
    report = json.loads(raw)
    for field in ("member", "at", "beat", "xid", "lsn"):
        if field not in report:
            raise ValueError(f"the report in etcd has no {field}: {raw}")
    return report


def standby_position(cluster):
    conn = cluster.connect(TAG)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            deadline = time.monotonic() + REPLAY_WAIT_SECONDS
            while True:
                cur.execute(
                    "SELECT pg_last_wal_receive_lsn()::text,"
                    " pg_last_wal_receive_lsn() IS NULL OR pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn()"
                )
                received, replayed_all = cur.fetchone()
                if replayed_all or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            cur.execute("SELECT to_regclass('linode_dr.heartbeat') IS NOT NULL")
            row = None
            if cur.fetchone()[0]:
                cur.execute("SELECT extract(epoch FROM at)::float8, beat, xid FROM linode_dr.heartbeat WHERE id = 1")
                found = cur.fetchone()
                if found is not None:
                    row = {"at": found[0], "beat": found[1], "xid": found[2]}
        return {"received_lsn": received, "row": row}
    finally:
        conn.close()


def assessment(cluster):
    forced = forced_for(cluster.self, time.time())
    try:
        report = leader_report(cluster)
        standby = standby_position(cluster)
    except Exception as error:  # noqa: BLE001 - unmeasurable: refuse unless forced
        reason = f"the loss cannot be measured ({type(error).__name__}: {str(error).strip()})"
        if forced:
            return {"verdict": "promote", "reason": f"forced by the operator (forceFailover): {reason}"}
        return {"verdict": "refuse", "reason": f"no automatic promotion: {reason}"}
    return assess(report, standby, cluster.budget_seconds, forced)


def report_line(result, budget):
    def value(key):
        found = result.get(key)
        if found is None:
            return "unknown"
        return f"{found:.1f}" if isinstance(found, float) else str(found)

    return " ".join(
        [f"verdict={result['verdict']}", f"behind_seconds={value('behind_seconds')}"]
        + [f"transactions={value('transactions')}", f"bytes={value('bytes')}", f"budget_seconds={budget}"]
        + [f"reason={json.dumps(result['reason'])}"]
    )


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode not in ("", "--report") or len(sys.argv) > 2:
        print(f'usage: {TAG} [--report]; received "{" ".join(sys.argv[1:])}"', file=sys.stderr)
        sys.exit(2)
    cluster = Cluster(TAG)
    result = assessment(cluster)
    if mode == "--report":
        print(report_line(result, cluster.budget_seconds))
        return
    log(f"{cluster.self}: {'promote' if result['verdict'] == 'promote' else 'REFUSED'}: {result['reason']}")
    sys.exit(0 if result["verdict"] == "promote" else 1)


if __name__ == "__main__":
    main()
