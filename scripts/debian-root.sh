#!/usr/bin/env bash
# Runs a command in a fresh Debian root of another release (Debian 13, "trixie", by default) holding a copy of
# this checkout: how eps is built and tested on the release it does not run on (docs/testing.md, "Both Debian
# releases"). As root, on a Debian (or Ubuntu) machine with debootstrap.
#
#   scripts/debian-root.sh [--release NAME] [--root DIR] [--keep] [--] COMMAND...
#
# --release  trixie (default) or bookworm: the suite debootstrap installs.
# --root     where the root is made (default build/debian-<release>, a folder of the checkout's, ignored by git).
# --keep     reuse the root of an earlier run (its packages and build folder) instead of starting fresh; the
#            checkout is copied in again either way.
# COMMAND runs under bash in the copy (/eps), as root, with HOME=/root.
#
# The base root (debootstrap --variant=minbase, ~1 min) is made once per machine and release and kept as a
# tarball in $EPS_ROOT_CACHE (default /var/cache/eps/roots), beside the .deb files apt downloads in the root
# (bind-mounted, so a second run downloads nothing). Each run unpacks the base into a new root, so the
# install script meets a release as a newcomer's machine has it. The mirror is $EPS_DEBIAN_MIRROR, else the
# one this machine's apt uses for Debian, else deb.debian.org.
set -euo pipefail

release=trixie root="" keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --release) release=${2:?--release needs a name}; shift 2 ;;
    --root) root=${2:?--root needs a folder}; shift 2 ;;
    --keep) keep=1; shift ;;
    --) shift; break ;;
    -*) echo "debian-root.sh: unknown option '$1' (expected --release, --root, --keep or --)" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "debian-root.sh: no command given (usage: debian-root.sh [--release NAME] [--root DIR] [--keep] -- COMMAND...)" >&2; exit 2; }
case "$release" in
  trixie | bookworm) ;;
  *) echo "debian-root.sh: release '$release' is not one eps supports (expected trixie or bookworm)" >&2; exit 2 ;;
esac
[ "$(id -u)" -eq 0 ] || { echo "debian-root.sh: must run as root (debootstrap, mount, chroot)" >&2; exit 2; }
command -v debootstrap > /dev/null || { echo "debian-root.sh: debootstrap is missing (apt-get install debootstrap)" >&2; exit 2; }

src=$(cd "$(dirname "$0")/.." && pwd)
root=${root:-$src/build/debian-$release}
mkdir -p "$(dirname "$root")"
root=$(cd "$(dirname "$root")" && pwd)/$(basename "$root")
cache=${EPS_ROOT_CACHE:-/var/cache/eps/roots}
mkdir -p "$cache/apt-$release/partial"

mirror=${EPS_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$(sed -n 's/^URIs:[[:space:]]*\(http[^[:space:]]*\/debian\)\/*$/\1/p' /etc/apt/sources.list.d/*.sources 2> /dev/null | head -n 1)
fi
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
  mirror=$(sed -n 's/^deb[[:space:]]\+\(http[^[:space:]]*\/debian\)\/*[[:space:]].*/\1/p' /etc/apt/sources.list | head -n 1)
fi
mirror=${mirror:-http://deb.debian.org/debian}

# One run per root at a time (a second would unmount the first one's /proc and /dev, or delete its root).
exec 9> "$root.lock"
flock -n 9 || { echo "debian-root.sh: $root is in use by another run (lock $root.lock)" >&2; exit 2; }

unmount() {
  for m in dev/pts dev proc sys var/cache/apt/archives; do
    if mountpoint -q "$root/$m" 2> /dev/null; then umount -l "$root/$m"; fi
  done
}
trap unmount EXIT

base="$cache/$release-base.tar"
if [ ! -f "$base" ]; then
  echo "debian-root: debootstrap --variant=minbase $release from $mirror (once per machine)"
  tmp=$(mktemp -d "$cache/.debootstrap.XXXXXX")
  debootstrap --variant=minbase "$release" "$tmp/root" "$mirror" > "$tmp/log" 2>&1 ||
    { tail -n 20 "$tmp/log" >&2; echo "debian-root.sh: debootstrap of $release failed (log above)" >&2; exit 1; }
  tar -C "$tmp/root" -cf "$tmp/base.tar" .
  mv "$tmp/base.tar" "$base"  # atomic: a base tarball exists whole or not at all
  rm -rf "$tmp"
fi

unmount
if [ "$keep" -eq 0 ] || [ ! -x "$root/bin/bash" ]; then
  # Never delete through a mount (the host's /dev, /sys): refuse if anything is still mounted inside.
  if [ -d "$root" ] && findmnt -rn -o TARGET | grep -q "^$root/"; then
    echo "debian-root.sh: something is still mounted under $root; not deleting it (umount it first)" >&2
    exit 1
  fi
  rm -rf --one-file-system "$root"
  mkdir -p "$root"
  tar -C "$root" -xf "$base"
  echo "debian-root: a fresh $release root at $root"
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
# The checkout, without its build folders and run outputs (a fresh clone has neither).
mkdir -p "$root/eps"
tar -C "$src" --exclude=./build --exclude='./build-*' --exclude=./runs --exclude=./.cache -cf - . | tar -C "$root/eps" -xf -

mount -t proc proc "$root/proc"
mount --bind /sys "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
mount --bind "$cache/apt-$release" "$root/var/cache/apt/archives"
echo "debian-root: running in $release ($(. "$root/etc/os-release" && echo "$PRETTY_NAME")): $*"
set +e
chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  LANG=C.UTF-8 TERM=dumb /bin/bash -c 'cd /eps && "$@"' bash "$@"
rc=$?
set -e
echo "debian-root: the command exited with $rc"
exit $rc
