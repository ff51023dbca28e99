#!/bin/bash
# Shared by the release's scripts (sourced): bounded retries with exponential backoff, and apt
# installs that survive a busy dpkg lock or a mirror hiccup on first boot. Bounded so that a real
# outage ends in a clear failure, which first-boot records, instead of hanging forever.

# retry ATTEMPTS MAX_DELAY_SECONDS COMMAND...
retry() {
  local attempts=$1 max_delay=$2 attempt delay=2 rc
  shift 2
  for ((attempt = 1; ; attempt++)); do
    rc=0
    "$@" || rc=$?
    ((rc == 0)) && return 0
    if ((attempt >= attempts)); then
      printf '%s retry: "%s" failed %s times (last exit %s)\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" "$attempts" "$rc" >&2
      return "$rc"
    fi
    printf '%s retry: "%s" failed (exit %s, attempt %s of %s); next try in %ss\n' \
      "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" "$rc" "$attempt" "$attempts" "$delay" >&2
    sleep "$delay"
    delay=$((delay * 2 > max_delay ? max_delay : delay * 2))
  done
}

package_installed() {
  [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true) == installed ]]
}

_apt_update_and_install() {
  # -o DPkg::Lock::Timeout waits for unattended-upgrades instead of failing at once.
  apt-get -o DPkg::Lock::Timeout=120 update -q &&
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -q --no-install-recommends "$@"
}

# apt_install PACKAGE...: installs what is missing; about 8 minutes at most before giving up.
apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    package_installed "$pkg" || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0
  printf '%s apt_install: installing %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${missing[*]}" >&2
  retry "${LINODE_DR_APT_ATTEMPTS:-6}" 60 _apt_update_and_install "${missing[@]}"
}
