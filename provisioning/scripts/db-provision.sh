#!/bin/bash
# linode-dr first-boot PostgreSQL provisioning, part of the release bundle, linked as /usr/local/sbin/linode-dr-db-provision
# and run on first boot by linode-dr-first-boot. It turns a Debian 12 host into the replication primary or a hot
# standby of it, from the settings cloud-init wrote under /etc/linode-dr/.
#
# Every step checks before it acts, so a second run (or a run after a crash half-way) converges
# instead of damaging anything: a database Linode's user data runs once, and the only way to repair
# a failed first boot is to run this again by hand.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib/retry.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/retry.sh"

readonly ETC_DIR=/etc/linode-dr
readonly SETTINGS_FILE=$ETC_DIR/db.conf
readonly REPLICATION_PASSWORD_FILE=$ETC_DIR/replication-password
readonly APP_PASSWORD_FILE=$ETC_DIR/app-password
readonly TLS_SOURCE_DIR=$ETC_DIR/tls
readonly STATE_DIR=/var/lib/linode-dr
readonly DONE_MARKER=$STATE_DIR/db-provisioned
readonly STARTED_MARKER=$STATE_DIR/db-provision-started
readonly REPLICA_DATA_MARKER=$STATE_DIR/replica-data-installed
readonly PG_HOME=/var/lib/postgresql
# Outside the data directory, so replacing the data directory with a base backup keeps them.
readonly PG_TLS_DIR=$PG_HOME/linode-dr-tls
readonly PASSFILE=$PG_HOME/.linode-dr-replication.pgpass
readonly CLUSTER=main
readonly CLUSTER_PORT=5432
readonly MANAGED_CONF_NAME=50-linode-dr.conf

declare -A SETTINGS=()
PG_VERSION=""
CONF_DIR=""
DATA_DIR=""
PG_BIN=""
CONF_CHANGED=0
RELOAD_NEEDED=0

log() {
  printf '%s linode-dr-db-provision: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2
}

die() {
  log "ERROR: $*"
  exit 1
}

setting() {
  printf '%s' "${SETTINGS[$1]:-}"
}

require_match() {
  local key=$1 pattern=$2 value
  value=$(setting "$key")
  [[ $value =~ $pattern ]] || die "$SETTINGS_FILE: $key=\"$value\" does not match $pattern"
}

load_settings() {
  [[ -r $SETTINGS_FILE ]] || die "settings file $SETTINGS_FILE is missing; cloud-init write_files should have created it"
  local key value
  while IFS='=' read -r key value || [[ -n $key ]]; do
    [[ -z $key || $key == \#* ]] && continue
    case $key in
      ROLE | PG_VERSION | WAL_KEEP_SIZE | MAX_SLOT_WAL_KEEP_SIZE | REPL_USER | SLOT_NAME | APP_DATABASE | APP_USER | \
        UPSTREAM_HOSTADDR | UPSTREAM_SERVER_NAME | UPSTREAM_PORT | UPSTREAM_WAIT_TIMEOUT_SECONDS)
        SETTINGS[$key]=$value
        ;;
      *) die "$SETTINGS_FILE: unknown setting \"$key\"" ;;
    esac
  done <"$SETTINGS_FILE"

  # The TypeScript builder validates too; these checks keep a hand-edited file from reaching SQL or
  # configuration files unquoted.
  local identifier='^[a-z_][a-z0-9_]{0,62}$' size='^[1-9][0-9]*(kB|MB|GB|TB)$'
  require_match ROLE '^(primary|replica)$'
  require_match PG_VERSION '^[1-9][0-9]$'
  require_match WAL_KEEP_SIZE "$size"
  require_match MAX_SLOT_WAL_KEEP_SIZE "$size"
  require_match REPL_USER "$identifier"
  require_match SLOT_NAME "$identifier"
  if [[ -n $(setting APP_DATABASE) || $(setting ROLE) == primary ]]; then
    require_match APP_DATABASE "$identifier"
    require_match APP_USER "$identifier"
  fi
  if [[ $(setting ROLE) == replica ]]; then
    require_match UPSTREAM_HOSTADDR '^([0-9]{1,3}\.){3}[0-9]{1,3}$'
    require_match UPSTREAM_SERVER_NAME '^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$'
    require_match UPSTREAM_PORT '^[1-9][0-9]{0,4}$'
    require_match UPSTREAM_WAIT_TIMEOUT_SECONDS '^[1-9][0-9]*$'
  fi

  PG_VERSION=$(setting PG_VERSION)
  CONF_DIR=/etc/postgresql/$PG_VERSION/$CLUSTER
  DATA_DIR=$PG_HOME/$PG_VERSION/$CLUSTER
  PG_BIN=/usr/lib/postgresql/$PG_VERSION/bin
}

read_secret() {
  local file=$1 value
  [[ -r $file ]] || die "secret file $file is missing"
  value=$(<"$file")
  [[ -n $value ]] || die "secret file $file is empty"
  printf '%s' "$value"
}

ensure_packages() {
  local missing=() pkg
  for pkg in "postgresql-$PG_VERSION" "postgresql-client-$PG_VERSION"; do
    package_installed "$pkg" || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    log "packages postgresql-$PG_VERSION and postgresql-client-$PG_VERSION already installed"
    return
  fi
  log "installing ${missing[*]}"
  apt_install "${missing[@]}" || die "could not install ${missing[*]}"
}

cluster_status() {
  # pg_ctlcluster status: 0 running, 3 stopped, 4 no such cluster / data directory.
  local rc=0
  pg_ctlcluster "$PG_VERSION" "$CLUSTER" status >/dev/null 2>&1 || rc=$?
  printf '%s' "$rc"
}

cluster_running() {
  [[ $(cluster_status) == 0 ]]
}

start_cluster() {
  if cluster_running; then
    return
  fi
  log "starting cluster $PG_VERSION/$CLUSTER"
  pg_ctlcluster "$PG_VERSION" "$CLUSTER" start || die "cluster $PG_VERSION/$CLUSTER failed to start; see /var/log/postgresql/postgresql-$PG_VERSION-$CLUSTER.log"
}

stop_cluster() {
  if cluster_running; then
    log "stopping cluster $PG_VERSION/$CLUSTER"
    pg_ctlcluster "$PG_VERSION" "$CLUSTER" stop -m fast
  fi
}

# Debian's postinst creates and starts $PG_VERSION/main when the package is installed; a host where
# that was disabled (create_main_cluster = false) or an interrupted earlier run has none, or half of
# one (configuration written, initdb not finished).
ensure_cluster() {
  if [[ -f $CONF_DIR/postgresql.conf && -f $DATA_DIR/global/pg_control ]]; then
    log "cluster $PG_VERSION/$CLUSTER exists"
  else
    if [[ -f $CONF_DIR/postgresql.conf ]]; then
      if [[ -f $DONE_MARKER || -f $REPLICA_DATA_MARKER ]]; then
        die "cluster $PG_VERSION/$CLUSTER has configuration but no data directory although it was provisioned before; refusing to recreate it"
      fi
      log "cluster $PG_VERSION/$CLUSTER is half-created (no pg_control); dropping it to recreate"
      pg_dropcluster --stop "$PG_VERSION" "$CLUSTER" || rm -rf "$CONF_DIR"
      rm -rf "$DATA_DIR"
    fi
    log "creating cluster $PG_VERSION/$CLUSTER on port $CLUSTER_PORT"
    pg_createcluster --port "$CLUSTER_PORT" --start-conf auto "$PG_VERSION" "$CLUSTER"
  fi
  install -d -o postgres -g postgres -m 0755 "$CONF_DIR/conf.d"
  grep -Eq "^[[:space:]]*include_dir[[:space:]]*=[[:space:]]*'conf.d'" "$CONF_DIR/postgresql.conf" ||
    die "$CONF_DIR/postgresql.conf does not include conf.d; the managed settings would be ignored"
}

# Writes $2 to $1 only when it differs, atomically; returns 0 when the file changed.
write_if_changed() {
  local path=$1 content=$2 mode=$3 owner=$4 tmp
  if [[ -f $path ]] && [[ $(<"$path") == "$content" ]] && [[ $(stat -c '%a %U:%G' "$path") == "${mode#0} $owner" ]]; then
    return 1
  fi
  tmp=$(mktemp "$path.XXXXXX")
  printf '%s\n' "$content" >"$tmp"
  chown "$owner" "$tmp"
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$path"
  log "wrote $path"
  return 0
}

install_tls() {
  local file
  for file in ca.crt server.crt server.key; do
    [[ -r $TLS_SOURCE_DIR/$file ]] || die "TLS file $TLS_SOURCE_DIR/$file is missing"
  done
  install -d -o postgres -g postgres -m 0700 "$PG_TLS_DIR"
  if write_if_changed "$PG_TLS_DIR/ca.crt" "$(<"$TLS_SOURCE_DIR/ca.crt")" 0644 postgres:postgres; then RELOAD_NEEDED=1; fi
  if write_if_changed "$PG_TLS_DIR/server.crt" "$(<"$TLS_SOURCE_DIR/server.crt")" 0644 postgres:postgres; then RELOAD_NEEDED=1; fi
  if write_if_changed "$PG_TLS_DIR/server.key" "$(<"$TLS_SOURCE_DIR/server.key")" 0600 postgres:postgres; then RELOAD_NEEDED=1; fi
}

# The addresses Linode assigned (public IPv4/IPv6, private IPv4) are only known on the host; the
# Cloud Firewall, not listen_addresses, decides who may reach them.
global_addresses() {
  ip -o addr show scope global | awk '{ split($4, a, "/"); print a[1] }' | sort -u
}

render_settings_conf() {
  local listen=localhost address
  while read -r address; do
    [[ -n $address ]] && listen+=",$address"
  done < <(global_addresses)
  cat <<EOF
# Managed by linode-dr-db-provision; rewritten on every run.
listen_addresses = '$listen'
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
wal_keep_size = '$(setting WAL_KEEP_SIZE)'
# A replica that is gone for good must not fill the primary's disk through its slot.
max_slot_wal_keep_size = '$(setting MAX_SLOT_WAL_KEEP_SIZE)'
# pg_rewind turns a failed-over old primary into a standby without a full copy; it needs this.
wal_log_hints = on
hot_standby = on
password_encryption = 'scram-sha-256'
ssl = on
ssl_cert_file = '$PG_TLS_DIR/server.crt'
ssl_key_file = '$PG_TLS_DIR/server.key'
ssl_min_protocol_version = 'TLSv1.2'
EOF
}

render_pg_hba() {
  local repl_user app_db app_user
  repl_user=$(setting REPL_USER)
  app_db=$(setting APP_DATABASE)
  app_user=$(setting APP_USER)
  cat <<EOF
# Managed by linode-dr-db-provision; rewritten on every run.
# TYPE  DATABASE     USER      ADDRESS       METHOD
local   all          postgres                peer
local   all          all                     peer
host    all          all       127.0.0.1/32  scram-sha-256
host    all          all       ::1/128       scram-sha-256
# Replication comes over the public internet from the other region. The peer's address is not known
# when this host first boots and user data runs only on first boot, so the address filter is the
# Cloud Firewall (updated in place once both databases exist); here every replication connection
# must use TLS and SCRAM, and the standby verifies this server's certificate (verify-full).
hostssl replication  $repl_user  0.0.0.0/0     scram-sha-256
hostssl replication  $repl_user  ::/0          scram-sha-256
EOF
  if [[ -n $app_db ]]; then
    cat <<EOF
# App Linodes reach the database over the region's private subnet.
host    $app_db  $app_user  samenet  scram-sha-256
EOF
  fi
}

write_cluster_config() {
  if write_if_changed "$CONF_DIR/conf.d/$MANAGED_CONF_NAME" "$(render_settings_conf)" 0644 postgres:postgres; then CONF_CHANGED=1; fi
  if write_if_changed "$CONF_DIR/pg_hba.conf" "$(render_pg_hba)" 0640 postgres:postgres; then RELOAD_NEEDED=1; fi
}

apply_config_to_running_cluster() {
  if ((CONF_CHANGED)); then
    log "settings changed; restarting cluster $PG_VERSION/$CLUSTER"
    pg_ctlcluster "$PG_VERSION" "$CLUSTER" restart -m fast || die "cluster failed to restart with the new settings; see /var/log/postgresql/postgresql-$PG_VERSION-$CLUSTER.log"
  elif ((RELOAD_NEEDED)); then
    log "pg_hba or TLS files changed; reloading"
    pg_ctlcluster "$PG_VERSION" "$CLUSTER" reload
  fi
  CONF_CHANGED=0
  RELOAD_NEEDED=0
}

psql_local() {
  runuser -u postgres -- psql --cluster "$PG_VERSION/$CLUSTER" -X -q -v ON_ERROR_STOP=1 "$@"
}

# Makes $1 safe inside a single-quoted psql meta-command argument (\set name '...').
psql_quote() {
  local value=$1
  value=${value//\\/\\\\}
  value=${value//\'/\'\'}
  printf "'%s'" "$value"
}

ensure_roles_and_slot() {
  local repl_password app_password
  repl_password=$(read_secret "$REPLICATION_PASSWORD_FILE")
  app_password=$(read_secret "$APP_PASSWORD_FILE")
  log "ensuring roles $(setting REPL_USER) and $(setting APP_USER), database $(setting APP_DATABASE), slot $(setting SLOT_NAME)"
  # Passwords travel on stdin, never in argv where any local user could read them.
  psql_local -d postgres -At <<EOF >&2
\\set repl_user '$(setting REPL_USER)'
\\set repl_password $(psql_quote "$repl_password")
\\set app_user '$(setting APP_USER)'
\\set app_password $(psql_quote "$app_password")
\\set app_db '$(setting APP_DATABASE)'
\\set slot '$(setting SLOT_NAME)'
SET password_encryption = 'scram-sha-256';
SELECT format('CREATE ROLE %I', :'repl_user') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'repl_user') \\gexec
ALTER ROLE :"repl_user" WITH LOGIN REPLICATION NOSUPERUSER PASSWORD :'repl_password';
SELECT format('CREATE ROLE %I', :'app_user') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app_user') \\gexec
ALTER ROLE :"app_user" WITH LOGIN NOREPLICATION NOSUPERUSER PASSWORD :'app_password';
SELECT format('CREATE DATABASE %I OWNER %I', :'app_db', :'app_user') WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'app_db') \\gexec
SELECT 'slot created' FROM pg_create_physical_replication_slot(:'slot', true) WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = :'slot');
EOF
}

verify_setting() {
  local name=$1 expected=$2 actual
  actual=$(psql_local -d postgres -Atc "SHOW $name")
  [[ $actual == "$expected" ]] || die "setting $name is \"$actual\", expected \"$expected\"; another configuration file overrides $MANAGED_CONF_NAME"
}

provision_primary() {
  ensure_cluster
  install_tls
  # Roles and the slot are created while the cluster still has its previous listen_addresses (only
  # localhost on a fresh cluster), so a standby never meets a listening primary without its role and
  # mistakes that for a wrong password.
  start_cluster
  ensure_roles_and_slot
  write_cluster_config
  apply_config_to_running_cluster
  verify_setting wal_level replica
  verify_setting ssl on
  verify_setting wal_log_hints on
  log "primary ready: wal_level=replica, ssl=on, slot $(setting SLOT_NAME) present"
}

upstream_conninfo() {
  printf 'host=%s hostaddr=%s port=%s user=%s passfile=%s sslmode=verify-full sslrootcert=%s application_name=%s' \
    "$(setting UPSTREAM_SERVER_NAME)" "$(setting UPSTREAM_HOSTADDR)" "$(setting UPSTREAM_PORT)" \
    "$(setting REPL_USER)" "$PASSFILE" "$PG_TLS_DIR/ca.crt" "$(setting SLOT_NAME)"
}

write_passfile() {
  local password escaped
  password=$(read_secret "$REPLICATION_PASSWORD_FILE")
  escaped=${password//\\/\\\\}
  escaped=${escaped//:/\\:}
  # Keep the password out of postgresql.auto.conf (copied by every base backup and readable in
  # pg_settings by superusers); libpq reads it from here.
  write_if_changed "$PASSFILE" "*:*:replication:$(setting REPL_USER):$escaped" 0600 postgres:postgres || true
}

# Exit status: 0 reachable and authenticated, 1 worth retrying, 2 permanent (configuration) error.
# The reason goes to stdout.
probe_upstream() {
  local timeout_s=$1 output rc=0
  output=$(runuser -u postgres -- timeout "$((timeout_s + 5))" "$PG_BIN/psql" -X -At \
    "$(upstream_conninfo) connect_timeout=$timeout_s dbname=replication replication=true" \
    -c IDENTIFY_SYSTEM 2>&1) || rc=$?
  if ((rc == 0)); then
    printf 'ok'
    return 0
  fi
  output=$(printf '%s' "$output" | tr '\n' ' ' | sed 's/[[:space:]]\+/ /g')
  case $output in
    *"password authentication failed"* | *"authentication failed"*)
      printf 'authentication failed for replication user %s at %s (%s): %s' "$(setting REPL_USER)" \
        "$(setting UPSTREAM_HOSTADDR)" "$(setting UPSTREAM_SERVER_NAME)" "$output"
      return 2
      ;;
    *"certificate verify failed"* | *"does not match host name"* | *"server certificate"*)
      printf 'TLS verification of %s at %s failed: %s' "$(setting UPSTREAM_SERVER_NAME)" "$(setting UPSTREAM_HOSTADDR)" "$output"
      return 2
      ;;
    *"no pg_hba.conf entry"*)
      printf 'primary rejects this host by pg_hba.conf: %s' "$output"
      return 2
      ;;
    "")
      printf 'probe exited with status %s and no message' "$rc"
      return 1
      ;;
    *)
      printf '%s' "$output"
      return 1
      ;;
  esac
}

remove_staging() {
  local staging=$1
  if [[ -e $staging ]]; then
    log "removing unfinished base backup $staging"
    rm -rf "$staging"
  fi
}

# Waits for the primary and copies it into $1. Bounded exponential backoff: a primary that boots
# later than its replica (both are created by one `pulumi up`) is the normal case.
base_backup_with_retry() {
  local staging=$1 deadline attempt=0 delay=1 cap=30 reason rc now remaining
  deadline=$((SECONDS + $(setting UPSTREAM_WAIT_TIMEOUT_SECONDS)))
  while :; do
    attempt=$((attempt + 1))
    rc=0
    reason=$(probe_upstream 10) || rc=$?
    if ((rc == 0)); then
      remove_staging "$staging"
      install -d -o postgres -g postgres -m 0700 "$staging"
      log "attempt $attempt: primary $(setting UPSTREAM_HOSTADDR) reachable; running pg_basebackup with slot $(setting SLOT_NAME)"
      if reason=$(runuser -u postgres -- "$PG_BIN/pg_basebackup" -d "$(upstream_conninfo) connect_timeout=10" \
        -D "$staging" -R -X stream -S "$(setting SLOT_NAME)" -c fast --label linode-dr-replica 2>&1); then
        return 0
      fi
      reason="pg_basebackup failed: $(printf '%s' "$reason" | tr '\n' ' ')"
      remove_staging "$staging"
    elif ((rc == 2)); then
      die "attempt $attempt: $reason"
    fi
    now=$SECONDS
    remaining=$((deadline - now))
    if ((remaining <= 0)); then
      die "attempt $attempt: gave up waiting for primary $(setting UPSTREAM_HOSTADDR):$(setting UPSTREAM_PORT) after $(setting UPSTREAM_WAIT_TIMEOUT_SECONDS)s; last reason: $reason"
    fi
    ((delay > remaining)) && delay=$remaining
    log "attempt $attempt: primary not ready ($reason); retrying in ${delay}s, giving up in ${remaining}s"
    sleep "$delay"
    delay=$((delay * 2))
    ((delay > cap)) && delay=$cap
  done
}

configure_standby_conf() {
  local data=$1 auto=$1/postgresql.auto.conf kept
  [[ -f $data/standby.signal ]] || die "base backup in $data has no standby.signal"
  # pg_basebackup -R records the connection it used, with every libpq default spelled out; replace
  # it with the one connection string this project maintains.
  kept=$(grep -Ev '^[[:space:]]*(primary_conninfo|primary_slot_name)[[:space:]]*=' "$auto" || true)
  write_if_changed "$auto" "$kept
primary_conninfo = '$(upstream_conninfo)'
primary_slot_name = '$(setting SLOT_NAME)'" 0600 postgres:postgres || true
}

# Replaces the package's fresh data directory with the base backup. The old directory is moved
# aside rather than deleted; if an aside copy already exists, the current directory is one this
# script put there itself on an earlier, interrupted run.
install_replica_data() {
  local staging=$1 aside=$DATA_DIR.before-linode-dr
  stop_cluster
  if [[ -e $DATA_DIR ]]; then
    if [[ -e $aside ]]; then
      log "removing $DATA_DIR left by an interrupted run ($aside already holds the original)"
      rm -rf "$DATA_DIR"
    else
      log "moving the package's data directory aside to $aside"
      mv "$DATA_DIR" "$aside"
    fi
  fi
  mv "$staging" "$DATA_DIR"
  touch "$REPLICA_DATA_MARKER"
  log "standby data directory installed in $DATA_DIR"
}

wait_for_streaming() {
  local i status
  for ((i = 0; i < 60; i++)); do
    status=$(psql_local -d postgres -Atc "SELECT status FROM pg_stat_wal_receiver" 2>/dev/null || true)
    if [[ $status == streaming ]]; then
      log "standby is streaming from $(setting UPSTREAM_HOSTADDR)"
      return 0
    fi
    sleep 1
  done
  die "standby started but its WAL receiver is not streaming after 60s (status \"$status\"); see /var/log/postgresql/postgresql-$PG_VERSION-$CLUSTER.log"
}

provision_replica() {
  local staging=$DATA_DIR.linode-dr-staging
  ensure_cluster
  install_tls
  write_passfile
  write_cluster_config
  if [[ -f $REPLICA_DATA_MARKER ]]; then
    # After a failover this host is the primary and has no standby.signal: its data is the only
    # copy, so an earlier base backup is never replaced.
    log "standby data directory was installed by an earlier run; keeping it"
    remove_staging "$staging"
    if cluster_running; then
      apply_config_to_running_cluster
    else
      start_cluster
    fi
  else
    base_backup_with_retry "$staging"
    configure_standby_conf "$staging"
    install_replica_data "$staging"
    start_cluster
  fi
  if [[ $(psql_local -d postgres -Atc "SELECT pg_is_in_recovery()") == t ]]; then
    wait_for_streaming
  else
    log "this host is not in recovery (promoted earlier); leaving it as a primary"
  fi
}

main() {
  [[ $(id -u) == 0 ]] || die "must run as root"
  umask 022
  load_settings
  install -d -m 0700 "$STATE_DIR"
  if [[ -f $DONE_MARKER ]]; then
    log "provisioned before ($(<"$DONE_MARKER")); converging"
  elif [[ -f $STARTED_MARKER ]]; then
    log "an earlier run started ($(<"$STARTED_MARKER")) but did not finish; resuming"
  fi
  date -u +%Y-%m-%dT%H:%M:%SZ >"$STARTED_MARKER"
  ensure_packages
  case $(setting ROLE) in
    primary) provision_primary ;;
    replica) provision_replica ;;
  esac
  printf 'role=%s completed=%s\n' "$(setting ROLE)" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$DONE_MARKER"
  log "done: $(setting ROLE) provisioned"
}

main "$@"
