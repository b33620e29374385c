#!/usr/bin/env bash
# packaging/deb/build.sh -- build build/deb/togglemaster_<version>_<arch>.deb,
# what `make deb` runs.
#
#   packaging/deb/build.sh
#
# Builds the binary as Debian builds packages (dpkg-buildflags with
# hardening=+all: fortify, stack protector, full RELRO, bind-now, PIE) into
# build/deb/bin, or takes TM_BINARY=path as is. Stages the tree in
# build/deb/root and packs it with dpkg-deb --root-owner-group (no fakeroot
# needed, every file root:root). The package:
#   /usr/bin/togglemaster                         stripped; its debug info is
#                                                 kept in build/deb/togglemaster.debug
#   /lib/systemd/system/togglemaster.service      hardened unit
#   /etc/togglemaster/togglemaster.env            conffile, 0600 root:root
#   /usr/share/man/man1/togglemaster.1.gz         generated from --help (mkman.sh)
#   /usr/share/doc/togglemaster/{copyright,changelog.gz,examples/}
#   DEBIAN/{control,conffiles,md5sums,postinst,prerm,postrm}
# Depends comes from dpkg-shlibdeps (plus adduser, used by postinst).
#
# Environment: DEB_VERSION (default: the Makefile's RELEASE_VERSION, the
# binary's version and git revision as VERSION+gREVISION), TM_BINARY,
# SOURCE_DATE_EPOCH (default: the last commit's time; every timestamp in the
# package, so rebuilding the same tree gives the same .deb).
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
src=packaging/deb
out=build/deb

version=${DEB_VERSION:-$(make -s --no-print-directory release-version)}
[ -n "$version" ] || { echo "deb: no version from the Makefile" >&2; exit 1; }
arch=$(dpkg --print-architecture)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
umask 022
mkdir -p "$out"

# 1. The binary.
bin=${TM_BINARY:-}
if [ -z "$bin" ]; then
  export DEB_BUILD_MAINT_OPTIONS=hardening=+all
  # main.o embeds the git revision; rebuild it so `version` is current.
  rm -f "$out/bin/obj/src/main.o"
  make -s --no-print-directory BUILD="$out/bin" \
    EXTRA_CFLAGS="$(dpkg-buildflags --get CPPFLAGS) $(dpkg-buildflags --get CFLAGS)" \
    EXTRA_LDFLAGS="$(dpkg-buildflags --get LDFLAGS)" "$out/bin/togglemaster" >&2
  bin=$out/bin/togglemaster
fi
[ -x "$bin" ] || { echo "deb: $bin is not an executable" >&2; exit 1; }

# 2. The staged tree.
root=$out/root
rm -rf -- "$root"
install -d "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" \
  "$root/etc/togglemaster" "$root/usr/share/man/man1" \
  "$root/usr/share/doc/togglemaster/examples" "$root/usr/share/lintian/overrides"

# Debug info goes to build/deb/togglemaster.debug (not shipped; gdb finds it
# through the debug link), the shipped binary is stripped the way dh_strip
# strips executables.
objcopy --only-keep-debug --compress-debug-sections "$bin" "$out/togglemaster.debug"
install -m 0755 "$bin" "$root/usr/bin/togglemaster"
strip --remove-section=.comment --remove-section=.note "$root/usr/bin/togglemaster"
(cd "$out" && objcopy --add-gnu-debuglink=togglemaster.debug "$top/$root/usr/bin/togglemaster")

install -m 0644 "$src/togglemaster.service" "$root/lib/systemd/system/togglemaster.service"
install -m 0600 "$src/togglemaster.env" "$root/etc/togglemaster/togglemaster.env"
install -m 0644 "$src/port-below-1024.conf" "$root/usr/share/doc/togglemaster/examples/port-below-1024.conf"
install -m 0644 "$src/copyright" "$root/usr/share/doc/togglemaster/copyright"
install -m 0644 "$src/lintian-overrides" "$root/usr/share/lintian/overrides/togglemaster"

"$src/mkman.sh" "$bin" "$version" "$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)" |
  gzip -9n >"$root/usr/share/man/man1/togglemaster.1.gz"

# A native package (upstream and packaging are one project, the version has
# no Debian revision), so the Debian changelog is installed as changelog.gz. If the Makefile's VERSION moved on
# without a changelog entry, an entry for it is generated on top.
changelog=$(cat "$src/changelog")
if [ "$(head -n 1 <<<"$changelog" | sed -n 's/^togglemaster (\([^)]*\)).*/\1/p')" != "$version" ]; then
  echo "deb: packaging/deb/changelog has no entry for $version; generating one" >&2
  changelog="togglemaster ($version) unstable; urgency=medium

  * Build of $(git describe --always --dirty 2>/dev/null || echo "$version").

 -- ToggleMaster maintainers <maintainers@togglemaster.invalid>  $(date -u -R -d "@$SOURCE_DATE_EPOCH")

$changelog"
fi
# (A DEB_VERSION with a Debian revision, 1.2-1, is non-native: changelog.Debian.gz.)
changelog_name=changelog.gz
case $version in *-*) changelog_name=changelog.Debian.gz ;; esac
printf '%s\n' "$changelog" | gzip -9n >"$root/usr/share/doc/togglemaster/$changelog_name"

# 3. Control files.
# dpkg-shlibdeps wants a debian/control to read; give it a minimal one.
shl=$out/shlibdeps
rm -rf -- "$shl"
mkdir -p "$shl/debian"
printf 'Source: togglemaster\n\nPackage: togglemaster\nArchitecture: any\n' >"$shl/debian/control"
shlibs=$(cd "$shl" && dpkg-shlibdeps -O -e"$top/$root/usr/bin/togglemaster" 2>"$top/$shl/stderr") || {
  cat "$shl/stderr" >&2; exit 1; }
[ ! -s "$shl/stderr" ] || sed 's/^/deb: /' "$shl/stderr" >&2
shlibs=${shlibs#shlibs:Depends=}
[ -n "$shlibs" ] || { echo "deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

# Installed-Size as dpkg-gencontrol computes it: KiB per file, rounded up,
# one per directory or symlink.
installed_size=$(cd "$root" && find . -path ./DEBIAN -prune -o ! -name . -printf '%y %s\n' |
  awk '$1 == "f" { t += int(($2 + 1023) / 1024); next } { t += 1 } END { print t }')

sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SHLIBS_DEPENDS@/$shlibs/" \
    -e "s/@INSTALLED_SIZE@/$installed_size/" "$src/control.in" >"$root/DEBIAN/control"
chmod 0644 "$root/DEBIAN/control"
printf '/etc/togglemaster/togglemaster.env\n' >"$root/DEBIAN/conffiles"
for script in postinst prerm postrm; do
  install -m 0755 "$src/$script" "$root/DEBIAN/$script"
done
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
  xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"

# 4. Pack. Clamp every mtime to SOURCE_DATE_EPOCH for a reproducible .deb.
find "$root" -newermt "@$SOURCE_DATE_EPOCH" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
rm -f "$out"/togglemaster_*.deb
deb=$out/togglemaster_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "deb: $deb ($(stat -c %s "$deb") bytes; Depends: $shlibs, adduser)"
