#!/usr/bin/env bash
# Benchmarks linode-dr-app against a throwaway local PostgreSQL (loopback only):
#   1. GET /healthz throughput and latency percentiles
#   2. POST /orders at a fixed concurrency
#   3. RSS sampled during a soak run (default 5 minutes) to show memory stays flat
# Needs root (runs postgres as the postgres user), wrk, PostgreSQL 15 binaries.
# Usage: app/bench/run.sh   (env: DURATION=30s SOAK_SECONDS=300 THREADS=4 CONNS=64 ORDER_CONNS=16)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
APP_DIR="$(dirname "${HERE}")"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
DURATION="${DURATION:-30s}"
SOAK_SECONDS="${SOAK_SECONDS:-300}"
THREADS="${THREADS:-4}"
CONNS="${CONNS:-64}"
ORDER_CONNS="${ORDER_CONNS:-16}"
PG_PORT="${PG_PORT:-55499}"
APP_PORT="${APP_PORT:-18499}"
WORK=""
APP_PID=""
WRK_PIDS=()

log() { printf '[bench] %s\n' "$*" >&2; }

cleanup() {
  local pid
  for pid in "${WRK_PIDS[@]}"; do kill "${pid}" 2>/dev/null || true; done
  if [[ -n "${APP_PID}" ]]; then
    kill -TERM "${APP_PID}" 2>/dev/null || true
    wait "${APP_PID}" 2>/dev/null || true
  fi
  if [[ -n "${WORK}" && -f "${WORK}/data/postmaster.pid" ]]; then
    runuser -u postgres -- "${PG_BIN}/pg_ctl" -D "${WORK}/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  if [[ -n "${WORK}" ]]; then rm -rf "${WORK}"; fi
}
trap cleanup EXIT

start_postgres() {
  WORK="$(mktemp -d /tmp/ldr-bench.XXXXXX)"
  chown postgres: "${WORK}"
  runuser -u postgres -- "${PG_BIN}/initdb" -D "${WORK}/data" -U postgres -A trust -N >/dev/null
  # Durable commits (fsync on, synchronous_commit on) so POST /orders figures mean something.
  runuser -u postgres -- "${PG_BIN}/pg_ctl" -D "${WORK}/data" -l "${WORK}/pg.log" -w \
    -o "-p ${PG_PORT} -k ${WORK} -c listen_addresses=127.0.0.1 -c max_connections=100" start >/dev/null
}

start_app() {
  make -C "${APP_DIR}" -s
  LINODE_DR_LISTEN_ADDR=127.0.0.1 LINODE_DR_LISTEN_PORT="${APP_PORT}" \
    LINODE_DR_DATABASE_URL="host=127.0.0.1 port=${PG_PORT} dbname=postgres user=postgres" \
    LINODE_DR_REGION=bench "${APP_DIR}/build/linode-dr-app" >"${WORK}/app.log" 2>&1 &
  APP_PID=$!
  local i
  for ((i = 0; i < 50; i++)); do
    if curl -fsS "http://127.0.0.1:${APP_PORT}/healthz" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  cat "${WORK}/app.log" >&2
  log "app did not become healthy"
  exit 1
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/${APP_PID}/status"; }

check_all_2xx() {
  if grep -q "Non-2xx" "$1"; then
    log "non-2xx responses in $1:"
    cat "$1" >&2
    exit 1
  fi
}

main() {
  log "machine: nproc=$(nproc) cpu=\"$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)\""
  start_postgres
  start_app
  log "warm-up"
  wrk -t2 -c16 -d3s "http://127.0.0.1:${APP_PORT}/healthz" >/dev/null

  log "GET /healthz: wrk -t${THREADS} -c${CONNS} -d${DURATION} --latency"
  wrk -t"${THREADS}" -c"${CONNS}" -d"${DURATION}" --latency "http://127.0.0.1:${APP_PORT}/healthz" | tee "${WORK}/healthz.txt"
  check_all_2xx "${WORK}/healthz.txt"

  log "POST /orders: wrk -t2 -c${ORDER_CONNS} -d${DURATION} --latency -s post_orders.lua"
  wrk -t2 -c"${ORDER_CONNS}" -d"${DURATION}" --latency -s "${HERE}/post_orders.lua" \
    "http://127.0.0.1:${APP_PORT}/orders" | tee "${WORK}/orders.txt"
  check_all_2xx "${WORK}/orders.txt"

  log "soak ${SOAK_SECONDS}s (healthz c=${CONNS} + orders c=4), RSS every 10 s"
  wrk -t2 -c"${CONNS}" -d"${SOAK_SECONDS}s" "http://127.0.0.1:${APP_PORT}/healthz" >"${WORK}/soak-healthz.txt" &
  WRK_PIDS+=($!)
  wrk -t1 -c4 -d"${SOAK_SECONDS}s" -s "${HERE}/post_orders.lua" "http://127.0.0.1:${APP_PORT}/orders" >"${WORK}/soak-orders.txt" &
  WRK_PIDS+=($!)
  local t samples=()
  for ((t = 0; t <= SOAK_SECONDS; t += 10)); do
    samples+=("$(rss_kib)")
    printf '[bench] t=%3ds rss_kib=%s\n' "${t}" "${samples[-1]}" >&2
    sleep 10
  done
  wait "${WRK_PIDS[@]}"
  WRK_PIDS=()
  check_all_2xx "${WORK}/soak-healthz.txt"
  check_all_2xx "${WORK}/soak-orders.txt"
  grep -E "Requests/sec" "${WORK}/soak-healthz.txt" "${WORK}/soak-orders.txt" >&2
  printf '%s\n' "${samples[@]}" | sort -n | awk 'NR==1{min=$1} {max=$1} END {printf "[bench] soak RSS KiB: min=%d max=%d growth=%d\n", min, max, max-min}' >&2
  log "orders stored: $(runuser -u postgres -- "${PG_BIN}/psql" -X -At -h "${WORK}" -p "${PG_PORT}" -d postgres -c 'SELECT count(*) FROM orders')"
}

main "$@"
