#!/bin/bash
# linode-dr-etcd-member: makes this host a voting member of the cluster's etcd (one member per
# database Linode and one on the witness), linked as /usr/local/sbin/linode-dr-etcd-member. It is
# the witness's first-boot entry, and linode-dr-db-provision runs it before Patroni.
#
# Peer and client traffic use TLS with client certificates from the project CA; every member is
# addressed by the DNS name in its certificate, resolved through the managed /etc/hosts block.
# The founder (the primary's database at the first bring-up only, never a rebuilt one: see
# foundsCluster in stacks/consensus.ts) starts a new one-member cluster. Every other
# member joins as a learner (etcd 3.4: `member add --learner`, start, `member promote` once in
# sync), so the voting quorum never counts a member that has not started. Etcd admits one learner
# at a time; a joiner that meets another pending learner waits and retries. Re-runs converge: a
# member with a data directory only makes sure etcd runs.
# --reload-tls (linode-dr-tls-install runs it): copies the TLS identity for etcd and restarts
# etcd, safely, when its CA bundle changed since it started; --prefer-leader (the witness's
# timer): takes back etcd leadership.
set -euo pipefail

export LOG_TAG=linode-dr-etcd-member
# shellcheck source-path=SCRIPTDIR source=lib/retry.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/retry.sh"
# shellcheck source-path=SCRIPTDIR source=lib/consensus.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/consensus.sh"

readonly MEMBER_DATA_DIR=${LINODE_DR_ETCD_DATA_DIR:-/var/lib/etcd/linode-dr}
readonly ETCD_ENV=$CONSENSUS_ETC_DIR/etcd.env
# etcd's own copy of the TLS identity, which it reads at every handshake.
readonly ETCD_TLS_DIR=$CONSENSUS_ETC_DIR/etcd-tls
readonly ETCD_UNIT=linode-dr-etcd.service
readonly ETCD_LOG=/var/log/linode-dr-etcd.log

ensure_packages() {
  apt_install etcd-server etcd-client || cdie "could not install etcd-server etcd-client"
  # Debian's etcd-server starts a default single-node etcd on localhost; this host runs its own unit.
  if systemd_running && systemctl is-enabled --quiet etcd.service 2>/dev/null; then
    clog "disabling Debian's default etcd.service"
    systemctl disable --now etcd.service || true
  fi
}

install_tls() {
  copy_tls "$ETCD_TLS_DIR" etcd:etcd || true
}

has_data() {
  [[ -d $MEMBER_DATA_DIR/member/snap ]]
}

# render_env STATE INITIAL_CLUSTER: etcd reads ETCD_* variables; initial-* only matter before the
# data directory exists, so rewriting them later is harmless.
render_env() {
  local self
  self=$(consensus SELF)
  cat <<EOF
# Managed by linode-dr-etcd-member; rewritten on every run.
ETCD_NAME=$self
ETCD_DATA_DIR=$MEMBER_DATA_DIR
ETCD_LISTEN_PEER_URLS=https://0.0.0.0:$ETCD_PEER_PORT
ETCD_LISTEN_CLIENT_URLS=https://0.0.0.0:$ETCD_CLIENT_PORT
ETCD_INITIAL_ADVERTISE_PEER_URLS=$(peer_url "$self")
ETCD_ADVERTISE_CLIENT_URLS=$(client_url "$self")
ETCD_INITIAL_CLUSTER=$2
ETCD_INITIAL_CLUSTER_STATE=$1
ETCD_INITIAL_CLUSTER_TOKEN=$(consensus SCOPE)
ETCD_HEARTBEAT_INTERVAL=$(consensus ETCD_HEARTBEAT_MS)
ETCD_ELECTION_TIMEOUT=$(consensus ETCD_ELECTION_MS)
ETCD_CERT_FILE=$ETCD_TLS_DIR/server.crt
ETCD_KEY_FILE=$ETCD_TLS_DIR/server.key
ETCD_TRUSTED_CA_FILE=$ETCD_TLS_DIR/ca.crt
ETCD_CLIENT_CERT_AUTH=true
ETCD_PEER_CERT_FILE=$ETCD_TLS_DIR/server.crt
ETCD_PEER_KEY_FILE=$ETCD_TLS_DIR/server.key
ETCD_PEER_TRUSTED_CA_FILE=$ETCD_TLS_DIR/ca.crt
ETCD_PEER_CLIENT_CERT_AUTH=true
ETCD_PRE_VOTE=true
ETCD_AUTO_COMPACTION_MODE=periodic
ETCD_AUTO_COMPACTION_RETENTION=1h
ETCD_LOGGER=zap
EOF
}

render_unit() {
  cat <<EOF
[Unit]
Description=linode-dr etcd member (consensus for Patroni)
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
User=etcd
EnvironmentFile=$ETCD_ENV
ExecStart=/usr/bin/etcd
Restart=always
RestartSec=2
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
EOF
}

# What etcd trusts is read once, at its start (docs/facts.md#etcd-patroni-and-postgresql-take-a-new-certificate-without-a-restart):
# the digest of the bundle it started with tells whether a new bundle still waits for a restart.
readonly TRUST_RECORD=$CONSENSUS_STATE_DIR/etcd-started-with-ca.sha256

ca_digest() {
  sha256sum "$ETCD_TLS_DIR/ca.crt" | cut -d' ' -f1
}

record_trust() {
  ca_digest >"$TRUST_RECORD"
}

etcd_running() {
  if systemd_running; then
    systemctl is-active --quiet "$ETCD_UNIT"
  else
    pid_running etcd
  fi
}

start_etcd() {
  install -d -o etcd -g etcd -m 0700 "$(dirname "$MEMBER_DATA_DIR")" "$MEMBER_DATA_DIR"
  if etcd_running; then
    clog "etcd is running"
    return 0
  fi
  if systemd_running; then
    write_if_changed "/etc/systemd/system/$ETCD_UNIT" "$(render_unit)" 0644 root:root || true
    systemctl daemon-reload
    # Type=notify: returns once etcd serves, which for a joiner needs the cluster to admit it.
    systemctl enable "$ETCD_UNIT"
    systemctl start --no-block "$ETCD_UNIT"
  else
    start_background etcd etcd "$ETCD_ENV" "$ETCD_LOG" /usr/bin/etcd
  fi
  record_trust
}

stop_etcd() {
  local pid i
  if systemd_running; then
    systemctl stop "$ETCD_UNIT"
    return 0
  fi
  pid_running etcd || return 0
  pid=$(<"$RUN_DIR/etcd.pid")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && cdie "etcd (pid $pid) did not stop within 15s"
  rm -f "$RUN_DIR/etcd.pid"
}

# Hands etcd leadership to another voting member when this one holds it, so that its restart does
# not leave the cluster without a leader for an election timeout.
hand_over_leadership() {
  local status self_id leader target
  status=$(etcdctl_at "$(client_url "$(consensus SELF)")" endpoint status --cluster -w simple 2>/dev/null) || return 0
  # endpoint, ID, version, db size, is leader, is learner, ...
  self_id=$(awk -F', ' -v u="$(client_url "$(consensus SELF)")" '$1 == u { print $2 }' <<<"$status")
  leader=$(awk -F', ' '$5 == "true" { print $2; exit }' <<<"$status")
  [[ -n $self_id && $self_id == "$leader" ]] || return 0
  # The witness first: it is where leadership belongs (prefer_leadership).
  target=$(awk -F', ' -v u="$(client_url witness)" -v s="$self_id" '$1 == u && $2 != s && $6 == "false" { print $2 }' <<<"$status")
  [[ -n $target ]] || target=$(awk -F', ' -v s="$self_id" '$2 != s && $6 == "false" { print $2; exit }' <<<"$status")
  [[ -n $target ]] || return 0
  if etcdctl_at "$(client_url "$(consensus SELF)")" move-leader "$target" >/dev/null 2>&1; then
    clog "handed etcd leadership to $target before restarting"
  else
    clog "could not hand etcd leadership to $target; restarting anyway (one election)"
  fi
}

# A new CA bundle takes effect in etcd only at a restart. One member at a time: it restarts only
# while every member of the cluster is healthy (with another one down, its restart would lose the
# quorum), and a member that cannot restart now fails loudly so that the update is run again.
restart_for_trust() {
  local health
  if ! etcd_running; then
    clog "etcd is not running; it loads the current CA bundle when it starts"
    return 0
  fi
  if [[ -r $TRUST_RECORD && $(<"$TRUST_RECORD") == "$(ca_digest)" ]]; then
    clog "etcd runs with the current CA bundle"
    return 0
  fi
  health=$(etcdctl_at "$(client_url "$(consensus SELF)")" endpoint health --cluster 2>&1) ||
    cdie "not restarting etcd to load the new CA bundle: the cluster is not healthy, and a restart now could lose its quorum ($(tr '\n' ' ' <<<"$health")); run the update again once every member is healthy"
  hand_over_leadership
  clog "restarting etcd to load the new CA bundle"
  stop_etcd
  start_etcd
  wait_healthy
  clog "etcd restarted with the new CA bundle"
  if [[ $(consensus SELF) == witness ]]; then
    prefer_leadership
  fi
}

write_env() {
  write_if_changed "$ETCD_ENV" "$(render_env "$1" "$2")" 0644 root:root || true
}

# Prints "id status name peer_url is_learner" for every member, via ENDPOINTS.
member_list() {
  etcdctl_at "$1" member list -w simple | awk -F', ' '{ print $1, $2, ($3 == "" ? "-" : $3), $4, $6 }'
}

found_cluster() {
  local self
  self=$(consensus SELF)
  clog "founding a new etcd cluster (token $(consensus SCOPE)) as $self"
  write_env new "$self=$(peer_url "$self")"
  start_etcd
}

# Who has to act for a new address to be let in: the other members' Cloud Firewalls admit only the
# addresses their stack last saw, so a new or rebuilt Linode waits for that stack's update.
admission_hint() {
  local self
  self=$(consensus SELF)
  if [[ $self == primary ]]; then
    printf "a new primary database is admitted on ports %s-%s by the next 'pulumi up' of the dr stack (region B's database and the witness)" "$ETCD_CLIENT_PORT" "$ETCD_PEER_PORT"
  else
    printf "a new %s is admitted on ports %s-%s by the next 'pulumi up' of the primary stack with drStack set (region A's database)" "$self" "$ETCD_CLIENT_PORT" "$ETCD_PEER_PORT"
  fi
}

# One attempt to be admitted. Returns 0 once etcd runs here as a (possibly learner) member,
# 1 to retry; the reason goes to stdout.
try_join() {
  local endpoints self self_peer list id status name peer learner initial="" out
  endpoints=$(etcd_endpoints others)
  self=$(consensus SELF)
  self_peer=$(peer_url "$self")
  if ! list=$(member_list "$endpoints" 2>&1); then
    printf 'cluster not reachable at %s (%s); %s' "$endpoints" "$(printf '%s' "$list" | tail -n 1)" "$(admission_hint)"
    return 1
  fi
  local self_line
  self_line=$(awk -v p="$self_peer" '$4 == p' <<<"$list")
  if [[ -n $self_line ]]; then
    read -r id status name peer learner <<<"$self_line"
    if [[ $status == started ]]; then
      # Registered and started before, but this host has no data: its disk was lost. Remove the
      # stale registration; the next attempt adds it again as a learner.
      clog "member $self ($id) is registered but this host has no etcd data; removing the stale registration"
      etcdctl_at "$endpoints" member remove "$id" >&2 || true
      printf 'removed stale registration %s' "$id"
      return 1
    fi
    clog "member $self already added ($id, learner=$learner); starting it"
  else
    if ! out=$(etcdctl_at "$endpoints" member add "$self" --learner --peer-urls="$self_peer" 2>&1); then
      printf 'member add refused: %s' "$(printf '%s' "$out" | tail -n 1)"
      return 1
    fi
    clog "added as a learner: $(printf '%s' "$out" | head -n 1)"
    list=$(member_list "$endpoints")
  fi
  while read -r id status name peer learner; do
    if [[ $peer == "$self_peer" ]]; then
      initial+="${initial:+,}$self=$peer"
    elif [[ $name != - ]]; then
      initial+="${initial:+,}$name=$peer"
    fi
  done <<<"$list"
  write_env existing "$initial"
  start_etcd
  return 0
}

join_cluster() {
  local deadline attempt=0 delay=1 reason remaining
  deadline=$((SECONDS + $(consensus JOIN_TIMEOUT_SECONDS)))
  while :; do
    attempt=$((attempt + 1))
    if reason=$(try_join); then
      return 0
    fi
    remaining=$((deadline - SECONDS))
    ((remaining > 0)) || cdie "attempt $attempt: not admitted to the etcd cluster within $(consensus JOIN_TIMEOUT_SECONDS)s; last reason: $reason"
    ((delay > remaining)) && delay=$remaining
    clog "attempt $attempt: waiting to join etcd ($reason); retrying in ${delay}s, giving up in ${remaining}s"
    sleep "$delay"
    delay=$((delay * 2 > 10 ? 10 : delay * 2))
  done
}

# A learner is promoted once it has caught up with the leader; etcd refuses earlier. A rebuilt
# member (new address) is not reachable by the others until their stack's update gives them its
# address, and its etcd exits when no peer admits it: it is started again until then (systemd's
# Restart= would too; without systemd nothing else does).
promote_self() {
  local endpoints self_peer deadline line id status name peer learner out
  endpoints=$(etcd_endpoints)
  self_peer=$(peer_url "$(consensus SELF)")
  deadline=$((SECONDS + $(consensus JOIN_TIMEOUT_SECONDS)))
  while :; do
    if ! etcd_running; then
      clog "etcd is not running (no peer admitted this member yet; $(admission_hint)); starting it again"
      start_etcd
    fi
    if line=$(member_list "$endpoints" 2>/dev/null | awk -v p="$self_peer" '$4 == p'); [[ -n $line ]]; then
      read -r id status name peer learner <<<"$line"
      if [[ $learner == false ]]; then
        clog "voting member $name ($id) of etcd cluster $(consensus SCOPE)"
        return 0
      fi
      if out=$(etcdctl_at "$endpoints" member promote "$id" 2>&1); then
        clog "promoted from learner: $out"
        continue
      fi
      clog "learner $id not promoted yet: $(printf '%s' "$out" | tail -n 1) (the leader must reach this member; $(admission_hint))"
    fi
    ((SECONDS < deadline)) || cdie "this member is still not a voting etcd member after $(consensus JOIN_TIMEOUT_SECONDS)s; $(admission_hint)"
    sleep 1
  done
}

wait_healthy() {
  local i
  for ((i = 0; i < 60; i++)); do
    if etcdctl_at "$(client_url "$(consensus SELF)")" endpoint health >/dev/null 2>&1; then
      return 0
    fi
    sleep 1
  done
  cdie "local etcd is not healthy after 60s; see $ETCD_LOG or journalctl -u $ETCD_UNIT"
}

# The witness takes etcd leadership when it can (best effort). A new etcd leader extends every
# lease by its TTL, so if the etcd leader sat in the primary's region, losing that region would
# delay the end of Patroni's leader lease by an etcd election; with the leader on the witness, the
# lease ends at most ttl after the cut. A timer repeats it on the witness, because etcd moves its
# leadership on its own after faults.
prefer_leadership() {
  local self_id leader_id m
  # IDs stay hex strings: they are 64-bit, beyond awk's and bash's arithmetic.
  leader_id=$(etcdctl_at "$(etcd_endpoints all)" endpoint status -w simple 2>/dev/null | awk -F', ' '$5 == "true" { print $2; exit }' || true)
  self_id=$(member_list "$(etcd_endpoints all)" 2>/dev/null | awk -v p="$(peer_url witness)" '$4 == p { print $1 }' || true)
  [[ -n $self_id && -n $leader_id ]] || return 0
  if [[ $self_id == "$leader_id" ]]; then
    clog "the witness holds etcd leadership"
    return 0
  fi
  for m in primary dr; do
    if etcdctl_at "$(client_url "$m")" move-leader "$self_id" >/dev/null 2>&1; then
      clog "moved etcd leadership to the witness (was $leader_id)"
      return 0
    fi
  done
  clog "could not move etcd leadership to the witness (leader $leader_id); the timer tries again"
}

install_leadership_timer() {
  systemd_running || return 0
  write_if_changed /etc/systemd/system/linode-dr-etcd-leader.service "[Unit]
Description=linode-dr: keep etcd leadership on the witness

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/linode-dr-etcd-member --prefer-leader" 0644 root:root || true
  write_if_changed /etc/systemd/system/linode-dr-etcd-leader.timer "[Unit]
Description=linode-dr: keep etcd leadership on the witness

[Timer]
OnBootSec=2min
OnUnitActiveSec=1min

[Install]
WantedBy=timers.target" 0644 root:root || true
  systemctl daemon-reload
  systemctl enable --now linode-dr-etcd-leader.timer
}

main() {
  [[ $(id -u) == 0 ]] || cdie "must run as root"
  if [[ ${1:-} == --reload-tls ]]; then
    load_consensus
    install_tls
    restart_for_trust
    return 0
  fi
  if [[ ${1:-} == --prefer-leader ]]; then
    load_consensus
    [[ $(consensus SELF) == witness ]] || cdie "--prefer-leader runs on the witness only"
    prefer_leadership
    return 0
  fi
  umask 022
  load_consensus
  install -d -m 0755 "$CONSENSUS_STATE_DIR"
  ensure_packages
  write_hosts_block
  install_tls
  if has_data; then
    clog "etcd data present in $MEMBER_DATA_DIR; making sure etcd runs"
    start_etcd
  elif [[ $(consensus FOUNDER) == true ]] && ! member_list "$(etcd_endpoints others)" >/dev/null 2>&1; then
    found_cluster
  else
    join_cluster
  fi
  promote_self
  wait_healthy
  if [[ $(consensus SELF) == witness ]]; then
    prefer_leadership
    install_leadership_timer
  fi
  clog "done: $(consensus SELF) is a healthy voting member"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
