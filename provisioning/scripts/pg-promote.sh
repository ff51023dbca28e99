#!/bin/bash
# linode-dr promotion, installed as /usr/local/sbin/linode-dr-promote on both database hosts.
# The failover `remote.Command` runs it, and a failed `pulumi up` runs it again: promoting a host
# that is already a primary is a success, not an error.
set -euo pipefail

readonly SETTINGS_FILE=/etc/linode-dr/db.conf
readonly CLUSTER=main
readonly PROMOTE_WAIT_SECONDS=60

PG_VERSION=""

log() {
  printf '%s linode-dr-promote: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2
}

die() {
  log "ERROR: $*"
  exit "${2:-1}"
}

load_version() {
  [[ -r $SETTINGS_FILE ]] || die "settings file $SETTINGS_FILE is missing; was this host provisioned by linode-dr-db-provision?"
  PG_VERSION=$(sed -n 's/^PG_VERSION=\([0-9][0-9]*\)$/\1/p' "$SETTINGS_FILE")
  [[ -n $PG_VERSION ]] || die "$SETTINGS_FILE has no valid PG_VERSION line"
}

psql_local() {
  runuser -u postgres -- psql --cluster "$PG_VERSION/$CLUSTER" -X -q -At -v ON_ERROR_STOP=1 -d postgres "$@"
}

require_running() {
  local rc=0
  pg_ctlcluster "$PG_VERSION" "$CLUSTER" status >/dev/null 2>&1 || rc=$?
  case $rc in
    0) ;;
    3) die "PostgreSQL $PG_VERSION/$CLUSTER is not running; nothing was promoted. Start it (pg_ctlcluster $PG_VERSION $CLUSTER start) and run linode-dr-promote again" 3 ;;
    *) die "PostgreSQL $PG_VERSION/$CLUSTER status is unknown (pg_ctlcluster status exit $rc); nothing was promoted" 3 ;;
  esac
  psql_local -c "SELECT 1" >/dev/null 2>&1 ||
    die "PostgreSQL $PG_VERSION/$CLUSTER is running but does not accept connections yet; nothing was promoted" 3
}

in_recovery() {
  local value
  value=$(psql_local -c "SELECT pg_is_in_recovery()") || die "could not query pg_is_in_recovery()"
  [[ $value == t ]]
}

report_position() {
  local received replayed replayed_at
  IFS='|' read -r received replayed replayed_at < <(psql_local -c \
    "SELECT coalesce(pg_last_wal_receive_lsn()::text, 'none'), coalesce(pg_last_wal_replay_lsn()::text, 'none'), coalesce(pg_last_xact_replay_timestamp()::text, 'none')")
  printf 'last_received_lsn=%s\nlast_replayed_lsn=%s\nlast_replay_timestamp=%s\n' "$received" "$replayed" "$replayed_at"
}

promote() {
  local result
  log "promoting $PG_VERSION/$CLUSTER (waiting up to ${PROMOTE_WAIT_SECONDS}s)"
  result=$(psql_local -c "SELECT pg_promote(true, $PROMOTE_WAIT_SECONDS)") || die "pg_promote() failed"
  [[ $result == t ]] || die "pg_promote() did not finish within ${PROMOTE_WAIT_SECONDS}s (returned \"$result\")"
  if in_recovery; then
    die "pg_promote() returned but the server is still in recovery"
  fi
  printf 'promoted: %s/%s now accepts writes (WAL file %s)\n' "$PG_VERSION" "$CLUSTER" \
    "$(psql_local -c "SELECT pg_walfile_name(pg_current_wal_lsn())")"
}

main() {
  [[ $(id -u) == 0 ]] || die "must run as root"
  load_version
  require_running
  if ! in_recovery; then
    printf 'already primary: %s/%s is not in recovery; nothing to do\n' "$PG_VERSION" "$CLUSTER"
    return 0
  fi
  report_position
  promote
}

main "$@"
