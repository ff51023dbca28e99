#!/bin/bash
# linode-dr-follower-install: installs and (re)starts the traffic follower on the witness, or
# removes it. Linked as /usr/local/sbin/linode-dr-follower-install and run by the program's own
# remote command for the follower, with the desired state on stdin, so the settings and the token
# reach the witness over SSH only (never in user data, which any local process on a Linode can
# read from the metadata service, for the Linode's whole life):
#
#   linode-dr-follower-install            stdin: "settings <base64 JSON>" and "token <base64>" lines
#   linode-dr-follower-install --remove   stop it and remove its settings and token
#   linode-dr-follower-install --reload-trust   restart it if the CA bundle changed since it started
#                                               (linode-dr-tls-install runs it)
#
# The follower is the release's follower/src/main.js, run by Debian's nodejs (Node 18) as its own
# unprivileged user, under systemd or, without systemd (the lab), in the background. It trusts the
# operating system's CA store (NODE_EXTRA_CA_CERTS) for the Linode API. Idempotent.
set -euo pipefail

export LOG_TAG=linode-dr-follower-install
# shellcheck source-path=SCRIPTDIR source=lib/retry.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/retry.sh"
# shellcheck source-path=SCRIPTDIR source=lib/consensus.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/consensus.sh"

readonly FOLLOWER_USER=linode-dr-follower
readonly SETTINGS_FILE=${LINODE_DR_FOLLOWER_SETTINGS:-/etc/linode-dr/follower.json}
readonly TOKEN_FILE=${LINODE_DR_FOLLOWER_TOKEN:-/etc/linode-dr/follower-token}
readonly STATE_DIR=${LINODE_DR_FOLLOWER_STATE_DIR:-/var/lib/linode-dr/follower}
readonly LOG_FILE=/var/log/linode-dr-follower.log
readonly UNIT=linode-dr-follower.service
readonly UNIT_FILE=/etc/systemd/system/$UNIT
readonly RELEASE=/opt/linode-dr/current
readonly ENTRY=$RELEASE/follower/src/main.js
readonly CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
readonly NODE_MAJOR_MIN=18

usage() {
  echo "usage: linode-dr-follower-install (desired state on stdin) | linode-dr-follower-install --remove | linode-dr-follower-install --reload-trust" >&2
  exit 2
}

# Reads "settings <base64>" and "token <base64>" from stdin into the two files given.
read_desired_state() {
  local settings=$1 token=$2 kind value
  while IFS=' ' read -r kind value || [[ -n $kind ]]; do
    case $kind in
      "") ;;
      settings) base64 -d <<<"$value" >"$settings" || cdie "the settings line is not valid base64" ;;
      token) base64 -d <<<"$value" >"$token" || cdie "the token line is not valid base64" ;;
      *) cdie "unknown desired-state item \"$kind\"; expected settings or token" ;;
    esac
  done
}

ensure_node() {
  apt_install nodejs || cdie "could not install nodejs"
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  ((major >= NODE_MAJOR_MIN)) || cdie "node $(node --version) is older than $NODE_MAJOR_MIN, which the follower is built for"
}

ensure_user() {
  if ! id -u "$FOLLOWER_USER" >/dev/null 2>&1; then
    useradd --system --home-dir "$STATE_DIR" --shell /usr/sbin/nologin "$FOLLOWER_USER"
    clog "created system user $FOLLOWER_USER"
  fi
  install -d -o "$FOLLOWER_USER" -g "$FOLLOWER_USER" -m 0700 "$STATE_DIR"
}

render_unit() {
  cat <<EOF
[Unit]
Description=linode-dr traffic follower (points the traffic records at the database leader's region)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User=$FOLLOWER_USER
Group=$FOLLOWER_USER
Environment=NODE_EXTRA_CA_CERTS=$CA_BUNDLE
ExecStart=/usr/bin/node $ENTRY run --settings $SETTINGS_FILE
Restart=always
RestartSec=2
NoNewPrivileges=true
ProtectSystem=strict
ReadWritePaths=$STATE_DIR

[Install]
WantedBy=multi-user.target
EOF
}

running_release() {
  [[ -r $STATE_DIR/release ]] && cat "$STATE_DIR/release"
}

stop_follower() {
  if systemd_running; then
    systemctl disable --now "$UNIT" 2>/dev/null || true
  elif pid_running follower; then
    local pid
    pid=$(<"$RUN_DIR/follower.pid")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$RUN_DIR/follower.pid"
  fi
}

# The follower reads the CA bundle it verifies the members with at its start.
readonly FOLLOWER_CA=$CONSENSUS_TLS_DIR/ca.crt

trust_digest() {
  sha256sum "$FOLLOWER_CA" 2>/dev/null | cut -d' ' -f1
}

start_follower() {
  if systemd_running; then
    write_if_changed "$UNIT_FILE" "$(render_unit)" 0644 root:root || true
    systemctl daemon-reload
    systemctl enable "$UNIT" >/dev/null
    systemctl restart "$UNIT"
  else
    start_background follower "$FOLLOWER_USER" "" "$LOG_FILE" \
      env "NODE_EXTRA_CA_CERTS=$CA_BUNDLE" node "$ENTRY" run --settings "$SETTINGS_FILE"
  fi
  readlink -f "$RELEASE" >"$STATE_DIR/release"
  trust_digest >"$STATE_DIR/follower-ca.sha256"
}

# After linode-dr-tls-install replaced the CA bundle: a running follower restarts to trust it.
reload_trust() {
  local running=0
  if systemd_running; then
    systemctl is-active --quiet "$UNIT" && running=1
  else
    pid_running follower && running=1
  fi
  ((running)) || return 0
  if [[ -r $STATE_DIR/follower-ca.sha256 && $(<"$STATE_DIR/follower-ca.sha256") == "$(trust_digest)" ]]; then
    return 0
  fi
  stop_follower
  start_follower
  clog "follower restarted to trust the new CA bundle"
}

install_follower() {
  local settings=$1 token=$2 changed=0
  [[ -s $settings ]] || cdie "settings file $settings is missing or empty"
  [[ -s $token ]] || cdie "token file $token is missing or empty"
  ensure_node
  ensure_user
  write_if_changed "$TOKEN_FILE" "$(<"$token")" 0600 "$FOLLOWER_USER:$FOLLOWER_USER" && changed=1
  write_if_changed "$SETTINGS_FILE" "$(<"$settings")" 0640 "root:$FOLLOWER_USER" && changed=1
  # The service reads and checks them the way it will run: a bad file fails here, not in a loop.
  runuser -u "$FOLLOWER_USER" -- node "$ENTRY" check --settings "$SETTINGS_FILE" ||
    cdie "the follower refused its settings (above)"
  [[ $(running_release) == "$(readlink -f "$RELEASE")" ]] || changed=1
  if ((changed)); then
    stop_follower
    start_follower
    clog "follower (re)started with the current settings and release"
  elif systemd_running && ! systemctl is-active --quiet "$UNIT"; then
    start_follower
    clog "follower was not running: started"
  elif ! systemd_running && ! pid_running follower; then
    start_follower
    clog "follower was not running: started"
  else
    clog "follower running, settings and release unchanged"
  fi
}

remove_follower() {
  stop_follower
  rm -f "$UNIT_FILE" "$SETTINGS_FILE" "$TOKEN_FILE" "$STATE_DIR/release"
  if systemd_running; then systemctl daemon-reload; fi
  clog "follower removed (no token configured: traffic moves with the failover flag only)"
}

main() {
  [[ $(id -u) == 0 ]] || cdie "must run as root"
  case $# in
    0)
      local desired
      desired=$(mktemp -d)
      # shellcheck disable=SC2064 # the directory is known now
      trap "rm -rf '$desired'" EXIT
      (umask 077 && read_desired_state "$desired/settings.json" "$desired/token")
      install_follower "$desired/settings.json" "$desired/token"
      ;;
    1)
      case $1 in
        --remove) remove_follower ;;
        --reload-trust) reload_trust ;;
        *) usage ;;
      esac
      ;;
    *) usage ;;
  esac
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
