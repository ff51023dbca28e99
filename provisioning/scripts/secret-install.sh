#!/bin/bash
# linode-dr-secret-install DIR: makes the passwords in DIR this database member's, in place.
# linode-dr-converge runs it on every database with what came on its stdin; user data carried the
# first passwords and is never read again, so a rotated password arrives only this way.
#   DIR holds replication-password, superuser-password, app-password, patroni-rest-password
# For each PostgreSQL role whose password changed, the cluster's leader is given the new one
# (ALTER ROLE with a SCRAM verifier, never the password itself; the leader is this member, or the
# member etcd names, reached over verified TLS as the superuser), so the role's new password
# reaches every member by replication. Then the files are installed, Patroni's configuration is
# rendered again and reloaded (new replication password for primary_conninfo, new REST password),
# and each new password is shown to work over TLS against this member before it reports success.
# Nothing is changed when the directory is refused, and a rerun with the same passwords changes
# nothing at all: pg_authid already holds them.
set -euo pipefail

INSTALL_DIR=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
readonly INSTALL_DIR
# Its functions and paths; its main runs only when it is executed.
# shellcheck source-path=SCRIPTDIR source=db-provision.sh
source "$INSTALL_DIR/db-provision.sh"
export LOG_TAG=linode-dr-secret-install

readonly SECRET_NAMES=(replication superuser app rest)
readonly PASSWORD_PATTERN='^[!-~]{8,256}$'
# How long a changed role may take to reach this member by replication, and Patroni to take a
# reloaded REST password (it handles SIGHUP in its next loop).
readonly APPLY_WAIT=${LINODE_DR_SECRET_APPLY_WAIT:-60}

secret_file() {
  case $1 in
    replication) printf '%s' "$REPLICATION_PASSWORD_FILE" ;;
    superuser) printf '%s' "$SUPERUSER_PASSWORD_FILE" ;;
    app) printf '%s' "$APP_PASSWORD_FILE" ;;
    rest) printf '%s' "$REST_PASSWORD_FILE" ;;
  esac
}

# The PostgreSQL role a secret belongs to; the REST password belongs to Patroni alone.
secret_role() {
  case $1 in
    replication) setting REPL_USER ;;
    superuser) printf postgres ;;
    app) setting APP_USER ;;
    rest) ;;
  esac
}

staged_value() {
  local value
  value=$(<"$STAGED/$(basename "$(secret_file "$1")")")
  printf '%s' "$value"
}

installed_value() {
  local file
  file=$(secret_file "$1")
  [[ -r $file ]] || return 0
  printf '%s' "$(<"$file")"
}

# Refuses (nothing changed) unless every password is there and of the program's form.
check_staged() {
  local name file value
  for name in "${SECRET_NAMES[@]}"; do
    file=$STAGED/$(basename "$(secret_file "$name")")
    [[ -s $file ]] || die "the new passwords have no $(basename "$file")"
    (($(wc -l <"$file") <= 1)) || die "the new $(basename "$file") holds more than one line"
    value=$(<"$file")
    [[ $value =~ $PASSWORD_PATTERN ]] ||
      die "the new $(basename "$file") is not 8 to 256 printable ASCII characters without spaces"
  done
}

CHANGED=()

find_changed() {
  local name
  for name in "${SECRET_NAMES[@]}"; do
    [[ $(staged_value "$name") == "$(installed_value "$name")" ]] || CHANGED+=("$name")
  done
}

# role_has_password ROLE PASSWORD: this member's pg_authid (a replica's is the leader's, replayed)
# holds a verifier made from PASSWORD.
role_has_password() {
  local role=$1 password=$2 stored
  stored=$(psql_local -d postgres -v role="$role" <<<"SELECT rolpassword FROM pg_authid WHERE rolname = :'role'" 2>/dev/null) || return 1
  [[ -n $stored ]] || return 1
  /usr/bin/python3 "$INSTALL_DIR/lib/scram.py" matches "$stored" <<<"$password"
}

# leader_sql: runs the SQL on stdin on the cluster's leader: here by peer authentication when this
# member leads, otherwise over verify-full TLS as the superuser, with the new superuser password
# (another member may have rotated it already) or else the installed one.
leader_sql() {
  local sql leader password rc=0 output
  sql=$(cat)
  leader=$(dcs_leader)
  [[ -n $leader ]] || die "etcd names no leader: a password can be changed only on the cluster's leader; run pulumi up again once one leads"
  if [[ $leader == "$(consensus SELF)" ]]; then
    [[ $(local_role) == primary ]] || die "etcd names this member the leader but its PostgreSQL is not a primary yet; run pulumi up again"
    psql_local -d postgres <<<"$sql" >&2
    return 0
  fi
  for password in "$(staged_value superuser)" "$(installed_value superuser)"; do
    rc=0
    output=$(PGPASSWORD=$password runuser -u postgres -- timeout 20 "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 \
      "host=$(member_name "$leader") port=$POSTGRES_PORT dbname=postgres user=postgres sslmode=verify-full sslrootcert=$PG_TLS_DIR/ca.crt connect_timeout=10" \
      <<<"$sql" 2>&1) || rc=$?
    ((rc == 0)) && return 0
    [[ $output == *"password authentication failed"* ]] || break
  done
  die "could not change the password on leader $leader ($(member_name "$leader")): $(tr '\n' ' ' <<<"$output")"
}

# set_role_password NAME: the role's new password on the leader, then here by replication.
set_role_password() {
  local name=$1 role password verifier deadline
  role=$(secret_role "$name")
  password=$(staged_value "$name")
  if role_has_password "$role" "$password"; then
    log "role $role already has the new $name password"
    return 0
  fi
  verifier=$(/usr/bin/python3 "$INSTALL_DIR/lib/scram.py" verifier <<<"$password")
  leader_sql <<EOF
\\set role '$role'
\\set verifier '$verifier'
ALTER ROLE :"role" PASSWORD :'verifier';
EOF
  deadline=$((SECONDS + APPLY_WAIT))
  until role_has_password "$role" "$password"; do
    ((SECONDS < deadline)) || die "role $role's new password did not reach this member within ${APPLY_WAIT}s"
    sleep 1
  done
  log "role $role has its new $name password"
}

install_secret_files() {
  local name
  for name in "${CHANGED[@]}"; do
    write_if_changed "$(secret_file "$name")" "$(staged_value "$name")" 0600 root:root || true
  done
}

# connects_as NAME: a new connection over verify-full TLS to this member, with the installed password.
connects_as() {
  local name=$1 conninfo query="SELECT 1"
  conninfo="host=$(self_name) port=$POSTGRES_PORT sslmode=verify-full sslrootcert=$PG_TLS_DIR/ca.crt connect_timeout=10 user=$(secret_role "$name")"
  case $name in
    replication)
      conninfo+=" dbname=replication replication=true"
      query=IDENTIFY_SYSTEM
      ;;
    superuser) conninfo+=" dbname=postgres" ;;
    app) conninfo+=" dbname=$(setting APP_DATABASE)" ;;
  esac
  PGPASSWORD=$(installed_value "$name") runuser -u postgres -- timeout 20 "$PG_BIN/psql" -X -q -At -c "$query" "$conninfo" >/dev/null 2>&1
}

# rest_status PASSWORD: the HTTP status of an authenticated request to this member's REST API
# (POST /reload: harmless, and refused without the REST password).
rest_status() {
  curl --silent --output /dev/null --write-out '%{http_code}' --max-time 5 \
    --cacert "$CONSENSUS_TLS_DIR/ca.crt" --user "$(consensus REST_USER):$1" -X POST \
    "https://$(self_name):$PATRONI_REST_PORT/reload" || true
}

verify_changed() {
  local name old=$1 status deadline
  for name in "${CHANGED[@]}"; do
    if [[ $name == rest ]]; then
      deadline=$((SECONDS + APPLY_WAIT))
      until [[ $(rest_status "$(installed_value rest)") == 202 ]]; do
        ((SECONDS < deadline)) || die "Patroni's REST API does not accept the new password after ${APPLY_WAIT}s"
        sleep 1
      done
      status=$(rest_status "$old")
      [[ $status == 401 ]] || die "Patroni's REST API still answers $status to the old password (401 expected)"
      log "Patroni's REST API accepts the new password and refuses the old one"
    else
      connects_as "$name" || die "a new $name connection ($(secret_role "$name")) over TLS fails with the new password"
      log "a new $name connection ($(secret_role "$name")) over TLS succeeds with the new password"
    fi
  done
}

STAGED=""

main() {
  STAGED=${1:-}
  [[ -n $STAGED && $# -eq 1 ]] ||
    die "usage: linode-dr-secret-install DIR (DIR holds replication-password, superuser-password, app-password, patroni-rest-password); received \"$*\""
  [[ -d $STAGED ]] || die "$STAGED is not a directory"
  [[ $(id -u) == 0 ]] || die "must run as root"
  load_settings
  check_staged
  find_changed
  if ((${#CHANGED[@]} == 0)); then
    log "passwords unchanged"
    return 0
  fi
  # Before the first provisioning completes the files are first boot's, which uses them as they are.
  [[ -f $DONE_MARKER ]] ||
    die "first boot has not finished provisioning this database yet and the program's passwords (${CHANGED[*]}) differ from the ones it started with; run pulumi up again once it has"
  patroni_running || die "Patroni is not running here; a password is changed only in a running cluster"
  log "new passwords: ${CHANGED[*]}"
  local name old_rest
  old_rest=$(installed_value rest)
  for name in "${CHANGED[@]}"; do
    [[ $name == rest ]] || set_role_password "$name"
  done
  install_secret_files
  write_patroni_config
  verify_changed "$old_rest"
  log "passwords installed: ${CHANGED[*]}"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
