#!/bin/bash
# linode-dr-leader primary|dr [--force]: makes the named database member Patroni's leader, linked as
# /usr/local/sbin/linode-dr-leader. The failover flag's remote command runs it (bounded by
# `timeout`), and a failed `pulumi up` runs it again, so it is idempotent:
#   - the member already leads and accepts writes: nothing to do;
#   - the current leader is healthy: a switchover (Patroni stops the old primary cleanly and the
#     candidate takes over only after receiving all of its WAL: no acknowledged write is lost);
#   - there is no healthy leader: a failover to the member;
#   - it refuses (exit 3, nothing changed) when the member is not running under Patroni, never
#     finished its initial copy, is not streaming from a healthy leader, lags more than
#     maximum_lag_on_failover, or (a failover) lacks more than maximumDataLossSeconds of the writes
#     the leader acknowledged; it says how many seconds and transactions that is. --force skips the
#     lag guard and the budget only, and lets Patroni's pre_promote check
#     (linode-dr-promotion-check) pass for this member while it runs. A refusal leaves the member's
#     nofailover tag (automaticFailover=false) as it found it.
# It prints what it found and what it did on stdout, and waits (bounded) until the member leads and
# accepts writes. Patroni does the work; this only decides which Patroni operation to ask for.
set -euo pipefail

export LOG_TAG=linode-dr-leader
# shellcheck source-path=SCRIPTDIR source=lib/consensus.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/consensus.sh"
# shellcheck source-path=SCRIPTDIR source=lib/exclusive.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/exclusive.sh"

readonly PATRONI_CONFIG=$CONSENSUS_ETC_DIR/patroni.yml
readonly WAIT_SECONDS=${LINODE_DR_LEADER_WAIT_SECONDS:-240}
readonly REFUSED=3
readonly SYNC_WAIT_SECONDS=60
# Patroni's etcd client caches every name it resolves for its HTTP calls, member REST APIs
# included, for 600 s (Patroni 3.0.2, not configurable; docs/facts.md): after a member was rebuilt at
# a new address, the leader cannot reach it, and refuses a switchover to it, until that runs out.
readonly SWITCHOVER_RETRY_SECONDS=${LINODE_DR_SWITCHOVER_RETRY_SECONDS:-660}
# Read by linode-dr-promotion-check, as lib/cluster.py names it.
readonly FORCED_PROMOTION_FILE=$CONSENSUS_STATE_DIR/forced-promotion

say() { printf '%s\n' "$*"; }

# Set once this run has freed its own member of the nofailover tag, so that a refusal can put the
# tag back: "nothing was changed" has to hold for the tag too, or a refused manual failover would
# leave region B free to take the lease by itself.
FREED_OWN_TAG=false

refuse() {
  if [[ $FREED_OWN_TAG == true ]]; then
    set_own_nofailover true >/dev/null
  fi
  say "refused: $*"
  clog "REFUSED: $*"
  exit "$REFUSED"
}

rest_url() {
  printf 'https://%s:%s%s' "$(member_name "$1")" "$PATRONI_REST_PORT" "$2"
}

rest_get() {
  curl --silent --show-error --fail --max-time 5 --cacert "$CONSENSUS_TLS_DIR/ca.crt" "$(rest_url "$1" "$2")"
}

# The cluster as Patroni sees it, from the first database member whose REST API answers.
cluster_json() {
  local m
  for m in "$(consensus SELF)" primary dr; do
    if rest_get "$m" /cluster 2>/dev/null; then
      return 0
    fi
  done
  return 1
}

# Prints "leader=<name|none> leader_state=<state|none> state=<desired's state> lag=<bytes|unknown>
# role=<desired's role> paused=<true|false>" from /cluster JSON on stdin.
summarise() {
  /usr/bin/python3 -c '
import json, sys
desired = sys.argv[1]
c = json.load(sys.stdin)
members = c.get("members", [])
leader = next((m for m in members if m.get("role") in ("leader", "standby_leader")), None)
me = next((m for m in members if m.get("name") == desired), None)
lag = "unknown" if me is None else me.get("lag", "unknown")
print("leader=%s leader_state=%s state=%s lag=%s role=%s paused=%s" % (
    leader["name"] if leader else "none",
    (leader.get("state") or "unknown").replace(" ", "_") if leader else "none",
    (me.get("state") or "unknown").replace(" ", "_") if me else "absent",
    lag if isinstance(lag, int) else "unknown",
    me.get("role", "none") if me else "none",
    "true" if c.get("pause") else "false"))
' "$1"
}

declare -A FOUND=()

observe() {
  local json line pair
  json=$(cluster_json) || return 1
  line=$(summarise "$1" <<<"$json") || return 1
  FOUND=()
  for pair in $line; do
    FOUND[${pair%%=*}]=${pair#*=}
  done
}

writable() {
  rest_get "$1" /primary >/dev/null 2>&1
}

# Streaming check for a switchover: asked on whichever end is local (the command runs on a database
# host); when neither is, Patroni's own view (state and lag) has to do.
streaming_to() {
  local desired=$1 leader=$2 self value
  self=$(consensus SELF)
  if [[ $self == "$desired" ]]; then
    value=$(runuser -u postgres -- psql -h /var/run/postgresql -X -At -c "SELECT status FROM pg_stat_wal_receiver" postgres 2>/dev/null || true)
  elif [[ $self == "$leader" ]]; then
    value=$(runuser -u postgres -- psql -h /var/run/postgresql -X -At -c "SELECT state FROM pg_stat_replication WHERE application_name = '$desired'" postgres 2>/dev/null || true)
  else
    value=streaming
  fi
  [[ $value == streaming ]]
}

# In synchronous mode Patroni moves leadership only to the synchronous standby; a member that has
# just rejoined becomes it within a loop or two.
wait_for_sync_standby() {
  local desired=$1 deadline sync
  sync=$(rest_get "$desired" /config 2>/dev/null | /usr/bin/python3 -c 'import json, sys; print("true" if json.load(sys.stdin).get("synchronous_mode") else "false")' || echo false)
  [[ $sync == true ]] || return 0
  deadline=$((SECONDS + SYNC_WAIT_SECONDS))
  while ((SECONDS < deadline)); do
    observe "$desired" && [[ ${FOUND[role]} == sync_standby ]] && return 0
    sleep 1
  done
  return 1
}

wait_for_leadership() {
  local desired=$1 deadline
  deadline=$((SECONDS + WAIT_SECONDS))
  while ((SECONDS < deadline)); do
    if observe "$desired" && [[ ${FOUND[leader]} == "$desired" && ${FOUND[leader_state]} == running ]] && writable "$desired"; then
      return 0
    fi
    sleep 0.5
  done
  return 1
}

# automaticFailover=false: the member the flag names must be free of Patroni's nofailover tag
# before Patroni will hand it the lease, and this member must carry it again once another leads.
# The choice is recorded where linode-dr-db-provision reads it, so a later converge keeps it.
set_own_nofailover() {
  local value=$1 self deadline live
  [[ $(consensus AUTOMATIC_FAILOVER) == false ]] || return 0
  self=$(consensus SELF)
  printf '%s\n' "$value" >"$NOFAILOVER_FILE"
  if ! grep -q "^  nofailover: $value\$" "$PATRONI_CONFIG"; then
    # sed -i writes a new file: give it back to Patroni's user (it holds secrets: 0600).
    sed -i "s/^  nofailover: .*/  nofailover: $value/" "$PATRONI_CONFIG"
    chown postgres:postgres "$PATRONI_CONFIG"
    chmod 0600 "$PATRONI_CONFIG"
  fi
  deadline=$((SECONDS + 30))
  while ((SECONDS < deadline)); do
    # What the cluster (etcd) says, not the local API: patronictl picks candidates from there.
    live=$(cluster_json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
me = [m for m in json.load(sys.stdin).get("members", []) if m.get("name") == sys.argv[1]]
print(("true" if me[0].get("tags", {}).get("nofailover") else "false") if me else "unknown")' "$self" || echo unknown)
    if [[ $live == "$value" ]]; then
      say "nofailover=$value on $self (automatic failover is off: only the flag's member may lead)"
      return 0
    fi
    patronictl -c "$PATRONI_CONFIG" reload "$(consensus SCOPE)" "$self" --force >/dev/null 2>&1 || true
    sleep 1
  done
  cdie "Patroni on $self did not take nofailover=$value within 30 s"
}

# Removed when the run ends, however it ends: the operator's --force holds for this run only.
FORCED=false
forget_forced_promotion() {
  if [[ $FORCED == true ]]; then
    rm -f "$FORCED_PROMOTION_FILE"
  fi
}

# --force on the member being promoted: Patroni's pre_promote check lets it through, for at most
# as long as this run may wait.
allow_forced_promotion() {
  local desired=$1 until
  until=$(($(date +%s) + WAIT_SECONDS + 60))
  FORCED=true
  trap forget_forced_promotion EXIT
  printf 'member=%s until=%s\n' "$desired" "$until" >"$FORCED_PROMOTION_FILE.tmp"
  chmod 0644 "$FORCED_PROMOTION_FILE.tmp"
  mv -f "$FORCED_PROMOTION_FILE.tmp" "$FORCED_PROMOTION_FILE"
}

declare -A LOSS=()

# The data-loss budget's assessment of promoting this member now, as linode-dr-promotion-check
# makes it before Patroni promotes (it runs as PostgreSQL's user, whose files it reads). Fills LOSS
# (verdict behind_seconds transactions bytes budget_seconds reason); returns 1 when it has no
# answer.
assess_loss() {
  local line pair
  line=$(runuser -u postgres -- "$SBIN_DIR/linode-dr-promotion-check" --report 2>/dev/null) || return 1
  LOSS=([reason]=$(sed -n 's/.* reason=//p' <<<"$line" | /usr/bin/python3 -c 'import json, sys; print(json.loads(sys.stdin.read()))'))
  for pair in ${line%% reason=*}; do
    LOSS[${pair%%=*}]=${pair#*=}
  done
  [[ -n ${LOSS[verdict]:-} ]]
}

# Failover (no healthy leader) to this member: how much it would lose, refused beyond the budget
# unless forced. Where the budget is not configured (a member provisioned before it), or the
# member is not this host, Patroni's byte guard alone stands.
check_loss_budget() {
  local desired=$1 force=$2
  [[ $(consensus SELF) == "$desired" && -n $(consensus MAXIMUM_DATA_LOSS_SECONDS) ]] || return 0
  if ! assess_loss; then
    [[ $force == true ]] || refuse "the data loss of promoting $desired cannot be assessed (linode-dr-promotion-check --report failed); nothing was changed. Set the force key to promote it anyway"
    say "warning: the data loss of promoting $desired cannot be assessed; proceeding because of --force"
    return 0
  fi
  say "found: $desired is ${LOSS[behind_seconds]} s (${LOSS[transactions]} transactions, ${LOSS[bytes]} bytes) behind the leader's last report; the budget is ${LOSS[budget_seconds]} s"
  if [[ ${LOSS[verdict]} == refuse ]]; then
    [[ $force == true ]] || refuse "${LOSS[reason]}; nothing was changed. Set the force key to accept that loss"
    say "warning: promoting $desired beyond the data-loss budget because of --force: ${LOSS[reason]}"
  fi
}

# This member's nofailover value as its Patroni configuration has it (true when unreadable).
own_nofailover() {
  if grep -q '^  nofailover: false$' "$PATRONI_CONFIG"; then
    printf false
  else
    printf true
  fi
}

# Patroni decides a switchover on the spot and answers a refusal with exit status 0: it refuses
# ("no good candidates") when the leader cannot reach the candidate's REST API that instant, as for
# a member rebuilt at a new address while the leader's Patroni still holds the old one (the
# region-rebuild drill's failback met it). That refusal is asked again, with backoff, for a bounded
# time; any other ends the run with Patroni's reason, nothing changed.
# Leaves patronictl's answer in PATRONI_ANSWER once accepted.
PATRONI_ANSWER=""
request_switchover() {
  local leader=$1 desired=$2 deadline out delay=3
  deadline=$((SECONDS + SWITCHOVER_RETRY_SECONDS))
  while :; do
    out=$(patronictl -c "$PATRONI_CONFIG" switchover --leader "$leader" --candidate "$desired" --force 2>&1) ||
      cdie "patronictl switchover failed: $out"
    if ! grep -q "Switchover failed" <<<"$out"; then
      PATRONI_ANSWER=$out
      return 0
    fi
    if grep -q "no good candidates" <<<"$out" && ((SECONDS < deadline)); then
      clog "Patroni on $leader cannot reach $desired's REST API yet ($(grep -o 'switchover is not possible[^|]*' <<<"$out" | head -n 1)); if $desired was rebuilt at a new address, $leader's Patroni holds the old one for up to 600 s. Asking again in ${delay}s, giving up in $((deadline - SECONDS))s"
      sleep "$delay"
      delay=$((delay * 2 > 30 ? 30 : delay * 2))
      continue
    fi
    refuse "Patroni refused the switchover $leader -> $desired: $(grep -o 'Switchover failed.*' <<<"$out" | head -n 1); nothing was changed"
  done
}

main() {
  local desired=${1:-} force=false leader guard out
  [[ $desired == primary || $desired == dr ]] || cdie "usage: linode-dr-leader primary|dr [--force]; received \"$desired\"" 2
  if [[ ${2:-} == --force ]]; then
    force=true
  elif [[ -n ${2:-} ]]; then
    cdie "unknown option \"$2\"; the only option is --force" 2
  fi
  [[ $(id -u) == 0 ]] || cdie "must run as root"
  load_consensus
  [[ -r $PATRONI_CONFIG ]] || cdie "$PATRONI_CONFIG is missing: this is not a provisioned database host"
  guard=$(consensus MAXIMUM_LAG_ON_FAILOVER)

  observe "$desired" || refuse "no Patroni REST API answers (tried $(consensus SELF), primary, dr); nothing was changed"
  leader=${FOUND[leader]}
  say "found: leader=$leader ($(tr '_' ' ' <<<"${FOUND[leader_state]}")), $desired: role=${FOUND[role]} state=$(tr '_' ' ' <<<"${FOUND[state]}") lag=${FOUND[lag]} bytes, paused=${FOUND[paused]}"

  if [[ $(consensus SELF) == "$desired" && $(consensus AUTOMATIC_FAILOVER) == false && $(own_nofailover) != false ]]; then
    set_own_nofailover false
    FREED_OWN_TAG=true
  fi
  if [[ $leader == "$desired" && ${FOUND[leader_state]} == running ]] && writable "$desired"; then
    say "nothing to do: $desired is the leader and accepts writes"
    [[ $(consensus SELF) == "$desired" ]] || set_own_nofailover true
    return 0
  fi
  case ${FOUND[state]} in
    running) ;;
    absent) refuse "$desired is not a member of the Patroni cluster (never started, or its Patroni is down)" ;;
    creating_replica | stopped | starting | start_failed | crashed | unknown)
      refuse "$desired is $(tr '_' ' ' <<<"${FOUND[state]}"), not a running replica (it may never have completed its initial copy); nothing was changed"
      ;;
    *) refuse "$desired is in state \"${FOUND[state]}\"; nothing was changed" ;;
  esac
  if [[ ${FOUND[lag]} == unknown ]]; then
    refuse "$desired has no known replication position; nothing was changed"
  fi
  local lag=${FOUND[lag]}
  if ((lag > guard)); then
    if [[ $force == true ]]; then
      say "warning: $desired lags ${FOUND[lag]} bytes, more than the guard ($guard bytes); proceeding because of --force"
    else
      refuse "$desired lags ${FOUND[lag]} bytes behind the last known leader position, more than maximum_lag_on_failover ($guard bytes); promoting it would lose those writes. Set the force key to accept that"
    fi
  fi

  if [[ $leader != none && ${FOUND[leader_state]} == running ]] && writable "$leader"; then
    streaming_to "$desired" "$leader" || refuse "$desired is not streaming from the healthy leader $leader; a switchover would wait on it. Nothing was changed"
    wait_for_sync_standby "$desired" || refuse "synchronous mode is on and $desired has not become the synchronous standby within ${SYNC_WAIT_SECONDS}s; Patroni would not switch over to it. Nothing was changed"
    say "doing: switchover $leader -> $desired (the leader is healthy: zero acknowledged writes lost)"
    request_switchover "$leader" "$desired"
    out=$PATRONI_ANSWER
  else
    check_loss_budget "$desired" "$force"
    if [[ $force == true && $(consensus SELF) == "$desired" ]]; then
      allow_forced_promotion "$desired"
    fi
    say "doing: failover to $desired (no healthy leader: $leader is $(tr '_' ' ' <<<"${FOUND[leader_state]}"))"
    if ! out=$(patronictl -c "$PATRONI_CONFIG" failover --candidate "$desired" --force 2>&1); then
      # Freed of the nofailover tag just now, the member may have taken the free lease on its own.
      if observe "$desired" && [[ ${FOUND[leader]} == "$desired" ]]; then
        out="not needed: $desired took the free lease itself once it was allowed to lead"
      else
        cdie "patronictl failover failed: $out"
      fi
    fi
  fi
  clog "patronictl: $(tr '\n' ' ' <<<"$out")"
  wait_for_leadership "$desired" || cdie "$desired did not become a writable leader within ${WAIT_SECONDS}s"
  [[ $(consensus SELF) == "$desired" ]] || set_own_nofailover true
  say "done: $desired is the leader and accepts writes"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  # Longer than a run's own bounded wait: a second run waits for the first rather than interleave.
  run_exclusively leadership $((WAIT_SECONDS + SWITCHOVER_RETRY_SECONDS + 120)) "$0" "$@"
  main "$@"
fi
