#!/bin/bash
# linode-dr first-boot database provisioning, part of the release bundle, linked as
# /usr/local/sbin/linode-dr-db-provision and run on first boot by linode-dr-first-boot. It makes this
# host an etcd member (linode-dr-etcd-member) and hands PostgreSQL to Patroni: the founder's Patroni
# initialises the cluster and holds the leader key; every other member's Patroni copies the leader
# with pg_basebackup over TLS (verify-full) and streams from it through its own replication slot.
# Leader election, promotion, demotion of a primary that lost its lease, and pg_rewind of an old
# primary are Patroni's; nothing here promotes or demotes.
#
# Every step checks before it acts, so a re-run (or a run after a crash half-way) converges: it is
# also what starts etcd and Patroni again on a host without systemd.
set -euo pipefail

export LOG_TAG=linode-dr-db-provision
SCRIPT_DIR=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
# shellcheck source-path=SCRIPTDIR source=lib/retry.sh
source "$SCRIPT_DIR/lib/retry.sh"
# shellcheck source-path=SCRIPTDIR source=lib/consensus.sh
source "$SCRIPT_DIR/lib/consensus.sh"

readonly SETTINGS_FILE=$CONSENSUS_ETC_DIR/db.conf
readonly REPLICATION_PASSWORD_FILE=$CONSENSUS_ETC_DIR/replication-password
readonly SUPERUSER_PASSWORD_FILE=$CONSENSUS_ETC_DIR/superuser-password
readonly APP_PASSWORD_FILE=$CONSENSUS_ETC_DIR/app-password
readonly REST_PASSWORD_FILE=$CONSENSUS_ETC_DIR/patroni-rest-password
readonly PATRONI_CONFIG=$CONSENSUS_ETC_DIR/patroni.yml
readonly PATRONI_UNIT=linode-dr-patroni.service
readonly PATRONI_LOG=/var/log/linode-dr-patroni.log
# Patroni's environment (and so PostgreSQL's): the libpq service that carries the replication
# connection's TCP timeouts, which Patroni 3.0.2 drops from primary_conninfo (docs/facts.md).
readonly PATRONI_ENV=$CONSENSUS_ETC_DIR/patroni.env
readonly PG_SERVICE_FILE=$CONSENSUS_ETC_DIR/pg_service.conf
readonly PG_SERVICE_NAME=linode-dr-replication
readonly HEARTBEAT_UNIT=linode-dr-heartbeat.service
readonly HEARTBEAT_LOG=/var/log/linode-dr-heartbeat.log
# Where Debian installs Patroni's modules (overridable so the fix below can be tested on a copy).
readonly PATRONI_PYTHON_DIR=${LINODE_DR_PATRONI_PYTHON_DIR:-/usr/lib/python3/dist-packages/patroni}
readonly DONE_MARKER=$CONSENSUS_STATE_DIR/db-provisioned
readonly STARTED_MARKER=$CONSENSUS_STATE_DIR/db-provision-started
readonly PG_HOME=/var/lib/postgresql
# Outside the data directory, so a base backup or pg_rewind never touches them.
readonly PG_TLS_DIR=$PG_HOME/linode-dr-tls
readonly PGPASS=$PG_HOME/.linode-dr-patroni.pgpass
readonly PG_SOCKET_DIR=/var/run/postgresql

declare -A SETTINGS=()
PG_VERSION=""
DATA_DIR=""
PG_BIN=""

log() { clog "$@"; }
die() { cdie "$@"; }

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
      PG_VERSION | WAL_KEEP_SIZE | MAX_SLOT_WAL_KEEP_SIZE | REPL_USER | APP_DATABASE | APP_USER)
        SETTINGS[$key]=$value
        ;;
      *) die "$SETTINGS_FILE: unknown setting \"$key\"" ;;
    esac
  done <"$SETTINGS_FILE"
  # The TypeScript builder validates too; these checks keep a hand-edited file from reaching SQL or
  # configuration files unquoted.
  local identifier='^[a-z_][a-z0-9_]{0,62}$' size='^[1-9][0-9]*(kB|MB|GB|TB)$'
  require_match PG_VERSION '^[1-9][0-9]$'
  require_match WAL_KEEP_SIZE "$size"
  require_match MAX_SLOT_WAL_KEEP_SIZE "$size"
  require_match REPL_USER "$identifier"
  require_match APP_DATABASE "$identifier"
  require_match APP_USER "$identifier"
  load_consensus
  [[ $(consensus SELF) != witness ]] || die "$CONSENSUS_FILE names this host the witness; run linode-dr-etcd-member there"
  PG_VERSION=$(setting PG_VERSION)
  DATA_DIR=$PG_HOME/$PG_VERSION/main
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
  apt_install "postgresql-$PG_VERSION" "postgresql-client-$PG_VERSION" patroni python3-etcd python3-yaml ||
    die "could not install PostgreSQL $PG_VERSION and Patroni"
  if systemd_running; then
    # Patroni owns PostgreSQL here: Debian's own units must never start a cluster beside it.
    systemctl disable --now patroni.service 2>/dev/null || true
  fi
}

# Debian's postinst creates and starts cluster <v>/main. Patroni owns the data directory (it has no
# /etc/postgresql configuration), so a cluster with Debian configuration is the package's empty
# one: it is dropped, and Patroni initialises (founder) or copies the leader (every other member).
# A member that never finished that copy has no data directory and nothing Patroni would promote.
drop_package_cluster() {
  if [[ -f /etc/postgresql/$PG_VERSION/main/postgresql.conf ]]; then
    [[ -f $CONSENSUS_STATE_DIR/patroni-started ]] &&
      die "/etc/postgresql/$PG_VERSION/main reappeared after Patroni took over; refusing to drop it (inspect by hand)"
    log "dropping Debian's default cluster $PG_VERSION/main (Patroni owns $DATA_DIR)"
    pg_dropcluster --stop "$PG_VERSION" main
  fi
  if systemd_running; then
    systemctl disable --now "postgresql@$PG_VERSION-main.service" 2>/dev/null || true
  fi
}

install_tls() {
  copy_tls "$PG_TLS_DIR" postgres:postgres || true
}

# automaticFailover=false: Patroni keeps managing both members (a leader that loses its lease
# still demotes itself), but only the member the failover flag names may take the lease. The
# others carry the nofailover tag. linode-dr-leader records the flag's choice for its own member
# in $NOFAILOVER_FILE; until it has, the founder may lead and the other member may not.
nofailover_tag() {
  if [[ $(consensus AUTOMATIC_FAILOVER) == true ]]; then
    echo false
  elif [[ -r $NOFAILOVER_FILE ]]; then
    cat "$NOFAILOVER_FILE"
  elif [[ $(consensus FOUNDER) == true ]]; then
    echo false
  else
    echo true
  fi
}

# Debian 12's Patroni 3.0.2 has an etcd3 bug fixed upstream in 3.0.3 (patroni/patroni#2689,
# #2693): after its lease was renewed under a new id, a leader that had in fact lost the lock
# rewrote the leader key unconditionally, taking it from the member that held it. The
# manual-failover drill hit it: region A's old primary, back from a cut with a stale view of the
# cluster, overwrote region B's key, and B's acknowledged orders were rewound away. The fix is
# upstream's: keep the key only while it still names this member, otherwise create it only if
# nobody holds it. Applied before Patroni starts; a running Patroni picks it up when restarted.
patch_patroni_leader_update() {
  local file=$PATRONI_PYTHON_DIR/dcs/etcd3.py version outcome
  version=$(dpkg-query -W -f='${Version}' patroni 2>/dev/null || true)
  if [[ $version != 3.0.2-* ]]; then
    log "Patroni $version: the 3.0.2 leader-key fix is not needed"
    return 0
  fi
  outcome=$(/usr/bin/python3 - "$file" <<'PY' || die "could not apply the leader-key fix to $file"
import sys

path = sys.argv[1]
text = open(path, encoding="utf-8").read()
if "linode-dr: never overwrite another member's leader key" in text:
    print("already fixed")
    sys.exit(0)
old = """                try:
                    self._run_and_handle_exceptions(self._client.put, self.leader_path,
                                                    self._name, self._lease, retry=_retry)
                except ReturnFalseException:
                    pass
        return bool(self._lease)"""
new = """                # linode-dr: never overwrite another member's leader key (patroni#2689, #2693)
                fields = {'key': base64_encode(self.leader_path), 'value': base64_encode(self._name),
                          'lease': self._lease}
                mine = {'key': fields['key'], 'target': 'VALUE', 'value': fields['value']}
                if self._run_and_handle_exceptions(self._client.txn, mine, {'request_put': fields}, retry=_retry):
                    return True
                return bool(self._run_and_handle_exceptions(self._client.put, self.leader_path, self._name,
                                                            self._lease, create_revision='0', retry=_retry))
        return bool(self._lease)"""
if old not in text:
    sys.exit(path + " is not the Patroni 3.0.2 text this fix was written for")
open(path, "w", encoding="utf-8").write(text.replace(old, new))
print("fixed as upstream 3.0.3 does")
PY
  )
  log "Patroni 3.0.2 leader-key update: $outcome"
}

# The running Patroni's pid, or nothing.
patroni_pid() {
  local pid=""
  if systemd_running; then
    pid=$(systemctl show -p MainPID --value "$PATRONI_UNIT" 2>/dev/null || true)
  elif [[ -r $RUN_DIR/patroni.pid ]]; then
    pid=$(<"$RUN_DIR/patroni.pid")
  fi
  [[ $pid =~ ^[1-9][0-9]*$ ]] && kill -0 "$pid" 2>/dev/null && printf '%s' "$pid"
  return 0
}

# --verify-patroni-fix (every converge of a provisioned database): a package update replaces the
# fixed module and restarts Patroni on the unfixed code, silently bringing the bug back. The fix is
# re-applied to the file at once; a Patroni that loaded the module before that runs the bug until
# it restarts, which is refused loudly rather than done here: restarting the leader's Patroni would
# hand the lease to the other region.
# started_ms PID: when the process started, in Unix milliseconds, to the kernel's clock tick (ps
# reports whole seconds, too coarse to order a start and a file change in the same second).
started_ms() {
  local pid=$1 fields ticks uptime
  fields=$(<"/proc/$pid/stat") || return 1
  # Field 22 (starttime, ticks since boot) counted after the ")" that ends the command name.
  ticks=$(awk '{ print $20 }' <<<"${fields##*) }")
  uptime=$(cut -d' ' -f1 /proc/uptime)
  awk -v now="$(date +%s.%N)" -v up="$uptime" -v t="$ticks" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.0f\n", (now - up + t / hz) * 1000 }'
}

verify_patroni_fix() {
  local file=$PATRONI_PYTHON_DIR/dcs/etcd3.py pid started changed
  patch_patroni_leader_update
  pid=$(patroni_pid)
  if [[ -z $pid ]]; then
    log "Patroni is not running: it loads the fixed module when it starts"
    return 0
  fi
  started=$(started_ms "$pid" || true)
  [[ $started =~ ^[0-9]+$ ]] || die "could not read when Patroni (pid $pid) started"
  changed=$(awk -v m="$(stat -c %.3Y "$file")" 'BEGIN { printf "%.0f\n", m * 1000 }')
  if ((changed > started)); then
    die "Patroni (pid $pid, running since $(date -u -d "@$((started / 1000))" +%Y-%m-%dT%H:%M:%SZ)) loaded $file before the leader-key fix was re-applied ($(date -u -d "@$((changed / 1000))" +%Y-%m-%dT%H:%M:%SZ)), so it runs the Patroni 3.0.2 bug that can overwrite another member's leader key. Restart it: if this member leads, first move leadership away (linode-dr-leader <other member>), then restart $PATRONI_UNIT (or linode-dr-db-provision on a host without systemd), and run the update again"
  fi
  log "Patroni (pid $pid) runs with the leader-key fix in place"
}

# Patroni's watchdog: on a Linode (systemd), the kernel's softdog resets the machine if Patroni
# hangs while leading, so a frozen Patroni cannot leave its PostgreSQL accepting writes after the
# lease has passed to the other region. Never in the lab (no systemd): lab hosts share this
# machine's kernel, and its watchdog would reset the whole machine.
watchdog_mode() {
  if systemd_running; then
    printf automatic
  else
    printf off
  fi
}

# The device Patroni opens as postgres: softdog loaded now and at every boot, owned by postgres.
prepare_watchdog() {
  [[ $(watchdog_mode) == automatic ]] || return 0
  write_if_changed /etc/modules-load.d/linode-dr-watchdog.conf "softdog" 0644 root:root || true
  write_if_changed /etc/udev/rules.d/60-linode-dr-watchdog.rules \
    'KERNEL=="watchdog", OWNER="postgres", GROUP="postgres", MODE="0600"' 0644 root:root || true
  if [[ ! -c /dev/watchdog ]]; then
    modprobe softdog || log "could not load softdog: Patroni runs without a watchdog (mode automatic)"
  fi
  if [[ -c /dev/watchdog ]]; then
    chown postgres:postgres /dev/watchdog
    chmod 0600 /dev/watchdog
  fi
}

# The data-loss budget applies on members whose consensus.conf has it (all provisioned since it
# exists); an older member keeps promoting by Patroni's byte guard alone.
budget_configured() {
  [[ -n $(consensus MAXIMUM_DATA_LOSS_SECONDS) ]]
}

pre_promote_command() {
  if budget_configured; then
    printf '%s' "$SBIN_DIR/linode-dr-promotion-check"
  fi
}

# Patroni's configuration, written by a YAML library so that no password needs quoting by hand,
# whatever characters it holds. The program reads the secret files itself: secrets stay off argv.
render_patroni_config() {
  /usr/bin/python3 "$SCRIPT_DIR/lib/patroni-config.py" \
    --scope "$(consensus SCOPE)" \
    --member "$(consensus SELF)" \
    --server-name "$(self_name)" \
    --rest-user "$(consensus REST_USER)" \
    --ttl "$(consensus TTL)" \
    --loop-wait "$(consensus LOOP_WAIT)" \
    --retry-timeout "$(consensus RETRY_TIMEOUT)" \
    --maximum-lag-on-failover "$(consensus MAXIMUM_LAG_ON_FAILOVER)" \
    --synchronous-mode "$(consensus SYNCHRONOUS_MODE)" \
    --nofailover "$(nofailover_tag)" \
    --watchdog "$(watchdog_mode)" \
    --pre-promote "$(pre_promote_command)" \
    --wal-keep-size "$(setting WAL_KEEP_SIZE)" \
    --max-slot-wal-keep-size "$(setting MAX_SLOT_WAL_KEEP_SIZE)" \
    --replication-user "$(setting REPL_USER)" \
    --app-database "$(setting APP_DATABASE)" \
    --app-user "$(setting APP_USER)" \
    --data-dir "$DATA_DIR" \
    --bin-dir "$PG_BIN" \
    --pgpass "$PGPASS" \
    --tls-dir "$PG_TLS_DIR" \
    --socket-dir "$PG_SOCKET_DIR" \
    --rest-port "$PATRONI_REST_PORT" \
    --postgres-port "$POSTGRES_PORT" \
    --etcd-client-port "$ETCD_CLIENT_PORT" \
    --rest-password-file "$REST_PASSWORD_FILE" \
    --superuser-password-file "$SUPERUSER_PASSWORD_FILE" \
    --replication-password-file "$REPLICATION_PASSWORD_FILE"
}

render_unit() {
  cat <<EOF
[Unit]
Description=linode-dr Patroni (PostgreSQL $PG_VERSION, leader lease in etcd)
After=network-online.target linode-dr-etcd.service
Wants=network-online.target

[Service]
Type=simple
User=postgres
Group=postgres
EnvironmentFile=$PATRONI_ENV
ExecStart=/usr/bin/patroni $PATRONI_CONFIG
ExecReload=/bin/kill -HUP \$MAINPID
KillMode=process
TimeoutSec=30
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
EOF
}

# libpq defaults for every connection PostgreSQL and Patroni open here that does not set them,
# above all the standby's replication connection: a connection whose peer went silent (a
# partition) is dropped within 5 s, and a connection attempt into a cut path gives up after 5 s
# (TCP_USER_TIMEOUT bounds SYN retries too), so with wal_retrieve_retry_interval=1s the standby
# redials within seconds of the path coming back instead of sitting in TCP's backoff.
render_pg_service() {
  cat <<EOF
# Managed by linode-dr-db-provision. Patroni's environment names this service (PGSERVICE).
[$PG_SERVICE_NAME]
keepalives=1
keepalives_idle=2
keepalives_interval=1
keepalives_count=3
tcp_user_timeout=5000
EOF
}

# Read when Patroni starts: a change reaches PostgreSQL at Patroni's next restart.
write_patroni_environment() {
  write_if_changed "$PG_SERVICE_FILE" "$(render_pg_service)" 0644 root:root || true
  write_if_changed "$PATRONI_ENV" "PGSERVICEFILE=$PG_SERVICE_FILE
PGSERVICE=$PG_SERVICE_NAME" 0644 root:root || true
}

patroni_running() {
  if systemd_running; then
    systemctl is-active --quiet "$PATRONI_UNIT"
  else
    pid_running patroni
  fi
}

write_patroni_config() {
  local config
  # Rendered first: a failed render must never leave a partial configuration behind.
  config=$(render_patroni_config) || die "could not render $PATRONI_CONFIG"
  if write_if_changed "$PATRONI_CONFIG" "$config" 0600 postgres:postgres && patroni_running; then
    log "Patroni configuration changed; reloading"
    reload_patroni
  fi
  return 0
}

# SIGHUP: Patroni rereads its configuration, restarts its REST server when the certificate's
# serial changed, and reloads PostgreSQL (which rereads ssl_cert_file and ssl_key_file). No
# restart, no demotion.
reload_patroni() {
  if systemd_running; then
    systemctl reload "$PATRONI_UNIT"
  else
    kill -HUP "$(<"$RUN_DIR/patroni.pid")"
  fi
}

# A new TLS identity in /etc/linode-dr/tls (linode-dr-tls-install): PostgreSQL's copy, then a reload.
reload_tls() {
  if copy_tls "$PG_TLS_DIR" postgres:postgres && patroni_running; then
    log "reloading Patroni and PostgreSQL for the new TLS identity"
    reload_patroni
  fi
  return 0
}

start_patroni() {
  install -d -o postgres -g postgres -m 2775 "$PG_SOCKET_DIR"
  install -d -o postgres -g postgres -m 0700 "$PG_HOME/$PG_VERSION"
  if patroni_running; then
    log "Patroni is running"
    return 0
  fi
  date -u +%Y-%m-%dT%H:%M:%SZ >"$CONSENSUS_STATE_DIR/patroni-started"
  start_postgres_service "$PATRONI_UNIT" "$(render_unit)" "$PATRONI_LOG" "$PATRONI_ENV" /usr/bin/patroni "$PATRONI_CONFIG"
}

# start_postgres_service UNIT UNIT_TEXT LOG ENV_FILE COMMAND...: a daemon of PostgreSQL's user, as
# the systemd unit UNIT on a Linode; without systemd (the lab), COMMAND in the background, logging
# to LOG, with ENV_FILE's variables (none when empty), named after the unit.
start_postgres_service() {
  local unit=$1 unit_text=$2 log_file=$3 env_file=$4
  shift 4
  if systemd_running; then
    write_if_changed "/etc/systemd/system/$unit" "$unit_text" 0644 root:root || true
    systemctl daemon-reload
    systemctl enable --now "$unit"
  else
    touch "$log_file"
    chown postgres:postgres "$log_file"
    start_background "$(basename "$unit" .service | sed 's/^linode-dr-//')" postgres "$env_file" "$log_file" "$@"
  fi
}

render_heartbeat_unit() {
  cat <<EOF
[Unit]
Description=linode-dr heartbeat (the leader's commits, measured for the data-loss budget)
After=$PATRONI_UNIT

[Service]
Type=simple
User=postgres
Group=postgres
ExecStart=$SBIN_DIR/linode-dr-heartbeat
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
EOF
}

# On both members: it writes only while its PostgreSQL is the primary.
start_heartbeat() {
  if ! budget_configured; then
    log "consensus.conf has no MAXIMUM_DATA_LOSS_SECONDS (provisioned before the data-loss budget): no heartbeat, Patroni's byte guard alone decides promotions"
    return 0
  fi
  start_postgres_service "$HEARTBEAT_UNIT" "$(render_heartbeat_unit)" "$HEARTBEAT_LOG" "" "$SBIN_DIR/linode-dr-heartbeat"
}

# The leader's member name from etcd, or nothing.
dcs_leader() {
  etcdctl_at "$(etcd_endpoints all)" get --print-value-only "/service/$(consensus SCOPE)/leader" 2>/dev/null || true
}

# The cluster's system identifier as Patroni recorded it when it was initialized, or nothing. A
# member that joins starts Patroni only when it is set: Patroni runs initdb only where it is not.
dcs_initialized() {
  etcdctl_at "$(etcd_endpoints all)" get --print-value-only "/service/$(consensus SCOPE)/initialize" 2>/dev/null || true
}

# Exit status: 0 reachable and authenticated, 1 worth retrying, 2 permanent (configuration) error.
probe_leader() {
  local leader=$1 output rc=0
  output=$(PGPASSWORD=$(read_secret "$REPLICATION_PASSWORD_FILE") runuser -u postgres -- timeout 15 "$PG_BIN/psql" -X -At \
    "host=$(member_name "$leader") port=$POSTGRES_PORT user=$(setting REPL_USER) sslmode=verify-full sslrootcert=$PG_TLS_DIR/ca.crt connect_timeout=10 dbname=replication replication=true" \
    -c IDENTIFY_SYSTEM 2>&1) || rc=$?
  ((rc == 0)) && return 0
  output=$(printf '%s' "$output" | tr '\n' ' ' | sed 's/[[:space:]]\+/ /g')
  case $output in
    *"authentication failed"*)
      printf 'authentication failed for replication user %s at leader %s (%s): %s' "$(setting REPL_USER)" "$leader" "$(member_name "$leader")" "$output"
      return 2
      ;;
    *"certificate verify failed"* | *"does not match host name"* | *"server certificate"*)
      printf 'TLS verification of leader %s (%s) failed: %s' "$leader" "$(member_name "$leader")" "$output"
      return 2
      ;;
    *"no pg_hba.conf entry"*)
      printf 'leader %s rejects this host by pg_hba.conf: %s' "$leader" "$output"
      return 2
      ;;
    *)
      printf '%s' "${output:-probe exited with status $rc}"
      return 1
      ;;
  esac
}

# A joining member (every member but the founder at the first bring-up) has no data of its own:
# it waits for a leader it can copy from, in a cluster that was initialized, and fails clearly on a
# configuration error (wrong password, certificate) instead of letting Patroni retry it forever.
# It never lets Patroni start before, so Patroni never runs initdb on it.
wait_for_leader_before_copy() {
  local deadline attempt=0 delay=1 leader reason rc remaining
  deadline=$((SECONDS + $(consensus JOIN_TIMEOUT_SECONDS)))
  while :; do
    attempt=$((attempt + 1))
    leader=$(dcs_leader)
    rc=1
    if [[ -z $leader ]]; then
      reason="no leader in etcd yet"
    elif [[ $leader == "$(consensus SELF)" ]]; then
      # This member has no data, so the lease is its previous Linode's (a rebuild): starting Patroni
      # now could make an empty database the leader. Wait for the lease to end and another to lead.
      reason="etcd still names this member leader, a lease its previous Linode held; waiting for it to expire and the other region to lead"
    elif [[ -z $(dcs_initialized) ]]; then
      reason="etcd has a leader but no record that the cluster was ever initialized"
    else
      rc=0
      reason=$(probe_leader "$leader") || rc=$?
      if ((rc == 0)); then
        log "attempt $attempt: leader $leader ($(member_name "$leader")) accepts replication over verified TLS"
        return 0
      fi
      ((rc == 2)) && die "attempt $attempt: $reason"
    fi
    remaining=$((deadline - SECONDS))
    ((remaining > 0)) || die "attempt $attempt: no leader to copy from after $(consensus JOIN_TIMEOUT_SECONDS)s; last reason: $reason"
    ((delay > remaining)) && delay=$remaining
    log "attempt $attempt: leader not ready ($reason); retrying in ${delay}s, giving up in ${remaining}s"
    sleep "$delay"
    delay=$((delay * 2 > 10 ? 10 : delay * 2))
  done
}

psql_local() {
  runuser -u postgres -- "$PG_BIN/psql" -h "$PG_SOCKET_DIR" -p "$POSTGRES_PORT" -X -q -At -v ON_ERROR_STOP=1 "$@"
}

# Makes $1 safe inside a single-quoted psql meta-command argument (\set name '...').
psql_quote() {
  local value=$1
  value=${value//\\/\\\\}
  value=${value//\'/\'\'}
  printf "'%s'" "$value"
}

# Prints the local PostgreSQL's state: primary, replica, or nothing while it does not answer.
local_role() {
  local in_recovery
  in_recovery=$(psql_local -d postgres -c "SELECT pg_is_in_recovery()" 2>/dev/null) || return 0
  case $in_recovery in
    f) printf primary ;;
    t) printf replica ;;
  esac
}

ensure_app_objects() {
  local app_password
  app_password=$(read_secret "$APP_PASSWORD_FILE")
  log "ensuring role $(setting APP_USER) and database $(setting APP_DATABASE)"
  # Passwords travel on stdin, never in argv where any local user could read them.
  psql_local -d postgres <<EOF >&2
\\set app_user '$(setting APP_USER)'
\\set app_password $(psql_quote "$app_password")
\\set app_db '$(setting APP_DATABASE)'
SET password_encryption = 'scram-sha-256';
SELECT format('CREATE ROLE %I', :'app_user') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app_user') \\gexec
ALTER ROLE :"app_user" WITH LOGIN NOREPLICATION NOSUPERUSER PASSWORD :'app_password';
SELECT format('CREATE DATABASE %I OWNER %I', :'app_db', :'app_user') WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'app_db') \\gexec
EOF
}

# Patroni 3.0.2 exits at start when its etcd member does not answer its first request (/version)
# in time: with use_proxies that request has no retry (seen right after a rebuilt member's etcd
# became a voter, under load). systemd restarts it (Restart=always); without systemd nothing
# would, and the first boot would wait out its deadline, so this does what the unit does.
restart_patroni_if_exited() {
  systemd_running && return 0
  patroni_running && return 0
  log "Patroni exited (its log ends: $(tail -n 1 "$PATRONI_LOG" 2>/dev/null | cut -c1-300)); starting it again, as its systemd unit would"
  start_patroni
}

# Waits until Patroni runs PostgreSQL here: as the leader (then the app's role and database are
# made sure of) or as a replica streaming from it.
wait_until_serving() {
  local deadline role status=""
  deadline=$((SECONDS + $(consensus JOIN_TIMEOUT_SECONDS) + 600))
  while ((SECONDS < deadline)); do
    restart_patroni_if_exited
    role=$(local_role)
    if [[ $role == primary && $(dcs_leader) == "$(consensus SELF)" ]]; then
      ensure_app_objects
      log "this member ($(consensus SELF)) is the leader and accepts writes"
      return 0
    fi
    if [[ $role == replica ]]; then
      status=$(psql_local -d postgres -c "SELECT status FROM pg_stat_wal_receiver" 2>/dev/null || true)
      if [[ $status == streaming ]]; then
        log "this member ($(consensus SELF)) is a replica streaming from leader $(dcs_leader)"
        return 0
      fi
    fi
    sleep 1
  done
  die "PostgreSQL is not serving as leader or streaming replica (role \"$role\", receiver \"$status\"); see $PATRONI_LOG or journalctl -u $PATRONI_UNIT"
}

verify_setting() {
  local name=$1 expected=$2 actual
  actual=$(psql_local -d postgres -c "SHOW $name")
  [[ $actual == "$expected" ]] || die "setting $name is \"$actual\", expected \"$expected\""
}

main() {
  [[ $(id -u) == 0 ]] || die "must run as root"
  case ${1:-} in
    "") ;;
    --verify-patroni-fix)
      verify_patroni_fix
      return 0
      ;;
    --reload-tls)
      reload_tls
      return 0
      ;;
    *) die "usage: linode-dr-db-provision [--verify-patroni-fix | --reload-tls]; received \"$1\"" 2 ;;
  esac
  umask 022
  load_settings
  install -d -m 0755 "$CONSENSUS_STATE_DIR"
  if [[ -f $DONE_MARKER ]]; then
    log "provisioned before ($(<"$DONE_MARKER")); converging"
  elif [[ -f $STARTED_MARKER ]]; then
    log "an earlier run started ($(<"$STARTED_MARKER")) but did not finish; resuming"
  fi
  date -u +%Y-%m-%dT%H:%M:%SZ >"$STARTED_MARKER"
  ensure_packages
  "$SCRIPT_DIR/etcd-member.sh"
  drop_package_cluster
  patch_patroni_leader_update
  install_tls
  prepare_watchdog
  write_patroni_config
  write_patroni_environment
  if [[ ! -f $DATA_DIR/PG_VERSION && $(consensus FOUNDER) != true ]]; then
    wait_for_leader_before_copy
  fi
  start_patroni
  wait_until_serving
  start_heartbeat
  verify_setting ssl on
  verify_setting wal_log_hints on
  verify_setting max_slot_wal_keep_size "$(setting MAX_SLOT_WAL_KEEP_SIZE)"
  verify_setting wal_receiver_timeout 10s
  verify_setting wal_retrieve_retry_interval 1s
  # After Patroni is up, so that waiting for the witness never delays this member's database.
  "$SCRIPT_DIR/etcd-member.sh" --admit-witness
  printf 'member=%s completed=%s\n' "$(consensus SELF)" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$DONE_MARKER"
  log "done: $(consensus SELF) provisioned under Patroni"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
