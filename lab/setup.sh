#!/usr/bin/env bash
# Host set-up on Debian 12: the one place that lists the Debian packages the project needs, and
# why. `npm test` (no root) needs the "test" packages; the lab suite and `sudo npm run drill` need
# all of them, root and network namespaces. Idempotent.
set -euo pipefail

# package|needed by|why. "test": `npm test`; "lab": lab hosts; "daemon": a daemon the lab runs only
# inside its hosts, whose package would otherwise start a system service on this machine.
readonly PACKAGES=(
  "gcc|test|builds the C service and its tests"
  "libc6-dev|test|builds the C service and its tests"
  "make|test|builds the C service and its tests"
  "libpq-dev|test|the C service talks to PostgreSQL through libpq"
  "clang|test|libFuzzer and the sanitizers the C tests run under"
  "libclang-rt-14-dev|test|clang's sanitizer and fuzzer runtime"
  "valgrind|test|the C service's memory checks"
  "shellcheck|test|checks every provisioning script"
  "cloud-init|test|validates the user data the program renders, and runs it on lab hosts"
  "python3-yaml|test|the unit tests read the rendered patroni.yml back with Debian's PyYAML, as Patroni does"
  "postgresql-15|lab|the database every lab database host runs"
  "postgresql-client-15|lab|psql, inside lab hosts and for the drill's checks"
  "wrk|lab|load for the C service's benchmarks"
  "iproute2|lab|network namespaces: one per lab host"
  "util-linux|lab|unshare: each lab host's own mounts and processes"
  "procps|lab|process checks inside lab hosts"
  "psmisc|lab|process checks inside lab hosts"
  "openssl|lab|the lab's own certificates (DNS, Object Storage stand-ins)"
  "curl|lab|release downloads and HTTP checks on lab hosts"
  "ca-certificates|lab|TLS trust store on lab hosts"
  "haproxy|lab|stand-in for each region's NodeBalancer"
  "openssh-server|lab|sshd on every lab host: remote commands with pinned host keys"
  "openssh-client|lab|the operator's SSH for remote commands"
  "nftables|lab|every lab host applies the Metadata guard (only root reaches the Metadata service)"
  "iputils-ping|lab|measures the round trip the lab's WAN gives each pair of sites"
  "knot|daemon|stand-in for Linode DNS Manager's nameservers"
  "knot-dnsutils|daemon|queries the DNS stand-in"
  "unbound|daemon|the users' caching resolver (honours record TTLs)"
  "patroni|daemon|leadership: runs PostgreSQL on the database Linodes"
  "python3-etcd|daemon|Patroni's etcd client"
  "etcd-server|daemon|the three-site quorum Patroni keeps its leader lease in"
  "etcd-client|daemon|etcdctl: joining and checking etcd members"
)

POLICY_RC_D=/usr/sbin/policy-rc.d
NODE_MAJOR_MIN=20

log() { printf '[setup] %s\n' "$*" >&2; }

usage() {
  cat <<'EOF'
usage: lab/setup.sh [--install | --check | --check-test | --help]
  --install     (default) install the missing Debian packages (root), then check the lab
  --check       exit 0 if this machine can run the lab and the drill (root, every package,
                network namespaces); else name each problem with its fix and exit 1
  --check-test  the same for `npm test` alone (no root needed)
EOF
}

# Rows of PACKAGES whose scope is one of the arguments, one per line.
rows() {
  local row scope
  for row in "${PACKAGES[@]}"; do
    IFS='|' read -r _ scope _ <<<"$row"
    for wanted in "$@"; do
      if [[ $scope == "$wanted" ]]; then printf '%s\n' "$row"; fi
    done
  done
}

# The rows (of those given on stdin) whose package dpkg does not have fully installed ("ii").
missing_rows() {
  local row pkg status
  while IFS= read -r row; do
    pkg=${row%%|*}
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
    [[ $status == ii* ]] || printf '%s\n' "$row"
  done
}

# "pkg (why), pkg (why)" for rows on stdin.
describe_rows() {
  local row pkg why parts=()
  while IFS= read -r row; do
    pkg=${row%%|*}
    why=${row##*|}
    parts+=("$pkg ($why)")
  done
  local IFS=';'
  printf '%s' "${parts[*]}" | sed 's/;/; /g'
}

names_of() { cut -d'|' -f1; }

package_problems() {
  local missing
  missing=$(rows "$@" | missing_rows)
  if [[ -n $missing ]]; then
    echo "missing Debian packages: $(describe_rows <<<"$missing") — run: sudo lab/setup.sh"
  fi
}

node_problems() {
  local node_major
  if ! command -v node >/dev/null; then
    echo "node not found — install Node.js >= $NODE_MAJOR_MIN (e.g. from nodejs.org or NodeSource)"
  else
    node_major=$(node -p 'process.versions.node.split(".")[0]')
    if ((node_major < NODE_MAJOR_MIN)); then
      echo "Node.js $(node --version) is too old — install Node.js >= $NODE_MAJOR_MIN"
    fi
  fi
}

# What the lab needs beyond packages: root and network namespaces.
lab_problems() {
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

check_lab() {
  report "$(package_problems test lab daemon; lab_problems; node_problems; project_problems)" || return 1
  log "ok: Debian packages, root, ip netns, unshare, Node.js >= $NODE_MAJOR_MIN, node_modules"
}

check_test() {
  report "$(package_problems test; node_problems; project_problems)" || return 1
  log "ok: the Debian packages npm test needs, Node.js >= $NODE_MAJOR_MIN, node_modules"
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
  local plain daemons created=0 rc=0
  plain=$(rows test lab | missing_rows)
  daemons=$(rows daemon | missing_rows)
  if [[ -n $plain$daemons ]]; then
    export DEBIAN_FRONTEND=noninteractive
    log "apt-get update"
    apt-get update -qq
  fi
  if [[ -n $plain ]]; then
    log "installing Debian packages: $(describe_rows <<<"$plain")"
    # shellcheck disable=SC2046 # one word per package name
    apt_install $(names_of <<<"$plain")
  fi
  if [[ -n $daemons ]]; then
    if [[ ! -e $POLICY_RC_D ]]; then
      printf '#!/bin/sh\nexit 101\n' >"$POLICY_RC_D"
      chmod 0755 "$POLICY_RC_D"
      created=1
    fi
    log "installing lab daemons (their services kept off): $(describe_rows <<<"$daemons")"
    # shellcheck disable=SC2046 # one word per package name
    apt_install $(names_of <<<"$daemons") || rc=$?
    if ((created)); then
      rm -f "$POLICY_RC_D"
    fi
    ((rc == 0)) || return "$rc"
  fi
  [[ -n $plain$daemons ]] || log "Debian packages: nothing missing"
  # node_modules is npm's business (npm ci comes after this on a fresh clone): a hint, not a failure.
  report "$(package_problems test lab daemon; lab_problems; node_problems)" || return 1
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
    --check) check_lab ;;
    --check-test) check_test ;;
    -h | --help) usage ;;
    *) usage >&2 && return 2 ;;
  esac
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
