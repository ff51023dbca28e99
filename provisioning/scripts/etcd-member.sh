#!/bin/bash
# linode-dr-etcd-member: makes this host a voting member of the cluster's etcd (one member per
# database Linode and one on the witness), linked as /usr/local/sbin/linode-dr-etcd-member. It is
# the witness's first-boot entry, and linode-dr-db-provision runs it before Patroni.
#
# Peer and client traffic use TLS with client certificates from the project's CAs (the client port
# trusts the databases' CAs only, not the witness's); every member is addressed by the DNS name in
# its certificate, resolved through the managed /etc/hosts block.
# The founder (the primary's database at the first bring-up only, never a rebuilt one: see
# foundsCluster in stacks/consensus.ts) starts a new one-member cluster. Every other
# member joins as a learner (etcd 3.4: `member add --learner`, start, `member promote` once in
# sync), so the voting quorum never counts a member that has not started. Etcd admits one learner
# at a time; a joiner that meets another pending learner waits and retries. Re-runs converge: a
# member with a data directory only makes sure etcd runs.
# The databases change the membership; the witness never does: it needs no etcd client rights at
# all (docs/consensus.md, "Who can write Patroni's leader key"). A database adds the witness as a
# learner, promotes it once in sync, and removes the registration of a witness Linode that was
# replaced; the witness only reads the membership through the peer API (what any peer uses to
# join) and its own health from its local metrics listener.
# --reload-tls (linode-dr-tls-install runs it): copies the TLS identity for etcd and restarts
# etcd, safely, when its CA bundle changed since it started; --admit-witness (a database's
# converge): admits the witness's current Linode; --prefer-leader (a database's timer): promotes a
# witness in sync and hands etcd leadership to it.
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
# How long a database's converge waits for the witness it registered to catch up and be promoted.
readonly ADMIT_WAIT_SECONDS=120

ensure_packages() {
  apt_install etcd-server etcd-client curl || cdie "could not install etcd-server etcd-client curl"
  # Debian's etcd-server starts a default single-node etcd on localhost; this host runs its own unit.
  if systemd_running && systemctl is-enabled --quiet etcd.service 2>/dev/null; then
    clog "disabling Debian's default etcd.service"
    systemctl disable --now etcd.service || true
  fi
}

# The CAs etcd trusts on its client port: the member bundle without the witness's CAs, so that
# the witness's certificate is a peer's only ("Who can write Patroni's leader key",
# docs/consensus.md). Prints the bundle; fails when no CA would be left.
client_bundle() {
  local line block="" kept=0
  while IFS= read -r line; do
    block+=$line$'\n'
    [[ $line == "-----END CERTIFICATE-----" ]] || continue
    if ! openssl x509 -noout -subject -nameopt multiline <<<"$block" | grep -q "^ *commonName *= $WITNESS_CA_NAME "; then
      printf '%s' "$block"
      kept=$((kept + 1))
    fi
    block=""
  done <"$1"
  ((kept > 0)) || cdie "$1 holds no CA but the witness's: etcd would admit no client"
}

install_tls() {
  local bundle
  copy_tls "$ETCD_TLS_DIR" etcd:etcd || true
  bundle=$(client_bundle "$ETCD_TLS_DIR/ca.crt")
  write_if_changed "$ETCD_TLS_DIR/client-ca.crt" "$bundle" 0644 etcd:etcd || true
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
ETCD_LISTEN_METRICS_URLS=http://127.0.0.1:$ETCD_METRICS_PORT
ETCD_INITIAL_ADVERTISE_PEER_URLS=$(peer_url "$self")
ETCD_ADVERTISE_CLIENT_URLS=$(client_url "$self")
ETCD_INITIAL_CLUSTER=$2
ETCD_INITIAL_CLUSTER_STATE=$1
ETCD_INITIAL_CLUSTER_TOKEN=$(consensus SCOPE)
ETCD_HEARTBEAT_INTERVAL=$(consensus ETCD_HEARTBEAT_MS)
ETCD_ELECTION_TIMEOUT=$(consensus ETCD_ELECTION_MS)
ETCD_CERT_FILE=$ETCD_TLS_DIR/server.crt
ETCD_KEY_FILE=$ETCD_TLS_DIR/server.key
ETCD_TRUSTED_CA_FILE=$ETCD_TLS_DIR/client-ca.crt
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

# Hands etcd leadership to another voting member when this database holds it, so that its restart
# does not leave the cluster without a leader for an election timeout. (etcd also hands it over
# when stopped gracefully; asking first lets the witness be the one that takes it.)
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

# Prints why the cluster is not whole as the witness sees it with no client rights: its member has
# a leader and a live peer stream to every other registered member (etcd's own metrics, on the
# loopback listener). Prints nothing when it is whole.
witness_view_of_cluster() {
  local metrics registered active
  if ! metrics=$(curl -fsS --max-time 5 "http://127.0.0.1:$ETCD_METRICS_PORT/metrics" 2>&1); then
    printf 'no metrics from the local member (%s)' "$(tail -n 1 <<<"$metrics")"
    return 0
  fi
  if ! grep -qx 'etcd_server_has_leader 1' <<<"$metrics"; then
    printf 'the local member has no leader'
    return 0
  fi
  if ! registered=$(peer_members "$(peer_url witness)" 2>/dev/null | wc -l) || ((registered == 0)); then
    printf 'the local member does not list the membership'
    return 0
  fi
  active=$(grep -c '^etcd_network_active_peers{.*} 1$' <<<"$metrics" || true)
  ((active == registered - 1)) || printf 'live peer streams to %s of the %s other members' "$active" "$((registered - 1))"
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
  if [[ $(consensus SELF) == witness ]]; then
    health=$(witness_view_of_cluster)
    [[ -z $health ]] ||
      cdie "not restarting etcd to load the new CA bundle: the cluster is not whole ($health), and a restart now could lose its quorum; run the update again once every member is healthy"
    # No handover to ask for: the witness has no client rights, and etcd hands its leadership over
    # when stopped gracefully (docs/facts.md); a database gives it back (prefer_leadership).
  else
    health=$(etcdctl_at "$(client_url "$(consensus SELF)")" endpoint health --cluster 2>&1) ||
      cdie "not restarting etcd to load the new CA bundle: the cluster is not healthy, and a restart now could lose its quorum ($(tr '\n' ' ' <<<"$health")); run the update again once every member is healthy"
    hand_over_leadership
  fi
  clog "restarting etcd to load the new CA bundle"
  stop_etcd
  start_etcd
  wait_healthy
  clog "etcd restarted with the new CA bundle"
}

write_env() {
  write_if_changed "$ETCD_ENV" "$(render_env "$1" "$2")" 0644 root:root || true
}

# Prints "id status name peer_url is_learner" for every member, via ENDPOINTS (client rights).
member_list() {
  etcdctl_at "$1" member list -w simple | awk -F', ' '{ print $1, $2, ($3 == "" ? "-" : $3), $4, $6 }'
}

# peer_members PEER_URL: the membership as the member at PEER_URL knows it, read through etcd's
# peer API, which every member uses to join and which needs only a peer certificate. Prints
# "id name peer_url is_learner" lines (ids in hex as etcdctl shows them; name "-" for a member
# registered but not started yet).
peer_members() {
  local body
  body=$(curl --http1.1 -fsS --max-time 5 --cacert "$CONSENSUS_TLS_DIR/ca.crt" \
    --cert "$CONSENSUS_TLS_DIR/server.crt" --key "$CONSENSUS_TLS_DIR/server.key" "$1/members") || return 1
  python3 -c '
import json, sys
for m in json.load(sys.stdin):
    print(format(m["id"], "x"), m.get("name") or "-", (m.get("peerURLs") or ["-"])[0], "true" if m.get("isLearner") else "false")' <<<"$body"
}

# The membership as the databases know it, from the first whose peer API answers.
members_seen_by_databases() {
  local m out errors=""
  for m in primary dr; do
    if out=$(peer_members "$(peer_url "$m")" 2>&1); then
      printf '%s\n' "$out"
      return 0
    fi
    errors+="${errors:+; }$m: $(tail -n 1 <<<"$out")"
  done
  printf '%s\n' "$errors" >&2
  return 1
}

# initial_cluster NAME_URL_LINES: etcd's --initial-cluster for joining: every started member by
# its name and this one (registered, not started yet) by its own. Reads "name peer_url" lines.
initial_cluster() {
  local self self_peer name peer out=""
  self=$(consensus SELF)
  self_peer=$(peer_url "$self")
  while read -r name peer; do
    if [[ $peer == "$self_peer" ]]; then
      out+="${out:+,}$self=$peer"
    elif [[ $name != - ]]; then
      out+="${out:+,}$name=$peer"
    fi
  done <<<"$1"
  printf '%s' "$out"
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

# One attempt of a database to be admitted. Returns 0 once etcd runs here as a (possibly learner)
# member, 1 to retry; the reason goes to stdout.
try_join() {
  local endpoints self self_peer list id status name peer learner out
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
  write_env existing "$(initial_cluster "$(awk '{ print $3, $4 }' <<<"$list")")"
  start_etcd
  return 0
}

# One attempt of the witness to join: a database registers it (admit_witness); it only reads the
# membership. Returns 0 once its etcd runs as the registered learner, 1 to retry (reason on stdout).
witness_try_join() {
  local list line id name peer learner
  if ! list=$(members_seen_by_databases 2>&1); then
    printf 'no database answers on its peer port (%s); %s' "$(tail -n 1 <<<"$list")" "$(admission_hint)"
    return 1
  fi
  line=$(awk -v p="$(peer_url witness)" '$3 == p' <<<"$list")
  if [[ -z $line ]]; then
    printf "not registered yet: a database adds the witness at its next converge ('pulumi up' of either stack) or timer run"
    return 1
  fi
  read -r id name peer learner <<<"$line"
  if [[ $name != - ]]; then
    printf "member %s is still registered for the witness Linode this one replaced: a database's next converge ('pulumi up' of either stack) removes it" "$id"
    return 1
  fi
  clog "registered by a database as learner $id; starting etcd"
  write_env existing "$(initial_cluster "$(awk '{ print $2, $3 }' <<<"$list")")"
  start_etcd
  return 0
}

# join_cluster ATTEMPT_FUNCTION: retries until admitted, for at most JOIN_TIMEOUT_SECONDS.
join_cluster() {
  local deadline attempt=0 delay=1 reason remaining
  deadline=$((SECONDS + $(consensus JOIN_TIMEOUT_SECONDS)))
  while :; do
    attempt=$((attempt + 1))
    if reason=$("$1"); then
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

# A learner is promoted once it has caught up with the leader; etcd refuses earlier. A database
# promotes itself, asking the other members only: etcdctl's balancer sends a request to any one of
# its endpoints, and a learner answers almost every request with "rpc not supported for learner"
# (its own endpoint is also the first to accept a connection, so across a WAN it is always picked).
# Only when no other member answers does it read the membership from its own endpoint, which
# answers only once it votes (the founder, or a member whose peers are down).
# The witness waits for a database to promote it. A rebuilt member (new address) is
# not reachable by the others until their stack's update gives them its address, and its etcd exits
# when no peer admits it: it is started again until then (systemd's Restart= would too; without
# systemd nothing else does).
become_voter() {
  local self self_peer deadline line id status name peer learner out
  self=$(consensus SELF)
  self_peer=$(peer_url "$self")
  deadline=$((SECONDS + $(consensus JOIN_TIMEOUT_SECONDS)))
  while :; do
    if ! etcd_running; then
      clog "etcd is not running (no peer admitted this member yet; $(admission_hint)); starting it again"
      start_etcd
    fi
    if [[ $self == witness ]]; then
      if line=$(members_seen_by_databases 2>/dev/null | awk -v p="$self_peer" '$3 == p'); [[ -n $line ]]; then
        read -r id name peer learner <<<"$line"
        if [[ $learner == false ]]; then
          clog "voting member $name ($id) of etcd cluster $(consensus SCOPE)"
          return 0
        fi
        clog "learner $id: a database promotes it once it has caught up (its converge or its timer; $(admission_hint))"
      fi
    elif line=$({ member_list "$(etcd_endpoints others)" || member_list "$(client_url "$self")"; } 2>/dev/null | awk -v p="$self_peer" '$4 == p'); [[ -n $line ]]; then
      read -r id status name peer learner <<<"$line"
      if [[ $learner == false ]]; then
        clog "voting member $name ($id) of etcd cluster $(consensus SCOPE)"
        return 0
      fi
      if out=$(etcdctl_at "$(etcd_endpoints others)" member promote "$id" 2>&1); then
        clog "promoted from learner: $out"
        continue
      fi
      clog "learner $id not promoted yet: $(printf '%s' "$out" | tail -n 1) (the leader must reach this member; $(admission_hint))"
    fi
    ((SECONDS < deadline)) || cdie "this member is still not a voting etcd member after $(consensus JOIN_TIMEOUT_SECONDS)s; $(admission_hint)"
    sleep 1
  done
}

# The local member's /health on the loopback metrics listener (no certificate needed): true once it
# has a leader and serves a quorum read.
wait_healthy() {
  local i
  for ((i = 0; i < 60; i++)); do
    if [[ $(curl -fsS --max-time 5 "http://127.0.0.1:$ETCD_METRICS_PORT/health" 2>/dev/null) == *'"health":"true"'* ]]; then
      return 0
    fi
    sleep 1
  done
  cdie "local etcd is not healthy after 60s; see $ETCD_LOG or journalctl -u $ETCD_UNIT"
}

# The witness's registration a database last saw: "<member id> <the witness address it belongs to>".
readonly WITNESS_RECORD=$CONSENSUS_STATE_DIR/etcd-witness-member

record_witness() {
  printf '%s %s\n' "$1" "$2" >"$WITNESS_RECORD"
}

# witness_step MEMBER_LIST RECORD ADDRESS: what a database does next to have the witness at ADDRESS
# voting, as "<step> [<member id>]". The witness's peer URL names it, not its address, so a new
# witness Linode meets the registration of the one it replaced: that registration is the member
# this database recorded for another address, and it is removed (a member with new, empty data
# must join as a learner; taking over the old member's identity could elect a leader without
# committed entries). Steps: add, remove ID, start ID (registered; the witness starts it), promote
# ID, voting ID.
witness_step() {
  local list=$1 record=$2 address=$3 line id status name peer learner recorded_id recorded_address
  line=$(awk -v p="$(peer_url witness)" '$4 == p' <<<"$list")
  if [[ -z $line ]]; then
    echo add
    return 0
  fi
  read -r id status name peer learner <<<"$line"
  read -r recorded_id recorded_address <<<"$record"
  if [[ $id == "$recorded_id" && -n $recorded_address && $recorded_address != "$address" ]]; then
    echo "remove $id"
  elif [[ $status != started ]]; then
    echo "start $id"
  elif [[ $learner == true ]]; then
    echo "promote $id"
  else
    echo "voting $id"
  fi
}

# admit_witness WAIT_SECONDS: a database's part in the witness's membership (the witness has no
# client rights): register it, remove the registration of a witness Linode that was replaced,
# promote it once in sync, then keep etcd leadership on it. Gives up quietly after WAIT_SECONDS
# (0: one pass), or a quarter of it while the witness has not started its learner (a rebuilt one
# learns this database's address from its own converge, which runs after this one): the next
# converge or timer run promotes it, and the witness's first boot says what it waits for.
admit_witness() {
  local wait=$1 address self_url list record step id out deadline start_deadline reason=""
  address=$(known_peers | awk '$1 == "witness" { print $3 }')
  if [[ -z $address ]]; then
    clog "the witness's address is not known here yet; the dr stack's outputs bring it"
    return 0
  fi
  self_url=$(client_url "$(consensus SELF)")
  if ! list=$(member_list "$self_url" 2>/dev/null) ||
    [[ -z $(awk -v p="$(peer_url "$(consensus SELF)")" '$4 == p && $2 == "started" && $5 == "false"' <<<"$list") ]]; then
    clog "this database is not a voting etcd member yet; it admits the witness once it is"
    return 0
  fi
  deadline=$((SECONDS + wait))
  start_deadline=$((SECONDS + wait / 4))
  while :; do
    list=$(member_list "$self_url" 2>&1) || cdie "the membership could not be read from this database's etcd: $(tail -n 1 <<<"$list")"
    record=$(cat "$WITNESS_RECORD" 2>/dev/null || true)
    read -r step id <<<"$(witness_step "$list" "$record" "$address")"
    # A registration this database did not remove belongs to the witness it knows now.
    [[ $step == add || $step == remove || $record == "$id $address" ]] || record_witness "$id" "$address"
    case $step in
      add)
        if out=$(etcdctl_at "$self_url" member add witness --learner --peer-urls="$(peer_url witness)" 2>&1); then
          id=$(awk '/^Member / { print $2; exit }' <<<"$out")
          record_witness "$id" "$address"
          clog "registered the witness ($address) as learner $id"
          continue
        fi
        reason="member add refused: $(tail -n 1 <<<"$out")"
        ;;
      remove)
        if out=$(etcdctl_at "$self_url" member remove "$id" 2>&1); then
          rm -f "$WITNESS_RECORD"
          clog "removed member $id: it belonged to the witness Linode at $(awk '{ print $2 }' <<<"$record"), which a new one at $address replaced"
          continue
        fi
        reason="member remove refused: $(tail -n 1 <<<"$out")"
        ;;
      start) reason="learner $id registered; the witness starts it" ;;
      promote)
        if out=$(etcdctl_at "$self_url" member promote "$id" 2>&1); then
          clog "promoted the witness ($id) to a voting member"
          continue
        fi
        reason="learner $id not in sync yet: $(tail -n 1 <<<"$out")"
        ;;
      voting)
        prefer_leadership
        return 0
        ;;
    esac
    if ((SECONDS >= deadline)) || [[ $step == start ]] && ((SECONDS >= start_deadline)); then
      clog "the witness is not a voting member yet ($reason); the next converge of a database or its timer carries on"
      return 0
    fi
    sleep 1
  done
}

# A database holding etcd leadership hands it to the witness (best effort). A new etcd leader
# extends every lease by its TTL, so if the etcd leader sat in the primary's region, losing that
# region would delay the end of Patroni's leader lease by an etcd election; with the leader on the
# witness, the lease ends at most ttl after the cut. The databases' timer repeats it, because etcd
# moves its leadership on its own after faults (and a restarting witness hands it over).
prefer_leadership() {
  local self_url status witness_id
  self_url=$(client_url "$(consensus SELF)")
  # endpoint, ID, version, db size, is leader, ...
  status=$(etcdctl_at "$self_url" endpoint status -w simple 2>/dev/null) || return 0
  [[ $(awk -F', ' '{ print $5; exit }' <<<"$status") == true ]] || return 0
  witness_id=$(member_list "$self_url" 2>/dev/null | awk -v p="$(peer_url witness)" '$4 == p && $2 == "started" && $5 == "false" { print $1 }' || true)
  [[ -n $witness_id ]] || return 0
  if etcdctl_at "$self_url" move-leader "$witness_id" >/dev/null 2>&1; then
    clog "handed etcd leadership to the witness ($witness_id)"
  else
    clog "could not hand etcd leadership to the witness ($witness_id); the timer tries again"
  fi
}

readonly TIMER_UNIT=linode-dr-etcd-leader

# On both databases: one admission pass (a witness in sync is promoted) and the leadership handover.
install_leadership_timer() {
  systemd_running || return 0
  write_if_changed "/etc/systemd/system/$TIMER_UNIT.service" "[Unit]
Description=linode-dr: promote the witness once in sync and keep etcd leadership on it

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/linode-dr-etcd-member --prefer-leader" 0644 root:root || true
  write_if_changed "/etc/systemd/system/$TIMER_UNIT.timer" "[Unit]
Description=linode-dr: promote the witness once in sync and keep etcd leadership on it

[Timer]
OnBootSec=2min
OnUnitActiveSec=1min

[Install]
WantedBy=timers.target" 0644 root:root || true
  systemctl daemon-reload
  systemctl enable --now "$TIMER_UNIT.timer"
}

# A witness installed before the databases took this over ran the timer itself; it has nothing to do.
retire_witness_timer() {
  systemd_running || return 0
  systemctl is-enabled --quiet "$TIMER_UNIT.timer" 2>/dev/null || return 0
  systemctl disable --now "$TIMER_UNIT.timer" || true
  clog "disabled $TIMER_UNIT.timer: the databases keep etcd leadership on the witness now"
}

main() {
  [[ $(id -u) == 0 ]] || cdie "must run as root"
  case ${1:-} in
    --reload-tls)
      load_consensus
      install_tls
      restart_for_trust
      return 0
      ;;
    --admit-witness | --prefer-leader)
      load_consensus
      if [[ $(consensus SELF) == witness ]]; then
        retire_witness_timer
        [[ $1 == --prefer-leader ]] || cdie "$1 runs on a database: the witness has no rights to change the membership"
        return 0
      fi
      if ! etcd_running; then
        clog "etcd does not run here yet; this database's first boot admits the witness once it is a voting member"
        return 0
      fi
      if [[ $1 == --admit-witness ]]; then
        admit_witness "$ADMIT_WAIT_SECONDS"
      else
        admit_witness 0
      fi
      return 0
      ;;
    "") ;;
    *) cdie "usage: linode-dr-etcd-member [--reload-tls | --admit-witness | --prefer-leader]; received \"$1\"" ;;
  esac
  umask 022
  load_consensus
  install -d -m 0755 "$CONSENSUS_STATE_DIR"
  ensure_packages
  write_hosts_block
  install_tls
  if has_data; then
    clog "etcd data present in $MEMBER_DATA_DIR; making sure etcd runs"
    start_etcd
  elif [[ $(consensus SELF) == witness ]]; then
    join_cluster witness_try_join
  elif [[ $(consensus FOUNDER) == true ]] && ! member_list "$(etcd_endpoints others)" >/dev/null 2>&1; then
    found_cluster
  else
    join_cluster try_join
  fi
  become_voter
  wait_healthy
  if [[ $(consensus SELF) == witness ]]; then
    retire_witness_timer
  else
    install_leadership_timer
  fi
  clog "done: $(consensus SELF) is a healthy voting member"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
