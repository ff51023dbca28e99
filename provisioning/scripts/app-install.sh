#!/usr/bin/env bash
# Builds (or downloads) and installs the linode-dr C service on an app Linode, then starts it.
# Idempotent: safe to rerun; it converges to "current binary installed and running".
# Part of the release bundle, linked as /usr/local/sbin/linode-dr-app-install; first boot runs it,
# and so does linode-dr-app-rollout when a new release or configuration arrives.
#   linode-dr-app-install                 build or download, install, (re)start
#   linode-dr-app-install --restart-only  (re)start the installed binary (a rollback)
#   linode-dr-app-install --code-id       print what would be installed (release or artifact)
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib/retry.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/retry.sh"

# Paths can be overridden for tests; defaults are the on-host contract.
SRC_DIR="${LINODE_DR_APP_SRC_DIR:-/opt/linode-dr/current/app}"
ETC_DIR="${LINODE_DR_APP_ETC_DIR:-/etc/linode-dr}"
BIN_PATH="${LINODE_DR_APP_BIN:-/usr/local/bin/linode-dr-app}"
UNIT_DIR="${LINODE_DR_APP_UNIT_DIR:-/etc/systemd/system}"
RUN_DIR="${LINODE_DR_APP_RUN_DIR:-/run/linode-dr}"
LOG_FILE="${LINODE_DR_APP_LOG:-/var/log/linode-dr-app.log}"
STATE_DIR="${LINODE_DR_APP_STATE_DIR:-/var/lib/linode-dr}"
APP_USER="${LINODE_DR_APP_USER:-linode-dr-app}"
ENV_FILE="${ETC_DIR}/app.env"
ARTIFACT_ENV="${ETC_DIR}/app-artifact.env"
DATABASE_CA="${ETC_DIR}/app-db-ca.crt"
UNIT_NAME="linode-dr-app.service"
PID_FILE="${RUN_DIR}/app.pid"
DEPLOYED_FILE="${STATE_DIR}/app-deployed"

log() {
  printf '%s linode-dr-app-install: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2
}

die() {
  log "ERROR: $*"
  exit 1
}

ensure_packages() {
  apt_install "$@" || die "could not install $*"
}

read_artifact_settings() {
  ARTIFACT_URL=""
  ARTIFACT_SHA256=""
  if [[ ! -f "${ARTIFACT_ENV}" ]]; then
    return 0
  fi
  # shellcheck disable=SC1090 # written by cloud-init from validated input
  source "${ARTIFACT_ENV}"
  if [[ -z "${ARTIFACT_URL}" || -z "${ARTIFACT_SHA256}" ]]; then
    die "${ARTIFACT_ENV} must set both ARTIFACT_URL and ARTIFACT_SHA256"
  fi
  if [[ ! "${ARTIFACT_SHA256}" =~ ^[0-9a-f]{64}$ ]]; then
    die "ARTIFACT_SHA256 in ${ARTIFACT_ENV} is \"${ARTIFACT_SHA256}\"; expected 64 lowercase hex characters"
  fi
  if [[ "${ARTIFACT_URL}" != https://* ]]; then
    die "ARTIFACT_URL in ${ARTIFACT_ENV} is \"${ARTIFACT_URL}\"; expected an https:// URL"
  fi
}

build_from_source() {
  ensure_packages gcc make libc6-dev libpq-dev
  [[ -f "${SRC_DIR}/Makefile" ]] || die "no source at ${SRC_DIR} (expected ${SRC_DIR}/Makefile)"
  log "building from ${SRC_DIR}"
  make -C "${SRC_DIR}" clean >&2
  make -C "${SRC_DIR}" >&2
  NEW_BINARY="${SRC_DIR}/build/linode-dr-app"
}

download_artifact() {
  local tmp actual
  ensure_packages curl ca-certificates libpq5
  # The download lands next to the binary so the final rename stays on one filesystem.
  mkdir -p "$(dirname "${BIN_PATH}")"
  tmp="$(mktemp "${BIN_PATH}.download.XXXXXX")"
  log "downloading ${ARTIFACT_URL}"
  if ! curl -fsSL --proto '=https' --tlsv1.2 --retry 5 --retry-delay 2 -o "${tmp}" "${ARTIFACT_URL}"; then
    rm -f "${tmp}"
    die "download of ${ARTIFACT_URL} failed"
  fi
  actual="$(sha256sum "${tmp}" | cut -d' ' -f1)"
  if [[ "${actual}" != "${ARTIFACT_SHA256}" ]]; then
    rm -f "${tmp}"
    die "refusing to install ${ARTIFACT_URL}: sha256 is ${actual}, expected ${ARTIFACT_SHA256}"
  fi
  NEW_BINARY="${tmp}"
}

install_binary() {
  local tmp sum
  mkdir -p "$(dirname "${BIN_PATH}")"
  tmp="$(mktemp "${BIN_PATH}.new.XXXXXX")"
  cp "${NEW_BINARY}" "${tmp}"
  chmod 0755 "${tmp}"
  # rename() keeps a running process on the old inode and never exposes a half-written file.
  mv -f "${tmp}" "${BIN_PATH}"
  if [[ "${NEW_BINARY}" == "${BIN_PATH}".download.* ]]; then
    rm -f "${NEW_BINARY}"
  fi
  sum="$(sha256sum "${BIN_PATH}" | cut -d' ' -f1)"
  log "installed ${BIN_PATH} sha256=${sum}"
}

ensure_user() {
  if id -u "${APP_USER}" >/dev/null 2>&1; then
    return 0
  fi
  log "creating system user ${APP_USER}"
  useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "${APP_USER}"
}

check_env_file() {
  [[ -f "${ENV_FILE}" ]] || die "missing ${ENV_FILE}; cloud-init writes it from the stack's user data"
  chmod 0600 "${ENV_FILE}"
}

# The CAs that sign the database members' certificates, which the service's connection string
# names (sslrootcert, verify-full): cloud-init writes the file from user data and
# linode-dr-converge keeps it current (in place: libpq reads it at every new connection).
check_database_ca() {
  if [[ ! -r "${DATABASE_CA}" ]] || ! grep -q -- '-----BEGIN CERTIFICATE-----' "${DATABASE_CA}"; then
    die "${DATABASE_CA} is missing or holds no certificate; cloud-init writes it from user data and linode-dr-converge keeps it current"
  fi
}

systemd_running() {
  [[ -d /run/systemd/system ]]
}

start_with_systemd() {
  install -m 0644 "${SRC_DIR}/linode-dr-app.service" "${UNIT_DIR}/${UNIT_NAME}"
  systemctl daemon-reload
  systemctl enable --now "${UNIT_NAME}"
  # enable --now does not restart an already running unit onto a new binary.
  systemctl restart "${UNIT_NAME}"
  log "started ${UNIT_NAME} under systemd"
}

stop_background() {
  local pid i
  [[ -f "${PID_FILE}" ]] || return 0
  pid="$(cat "${PID_FILE}")"
  if [[ "${pid}" =~ ^[0-9]+$ ]] && kill -0 "${pid}" 2>/dev/null; then
    log "stopping previous instance pid=${pid}"
    kill -TERM "${pid}"
    for ((i = 0; i < 100; i++)); do
      kill -0 "${pid}" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "${pid}" 2>/dev/null; then
      log "pid=${pid} ignored SIGTERM for 10 s; sending SIGKILL"
      kill -KILL "${pid}"
    fi
  fi
  rm -f "${PID_FILE}"
}

start_background() {
  local pid
  stop_background
  mkdir -p "${RUN_DIR}" "$(dirname "${LOG_FILE}")"
  # Same environment and user as the systemd unit, without a service manager (e.g. in the lab).
  (
    set -a
    # shellcheck disable=SC1090 # written by cloud-init from validated input
    source "${ENV_FILE}"
    set +a
    # The unit's LimitNOFILE: the default 1024 is below the connection cap plus the database
    # sessions, and accept() would fail with EMFILE before the service's own limit applies.
    ulimit -n 4096
    # The service user's own home, as systemd sets it: with root's HOME, libpq's look for a client
    # certificate in /root/.postgresql fails with EACCES, which aborts TLS (sslmode=prefer then
    # falls back to plaintext, which a hostssl-only pg_hba refuses).
    HOME=$(getent passwd "${APP_USER}" | cut -d: -f6)
    export HOME
    exec setpriv --reuid="${APP_USER}" --regid="$(id -g "${APP_USER}")" --init-groups --no-new-privs -- "${BIN_PATH}"
  ) >>"${LOG_FILE}" 2>&1 </dev/null &
  pid=$!
  echo "${pid}" >"${PID_FILE}"
  sleep 0.3
  kill -0 "${pid}" 2>/dev/null || die "linode-dr-app exited at once; see ${LOG_FILE}"
  log "started linode-dr-app in the background pid=${pid} (no systemd) log=${LOG_FILE}"
}

# Names the code a deployment runs: the release's source tree (its path holds the release's
# sha256) or the pinned artifact. linode-dr-app-rollout compares it with the deployed one.
code_id() {
  if [[ -n "${ARTIFACT_URL}" ]]; then
    printf 'artifact:%s\n' "${ARTIFACT_SHA256}"
  else
    printf 'source:%s\n' "$(readlink -f "${SRC_DIR}")"
  fi
}

start_service() {
  ensure_user
  if systemd_running; then
    start_with_systemd
  else
    start_background
  fi
}

record_deployment() {
  mkdir -p "${STATE_DIR}"
  printf 'code=%s env=%s\n' "$(code_id)" "$(sha256sum "${ENV_FILE}" | cut -d' ' -f1)" >"${DEPLOYED_FILE}.new"
  mv -f "${DEPLOYED_FILE}.new" "${DEPLOYED_FILE}"
}

main() {
  local mode=${1:-install}
  read_artifact_settings
  case "${mode}" in
    --code-id)
      code_id
      return 0
      ;;
    --restart-only)
      check_env_file
      [[ -x "${BIN_PATH}" ]] || die "no installed binary at ${BIN_PATH} to restart"
      check_database_ca
      start_service
      return 0
      ;;
    install) ;;
    *) die "unknown argument \"${mode}\"; expected nothing, --restart-only or --code-id" ;;
  esac
  check_env_file
  if [[ -n "${ARTIFACT_URL}" ]]; then
    download_artifact
  else
    build_from_source
  fi
  install_binary
  check_database_ca
  start_service
  record_deployment
}

main "$@"
