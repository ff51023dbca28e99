"""How much a standby would lose if promoted now, and whether the data-loss budget allows it.

Pure: linode-dr-promotion-check (Patroni's pre_promote hook) and linode-dr-leader gather the
inputs; test/unit/dataLossBudget.test.ts checks the decision as a table.

Staleness is measured in time, not bytes. The leader commits a heartbeat row every
HEARTBEAT_SECONDS and then reports the same row (its time, count, transaction ID and WAL position)
in etcd, as long as it holds Patroni's leader key. A standby has replayed some heartbeat row; the
difference between that row and the leader's last report is how much acknowledged work the standby
lacks. Both times come from the leader's clock, so no clock skew between hosts enters it.
"""

# How often the leader commits and reports its heartbeat (linode-dr-heartbeat).
HEARTBEAT_SECONDS = 1.0


def lsn_number(text):
    """A PostgreSQL LSN ("16/B374D848") as a number of bytes; None stays None."""
    if text is None:
        return None
    high, _, low = str(text).partition("/")
    if not low:
        raise ValueError(f'"{text}" is not an LSN (expected two hex numbers joined by "/")')
    return (int(high, 16) << 32) + int(low, 16)


def assess(report, standby, budget_seconds, forced):
    """The verdict on promoting a standby now.

    report: the leader's last heartbeat report from etcd, {member, at (epoch s), beat, xid, lsn},
        or None when no leader ever reported.
    standby: {received_lsn: LSN text or None, row: {at, beat, xid} or None}: what the standby
        has received and the last heartbeat row it replayed.
    budget_seconds: maximumDataLossSeconds.
    forced: the operator accepted the loss (linode-dr-leader --force, from forceFailover).

    Returns {verdict: "promote" | "refuse", behind_seconds, transactions, bytes, reason}; the numbers
    are None where unknown. The estimate of lost time adds one heartbeat interval: writes the leader
    acknowledged after its last report are lost too, and it reports every HEARTBEAT_SECONDS.
    """
    result = {"behind_seconds": None, "transactions": None, "bytes": None}
    received = lsn_number(standby.get("received_lsn"))
    if report is None:
        return {
            **result,
            "verdict": "promote",
            "reason": "no leader has reported a heartbeat yet: there is no acknowledged write to lose",
        }
    reported_lsn = lsn_number(report["lsn"])
    if received is not None:
        result["bytes"] = max(0, reported_lsn - received)
    row = standby.get("row")
    if received is not None and received >= reported_lsn:
        result.update(behind_seconds=0.0, transactions=0)
    elif row is not None:
        result["behind_seconds"] = max(0.0, float(report["at"]) - float(row["at"]))
        # Every write transaction takes one transaction ID, and so does every heartbeat.
        result["transactions"] = max(0, (report["xid"] - row["xid"]) - (report["beat"] - row["beat"]))
    behind = result["behind_seconds"]
    described = describe(result, report)
    if forced:
        return {**result, "verdict": "promote", "reason": f"forced by the operator (forceFailover): {described}"}
    if behind is None:
        return {
            **result,
            "verdict": "refuse",
            "reason": f"no automatic promotion: the standby has replayed no heartbeat, so its loss cannot be measured ({described})",
        }
    if behind + HEARTBEAT_SECONDS > budget_seconds:
        return {
            **result,
            "verdict": "refuse",
            "reason": (
                f"no automatic promotion: standby {described}; the budget is {budget_seconds} s "
                "(maximumDataLossSeconds), forceFailover accepts the loss"
            ),
        }
    return {**result, "verdict": "promote", "reason": f"within the budget of {budget_seconds} s: {described}"}


def describe(result, report):
    """ "32.0 s (342 transactions, 67108864 bytes) behind primary's heartbeat 500" """
    behind, transactions, size = result["behind_seconds"], result["transactions"], result["bytes"]
    time = "an unknown time" if behind is None else f"{behind:.1f} s"
    counts = [
        "unknown transactions" if transactions is None else f"{transactions} transactions",
        "unknown bytes" if size is None else f"{size} bytes",
    ]
    return f"{time} ({', '.join(counts)}) behind {report['member']}'s heartbeat {report['beat']}"
