#!/bin/bash
# Shared by the release's consensus scripts (sourced): the cluster settings cloud-init wrote
# (/etc/linode-dr/consensus.conf), the managed /etc/hosts block that resolves every member's
# certificate name, the etcdctl wrapper (TLS, client certificate) and a service starter that uses
# systemd on a Linode and a pid file where there is no systemd (the lab).

readonly CONSENSUS_ETC_DIR=${LINODE_DR_ETC_DIR:-/etc/linode-dr}
readonly CONSENSUS_FILE=$CONSENSUS_ETC_DIR/consensus.conf
readonly CONSENSUS_TLS_DIR=$CONSENSUS_ETC_DIR/tls
readonly CONSENSUS_STATE_DIR=${LINODE_DR_STATE_DIR:-/var/lib/linode-dr}
readonly PEERS_FILE=$CONSENSUS_STATE_DIR/peers
readonly HOSTS_FILE=${LINODE_DR_HOSTS_FILE:-/etc/hosts}
readonly HOSTS_BEGIN="# BEGIN linode-dr cluster members (managed by linode-dr; edits are overwritten)"
readonly HOSTS_END="# END linode-dr cluster members"
readonly RUN_DIR=${LINODE_DR_RUN_DIR:-/run/linode-dr}
readonly CLOUD_CFG_DIR=${LINODE_DR_CLOUD_CFG_DIR:-/etc/cloud/cloud.cfg.d}
# Where the release's commands are linked (the heartbeat and the promotion check run from there).
# shellcheck disable=SC2034 # read by db-provision.sh and leader.sh
readonly SBIN_DIR=${LINODE_DR_SBIN_DIR:-/usr/local/sbin}
# true|false: whether this member's Patroni carries the nofailover tag (automaticFailover=false).
# shellcheck disable=SC2034 # read by db-provision.sh, written by leader.sh
readonly NOFAILOVER_FILE=$CONSENSUS_STATE_DIR/nofailover
readonly MEMBER_NAMES=(primary dr witness)
# The members' ports, as provisioning/consensus.ts has them (test/unit/scriptPorts.test.ts).
readonly ETCD_CLIENT_PORT=2379
readonly ETCD_PEER_PORT=2380
# shellcheck disable=SC2034 # read by etcd-member.sh
readonly ETCD_METRICS_PORT=2381
# The common name of the witness's CAs, as stacks/certificateAuthorities.ts has it.
# shellcheck disable=SC2034 # read by etcd-member.sh
readonly WITNESS_CA_NAME="linode-dr witness CA"
# shellcheck disable=SC2034 # read by db-provision.sh and leader.sh
readonly PATRONI_REST_PORT=8008
# shellcheck disable=SC2034 # read by db-provision.sh
readonly POSTGRES_PORT=5432

declare -A CONSENSUS=()

clog() {
  printf '%s %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${LOG_TAG:-linode-dr}" "$*" >&2
}

cdie() {
  clog "ERROR: $*"
  exit "${2:-1}"
}

# consensus KEY: a value of consensus.conf (empty when absent).
consensus() {
  printf '%s' "${CONSENSUS[$1]:-}"
}

consensus_require() {
  local key=$1 pattern=$2 value
  value=$(consensus "$key")
  [[ $value =~ $pattern ]] || cdie "$CONSENSUS_FILE: $key=\"$value\" does not match $pattern"
}

load_consensus() {
  [[ -r $CONSENSUS_FILE ]] || cdie "settings file $CONSENSUS_FILE is missing; cloud-init write_files should have created it"
  local key value
  while IFS='=' read -r key value || [[ -n $key ]]; do
    [[ -z $key || $key == \#* ]] && continue
    case $key in
      SCOPE | SELF | FOUNDER | NAME_PRIMARY | NAME_DR | NAME_WITNESS | IPV4_PRIMARY | IPV4_DR | IPV4_WITNESS | \
        ETCD_HEARTBEAT_MS | ETCD_ELECTION_MS | JOIN_TIMEOUT_SECONDS | TTL | LOOP_WAIT | RETRY_TIMEOUT | \
        MAXIMUM_LAG_ON_FAILOVER | MAXIMUM_DATA_LOSS_SECONDS | SYNCHRONOUS_MODE | AUTOMATIC_FAILOVER | REST_USER)
        CONSENSUS[$key]=$value
        ;;
      *) cdie "$CONSENSUS_FILE: unknown setting \"$key\"" ;;
    esac
  done <"$CONSENSUS_FILE"
  local dns='^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$' ipv4='^([0-9]{1,3}\.){3}[0-9]{1,3}$' m upper
  consensus_require SCOPE '^[a-z0-9][a-z0-9-]{0,62}$'
  consensus_require SELF '^(primary|dr|witness)$'
  consensus_require FOUNDER '^(true|false)$'
  for m in "${MEMBER_NAMES[@]}"; do
    upper=${m^^}
    consensus_require "NAME_$upper" "$dns"
    [[ -z $(consensus "IPV4_$upper") ]] || consensus_require "IPV4_$upper" "$ipv4"
  done
  consensus_require ETCD_HEARTBEAT_MS '^[1-9][0-9]{1,4}$'
  consensus_require ETCD_ELECTION_MS '^[1-9][0-9]{2,5}$'
  consensus_require JOIN_TIMEOUT_SECONDS '^[1-9][0-9]{0,5}$'
  if [[ $(consensus SELF) != witness ]]; then
    consensus_require TTL '^[1-9][0-9]{0,3}$'
    consensus_require LOOP_WAIT '^[1-9][0-9]{0,3}$'
    consensus_require RETRY_TIMEOUT '^[1-9][0-9]{0,3}$'
    consensus_require MAXIMUM_LAG_ON_FAILOVER '^[0-9]{1,15}$'
    # Absent on a member provisioned before the data-loss budget existed (its release may be newer).
    [[ -z $(consensus MAXIMUM_DATA_LOSS_SECONDS) ]] || consensus_require MAXIMUM_DATA_LOSS_SECONDS '^[1-9][0-9]{0,4}$'
    consensus_require SYNCHRONOUS_MODE '^(true|false)$'
    consensus_require AUTOMATIC_FAILOVER '^(true|false)$'
    consensus_require REST_USER '^[A-Za-z0-9_.-]{1,64}$'
  fi
}

# member_name MEMBER: the DNS name in MEMBER's certificate (and in every URL that names it).
member_name() {
  consensus "NAME_${1^^}"
}

self_name() {
  member_name "$(consensus SELF)"
}

# The first global IPv4 of this host: what the other members reach when user data did not know it.
detected_ipv4() {
  ip -4 -o addr show scope global | awk '{ split($4, a, "/"); print a[1]; exit }'
}

# The member addresses known so far: user data's, then those converge received (newer wins).
# Prints "member name ipv4" lines.
known_peers() {
  declare -A ips=()
  local m kind member name address
  for m in "${MEMBER_NAMES[@]}"; do
    ips[$m]=$(consensus "IPV4_${m^^}")
  done
  if [[ -r $PEERS_FILE ]]; then
    while read -r kind member name address; do
      [[ $kind == peer && -n ${ips[$member]+set} ]] || continue
      [[ $name == "$(member_name "$member")" ]] || continue
      ips[$member]=$address
    done <"$PEERS_FILE"
  fi
  [[ -n ${ips[$(consensus SELF)]} ]] || ips[$(consensus SELF)]=$(detected_ipv4)
  for m in "${MEMBER_NAMES[@]}"; do
    [[ -n ${ips[$m]} ]] && printf '%s %s %s\n' "$m" "$(member_name "$m")" "${ips[$m]}"
  done
  return 0
}

# cloud-init rewrites /etc/hosts from its template at every boot when manage_etc_hosts is true
# (an image may set it), which would drop the members' names after a reboot and leave etcd,
# Patroni and replication unable to resolve each other. Our user data never sets it, and a file
# sorted last in cloud.cfg.d wins over the image's own settings.
keep_hosts_across_boots() {
  local file=$CLOUD_CFG_DIR/99-linode-dr-hosts.cfg content tmp
  content="# Written by linode-dr: /etc/hosts holds the cluster members' names (managed block); cloud-init must not regenerate it at boot.
manage_etc_hosts: false"
  [[ -f $file && $(<"$file") == "$content" ]] && return 0
  mkdir -p "$CLOUD_CFG_DIR"
  tmp=$(mktemp "$file.XXXXXX")
  printf '%s\n' "$content" >"$tmp"
  chmod 0644 "$tmp"
  mv -f "$tmp" "$file"
  clog "$file: cloud-init told not to regenerate /etc/hosts at boot"
}

# Rewrites the managed block of /etc/hosts (in place: /etc/hosts may be a bind mount).
write_hosts_block() {
  local block current m name address
  keep_hosts_across_boots
  block=$HOSTS_BEGIN$'\n'
  while read -r m name address; do
    block+="$address $name"$'\n'
  done < <(known_peers)
  block+=$HOSTS_END
  current=$(awk -v b="$HOSTS_BEGIN" -v e="$HOSTS_END" '$0 == b { skip = 1 } !skip { print } $0 == e { skip = 0 }' "$HOSTS_FILE")
  [[ -n $current ]] && current+=$'\n'
  current+=$block
  [[ $(<"$HOSTS_FILE") == "$current" ]] && return 0
  printf '%s\n' "$current" >"$HOSTS_FILE"
  clog "$HOSTS_FILE: member names updated ($(known_peers | awk '{ printf "%s%s=%s", sep, $2, $3; sep=", " }'))"
}

client_url() {
  printf 'https://%s:%s' "$(member_name "$1")" "$ETCD_CLIENT_PORT"
}

peer_url() {
  printf 'https://%s:%s' "$(member_name "$1")" "$ETCD_PEER_PORT"
}

# Client URLs of all members, or of all but this one with "others".
etcd_endpoints() {
  local m out=""
  for m in "${MEMBER_NAMES[@]}"; do
    [[ ${1:-} == others && $m == "$(consensus SELF)" ]] && continue
    out+="${out:+,}$(client_url "$m")"
  done
  printf '%s' "$out"
}

# etcdctl ENDPOINTS ARGS...: the v3 client with this host's certificate.
etcdctl_at() {
  local endpoints=$1
  shift
  ETCDCTL_API=3 timeout 15 etcdctl --endpoints="$endpoints" --dial-timeout=3s --command-timeout=5s \
    --cacert="$CONSENSUS_TLS_DIR/ca.crt" --cert="$CONSENSUS_TLS_DIR/server.crt" --key="$CONSENSUS_TLS_DIR/server.key" "$@"
}

systemd_running() {
  [[ -d /run/systemd/system ]]
}

# pid_running NAME: the background instance recorded in $RUN_DIR/NAME.pid is alive.
pid_running() {
  local pid
  [[ -r $RUN_DIR/$1.pid ]] || return 1
  pid=$(<"$RUN_DIR/$1.pid")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null
}

# start_background NAME USER ENV_FILE LOG_FILE COMMAND...: what the systemd unit does, for hosts
# without systemd (the lab). Idempotent: a running instance is left alone.
start_background() {
  local name=$1 user=$2 env_file=$3 log_file=$4 pid
  shift 4
  if pid_running "$name"; then
    return 0
  fi
  install -d -m 0755 "$RUN_DIR"
  (
    if [[ -n $env_file ]]; then
      set -a
      # shellcheck disable=SC1090 # written by linode-dr from validated settings
      source "$env_file"
      set +a
    fi
    cd /
    HOME=$(getent passwd "$user" | cut -d: -f6)
    export HOME USER=$user LOGNAME=$user
    exec setsid setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups -- "$@"
  ) >>"$log_file" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$RUN_DIR/$name.pid"
  sleep 0.3
  kill -0 "$pid" 2>/dev/null || cdie "$name exited at once; see $log_file"
  clog "started $name in the background pid=$pid (no systemd) log=$log_file"
}

# install_tls_files FROM TO OWNER DIR_MODE: TO gets the TLS identity in FROM (ca.crt, server.crt,
# server.key), owned by OWNER, the key 0600. Every changed file is staged first and the renames
# follow back to back, the key before its certificate: a daemon that reads both per handshake
# (etcd) can pair a new key with the old certificate only within those few milliseconds. Returns
# 0 when anything changed.
install_tls_files() {
  local from=$1 to=$2 owner=$3 dir_mode=$4 file mode tmp staged=()
  install -d -o "${owner%%:*}" -g "${owner##*:}" -m "$dir_mode" "$to"
  for file in server.key server.crt ca.crt; do
    [[ -r $from/$file ]] || cdie "TLS file $from/$file is missing"
    mode=0644
    [[ $file == server.key ]] && mode=0600
    if [[ -f $to/$file ]] && cmp -s "$from/$file" "$to/$file" &&
      [[ $(stat -c '%a %U:%G' "$to/$file") == "${mode#0} $owner" ]]; then
      continue
    fi
    # A name of its own: first boot and a converge may copy at the same time.
    tmp=$(mktemp "$to/.$file.XXXXXX") || discard_staged "could not stage $to/$file"
    staged+=("$tmp:$file")
    install -o "${owner%%:*}" -g "${owner##*:}" -m "$mode" "$from/$file" "$tmp" ||
      discard_staged "could not stage $to/$file"
  done
  ((${#staged[@]} > 0)) || return 1
  for tmp in "${staged[@]}"; do
    mv -f "${tmp%%:*}" "$to/${tmp#*:}" || discard_staged "could not install $to/${tmp#*:}"
  done
  clog "TLS files updated in $to: ${staged[*]#*:}"
  return 0
}

# discard_staged MESSAGE: install_tls_files failed; its staged files go (none is left behind).
discard_staged() {
  local tmp
  for tmp in "${staged[@]}"; do
    rm -f "${tmp%%:*}"
  done
  cdie "$1"
}

# copy_tls DIR OWNER: a daemon's own copy of this host's TLS identity, readable by OWNER only.
copy_tls() {
  install_tls_files "$CONSENSUS_TLS_DIR" "$1" "$2" 0700
}

# write_if_changed PATH CONTENT MODE OWNER: atomic; returns 0 when the file changed.
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
  clog "wrote $path"
  return 0
}
