#!/usr/bin/env bash
# Prints the path of a minimal Debian 12 (bookworm) root filesystem tarball,
# creating it first with debootstrap (variant minbase, ~25 s) if the cache
# does not have it. Shared by the container image build (stand-ins for the
# debian:bookworm and debian:bookworm-slim base images) and the Debian
# package's install test. Concurrent callers wait on a lock.
#
#   tests/lib/bookworm-rootfs.sh            -> build/cache/bookworm-minbase.tar
set -euo pipefail
cd "$(dirname "$0")/../.."

cache=build/cache
tarball=$cache/bookworm-minbase.tar
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$cache"
exec 9>"$cache/.rootfs.lock"
flock 9
if [ ! -s "$tarball" ]; then
  root=$(mktemp -d "$cache/rootfs.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  echo "bookworm-rootfs: debootstrap minbase into $root" >&2
  debootstrap --variant=minbase bookworm "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 || {
    tail -20 "$cache/debootstrap.log" >&2; exit 1; }
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  chmod 755 "$root"   # mktemp made it 0700; it becomes the tree's /
  tar -C "$root" -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
fi
echo "$tarball"
