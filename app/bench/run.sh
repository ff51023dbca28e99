#!/usr/bin/env bash
# Benchmarks linode-dr-app against a throwaway local PostgreSQL (loopback only):
#   1. GET /healthz and POST /orders beside nginx's `return 200` in the same run (wrk -t2 -c50)
#   2. GET /healthz throughput and latency percentiles; POST /orders at a fixed concurrency
#   3. latency of fresh-connection GET /healthz checks under 1,500 slowloris connections and
#      8 clients that never read (attack.py)
#   4. RSS sampled during a soak run (default 5 minutes; SOAK_SECONDS=0 skips it)
# Needs root (runs postgres as the postgres user), wrk, nginx, python3, PostgreSQL 15 binaries.
# Usage: app/bench/run.sh   (env: DURATION=30s SOAK_SECONDS=300 THREADS=4 CONNS=64 ORDER_CONNS=16
#                            NGINX=/usr/sbin/nginx NGINX_PORT=18498 ATTACK_SECONDS=30)
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
NGINX="${NGINX:-/usr/sbin/nginx}"
NGINX_PORT="${NGINX_PORT:-18498}"
ATTACK_SECONDS="${ATTACK_SECONDS:-30}"
WORK=""
APP_PID=""
NGINX_PID=""
WRK_PIDS=()

log() { printf '[bench] %s\n' "$*" >&2; }

cleanup() {
  local pid
  for pid in "${WRK_PIDS[@]}"; do kill "${pid}" 2>/dev/null || true; done
  if [[ -n "${NGINX_PID}" ]]; then
    kill -TERM "${NGINX_PID}" 2>/dev/null || true
    wait "${NGINX_PID}" 2>/dev/null || true
  fi
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
  # The unit's LimitNOFILE, so that the attack's 1,500 connections meet the connection cap first.
  ulimit -n 4096
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

# nginx answering `return 200` on loopback: the reference for what the HTTP path can do here.
start_nginx() {
  mkdir -p "${WORK}/nginx"
  cat >"${WORK}/nginx/nginx.conf" <<EOF
worker_processes auto;
pid ${WORK}/nginx/nginx.pid;
error_log stderr warn;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${WORK}/nginx/body;
  proxy_temp_path ${WORK}/nginx/proxy;
  fastcgi_temp_path ${WORK}/nginx/fastcgi;
  uwsgi_temp_path ${WORK}/nginx/uwsgi;
  scgi_temp_path ${WORK}/nginx/scgi;
  server {
    listen 127.0.0.1:${NGINX_PORT};
    location / { return 200 "OK\n"; }
  }
}
EOF
  "${NGINX}" -p "${WORK}/nginx" -c "${WORK}/nginx/nginx.conf" -e stderr &
  NGINX_PID=$!
  local i
  for ((i = 0; i < 50; i++)); do
    if curl -fsS "http://127.0.0.1:${NGINX_PORT}/" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  log "nginx did not start"
  exit 1
}

rps() { awk '/^Requests\/sec:/ {print $2}' "$1"; }

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/${APP_PID}/status"; }

check_all_2xx() {
  if grep -q "Non-2xx" "$1"; then
    log "non-2xx responses in $1:"
    cat "$1" >&2
    log "the app's warnings (which failure it was):"
    grep -v "level=INFO" "${WORK}/app.log" | tail -20 >&2 || true
    exit 1
  fi
}

main() {
  log "machine: nproc=$(nproc) cpu=\"$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)\""
  start_postgres
  start_app
  log "warm-up"
  wrk -t2 -c16 -d3s "http://127.0.0.1:${APP_PORT}/healthz" >/dev/null

  start_nginx
  log "beside nginx: wrk -t2 -c50 -d${DURATION} --latency (nginx return 200, /healthz, POST /orders)"
  wrk -t2 -c50 -d"${DURATION}" --latency "http://127.0.0.1:${NGINX_PORT}/" | tee "${WORK}/cmp-nginx.txt"
  wrk -t2 -c50 -d"${DURATION}" --latency "http://127.0.0.1:${APP_PORT}/healthz" | tee "${WORK}/cmp-healthz.txt"
  check_all_2xx "${WORK}/cmp-healthz.txt"
  wrk -t2 -c50 -d"${DURATION}" --latency -s "${HERE}/post_orders.lua" "http://127.0.0.1:${APP_PORT}/orders" | tee "${WORK}/cmp-orders.txt"
  check_all_2xx "${WORK}/cmp-orders.txt"
  kill -TERM "${NGINX_PID}"
  wait "${NGINX_PID}" 2>/dev/null || true
  NGINX_PID=""
  awk -v n="$(rps "${WORK}/cmp-nginx.txt")" -v h="$(rps "${WORK}/cmp-healthz.txt")" -v o="$(rps "${WORK}/cmp-orders.txt")" \
    'BEGIN {printf "[bench] req/s nginx=%.0f healthz=%.0f (%.2fx nginx) orders=%.0f (%.3fx nginx)\n", n, h, h / n, o, o / n}' >&2

  log "GET /healthz: wrk -t${THREADS} -c${CONNS} -d${DURATION} --latency"
  wrk -t"${THREADS}" -c"${CONNS}" -d"${DURATION}" --latency "http://127.0.0.1:${APP_PORT}/healthz" | tee "${WORK}/healthz.txt"
  check_all_2xx "${WORK}/healthz.txt"

  log "POST /orders: wrk -t2 -c${ORDER_CONNS} -d${DURATION} --latency -s post_orders.lua"
  wrk -t2 -c"${ORDER_CONNS}" -d"${DURATION}" --latency -s "${HERE}/post_orders.lua" \
    "http://127.0.0.1:${APP_PORT}/orders" | tee "${WORK}/orders.txt"
  check_all_2xx "${WORK}/orders.txt"

  log "fresh GET /healthz every 100 ms for ${ATTACK_SECONDS}s under 1500 slowloris + 8 slow readers"
  python3 "${HERE}/attack.py" "${APP_PORT}" --slowloris 1500 --slow-readers 8 --duration "${ATTACK_SECONDS}" --interval 0.1 >"${WORK}/attack.txt" &
  WRK_PIDS+=($!)
  sleep $((ATTACK_SECONDS / 2))
  log "RSS under attack: $(rss_kib) KiB, open connections: $(curl -fsS "http://127.0.0.1:${APP_PORT}/metrics" | awk '/^linode_dr_app_open_connections / {print $2}')"
  wait "${WRK_PIDS[@]}"
  WRK_PIDS=()
  cat "${WORK}/attack.txt"
  grep -E "^linode_dr_app_(evicted_connections_total|open_connections) " <(curl -fsS "http://127.0.0.1:${APP_PORT}/metrics") >&2

  if ((SOAK_SECONDS == 0)); then
    log "orders stored: $(runuser -u postgres -- "${PG_BIN}/psql" -X -At -h "${WORK}" -p "${PG_PORT}" -d postgres -c 'SELECT count(*) FROM orders')"
    return 0
  fi
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
