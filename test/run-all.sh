#!/usr/bin/env bash
# `npm test`: everything that needs neither root nor the lab, in a few minutes: static checks, the
# unit tests under Pulumi mocks, the C service's tests (plain, sanitized, fuzzed) and the docs'
# links. The lab suite and the drills are `sudo npm run test:lab` (test/run-lab.sh).
set -euo pipefail

cd "$(dirname "$0")/.."

passed=0
failed=0
failures=()

step() {
  local name=$1
  shift
  printf '\n=== %s\n' "$name" >&2
  local started=$SECONDS
  if "$@"; then
    passed=$((passed + 1))
    printf '=== %s: ok (%ss)\n' "$name" "$((SECONDS - started))" >&2
  else
    failed=$((failed + 1))
    failures+=("$name")
    printf '=== %s: FAILED (%ss)\n' "$name" "$((SECONDS - started))" >&2
  fi
}

# libFuzzer prints a status line per new input; keep its log and show only the verdict, or all of
# it when it found something.
run_fuzz_smoke() {
  local log
  log=$(mktemp)
  if make -C app fuzz-smoke >"$log" 2>&1; then
    grep -E '^(Done|#[0-9]+[[:space:]]+DONE)' "$log" >&2 || tail -n 3 "$log" >&2
    rm -f "$log"
  else
    cat "$log" >&2
    rm -f "$log"
    return 1
  fi
}

main() {
  if ! bash lab/setup.sh --check-test; then
    echo "tests not run: fix the problems above (.ci/run sets up a fresh Debian 12 machine)" >&2
    return 1
  fi
  step "typecheck (tsc --noEmit, strict)" npm run --silent typecheck
  step "lint (eslint)" npm run --silent lint
  step "format (prettier --check)" npm run --silent format:check
  step "shellcheck" shellcheck -x provisioning/scripts/*.sh provisioning/scripts/lib/*.sh \
    provisioning/scripts/userdata/*.sh lab/*.sh app/bench/*.sh test/*.sh .ci/run
  # Vitest's default on 2 vCPUs is one worker, and most unit files wait on the scripts they run
  # (bash, openssl, sleeps): three workers took the suite from 161 s to 67 s.
  step "unit tests (vitest, Pulumi mocks)" npx vitest run --project unit --maxWorkers=3
  step "C service tests (make test)" make -C app test
  step "C service tests under ASan+UBSan" make -C app test-sanitize
  step "lab WAN emulator tests, plain and under ASan+UBSan" make -C lab/wan test test-sanitize
  step "C request-parser fuzzing (bounded)" run_fuzz_smoke
  step "Markdown links resolve (files and #anchors)" npm run --silent check:links

  printf '\n' >&2
  if [ "$failed" -gt 0 ]; then
    printf 'failed suites: %s\n' "${failures[*]}" >&2
  fi
  echo "suites: $passed passed, $failed failed ($SECONDS s)"
  [ "$failed" -eq 0 ]
}

main "$@"
