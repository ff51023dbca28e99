#!/bin/bash
# linode-dr-leader-gate: the forced command of the dr stack's leadership key on the primary
# database (linode-dr-converge writes it into root's authorized_keys as
# `restrict,command="/usr/local/sbin/linode-dr-leader-gate" <key>`).
#
# Why: the failover flag's command must run on the member the flag names, so that moving traffic
# back to region A never needs region B (B may be the region that was lost). The dr stack therefore
# reaches the primary database, but it needs one power there only: asking for leadership. sshd runs
# this instead of whatever the client asked, with the request in SSH_ORIGINAL_COMMAND; only the
# exact command line the program sends (provisioning/consensus.ts leaderCommandLine) is run.
set -euo pipefail

readonly LEADER=${LINODE_DR_LEADER:-/usr/local/sbin/linode-dr-leader}
readonly MAX_TIMEOUT_SECONDS=3600
readonly REFUSED=126

log() { printf '%s linode-dr-leader-gate: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

main() {
  local request=${SSH_ORIGINAL_COMMAND:-}
  local pattern='^timeout ([0-9]{1,4}) /usr/local/sbin/linode-dr-leader (primary|dr)( --force)?$'
  if [[ ! $request =~ $pattern ]]; then
    log "refused \"${request:0:80}\": this key may only run \"timeout <seconds> /usr/local/sbin/linode-dr-leader primary|dr [--force]\""
    exit "$REFUSED"
  fi
  local seconds=${BASH_REMATCH[1]} desired=${BASH_REMATCH[2]} force=${BASH_REMATCH[3]}
  if ((10#$seconds < 1 || 10#$seconds > MAX_TIMEOUT_SECONDS)); then
    log "refused: timeout $seconds is outside 1-$MAX_TIMEOUT_SECONDS seconds"
    exit "$REFUSED"
  fi
  local args=("$desired")
  [[ -z $force ]] || args+=(--force)
  exec timeout "$((10#$seconds))" "$LEADER" "${args[@]}"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
