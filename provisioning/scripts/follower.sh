#!/bin/bash
# linode-dr-follower: the traffic follower's own commands for an operator on the witness, e.g.
#   linode-dr-follower status | pause | resume | dry-run
# Runs the release's follower with Debian's node, trusting the operating system's CA store.
set -euo pipefail

main() {
  NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt exec node /opt/linode-dr/current/follower/src/main.js "$@"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
