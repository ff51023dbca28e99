#!/bin/bash
# linode-dr-app-rollout --env-file FILE --drain-seconds N [--artifact-file FILE]
# Deploys the current release (or a pinned artifact) and configuration of the C service on this
# app Linode without failing a request: the program runs it on one node at a time (each node's
# command depends on the previous one), so a failure here stops the rollout.
#   1. nothing to do when code and configuration are already deployed;
#   2. drain: /healthz answers "503 draining" while everything else keeps serving; wait N seconds,
#      the NodeBalancer's detection time (check interval x attempts + timeout), so it stops
#      sending new connections here (no wait for a node out of rotation already: no 200 before);
#   3. install and restart (graceful: in-flight requests finish);
#   4. the new process must be at least as healthy as the node was before: "db ok" (reachable and
#      writable) where it was, "db ok" or "db read-only (standby)" in the region whose database is
#      a standby, and merely answering where the database did not answer before (a database Linode
#      being rebuilt: the apps are pointed at it before it has joined); otherwise roll back to the
#      previous binary and configuration and fail;
#   5. undrain, wait for /healthz to show that state served and N seconds for the NodeBalancer to
#      take the node back.
set -euo pipefail

readonly ETC_DIR=${LINODE_DR_APP_ETC_DIR:-/etc/linode-dr}
readonly BIN_PATH=${LINODE_DR_APP_BIN:-/usr/local/bin/linode-dr-app}
readonly RUN_DIR=${LINODE_DR_APP_RUN_DIR:-/run/linode-dr}
readonly STATE_DIR=${LINODE_DR_APP_STATE_DIR:-/var/lib/linode-dr}
readonly INSTALL=${LINODE_DR_APP_INSTALL:-linode-dr-app-install}
readonly ENV_FILE=$ETC_DIR/app.env
readonly ARTIFACT_ENV=$ETC_DIR/app-artifact.env
readonly DRAIN_FILE=$RUN_DIR/drain
readonly DEPLOYED_FILE=$STATE_DIR/app-deployed
readonly HEALTH_WAIT_SECONDS=${LINODE_DR_ROLLOUT_HEALTH_WAIT:-60}

log() { printf '%s linode-dr-app-rollout: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

NEW_ENV=""
NEW_ARTIFACT=""
DRAIN_SECONDS=""

parse_args() {
  while (($# > 0)); do
    case $1 in
      --env-file) NEW_ENV=${2:?--env-file needs a file}; shift 2 ;;
      --artifact-file) NEW_ARTIFACT=${2:?--artifact-file needs a file}; shift 2 ;;
      --drain-seconds) DRAIN_SECONDS=${2:?--drain-seconds needs a number}; shift 2 ;;
      *) die "unknown argument \"$1\"; expected --env-file FILE --drain-seconds N [--artifact-file FILE]" ;;
    esac
  done
  [[ -r $NEW_ENV ]] || die "--env-file \"$NEW_ENV\" is not a readable file"
  [[ $DRAIN_SECONDS =~ ^[0-9]{1,4}$ ]] || die "--drain-seconds must be 0-9999; received \"$DRAIN_SECONDS\""
}

env_value() {
  sed -n "s/^$1=\"\\(.*\\)\"\$/\\1/p" "$2" | head -n 1
}

health() {
  local port
  port=$(env_value LINODE_DR_LISTEN_PORT "$ENV_FILE")
  curl --silent --max-time 3 --output - --write-out ' %{http_code}' "http://127.0.0.1:${port}/healthz" 2>/dev/null || true
}

# What the new version must reach, from what the node answered before the rollout: a rollout must
# not make a node worse, and cannot make it better than its database allows. Sets BAR to
# writable, readable or answering.
BAR=writable
# 200, and given both members, where the leader it writes through is: "OK leader=<name> remote".
readonly WRITABLE_BODY='OK( leader=[^ ]+ (local|remote))?'
readonly WRITABLE_ANSWER="^$WRITABLE_BODY 200\$"
set_bar() {
  local before
  before=$(health | tr -d '\n')
  if [[ $before =~ $WRITABLE_ANSWER || $before == "draining (db ok) 503" ]]; then
    BAR=writable
  elif [[ $before == "db read-only (standby) 503" || $before == "draining (db read-only (standby)) 503" ]]; then
    BAR=readable
  else
    BAR=answering
  fi
  log "before the rollout /healthz answered \"$before\"; the new version must be at least $BAR"
  if [[ $BAR == answering ]]; then
    log "the database connection cannot be verified: this node did not reach a database before the rollout either"
  fi
}

# /healthz ("<body> <status>") patterns that meet BAR while draining and once served again.
drained_pattern() {
  case $BAR in
    writable) printf '%s' '^draining \(db ok\) 503$' ;;
    readable) printf '%s' '^draining \(db (ok|read-only \(standby\))\) 503$' ;;
    *) printf '%s' '^draining \(.*\) 503$' ;;
  esac
}

served_pattern() {
  case $BAR in
    writable) printf '%s' "$WRITABLE_ANSWER" ;;
    readable) printf '%s' "^($WRITABLE_BODY 200|db read-only \\(standby\\) 503)\$" ;;
    *) printf '%s' '^[^ ].* [1-5][0-9][0-9]$' ;;
  esac
}

# wait_for_health PATTERN SECONDS: true once /healthz ("<body> <status>") matches PATTERN.
wait_for_health() {
  local pattern=$1 seconds=$2 waited=0 answer=""
  while ((waited < seconds * 5)); do
    answer=$(health | tr -d '\n')
    [[ $answer =~ $pattern ]] && return 0
    sleep 0.2
    waited=$((waited + 1))
  done
  log "/healthz answered \"$answer\" after ${seconds}s; expected $pattern"
  return 1
}

desired_matches_deployed() {
  local desired_code desired_env
  [[ -f $DEPLOYED_FILE && -f $ENV_FILE ]] || return 1
  cmp -s "$NEW_ENV" "$ENV_FILE" || return 1
  if [[ -n $NEW_ARTIFACT ]]; then
    [[ -f $ARTIFACT_ENV ]] && cmp -s "$NEW_ARTIFACT" "$ARTIFACT_ENV" || return 1
  else
    [[ ! -f $ARTIFACT_ENV ]] || return 1
  fi
  desired_code=$("$INSTALL" --code-id)
  desired_env=$(sha256sum "$NEW_ENV" | cut -d' ' -f1)
  [[ $(<"$DEPLOYED_FILE") == "code=$desired_code env=$desired_env" ]]
}

# The NodeBalancer sends connections only to nodes whose /healthz answers 200: a node that did
# not (its region's database is a standby, or does not answer) is out of rotation already, and
# waiting for the NodeBalancer to notice a drain, or to take it back, would only slow the rollout.
in_rotation() {
  [[ $BAR == writable ]]
}

drain() {
  install -d -m 0755 "$RUN_DIR"
  touch "$DRAIN_FILE"
  if ! in_rotation; then
    log "draining: the node is out of rotation already (its /healthz did not answer 200); no wait"
    return 0
  fi
  log "draining: /healthz answers 503 while the NodeBalancer takes the node out (${DRAIN_SECONDS}s)"
  sleep "$DRAIN_SECONDS"
}

undrain() {
  rm -f "$DRAIN_FILE"
  wait_for_health "$(served_pattern)" 30 || return 1
  in_rotation || return 0
  log "healthy; waiting ${DRAIN_SECONDS}s for the NodeBalancer to take the node back"
  sleep "$DRAIN_SECONDS"
}

save_previous() {
  [[ -x $BIN_PATH ]] && cp -f "$BIN_PATH" "$BIN_PATH.previous"
  cp -f "$ENV_FILE" "$ETC_DIR/.app.env.previous"
  if [[ -f $ARTIFACT_ENV ]]; then cp -f "$ARTIFACT_ENV" "$ETC_DIR/.app-artifact.env.previous"; else rm -f "$ETC_DIR/.app-artifact.env.previous"; fi
}

install_desired() {
  install -m 0600 "$NEW_ENV" "$ENV_FILE"
  if [[ -n $NEW_ARTIFACT ]]; then install -m 0644 "$NEW_ARTIFACT" "$ARTIFACT_ENV"; else rm -f "$ARTIFACT_ENV"; fi
  "$INSTALL"
}

# The node stays out of rotation unless the old version is back and healthy.
roll_back() {
  log "rolling back to the previous binary and configuration"
  [[ -f $BIN_PATH.previous ]] && mv -f "$BIN_PATH.previous" "$BIN_PATH"
  install -m 0600 "$ETC_DIR/.app.env.previous" "$ENV_FILE"
  if [[ -f $ETC_DIR/.app-artifact.env.previous ]]; then
    install -m 0644 "$ETC_DIR/.app-artifact.env.previous" "$ARTIFACT_ENV"
  else
    rm -f "$ARTIFACT_ENV"
  fi
  if "$INSTALL" --restart-only && wait_for_health "$(drained_pattern)" "$HEALTH_WAIT_SECONDS" && undrain; then
    log "previous version restored and back in rotation"
  else
    log "previous version is not healthy either: the node stays drained"
  fi
  die "rollout stopped on this node: the new version did not become healthy"
}

main() {
  parse_args "$@"
  if desired_matches_deployed; then
    log "already deployed: $(<"$DEPLOYED_FILE")"
    rm -f "$DRAIN_FILE"
    return 0
  fi
  [[ -f $ENV_FILE ]] || die "$ENV_FILE is missing: first boot did not configure this node"
  set_bar
  save_previous
  drain
  if ! install_desired; then
    roll_back
  fi
  if ! wait_for_health "$(drained_pattern)" "$HEALTH_WAIT_SECONDS"; then
    roll_back
  fi
  undrain || die "the new version stopped answering 200 after undrain; rollout stopped"
  log "deployed: $(<"$DEPLOYED_FILE")"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  # Two rollouts on one node would drain it twice and roll back each other's binary.
  # shellcheck source-path=SCRIPTDIR source=lib/exclusive.sh
  source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/exclusive.sh"
  run_exclusively app-rollout 900 "$0" "$@"
  main "$@"
fi
