#!/bin/bash
# Shared by the release's root commands that must never overlap on one host (sourced): a rerun
# after an interrupted `pulumi up` finds the first run still going (SSH dropping does not stop it),
# and two leadership changes or two rollouts interleaved would switch over twice or drain a node
# that is already draining.
#
# run_exclusively NAME WAIT_SECONDS SCRIPT ARGS...: runs SCRIPT ARGS again under flock(1) on a lock
# named NAME, waiting at most WAIT_SECONDS for a run that holds it; returns only in the re-run
# (which sees LINODE_DR_EXCLUSIVE=NAME) and otherwise exits with the re-run's status. flock -o
# keeps the lock in flock's own process, so a daemon the command starts (the lab has no systemd)
# does not inherit it and hold it forever.

readonly EXCLUSIVE_LOCK_DIR=${LINODE_DR_LOCK_DIR:-/run/linode-dr/locks}
# flock's status when the wait ran out (EX_TEMPFAIL); the commands' own statuses stay below it.
readonly EXCLUSIVE_BUSY=75

run_exclusively() {
  local name=$1 wait_seconds=$2 script=$3 lock holder rc=0
  shift 3
  lock=$EXCLUSIVE_LOCK_DIR/$name.lock
  if [[ ${LINODE_DR_EXCLUSIVE:-} == "$name" ]]; then
    # The holder names itself so that whoever waits can say who it waited for.
    printf '%s pid %s since %s: %s\n' "$name" "$$" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >"$lock"
    return 0
  fi
  mkdir -p "$EXCLUSIVE_LOCK_DIR"
  LINODE_DR_EXCLUSIVE=$name flock -o -w "$wait_seconds" -E "$EXCLUSIVE_BUSY" "$lock" "$BASH" "$script" "$@" || rc=$?
  if ((rc == EXCLUSIVE_BUSY)); then
    holder=$(cat "$lock" 2>/dev/null || true)
    printf '%s %s: ERROR: another run still holds %s after %ss (%s); nothing was done, run it again once that one ends\n' \
      "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(basename "$script")" "$lock" "$wait_seconds" "${holder:-holder unknown}" >&2
  fi
  exit "$rc"
}
