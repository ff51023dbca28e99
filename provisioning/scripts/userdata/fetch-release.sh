#!/bin/bash
# linode-dr-fetch-release [SHA256]: fetches a release bundle (the provisioning scripts and the C
# service's source) from the project's Object Storage bucket, verifies its sha256, unpacks it under
# /opt/linode-dr/releases/<sha256> and makes it current (/usr/local/sbin links). Written by
# cloud-init from user data, so it must stay small and stable: everything else lives in releases.
# Idempotent and serialised by a lock: first boot and a later remote command may both run it.
set -euo pipefail

readonly ETC_DIR=${LINODE_DR_ETC_DIR:-/etc/linode-dr}
readonly OPT_DIR=${LINODE_DR_OPT_DIR:-/opt/linode-dr}
readonly SBIN_DIR=${LINODE_DR_SBIN_DIR:-/usr/local/sbin}
readonly RELEASE_ENV=$ETC_DIR/release.env
readonly STORE_ENV=$ETC_DIR/object-store.env
readonly ATTEMPTS=${LINODE_DR_FETCH_ATTEMPTS:-8}
readonly MAX_DELAY=${LINODE_DR_FETCH_MAX_DELAY:-60}

log() { printf '%s linode-dr-fetch-release: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

load_settings() {
  [[ -r $RELEASE_ENV ]] || die "$RELEASE_ENV is missing; cloud-init writes it from user data"
  [[ -r $STORE_ENV ]] || die "$STORE_ENV is missing; cloud-init writes it from user data"
  # shellcheck disable=SC1090 # written by cloud-init from validated input
  source "$RELEASE_ENV"
  # shellcheck disable=SC1090
  source "$STORE_ENV"
  [[ ${RELEASE_BASE_URL:-} == https://* ]] || die "RELEASE_BASE_URL in $RELEASE_ENV must be an https URL"
  [[ ${OBJECT_STORE_CLUSTER:-} =~ ^[a-z0-9-]+$ ]] || die "OBJECT_STORE_CLUSTER in $RELEASE_ENV is malformed"
  [[ -n ${OBJECT_STORE_ACCESS_KEY:-} && -n ${OBJECT_STORE_SECRET_KEY:-} ]] || die "$STORE_ENV lacks the access key"
}

# Bounded exponential backoff: a mirror or Object Storage hiccup must not leave a host dead, and a
# real outage must end in a clear failure rather than an endless loop.
download() {
  local url=$1 out=$2 attempt delay=2
  for ((attempt = 1; attempt <= ATTEMPTS; attempt++)); do
    # Credentials go through a config on stdin, never argv (visible in ps to every local user).
    if printf 'user = "%s:%s"\n' "$OBJECT_STORE_ACCESS_KEY" "$OBJECT_STORE_SECRET_KEY" |
      curl --config - --fail --silent --show-error --location --proto '=https' --tlsv1.2 \
        --connect-timeout 10 --max-time 300 \
        --aws-sigv4 "aws:amz:${OBJECT_STORE_CLUSTER}:s3" --output "$out" "$url"; then
      return 0
    fi
    if ((attempt < ATTEMPTS)); then
      log "download of $url failed (attempt $attempt of $ATTEMPTS); retrying in ${delay}s"
      sleep "$delay"
      delay=$((delay * 2 > MAX_DELAY ? MAX_DELAY : delay * 2))
    fi
  done
  die "download of $url failed $ATTEMPTS times"
}

fetch() {
  local sha=$1 dir=$OPT_DIR/releases/$1 tmp actual
  if [[ -f $dir/.verified ]]; then
    log "release $sha already present"
    return 0
  fi
  mkdir -p "$OPT_DIR/releases"
  tmp=$(mktemp -d "$OPT_DIR/releases/.fetch.XXXXXX")
  download "$RELEASE_BASE_URL/$sha.tar" "$tmp/release.tar"
  actual=$(sha256sum "$tmp/release.tar" | cut -d' ' -f1)
  if [[ $actual != "$sha" ]]; then
    rm -rf "$tmp"
    die "refusing release $sha: the downloaded bundle's sha256 is $actual"
  fi
  mkdir "$tmp/tree"
  tar -xf "$tmp/release.tar" -C "$tmp/tree" --no-same-owner --no-same-permissions
  rm -rf "$dir"
  mv "$tmp/tree" "$dir"
  rm -rf "$tmp"
  touch "$dir/.verified"
  log "release $sha fetched and verified"
}

activate() {
  local sha=$1 name target
  ln -sfn "releases/$sha" "$OPT_DIR/current.new"
  mv -T "$OPT_DIR/current.new" "$OPT_DIR/current"
  while read -r name target; do
    [[ $name =~ ^linode-dr-[a-z-]+$ && $target =~ ^scripts/[a-z/-]+\.(sh|py)$ ]] || die "bad sbin.list line: $name $target"
    ln -sfn "$OPT_DIR/current/$target" "$SBIN_DIR/$name"
  done <"$OPT_DIR/current/sbin.list"
  log "release $sha is current"
}

main() {
  load_settings
  local sha=${1:-${RELEASE_SHA256:-}}
  [[ $sha =~ ^[0-9a-f]{64}$ ]] || die "expected a release sha256 (64 lower-case hex); received \"$sha\""
  mkdir -p "$OPT_DIR"
  exec 9>"$OPT_DIR/.lock"
  flock -w 900 9 || die "another fetch held $OPT_DIR/.lock for 15 minutes"
  fetch "$sha"
  activate "$sha"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
