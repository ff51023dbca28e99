#!/bin/bash
# linode-dr-first-boot ENTRY: what cloud-init's runcmd runs once. Fetches the release named in
# user data, then runs ENTRY (a /usr/local/sbin command of the release). Its outcome is left as a
# marker that the converge command, the health checks and the drill read, so a failed first boot
# is reported instead of leaving a silently dead node:
#   /var/lib/linode-dr/first-boot.fetched the release is in place (the entry may still be running:
#                                         a replica waits for its primary to admit it)
#   /var/lib/linode-dr/first-boot.done    release=<sha> entry=<entry> at=<time>
#   /var/lib/linode-dr/first-boot.failed  step=<fetch|guard|entry> exit=<code> at=<time> log=<file>
set -euo pipefail

readonly STATE_DIR=${LINODE_DR_STATE_DIR:-/var/lib/linode-dr}
readonly SBIN_DIR=${LINODE_DR_SBIN_DIR:-/usr/local/sbin}
readonly LOG_FILE=${LINODE_DR_FIRST_BOOT_LOG:-/var/log/linode-dr-first-boot.log}

log() { printf '%s linode-dr-first-boot: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

now() { date -u +%Y-%m-%dT%H:%M:%SZ; }

# The drop-in that turns password logins off is written by cloud-init; sshd may already run.
reload_sshd() {
  if [[ -d /run/systemd/system ]]; then
    systemctl try-reload-or-restart ssh.service || log "could not reload sshd (continuing)"
  fi
}

step() {
  local name=$1 rc=0
  shift
  "$@" || rc=$?
  if ((rc != 0)); then
    printf 'step=%s exit=%s at=%s log=%s\n' "$name" "$rc" "$(now)" "$LOG_FILE" >"$STATE_DIR/first-boot.failed"
    log "FAILED at step $name (exit $rc); see $LOG_FILE"
    exit "$rc"
  fi
}

main() {
  local entry=${1:?usage: linode-dr-first-boot ENTRY}
  [[ $entry =~ ^linode-dr-[a-z-]+$ ]] || { log "ENTRY must be a linode-dr command; received \"$entry\""; exit 2; }
  install -d -m 0755 "$STATE_DIR"
  exec > >(tee -a "$LOG_FILE") 2>&1
  rm -f "$STATE_DIR/first-boot.failed"
  printf 'at=%s\n' "$(now)" >"$STATE_DIR/first-boot.started"
  reload_sshd
  step fetch "$SBIN_DIR/linode-dr-fetch-release"
  # Before the entry starts anything as another user: user data stays root's.
  step guard "$SBIN_DIR/linode-dr-metadata-guard"
  printf 'at=%s\n' "$(now)" >"$STATE_DIR/first-boot.fetched"
  step entry "$SBIN_DIR/$entry"
  printf 'release=%s entry=%s at=%s\n' "$(basename "$(readlink -f "${LINODE_DR_OPT_DIR:-/opt/linode-dr}/current")")" "$entry" "$(now)" \
    >"$STATE_DIR/first-boot.done"
  log "done: $entry"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
