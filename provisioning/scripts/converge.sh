#!/bin/bash
# linode-dr-converge ROLE: brings a running Linode to the program's desired state without
# replacing it. The program runs it over SSH (a remote.Command pinned to the host's key) whenever
# that state changes; Linodes are never rebuilt for a routine change, because user data is
# first-boot only and a new one would replace the Linode (and, for a database, its data).
#   ROLE: database | app | witness
# Desired state on stdin, one item per line:
#   authorized_key <OpenSSH public key line>     root's keys (the whole set; at least one)
#   host_key <base64 OpenSSH private key>        optional, one or two of different types (ed25519,
#                                                ecdsa P-256): the host keys sshd serves (the whole
#                                                set); remote commands pin the first
#   leadership_key <OpenSSH public key line>     database only, optional: the dr stack's key, which
#                                                may run nothing but linode-dr-leader (forced
#                                                command linode-dr-leader-gate, no pty, no forwarding)
#   app_env <base64 of /etc/linode-dr/app.env>   app only
#   app_ca <base64 of app-db-ca.crt>             app only: the database CAs (replaced in place)
#   app_artifact <base64 of app-artifact.env>    app only, optional (a pinned prebuilt binary)
#   drain_seconds <N>                            app only: how long the NodeBalancer needs to notice
#   peer <member> <serverName> <ipv4>            database and witness: a cluster member's address,
#                                                kept in the managed /etc/hosts block (member names
#                                                resolve to it in etcd, Patroni and replication)
#   tls_ca <base64 PEM>                          database and witness, all three or none: the CA
#   tls_cert <base64 PEM>                        bundle, the member's certificate and its key, as
#   tls_key <base64 PEM>                         the program last issued them; installed and
#                                                reloaded in place by linode-dr-tls-install
#   secret <name> <base64>                       database only, all four or none (name: replication,
#                                                superuser, app, rest): the passwords as the program
#                                                last generated them; a changed one is rotated in
#                                                place by linode-dr-secret-install
# A new Linode's command starts as soon as SSH answers, so it first waits for first boot: an app
# node until the app is installed, a database or witness only until the release is in place (a
# joining member's first boot may legitimately wait an hour for the founder to admit it, and the
# keys, peers and scripts this command manages do not depend on that). It fails with first boot's
# own report when first boot failed. Every Linode's Metadata guard is re-applied, and a database
# provisioned before is checked to run the Patroni 3.0.2 leader-key fix, which a package update
# would silently undo.
set -euo pipefail

readonly STATE_DIR=${LINODE_DR_STATE_DIR:-/var/lib/linode-dr}
readonly SSH_DIR=${LINODE_DR_ROOT_SSH_DIR:-/root/.ssh}
readonly FIRST_BOOT_WAIT=${LINODE_DR_FIRST_BOOT_WAIT:-1800}
readonly FIRST_BOOT_LOG=${LINODE_DR_FIRST_BOOT_LOG:-/var/log/linode-dr-first-boot.log}
readonly SSH_ETC_DIR=${LINODE_DR_SSH_ETC_DIR:-/etc/ssh}
readonly ETC_DIR=${LINODE_DR_APP_ETC_DIR:-/etc/linode-dr}

log() { printf '%s linode-dr-converge: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

readonly LEADER_GATE=/usr/local/sbin/linode-dr-leader-gate
readonly PUBLIC_KEY_PATTERN='^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/=]+'

KEYS=()
HOST_KEYS_B64=()
LEADERSHIP_KEY=""
APP_ENV_B64=""
APP_CA_B64=""
APP_ARTIFACT_B64=""
DRAIN_SECONDS=""
PEERS=()
declare -A TLS_B64=()
declare -A SECRET_B64=()

read_desired_state() {
  local kind value
  while IFS=' ' read -r kind value || [[ -n $kind ]]; do
    case $kind in
      "") ;;
      authorized_key)
        [[ $value =~ $PUBLIC_KEY_PATTERN ]] ||
          die "authorized_key line is not an OpenSSH public key: \"${value:0:40}...\""
        KEYS+=("$value")
        ;;
      host_key)
        [[ $value =~ ^[A-Za-z0-9+/=]+$ ]] ||
          die "host_key must be base64 (an OpenSSH private key); received a line that is not (not echoed: it carries a private key)"
        HOST_KEYS_B64+=("$value")
        ;;
      leadership_key)
        [[ $value =~ $PUBLIC_KEY_PATTERN ]] ||
          die "leadership_key line is not an OpenSSH public key: \"${value:0:40}...\""
        LEADERSHIP_KEY=$value
        ;;
      app_env) APP_ENV_B64=$value ;;
      app_ca)
        [[ $value =~ ^[A-Za-z0-9+/=]+$ ]] || die "app_ca must be base64 (PEM certificates); received \"${value:0:40}...\""
        APP_CA_B64=$value
        ;;
      app_artifact) APP_ARTIFACT_B64=$value ;;
      drain_seconds)
        [[ $value =~ ^[0-9]{1,4}$ ]] || die "drain_seconds must be 0-9999; received \"$value\""
        DRAIN_SECONDS=$value
        ;;
      peer)
        [[ $value =~ ^(primary|dr|witness)\ [A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?\ ([0-9]{1,3}\.){3}[0-9]{1,3}$ ]] ||
          die "peer line must be \"peer <primary|dr|witness> <serverName> <ipv4>\"; received \"peer $value\""
        PEERS+=("$value")
        ;;
      tls_ca | tls_cert | tls_key)
        [[ $value =~ ^[A-Za-z0-9+/=]+$ ]] || die "$kind must be base64 (a PEM file); received \"${value:0:40}...\""
        TLS_B64[$kind]=$value
        ;;
      secret)
        [[ $value =~ ^(replication|superuser|app|rest)\ [A-Za-z0-9+/=]+$ ]] ||
          die "secret line must be \"secret <replication|superuser|app|rest> <base64>\"; received a line that is not (not echoed: it carries a password)"
        SECRET_B64[${value%% *}]=${value#* }
        ;;
      *) die "unknown desired-state item \"$kind\"; expected authorized_key, host_key, leadership_key, app_env, app_ca, app_artifact, drain_seconds, peer, tls_ca, tls_cert, tls_key or secret" ;;
    esac
  done
  ((${#KEYS[@]} > 0)) || die "no authorized_key given: refusing to lock everyone out"
  ((${#HOST_KEYS_B64[@]} <= 2)) || die "at most two host_key lines (the old and the new during a rotation); received ${#HOST_KEYS_B64[@]}"
  ((${#TLS_B64[@]} == 0 || ${#TLS_B64[@]} == 3)) ||
    die "tls_ca, tls_cert and tls_key come together; received only ${!TLS_B64[*]}"
  ((${#SECRET_B64[@]} == 0 || ${#SECRET_B64[@]} == 4)) ||
    die "the four secret lines (replication, superuser, app, rest) come together; received only ${!SECRET_B64[*]}"
}

wait_for_first_boot() {
  local ready_marker=$1 waited=0
  while ((waited < FIRST_BOOT_WAIT)); do
    if [[ -f $STATE_DIR/first-boot.failed ]]; then
      log "first boot FAILED: $(<"$STATE_DIR/first-boot.failed")"
      if [[ -r $FIRST_BOOT_LOG ]]; then
        log "last lines of $FIRST_BOOT_LOG:"
        tail -n 30 "$FIRST_BOOT_LOG" >&2
      fi
      exit 1
    fi
    if [[ -f $STATE_DIR/$ready_marker ]]; then
      ((waited == 0)) || log "first boot reached $ready_marker after ${waited}s"
      return 0
    fi
    ((waited % 30 == 0)) && log "waiting for first boot to finish (${waited}s of ${FIRST_BOOT_WAIT}s)"
    sleep 1
    waited=$((waited + 1))
  done
  die "first boot did not finish within ${FIRST_BOOT_WAIT}s; see $FIRST_BOOT_LOG"
}

apply_authorized_keys() {
  local file=$SSH_DIR/authorized_keys tmp
  install -d -m 0700 "$SSH_DIR"
  tmp=$(mktemp "$SSH_DIR/.authorized_keys.XXXXXX")
  printf '%s\n' "${KEYS[@]}" >"$tmp"
  if [[ -n $LEADERSHIP_KEY ]]; then
    printf 'restrict,command="%s" %s\n' "$LEADER_GATE" "$LEADERSHIP_KEY" >>"$tmp"
  fi
  chmod 0600 "$tmp"
  if [[ -f $file ]] && cmp -s "$tmp" "$file"; then
    rm -f "$tmp"
    log "authorized keys unchanged (${#KEYS[@]})"
  else
    mv -f "$tmp" "$file"
    log "authorized keys updated (${#KEYS[@]})"
  fi
}

# sshd rereads its configuration and host keys on SIGHUP (it re-executes itself); sessions already
# open, this command's own included, are children that keep running.
reload_sshd() {
  if [[ -d /run/systemd/system ]]; then
    systemctl reload ssh.service
  elif [[ -r /run/sshd.pid ]]; then
    kill -HUP "$(</run/sshd.pid)"
  else
    die "host keys changed but no running sshd was found to reload (no systemd, no /run/sshd.pid)"
  fi
}

# served_host_keys: "type key" of every ed25519 and ECDSA key sshd serves here now, sorted; nothing
# while it does not answer (it re-executes itself on SIGHUP).
served_host_keys() {
  { ssh-keyscan -T 5 -t ed25519,ecdsa 127.0.0.1 2>/dev/null || true; } | awk '{ print $2, $3 }' | sort
}

# The host keys as the program last generated them: each written where sshd looks for its type,
# the other type removed, sshd reloaded when anything changed, and then asked which keys it serves.
# A refusal (a key that does not parse, two of one type) changes nothing.
converge_host_keys() {
  ((${#HOST_KEYS_B64[@]} > 0)) || return 0
  local dir i=0 b64 key pub type target changed=0 want got="" deadline
  local -A by_type=()
  dir=$(mktemp -d)
  chmod 0700 "$dir"
  for b64 in "${HOST_KEYS_B64[@]}"; do
    i=$((i + 1))
    key=$dir/key$i
    (umask 077 && base64 -d <<<"$b64" >"$key") 2>/dev/null || {
      rm -rf "$dir"
      die "host_key $i is not valid base64"
    }
    pub=$(ssh-keygen -y -f "$key" 2>/dev/null) || {
      rm -rf "$dir"
      die "host_key $i is not an OpenSSH private key"
    }
    case $pub in
      "ssh-ed25519 "*) type=ed25519 ;;
      "ecdsa-sha2-nistp256 "*) type=ecdsa ;;
      *)
        rm -rf "$dir"
        die "host_key $i is a ${pub%% *} key; expected ssh-ed25519 or ecdsa-sha2-nistp256"
        ;;
    esac
    [[ -z ${by_type[$type]:-} ]] || {
      rm -rf "$dir"
      die "two host_key lines of type $type: sshd serves one key per type"
    }
    by_type[$type]=$key
    printf '%s\n' "$pub" >"$key.pub"
  done
  for type in ed25519 ecdsa; do
    target=$SSH_ETC_DIR/ssh_host_${type}_key
    if [[ -n ${by_type[$type]:-} ]]; then
      [[ -f $target && $(ssh-keygen -y -f "$target" 2>/dev/null) == "$(<"${by_type[$type]}.pub")" ]] && continue
      install -m 0600 -o root -g root "${by_type[$type]}" "$target.new"
      install -m 0644 -o root -g root "${by_type[$type]}.pub" "$target.pub.new"
      mv -f "$target.new" "$target"
      mv -f "$target.pub.new" "$target.pub"
      log "host key installed: $(cut -d' ' -f1 <"$target.pub") (ssh_host_${type}_key)"
      changed=1
    elif [[ -e $target || -e $target.pub ]]; then
      rm -f "$target" "$target.pub"
      log "host key retired: ssh_host_${type}_key"
      changed=1
    fi
  done
  want=$(for type in "${!by_type[@]}"; do cut -d' ' -f1,2 <"${by_type[$type]}.pub"; done | sort)
  rm -rf "$dir"
  if ((changed == 0)); then
    log "host keys unchanged (${#HOST_KEYS_B64[@]})"
    return 0
  fi
  reload_sshd
  deadline=$((SECONDS + 15))
  while ((SECONDS < deadline)); do
    got=$(served_host_keys)
    [[ $got == "$want" ]] && {
      log "sshd serves the new host keys (${#HOST_KEYS_B64[@]})"
      return 0
    }
    sleep 1
  done
  die "sshd serves $(wc -l <<<"$got") host keys other than the program's after a reload: ${got:-none}"
}

DESIRED_DIR=""

# The CAs the C service verifies the database members with (sslrootcert). libpq reads the file at
# every new connection, so a CA roll replaces it in place and restarts nothing.
converge_database_ca() {
  local file=$ETC_DIR/app-db-ca.crt tmp
  tmp=$(mktemp "$ETC_DIR/.app-db-ca.XXXXXX")
  if ! base64 -d <<<"$APP_CA_B64" >"$tmp" 2>/dev/null || ! grep -q -- '-----BEGIN CERTIFICATE-----' "$tmp"; then
    rm -f "$tmp"
    die "app_ca is not base64 of PEM certificates"
  fi
  if [[ -f $file ]] && cmp -s "$tmp" "$file"; then
    rm -f "$tmp"
    return 0
  fi
  chmod 0644 "$tmp"
  mv -f "$tmp" "$file"
  log "database CAs updated in $file ($(grep -c -- '-----BEGIN CERTIFICATE-----' "$file") certificate(s)); new connections use them, nothing restarts"
}

converge_app() {
  [[ -n $APP_ENV_B64 ]] || die "role app needs an app_env line"
  [[ -n $DRAIN_SECONDS ]] || die "role app needs a drain_seconds line"
  install -d -m 0755 "$ETC_DIR"
  converge_database_ca
  DESIRED_DIR=$(mktemp -d)
  trap 'rm -rf "$DESIRED_DIR"' EXIT
  local desired=$DESIRED_DIR
  base64 -d <<<"$APP_ENV_B64" >"$desired/app.env" || die "app_env is not valid base64"
  local args=(--env-file "$desired/app.env" --drain-seconds "$DRAIN_SECONDS")
  if [[ -n $APP_ARTIFACT_B64 ]]; then
    base64 -d <<<"$APP_ARTIFACT_B64" >"$desired/app-artifact.env" || die "app_artifact is not valid base64"
    args+=(--artifact-file "$desired/app-artifact.env")
  fi
  linode-dr-app-rollout "${args[@]}"
}

# Only root reaches the Metadata service (it serves user data to anyone who asks). First boot
# applies the guard as soon as the release is in place; every later converge makes sure it holds,
# which also brings it to Linodes that first booted an older release.
ensure_metadata_guard() {
  if [[ ! -f $STATE_DIR/first-boot.done ]]; then
    log "first boot still running: it applies the Metadata guard itself"
    return 0
  fi
  linode-dr-metadata-guard
}

# A database provisioned before: its Patroni must still run the leader-key fix (a package update
# replaces it). While first boot still runs, linode-dr-db-provision applies it before Patroni starts.
verify_patroni_fix() {
  if [[ ! -f $STATE_DIR/first-boot.done ]]; then
    log "first boot still running: it applies the Patroni leader-key fix before Patroni starts"
    return 0
  fi
  linode-dr-db-provision --verify-patroni-fix
}

# The witness's etcd membership is the databases' to change (it has no client rights): register a
# new witness, replace the member of a witness Linode that was replaced, promote it once in sync.
admit_witness() {
  if [[ ! -f $STATE_DIR/first-boot.done ]]; then
    log "first boot still running: it admits the witness once this database is a voting etcd member"
    return 0
  fi
  linode-dr-etcd-member --admit-witness
}

# The member's TLS identity as the program last issued it: linode-dr-tls-install checks it,
# installs it and reloads what serves it (nothing changes when it is the one in place).
converge_tls() {
  local role=$1 dir
  ((${#TLS_B64[@]} == 3)) || return 0
  dir=$(mktemp -d)
  chmod 0700 "$dir"
  base64 -d <<<"${TLS_B64[tls_ca]}" >"$dir/ca.crt" || die "tls_ca is not valid base64"
  base64 -d <<<"${TLS_B64[tls_cert]}" >"$dir/server.crt" || die "tls_cert is not valid base64"
  base64 -d <<<"${TLS_B64[tls_key]}" >"$dir/server.key" || die "tls_key is not valid base64"
  local rc=0
  linode-dr-tls-install "$role" "$dir" || rc=$?
  rm -rf "$dir"
  ((rc == 0)) || die "the TLS identity was not installed (linode-dr-tls-install exit $rc)"
}

# The database passwords as the program last generated them: linode-dr-secret-install rotates a
# changed one in place (nothing changes when they are the ones in place).
converge_secrets() {
  ((${#SECRET_B64[@]} == 4)) || return 0
  local dir name file rc=0
  dir=$(mktemp -d)
  chmod 0700 "$dir"
  for name in replication superuser app rest; do
    file=$name-password
    [[ $name != rest ]] || file=patroni-rest-password
    base64 -d <<<"${SECRET_B64[$name]}" >"$dir/$file" || {
      rm -rf "$dir"
      die "secret $name is not valid base64"
    }
  done
  linode-dr-secret-install "$dir" || rc=$?
  rm -rf "$dir"
  ((rc == 0)) || die "the passwords were not installed (linode-dr-secret-install exit $rc)"
}

# Records the members' addresses (newest wins over user data's) and rewrites the /etc/hosts block.
converge_peers() {
  local file=$STATE_DIR/peers tmp
  ((${#PEERS[@]} > 0)) || return 0
  install -d -m 0755 "$STATE_DIR"
  tmp=$(mktemp "$STATE_DIR/.peers.XXXXXX")
  printf 'peer %s\n' "${PEERS[@]}" >"$tmp"
  if [[ -f $file ]] && cmp -s "$tmp" "$file"; then
    rm -f "$tmp"
  else
    mv -f "$tmp" "$file"
    log "member addresses updated (${#PEERS[@]})"
  fi
  (
    # shellcheck source-path=SCRIPTDIR source=lib/consensus.sh
    source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/consensus.sh"
    load_consensus
    write_hosts_block
  )
}

main() {
  local role=${1:-}
  [[ $role == database || $role == app || $role == witness ]] || die "usage: linode-dr-converge database|app|witness (desired state on stdin); received \"$role\""
  # The desired state is checked first: a bad one is refused whoever runs it, before anything else.
  read_desired_state
  [[ -z $LEADERSHIP_KEY || $role == database ]] || die "leadership_key is for role database only; received it for role $role"
  ((${#TLS_B64[@]} == 0)) || [[ $role != app ]] || die "tls_* lines are for cluster members (database, witness) only; received them for role app"
  ((${#SECRET_B64[@]} == 0)) || [[ $role == database ]] || die "secret lines are for role database only; received them for role $role"
  [[ -z $APP_CA_B64 || $role == app ]] || die "app_ca is for role app only; received it for role $role"
  [[ $role != app || -z $APP_ENV_B64 || -n $APP_CA_B64 ]] || die "app_env comes with app_ca (the database CAs the app verifies its members with); received no app_ca"
  [[ $(id -u) == 0 ]] || die "must run as root"
  export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
  # Before waiting for first boot: a joining member's first boot may be waiting for these names.
  [[ $role == app ]] || converge_peers
  if [[ $role == app ]]; then
    wait_for_first_boot first-boot.done
  else
    wait_for_first_boot first-boot.fetched
  fi
  apply_authorized_keys
  converge_host_keys
  [[ $role == app ]] || converge_tls "$role"
  [[ $role != database ]] || admit_witness
  ensure_metadata_guard
  [[ $role != database ]] || verify_patroni_fix
  [[ $role != database ]] || converge_secrets
  log "release $(basename "$(readlink -f /opt/linode-dr/current)") is current"
  if [[ $role == app ]]; then
    converge_app
  fi
  log "converged ($role)"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  # A rerun waits for the run an interrupted `pulumi up` left behind (a rollout takes minutes).
  # shellcheck source-path=SCRIPTDIR source=lib/exclusive.sh
  source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/exclusive.sh"
  run_exclusively converge 1800 "$0" "$@"
  main "$@"
fi
