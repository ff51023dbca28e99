#!/bin/bash
# linode-dr-tls-install ROLE DIR: makes the TLS identity in DIR (ca.crt, server.crt, server.key, as
# the program last issued them) this cluster member's, in place. linode-dr-converge runs it on every
# database and witness with what came on its stdin; user data carried the first identity and is
# never read again, so a renewed or rotated certificate arrives only this way.
#   ROLE: database | witness
# Checked before anything is touched (a refusal changes nothing): the certificate and key parse and
# belong together, the certificate is valid now, names this member and chains to the CA bundle, and
# the bundle still trusts the certificate this member presents today, so that peers that have not
# converged yet keep verifying each other during a rotation.
# Then: installed atomically in /etc/linode-dr/tls and the daemons' copies; etcd reads its files at
# every handshake, and Patroni's SIGHUP reloads its REST API (a new serial number) and PostgreSQL.
# Each daemon is then asked over TLS which certificate it presents, until it is the new one. The
# expiry of every certificate is published for Prometheus (node exporter's textfile collector).
set -euo pipefail

export LOG_TAG=linode-dr-tls-install
SCRIPT_DIR=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
readonly SCRIPT_DIR
# shellcheck source-path=SCRIPTDIR source=lib/consensus.sh
source "$SCRIPT_DIR/lib/consensus.sh"

readonly METRICS_DIR=${LINODE_DR_METRICS_DIR:-/var/lib/prometheus/node-exporter}
readonly METRICS_FILE=$METRICS_DIR/linode-dr-tls.prom
readonly FIRST_BOOT_DONE=$CONSENSUS_STATE_DIR/first-boot.done
# How long a daemon may take to present the new certificate, past Patroni's next loop (it handles
# SIGHUP there) and the restart of its REST server.
serve_wait_seconds() {
  printf '%s' "${LINODE_DR_TLS_SERVE_WAIT:-$((2 * $(consensus LOOP_WAIT) + 20))}"
}

log() { clog "$@"; }
die() { cdie "$@"; }

fingerprint() {
  openssl x509 -noout -fingerprint -sha256 -in "$1" | cut -d= -f2
}

public_key_of_cert() {
  openssl x509 -noout -pubkey -in "$1"
}

public_key_of_key() {
  openssl pkey -pubout -in "$1"
}

# check_identity DIR: refuses (exit 1, nothing changed) unless DIR holds a usable identity for this
# member that peers trusting the bundle accept.
check_identity() {
  local dir=$1 name file
  name=$(self_name)
  for file in ca.crt server.crt server.key; do
    [[ -s $dir/$file ]] || die "the new TLS identity has no $file"
  done
  openssl x509 -noout -in "$dir/ca.crt" 2>/dev/null || die "the new ca.crt is not a PEM certificate"
  openssl x509 -noout -in "$dir/server.crt" 2>/dev/null || die "the new server.crt is not a PEM certificate"
  openssl pkey -noout -in "$dir/server.key" 2>/dev/null || die "the new server.key is not a PEM private key"
  [[ $(public_key_of_cert "$dir/server.crt") == "$(public_key_of_key "$dir/server.key")" ]] ||
    die "the new server.key does not belong to the new server.crt"
  openssl x509 -noout -checkend 0 -in "$dir/server.crt" >/dev/null ||
    die "the new server.crt has expired ($(openssl x509 -noout -enddate -in "$dir/server.crt"))"
  openssl x509 -noout -checkhost "$name" -in "$dir/server.crt" | grep -q "does match" ||
    die "the new server.crt does not name this member ($name); it names $(openssl x509 -noout -subject -in "$dir/server.crt")"
  openssl verify -CAfile "$dir/ca.crt" "$dir/server.crt" >/dev/null 2>&1 ||
    die "the new server.crt is not signed by a CA of the new bundle: $(openssl verify -CAfile "$dir/ca.crt" "$dir/server.crt" 2>&1 | tail -n 1)"
  if [[ -r $CONSENSUS_TLS_DIR/server.crt ]] &&
    ! openssl verify -CAfile "$dir/ca.crt" "$CONSENSUS_TLS_DIR/server.crt" >/dev/null 2>&1; then
    die "the new CA bundle does not trust the certificate this member presents now; peers would reject each other until all converge (keep the old CA in the bundle until every member has a new certificate)"
  fi
}

# install_identity DIR: returns 0 when the identity changed. The directory stays world-readable:
# the traffic follower (its own user) reads the CA bundle there.
install_identity() {
  install_tls_files "$1" "$CONSENSUS_TLS_DIR" root:root 0755 || return 1
  log "new TLS identity installed: server certificate $(fingerprint "$CONSENSUS_TLS_DIR/server.crt")"
}

# presented_fingerprint PORT [STARTTLS]: the certificate this host's daemon on PORT presents now.
presented_fingerprint() {
  local port=$1 starttls=${2:-} args
  args=(-connect "127.0.0.1:$port" -servername "$(self_name)" -cert "$CONSENSUS_TLS_DIR/server.crt" -key "$CONSENSUS_TLS_DIR/server.key")
  [[ -z $starttls ]] || args+=(-starttls "$starttls")
  timeout 5 openssl s_client "${args[@]}" </dev/null 2>/dev/null |
    openssl x509 -noout -fingerprint -sha256 2>/dev/null | cut -d= -f2
}

# wait_presented WHAT PORT [STARTTLS]: until the daemon presents the installed certificate.
wait_presented() {
  local what=$1 port=$2 starttls=${3:-} want got="" wait deadline
  want=$(fingerprint "$CONSENSUS_TLS_DIR/server.crt")
  wait=$(serve_wait_seconds)
  deadline=$((SECONDS + wait))
  while ((SECONDS < deadline)); do
    # A daemon that is restarting refuses the handshake: that is a reason to retry, not to stop
    # (under set -e a failed substitution would end the script without a word).
    got=$(presented_fingerprint "$port" "$starttls") || got=""
    if [[ $got == "$want" ]]; then
      log "$what (port $port) presents the current certificate"
      return 0
    fi
    sleep 1
  done
  die "$what (port $port) still presents ${got:-nothing} after ${wait}s; expected $want"
}

# Each daemon's owner copies the identity for it and reloads it: etcd reads its files at every
# handshake (and restarts, one member at a time, for a new CA bundle), Patroni and PostgreSQL
# reload on SIGHUP, the follower restarts for a new CA bundle.
apply_to_daemons() {
  local role=$1
  if id etcd >/dev/null 2>&1; then
    bash "$SCRIPT_DIR/etcd-member.sh" --reload-tls
  fi
  if [[ $role == witness ]]; then
    bash "$SCRIPT_DIR/follower-install.sh" --reload-trust
  fi
  if [[ $role == database ]] && id postgres >/dev/null 2>&1; then
    bash "$SCRIPT_DIR/db-provision.sh" --reload-tls
  fi
}

verify_daemons() {
  local role=$1
  if [[ ! -f $FIRST_BOOT_DONE ]]; then
    log "first boot still running: its daemons start with the installed identity"
    return 0
  fi
  wait_presented etcd "$ETCD_CLIENT_PORT"
  [[ $role == database ]] || return 0
  wait_presented PostgreSQL "$POSTGRES_PORT" postgres
  wait_presented "Patroni's REST API" "$PATRONI_REST_PORT"
}

# metric_lines KIND FILE: one sample per certificate in FILE (a bundle may hold several CAs).
# A subshell: its EXIT trap removes the scratch directory however it ends.
metric_lines() (
  local kind=$1 file=$2 scratch cert subject not_after
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  awk -v dir="$scratch" '/-----BEGIN CERTIFICATE-----/ { n++ } n { print > (dir "/" n ".pem") }' "$file"
  for cert in "$scratch"/*.pem; do
    [[ -e $cert ]] || continue
    subject=$(openssl x509 -noout -subject -nameopt RFC2253 -in "$cert" | sed 's/^subject=//; s/\\/\\\\/g; s/"/\\"/g')
    not_after=$(date -u -d "$(openssl x509 -noout -enddate -in "$cert" | cut -d= -f2)" +%s)
    printf 'linode_dr_tls_certificate_not_after_seconds{member="%s",certificate="%s",subject="%s"} %s\n' \
      "$(consensus SELF)" "$kind" "$subject" "$not_after"
  done
)

METRICS_TMP=""

write_metrics() {
  install -d -m 0755 "$METRICS_DIR"
  METRICS_TMP=$(mktemp "$METRICS_DIR/.linode-dr-tls.XXXXXX")
  # A failure below (openssl, a full disk) must not leave the temporary file behind.
  trap 'rm -f "$METRICS_TMP"' EXIT
  {
    echo "# HELP linode_dr_tls_certificate_not_after_seconds When a certificate this cluster member presents (server) or trusts (ca) expires, in Unix seconds."
    echo "# TYPE linode_dr_tls_certificate_not_after_seconds gauge"
    metric_lines server "$CONSENSUS_TLS_DIR/server.crt"
    metric_lines ca "$CONSENSUS_TLS_DIR/ca.crt"
  } >"$METRICS_TMP"
  chmod 0644 "$METRICS_TMP"
  mv -f "$METRICS_TMP" "$METRICS_FILE"
}

main() {
  local role=${1:-} dir=${2:-}
  [[ ($role == database || $role == witness) && -n $dir ]] ||
    die "usage: linode-dr-tls-install database|witness DIR (DIR holds ca.crt, server.crt, server.key); received \"$*\""
  [[ -d $dir ]] || die "$dir is not a directory"
  [[ $(id -u) == 0 ]] || die "must run as root"
  load_consensus
  check_identity "$dir"
  local changed=0
  if install_identity "$dir"; then
    changed=1
  else
    log "TLS identity unchanged: server certificate $(fingerprint "$CONSENSUS_TLS_DIR/server.crt")"
  fi
  # Unchanged, too: copies an interrupted run left behind are brought in line.
  apply_to_daemons "$role"
  ((changed == 0)) || verify_daemons "$role"
  write_metrics
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
