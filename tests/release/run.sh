#!/usr/bin/env bash
# tests/release/run.sh -- `make release-test`, after `make release`: the
# artifacts in dist/ are one release of this checkout. Needs root (buildah,
# chroot).
#
#   1. dist/release.json names this commit (git rev-parse HEAD, and --short
#      as the revision), the Makefile's VERSION, and VERSION+gREVISION as
#      the release; the work tree is still that commit, unchanged.
#   2. Each artifact's size and sha256 are release.json's, and
#      `sha256sum -c dist/SHA256SUMS` agrees.
#   3. The .deb: package togglemaster, Version the release; the binary taken
#      out of it (dpkg-deb -x) prints "togglemaster VERSION (git REVISION)".
#   4. The image: the archive names the tag release.json gives; loaded into
#      a throwaway buildah storage it has release.json's image id, the
#      version and revision labels, the Dockerfile's HEALTHCHECK; the binary
#      run inside the mounted image (chroot, the image's own libraries)
#      prints the same line.
#   5. The build tree's binary (make) prints the same line.
# Prints ok/FAIL lines and closes with "release: N passed, N failed".
# Single-quoted $ are for bash -c (SC2016); cleanup runs from the EXIT trap (SC2317).
# shellcheck disable=SC2016,SC2317
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2

START=$SECONDS
passed=0 failed=0
ok() { echo "ok - $*"; passed=$((passed + 1)); }
fail() { echo "FAIL - $*"; failed=$((failed + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }
finish() {
  echo "# total $((SECONDS - START)) s"
  echo "release: $passed passed, $failed failed"
  [ "$failed" -eq 0 ] && exit 0
  exit 1
}
fatal() { fail "$*"; finish; }

[ "$(id -u)" -eq 0 ] || { echo "tests/release/run.sh: needs root (buildah storage, chroot)" >&2; exit 2; }
manifest=dist/release.json
[ -s "$manifest" ] || fatal "$manifest exists (run make release first)"
field() { jq -r "$1" "$manifest"; }

# ------------------------------------------------------------ 1. the commit
version=$(sed -n 's/^VERSION *:= *//p' Makefile)
revision=$(git rev-parse --short HEAD)
commit=$(git rev-parse HEAD)
want="togglemaster $version (git $revision)"
check "release.json names this commit ($commit)" test "$(field .commit)" = "$commit"
check "release.json: version $version, revision $revision (git rev-parse --short HEAD)" \
  test "$(field .version):$(field .revision)" = "$version:$revision"
release=$(field .release)
check "release.json: release $release is VERSION+gREVISION and make release-version" \
  test "$release" = "$version+g$revision" -a "$release" = "$(make -s --no-print-directory release-version)"
check "the work tree is that commit, unchanged (git status --porcelain is empty)" \
  test -z "$(git status --porcelain)"

# ------------------------------------------------------------- 2. the files
mapfile -t files < <(field '.artifacts[].file')
check "release.json lists a deb and an image" \
  test "$(field '[.artifacts[].kind] | sort | join(",")')" = "deb,image"
for f in "${files[@]}"; do
  size=$(field ".artifacts[] | select(.file == \"$f\") | .bytes")
  sum=$(field ".artifacts[] | select(.file == \"$f\") | .sha256")
  check "dist/$f: $size bytes, sha256 $sum as release.json says" \
    test "$(stat -c %s "dist/$f" 2>&1):$(sha256sum "dist/$f" | cut -d' ' -f1)" = "$size:$sum"
done
check "sha256sum -c dist/SHA256SUMS" bash -c 'cd dist && sha256sum --quiet -c SHA256SUMS'

work=$(mktemp -d "${TMPDIR:-/var/tmp}/tm-release-test.XXXXXX")
B=() CTRS=()
# shellcheck source=packaging/image/buildah.sh
. packaging/image/buildah.sh
cleanup() {
  set +e
  image_cleanup "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --------------------------------------------------------------- 3. the .deb
deb=$(field '.artifacts[] | select(.kind == "deb") | .file')
check "$deb: package togglemaster, version $release" \
  test "$(dpkg-deb -f "dist/$deb" Package):$(dpkg-deb -f "dist/$deb" Version)" = "togglemaster:$release"
mkdir -p "$work/deb"
if dpkg-deb -x "dist/$deb" "$work/deb"; then
  out=$("$work/deb/usr/bin/togglemaster" version 2>&1)
  check "the .deb's /usr/bin/togglemaster prints '$want' ($out)" test "$out" = "$want"
else
  fail "dpkg-deb -x dist/$deb"
fi

# -------------------------------------------------------------- 4. the image
image=$(field '.artifacts[] | select(.kind == "image") | .file')
tag=$(field '.artifacts[] | select(.kind == "image") | .tag')
repo_tags=$(tar -xOf "dist/$image" manifest.json 2>/dev/null | jq -r '[.[].RepoTags[]] | join(",")')
check "$image is a docker-archive of $tag and nothing else (RepoTags: $repo_tags)" \
  test "$repo_tags" = "docker.io/library/$tag"
image_storage "$work" "$work/storage-probe.log"
if ! id=$("${B[@]}" pull -q "docker-archive:dist/$image" 2>"$work/pull.log"); then
  cat "$work/pull.log"
  fatal "buildah pull docker-archive:dist/$image"
fi
check "the loaded image's id is release.json's (sha256:$id)" \
  test "sha256:$id" = "$(field '.artifacts[] | select(.kind == "image") | .image_id')"
cfg=$("${B[@]}" inspect --type image "$id" | jq -c '.Docker.config')
check "image labels: version $version, revision $revision" \
  test "$(jq -r '.Labels["org.opencontainers.image.version"] + ":" + .Labels["org.opencontainers.image.revision"]' <<<"$cfg")" \
  = "$version:$revision"
check "the image keeps the Dockerfile's HEALTHCHECK" \
  test "$(jq -c '.Healthcheck.Test' <<<"$cfg")" = '["CMD","/usr/local/bin/togglemaster-healthcheck"]'
if ctr=$("${B[@]}" from --pull=never "$id" 2>"$work/from.log") && CTRS+=("$ctr") &&
   mnt=$("${B[@]}" mount "$ctr" 2>>"$work/from.log"); then
  out=$(chroot "$mnt" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin togglemaster version 2>&1)
  check "the image's togglemaster, run in the image, prints '$want' ($out)" test "$out" = "$want"
else
  cat "$work/from.log"
  fail "mount the image"
fi

# --------------------------------------------------------- 5. the build tree
if make -s --no-print-directory all >"$work/make.log" 2>&1; then
  out=$(build/togglemaster version 2>&1)
  check "the build tree's build/togglemaster prints '$want' ($out)" test "$out" = "$want"
else
  cat "$work/make.log"
  fail "make (the build tree's binary)"
fi

finish
