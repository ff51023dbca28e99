#!/bin/bash
# linode-dr-metadata-guard: only root may reach the Linode Metadata service from this Linode.
# Linked as /usr/local/sbin/linode-dr-metadata-guard; first boot runs it right after the release
# is in place (before any service of ours runs as another user) and every converge runs it again.
#
# Why: the Metadata service (169.254.169.254; fd00:a9fe:a9fe::1 and fe80::a9fe:a9fe) serves this
# Linode's user data to any local process that asks, for the Linode's whole life, and user data
# cannot be changed afterwards. Whatever first boot needed from it (the release key, a host key)
# must not be one compromised app process away. cloud-init runs as root, so it keeps its access.
#
# An nftables table of its own (inet linode_dr_metadata), replaced atomically on every run, rejects
# new connections from any other user to both addresses. A systemd unit loads it again at every
# boot, before the network is up; without systemd (the lab) converge re-applies it.
set -euo pipefail

export LOG_TAG=linode-dr-metadata-guard
# shellcheck source-path=SCRIPTDIR source=lib/retry.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/retry.sh"

readonly TABLE=linode_dr_metadata
readonly NFT_FILE=${LINODE_DR_METADATA_NFT:-/etc/linode-dr/metadata-guard.nft}
# Overridable only so the lab can prove the rule on a documentation address of its own.
readonly METADATA_IPV4=${LINODE_DR_METADATA_IPV4:-169.254.169.254}
# IPv6: comma-separated (Linode documents a unique local and a link-local address).
readonly METADATA_IPV6=${LINODE_DR_METADATA_IPV6:-fd00:a9fe:a9fe::1, fe80::a9fe:a9fe}
readonly UNIT=linode-dr-metadata-guard.service
readonly UNIT_FILE=/etc/systemd/system/$UNIT

log() { printf '%s %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$LOG_TAG" "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

# The ruleset as one nft transaction: creating the table first makes the delete valid on a host
# that never had it, so the file both installs and replaces.
render_rules() {
  cat <<EOF
# Managed by linode-dr-metadata-guard: only root reaches the Linode Metadata service.
table inet $TABLE
delete table inet $TABLE
table inet $TABLE {
  chain output {
    type filter hook output priority filter; policy accept;
    meta skuid != 0 ip daddr $METADATA_IPV4 counter reject with icmpx admin-prohibited
    meta skuid != 0 ip6 daddr { $METADATA_IPV6 } counter reject with icmpx admin-prohibited
  }
}
EOF
}

render_unit() {
  cat <<EOF
[Unit]
Description=linode-dr: only root reaches the Linode Metadata service
DefaultDependencies=no
Before=network-pre.target
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/nft -f $NFT_FILE

[Install]
WantedBy=sysinit.target
EOF
}

write_if_different() {
  local path=$1 content=$2 tmp
  [[ -f $path && $(<"$path") == "$content" ]] && return 1
  install -d -m 0755 "$(dirname "$path")"
  tmp=$(mktemp "$path.XXXXXX")
  printf '%s\n' "$content" >"$tmp"
  chmod 0644 "$tmp"
  mv -f "$tmp" "$path"
  return 0
}

persist() {
  [[ -d /run/systemd/system ]] || return 0
  if write_if_different "$UNIT_FILE" "$(render_unit)"; then
    systemctl daemon-reload
  fi
  systemctl enable --quiet "$UNIT"
}

main() {
  [[ $# -eq 0 ]] || die "takes no arguments; received \"$*\""
  [[ $(id -u) == 0 ]] || die "must run as root"
  if ! command -v nft >/dev/null 2>&1; then
    apt_install nftables || die "could not install nftables"
  fi
  write_if_different "$NFT_FILE" "$(render_rules)" || true
  nft -f "$NFT_FILE" || die "nft refused $NFT_FILE"
  persist
  log "only root reaches the Metadata service ($METADATA_IPV4, $METADATA_IPV6)"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
