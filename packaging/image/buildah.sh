# packaging/image/buildah.sh -- sourced, not run: builds the container image
# from the real Dockerfile with buildah, with no Docker engine and no
# registry. Shared by tests/image/run.sh (`make image-test`) and
# scripts/release.sh (`make release`), so the image that is tested and the
# image that is released are built the same way. Needs root.
#
#   image_storage DIR LOGFILE
#       sets B=(buildah --root DIR/storage --runroot DIR/run --storage-driver
#       D) and IMAGE_DRIVER=D: overlay when a container can be made and
#       mounted with it here, vfs otherwise (TM_STORAGE_DRIVER forces one).
#   image_bases TARBALL LOGFILE
#       the two base images the FROM lines name, made from the debootstrap
#       rootfs TARBALL (tests/lib/bookworm-rootfs.sh makes and caches it) and
#       stored as
#       docker.io/library/debian:bookworm and :bookworm-slim (what the short
#       names resolve to); the slim one gets the official image's dpkg
#       excludes. Both point apt at bookworm, -updates and -security
#       (DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR), as the official images do.
#   image_build TAG VERSION REVISION LOGFILE
#       buildah bud --isolation chroot --pull=never --format docker (the
#       OCI format has no HEALTHCHECK) of ./Dockerfile, with the version and
#       git revision as build arguments; tagged TAG.
#
#   image_cleanup DIR
#       on exit: removes the working containers in CTRS and every image in
#       the storage B names (kept with TM_IMAGE_KEEP=1), unmounts whatever
#       the storage driver left under DIR, innermost first, and removes DIR.
#
# Working containers are appended to CTRS; the caller calls image_cleanup
# on exit. Each function returns non-zero on failure and
# leaves the reason in LOGFILE.
# shellcheck shell=bash

IMAGE_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
IMAGE_SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-${IMAGE_MIRROR%/debian}/debian-security}
declare -a B CTRS

image_cleanup() {
  local work=$1 c
  if [ ${#B[@]} -gt 0 ]; then
    for c in "${CTRS[@]}"; do "${B[@]}" umount "$c" >/dev/null 2>&1; "${B[@]}" rm "$c" >/dev/null 2>&1; done
    if [ "${TM_IMAGE_KEEP:-0}" = 1 ]; then
      echo "# kept buildah storage: ${B[*]}" >&2
      return
    fi
    "${B[@]}" rm --all >/dev/null 2>&1
  fi
  # --one-file-system keeps rm out of anything still mounted
  awk -v w="$work/" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m"; done
  rm -rf --one-file-system "$work"
}

# image_driver_works DIR DRIVER LOGFILE: a container can be made and mounted
image_driver_works() {
  local b=(buildah --root "$1/probe-$2" --runroot "$1/probe-$2-run" --storage-driver "$2") c
  c=$("${b[@]}" from scratch 2>>"$3") || return 1
  "${b[@]}" mount "$c" >>"$3" 2>&1 || { "${b[@]}" rm "$c" >/dev/null 2>&1; return 1; }
  "${b[@]}" umount "$c" >/dev/null 2>&1
  "${b[@]}" rm "$c" >/dev/null 2>&1
}

image_storage() {
  IMAGE_DRIVER=${TM_STORAGE_DRIVER:-}
  if [ -z "$IMAGE_DRIVER" ]; then
    if image_driver_works "$1" overlay "$2"; then IMAGE_DRIVER=overlay; else IMAGE_DRIVER=vfs; fi
  fi
  B=(buildah --root "$1/storage" --runroot "$1/run" --storage-driver "$IMAGE_DRIVER")
}

# apt sources as the official images have them (deb822), and their apt
# settings: no .deb cache, no translations
image_configure_apt() {
  local m=$1
  rm -f "$m/etc/apt/sources.list"
  cat >"$m/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $IMAGE_MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $IMAGE_SECURITY_MIRROR
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  cat >"$m/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' >"$m/etc/apt/apt.conf.d/docker-no-languages"
  echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$m/etc/apt/apt.conf.d/docker-autoremove-suggests"
}

# what the official -slim variant drops, and keeps dropping for later installs
image_slimify() {
  local m=$1
  cat >"$m/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
  find "$m/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$m/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$m"/usr/share/groff/* "$m"/usr/share/info/* "$m"/usr/share/linda/* \
    "$m"/usr/share/lintian/overrides/* "$m"/usr/share/locale/* "$m"/usr/share/man/*
}

# image_make_base TARBALL NAME [slim]
image_make_base() {
  local tarball=$1 name=$2 variant=${3:-} c m
  c=$("${B[@]}" from scratch) || return 1
  CTRS+=("$c")
  m=$("${B[@]}" mount "$c") || return 1
  # an image carries no device nodes, hostname or resolver: the runtime adds them
  tar -C "$m" -xf "$tarball" --exclude='./dev/*' || return 1
  : >"$m/etc/hostname"
  rm -f "$m/etc/resolv.conf"
  image_configure_apt "$m"
  [ "$variant" = slim ] && image_slimify "$m"
  "${B[@]}" umount "$c" >/dev/null || return 1
  "${B[@]}" config --os linux --arch amd64 --cmd bash \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$c" || return 1
  "${B[@]}" commit --quiet --rm "$c" "$name" >/dev/null || return 1
  unset 'CTRS[-1]'
}

image_bases() {
  image_make_base "$1" docker.io/library/debian:bookworm >>"$2" 2>&1 &&
    image_make_base "$1" docker.io/library/debian:bookworm-slim slim >>"$2" 2>&1
}

image_build() {
  local tag=$1 version=$2 revision=$3 log=$4
  "${B[@]}" bud --isolation chroot --pull=never --format docker --layers=false \
    --build-arg VERSION="$version" --build-arg REVISION="$revision" \
    -f Dockerfile -t "$tag" . >"$log" 2>&1 || return 1
  ! grep -q 'HEALTHCHECK.*ignored' "$log"
}
