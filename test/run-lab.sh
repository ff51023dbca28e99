#!/usr/bin/env bash
# `sudo npm run test:lab`: the lab suite on network-namespace hosts (root): the C service against
# real PostgreSQL, the stand-ins, rolling deploys, bring-up, and the drills on booted worlds, at
# the fast settings their titles name. `npm test` is the rest.
set -euo pipefail

cd "$(dirname "$0")/.."

main() {
  # lab/setup.sh --check names each missing precondition (root, Debian packages, ip netns, ...)
  # with its fix, instead of a lab test failing on the first missing program.
  if ! bash lab/setup.sh --check; then
    echo "lab tests not run: fix the problems above (sudo lab/setup.sh; .ci/run sets up a fresh machine)" >&2
    return 1
  fi
  # A crashed earlier run left hosts and processes behind: remove them first.
  npx tsx lab/cli.ts clean
  local started=$SECONDS
  npx vitest run --project lab "$@"
  printf '=== lab suite: ok (%ss)\n' "$((SECONDS - started))" >&2
}

main "$@"
