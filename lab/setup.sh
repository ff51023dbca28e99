#!/usr/bin/env bash
# Host set-up for the tests and the lab (`npm test`, `sudo npm run drill`) on Debian 12: the one
# place that lists the Debian packages they need. `--check` says exactly what is missing; no
# argument (or `--install`) installs the missing packages with apt-get, then checks. Idempotent.
set -euo pipefail

# postgresql-15: the database the lab provisions; cloud-init: schema validation and the real
# modules that run user data in lab hosts; clang + libclang-rt: libFuzzer and sanitizers;
# iproute2/util-linux: network namespaces and unshare for lab hosts; haproxy: the NodeBalancer
# stand-in; openssh-server/-client: sshd on lab hosts and the remote commands (pinned host keys);
# python3-yaml: the unit tests render patroni.yml and read it back with Debian's PyYAML, as Patroni
# does.
BASE_PACKAGES=(
  postgresql-15 postgresql-client-15 libpq-dev python3-yaml
  gcc libc6-dev make clang libclang-rt-14-dev valgrind
  cloud-init shellcheck wrk
  iproute2 util-linux procps psmisc openssl curl ca-certificates
  haproxy openssh-server openssh-client
)

# Daemons the lab runs only inside its hosts, with configuration of its own: Knot DNS and Unbound
# (the DNS stand-ins), etcd and Patroni (leadership). Their packages would start system services
# in the machine's own namespace; a policy-rc.d that refuses every start keeps them off.
DAEMON_PACKAGES=(knot knot-dnsutils unbound patroni python3-etcd etcd-server etcd-client)

POLICY_RC_D=/usr/sbin/policy-rc.d
NODE_MAJOR_MIN=20

log() { printf '[setup] %s\n' "$*" >&2; }

usage() {
  cat <<'EOF'
usage: lab/setup.sh [--install | --check | --help]
  --install  (default) install the missing Debian packages (root), then run --check
  --check    exit 0 if this machine can run `npm test` and the lab; else print each
             problem (e.g. the missing Debian packages) with its fix and exit 1
EOF
}

# Prints the packages among the arguments that dpkg does not have fully installed ("ii").
missing_packages() {
  local pkg status
  for pkg in "$@"; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
    [[ $status == ii* ]] || printf '%s\n' "$pkg"
  done
}

# The machine's preconditions (not node_modules). Prints one line per problem with its fix.
machine_problems() {
  local missing node_major
  mapfile -t missing < <(missing_packages "${BASE_PACKAGES[@]}" "${DAEMON_PACKAGES[@]}")
  if ((${#missing[@]})); then
    echo "missing Debian packages: ${missing[*]} — run: sudo lab/setup.sh"
  fi
  if [[ $(id -u) -ne 0 ]]; then
    echo "not root (uid $(id -u)): lab hosts are network namespaces — run as root (sudo)"
  fi
  if ! command -v ip >/dev/null || ! ip netns list >/dev/null 2>&1; then
    echo "\`ip netns\` does not work — install iproute2 (run: sudo lab/setup.sh)"
  elif [[ $(id -u) -eq 0 ]]; then
    local probe="setup-check-$$"
    if ip netns add "$probe" 2>/dev/null; then
      ip netns delete "$probe"
    else
      echo "\`ip netns add\` fails: this machine (container?) does not allow network namespaces — use a VM or a privileged container"
    fi
  fi
  if ! command -v unshare >/dev/null; then
    echo "unshare not found — install util-linux (run: sudo lab/setup.sh)"
  fi
  if ! command -v node >/dev/null; then
    echo "node not found — install Node.js >= $NODE_MAJOR_MIN (e.g. from nodejs.org or NodeSource)"
  else
    node_major=$(node -p 'process.versions.node.split(".")[0]')
    if ((node_major < NODE_MAJOR_MIN)); then
      echo "Node.js $(node --version) is too old — install Node.js >= $NODE_MAJOR_MIN"
    fi
  fi
}

project_problems() {
  if [[ ! -d node_modules ]]; then
    echo "node_modules missing — run: npm ci"
  fi
}

# Prints the problems to stderr; returns 1 if there are any.
report() {
  local problems=$1
  if [[ -n $problems ]]; then
    printf '%s\n' "$problems" >&2
    return 1
  fi
}

check() {
  report "$(machine_problems; project_problems)" || return 1
  log "ok: Debian packages, root, ip netns, unshare, Node.js >= $NODE_MAJOR_MIN, node_modules"
}

# Installs the given packages (the caller passes only the missing ones).
apt_install() {
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

install() {
  if [[ $(id -u) -ne 0 ]]; then
    log "installing Debian packages needs root — run: sudo lab/setup.sh"
    return 1
  fi
  local base daemons created=0 rc=0
  mapfile -t base < <(missing_packages "${BASE_PACKAGES[@]}")
  mapfile -t daemons < <(missing_packages "${DAEMON_PACKAGES[@]}")
  if ((${#base[@]} + ${#daemons[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    log "apt-get update"
    apt-get update -qq
  fi
  if ((${#base[@]})); then
    log "installing Debian packages: ${base[*]}"
    apt_install "${base[@]}"
  fi
  if ((${#daemons[@]})); then
    if [[ ! -e $POLICY_RC_D ]]; then
      printf '#!/bin/sh\nexit 101\n' >"$POLICY_RC_D"
      chmod 0755 "$POLICY_RC_D"
      created=1
    fi
    log "installing lab daemons (services kept off): ${daemons[*]}"
    apt_install "${daemons[@]}" || rc=$?
    if ((created)); then
      rm -f "$POLICY_RC_D"
    fi
    ((rc == 0)) || return "$rc"
  fi
  ((${#base[@]} + ${#daemons[@]})) || log "Debian packages: nothing missing"
  # node_modules is npm's business (npm ci comes after this on a fresh clone): a hint, not a failure.
  report "$(machine_problems)" || return 1
  if [[ -n $(project_problems) ]]; then
    log "machine ready; next: npm ci"
  else
    log "ok: machine and node_modules ready"
  fi
}

main() {
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  case ${1:---install} in
    --install) install ;;
    --check) check ;;
    -h | --help) usage ;;
    *) usage >&2 && return 2 ;;
  esac
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
