#!/bin/bash
# Pid 1 setup of a lab host, run by `unshare` inside the host's network namespace with fresh mount,
# pid, uts and ipc namespaces. It builds the host's root (an overlay of this machine's root with a
# per-host upper layer, which survives crashes like a disk) and turns into the host's init.
set -euo pipefail

boot() {
  local root=$1 upper=$2 work=$3 name=$4 fresh=$5 marker=$6 hidden=$7
  mount --make-rprivate /
  mount -t overlay overlay -o "lowerdir=/,upperdir=$upper,workdir=$work" "$root"
  if [[ $fresh == 1 ]]; then
    hide_machine_state "$root" "$hidden"
  fi
  mount -t proc proc "$root/proc"
  mount --rbind /sys "$root/sys"
  mount --rbind /dev "$root/dev"
  mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm"
  mount -t tmpfs -o mode=0755 tmpfs "$root/run"
  mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
  # systemd-tmpfiles creates this on a real boot; without systemd nothing else would.
  install -d -o postgres -g postgres -m 2775 "$root/run/postgresql"
  hostname "$name"
  # Init ignores SIGTERM like a real one; SIGKILL from outside ends the host and all it runs.
  # shellcheck disable=SC2016 # expanded by the inner shell
  exec chroot "$root" /bin/bash -c 'trap "" TERM INT HUP; while :; do sleep 3600 & wait $!; done' "$marker"
}

# Removing a lower-layer directory in the overlay and creating it again makes it opaque: the host
# starts with this machine's packages but none of its PostgreSQL clusters or cloud-init state.
hide_machine_state() {
  local root=$1 hidden=$2 p owner mode paths
  IFS=: read -r -a paths <<<"$hidden"
  for p in "${paths[@]}"; do
    if [[ -d $root$p ]]; then
      owner=$(stat -c %U:%G "$root$p")
      mode=$(stat -c %a "$root$p")
      rm -rf "${root:?}$p"
      install -d -o "${owner%%:*}" -g "${owner##*:}" -m "$mode" "$root$p"
    elif [[ -e $root$p ]]; then
      rm -f "${root:?}$p"
    fi
  done
}

boot "$@"
