#!/usr/bin/env bash
# scripts/release.sh -- `make release`: build one release of the checked-out
# commit into dist/, each artifact once. Needs root (buildah, chroot).
#
#   dist/togglemaster_<release>_<arch>.deb    the Debian package
#                                             (packaging/deb/build.sh)
#   dist/togglemaster-<release>.docker.tar    the container image from the
#                                             Dockerfile (packaging/image/
#                                             buildah.sh), for `docker load`
#                                             or `podman load`
#   dist/release.json                         version, git revision and
#                                             commit, build time, and each
#                                             artifact's size and sha256
#   dist/SHA256SUMS                           the same sums, for sha256sum -c
#
# <release> is VERSION+gREVISION (`make release-version`): 0.2.0+gf3e6970.
# The binary in each artifact prints "togglemaster 0.2.0 (git f3e6970)";
# tests/release/run.sh (`make release-test`) checks that they do and that
# the files are the ones release.json names.
#
# This is twelve-factor's build stage: a release is one of these artifacts
# plus an environment (`togglemaster check-config` validates it), and
# running it is `togglemaster serve` (docs/twelve-factor.md).
#
# The image is a docker-archive, not an OCI archive: the OCI image format
# has no HEALTHCHECK, and converting to it drops the Dockerfile's. Its tag is
# togglemaster:VERSION-gREVISION (tags cannot hold "+"). The base images are
# the debootstrap stand-ins the image test uses (no registry is needed).
#
# A work tree with uncommitted or untracked files is refused: the
# artifacts would not be the commit they are named after. Logs:
# build/release/.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "release: $*"; }
die() { echo "release: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (buildah storage, chroot)"

dirty=$(git status --porcelain)
if [ -n "$dirty" ]; then
  echo "release: the work tree differs from the commit; commit or stash first:" >&2
  git status --short | sed 's/^/  /' >&2
  exit 1
fi

start=$SECONDS
version=$(sed -n 's/^VERSION *:= *//p' Makefile)
revision=$(git rev-parse --short HEAD)
commit=$(git rev-parse HEAD)
release=$(make -s --no-print-directory release-version)
[ "$release" = "$version+g$revision" ] || die "release version '$release' is not $version+g$revision"
arch=$(dpkg --print-architecture)
tag="togglemaster:$version-g$revision"
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)
export SOURCE_DATE_EPOCH
logs=build/release
rm -rf dist "$logs"
mkdir -p dist "$logs"
say "$release from $commit"

# 1. The Debian package.
t=$SECONDS
deb=togglemaster_${release}_${arch}.deb
DEB_VERSION=$release packaging/deb/build.sh >"$logs/deb.log" 2>&1 || {
  tail -30 "$logs/deb.log" >&2; die "packaging/deb/build.sh failed (log: $logs/deb.log)"; }
cp "build/deb/$deb" "dist/$deb"
say "dist/$deb ($((SECONDS - t)) s)"

# 2. The container image, in buildah storage of its own that is removed at exit.
t=$SECONDS
work=$(mktemp -d "${TMPDIR:-/var/tmp}/tm-release.XXXXXX")
B=() CTRS=()
# shellcheck source=packaging/image/buildah.sh
. packaging/image/buildah.sh
cleanup() {
  set +e
  image_cleanup "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
image_storage "$work" "$logs/storage-probe.log"
tarball=$(tests/lib/bookworm-rootfs.sh) || die "debootstrap bookworm rootfs (tests/lib/bookworm-rootfs.sh)"
image_bases "$tarball" "$logs/base-images.log" || {
  tail -30 "$logs/base-images.log" >&2; die "base images (log: $logs/base-images.log)"; }
# Named as docker.io/library/... in the storage too, so the archive carries
# that one name (`docker load` shows togglemaster:<tag>), not also localhost/.
image_build "docker.io/library/$tag" "$version" "$revision" "$logs/image-build.log" || {
  tail -30 "$logs/image-build.log" >&2; die "buildah bud (log: $logs/image-build.log)"; }
image=togglemaster-$release.docker.tar
"${B[@]}" push -q "docker.io/library/$tag" "docker-archive:dist/$image:$tag" >"$logs/push.log" 2>&1 || {
  cat "$logs/push.log" >&2; die "buildah push to dist/$image"; }
image_id=$("${B[@]}" inspect --type image --format '{{.FromImageID}}' "docker.io/library/$tag")
say "dist/$image, image sha256:$image_id ($((SECONDS - t)) s)"

# 3. What the release is, and the sums.
built_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
/usr/bin/python3 - "$version" "$revision" "$commit" "$release" "$built_at" "$SOURCE_DATE_EPOCH" \
  "$deb" "$image" "$tag" "sha256:$image_id" <<'PY'
import hashlib, json, os, sys
version, revision, commit, release, built_at, epoch, deb, image, tag, image_id = sys.argv[1:]

def sha256(name):
    h = hashlib.sha256()
    with open(os.path.join("dist", name), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

def artifact(kind, name, **extra):
    return dict(kind=kind, file=name, bytes=os.path.getsize(os.path.join("dist", name)), sha256=sha256(name),
                **extra)

manifest = {
    "name": "togglemaster", "version": version, "revision": revision, "commit": commit,
    "release": release, "built_at": built_at, "source_date_epoch": int(epoch),
    "artifacts": [artifact("deb", deb, package_version=release),
                  artifact("image", image, format="docker-archive", tag=tag, image_id=image_id)],
}
with open("dist/release.json", "w") as f:
    json.dump(manifest, f, indent=2)
    f.write("\n")
with open("dist/SHA256SUMS", "w") as f:
    for a in manifest["artifacts"]:
        f.write("%s  %s\n" % (a["sha256"], a["file"]))
PY
say "dist/release.json, dist/SHA256SUMS"
say "$release built in $((SECONDS - start)) s"
