#!/usr/bin/env bash
# tests/deb/run.sh -- check the Debian package, as `make deb-test` runs it
# (as root: it mounts and chroots). Uses build/deb/togglemaster_*.deb, built
# by packaging/deb/build.sh first if there is none, or TM_DEB=path (the
# released one: dist/togglemaster_<release>_amd64.deb from `make release`).
#
#   1. the unit: `systemd-analyze verify` against the package's own files
#      (binary, man page for Documentation=) must exit 0 and print nothing;
#      `systemd-analyze security --offline` exposure must stay <= 2.0;
#   2. lintian: no errors (warnings and overrides are listed);
#   3. in a throwaway Debian 12 chroot (tests/lib/bookworm-rootfs.sh):
#      `apt-get install ./togglemaster_*.deb` from the mirror, then the
#      system user, conffile, state directory, enablement and file list;
#      then what the unit would run, as systemd would run it (its User=,
#      EnvironmentFile=, StateDirectory=, WorkingDirectory=, UMask=,
#      ExecStartPre=, ExecStart=), on a free loopback port: /ready, the smoke
#      test from the host, data kept across a restart, SIGTERM -> exit 0;
#      a reinstall keeps a locally edited conffile; remove keeps the
#      conffile and data, purge removes both;
#   4. the same chroot booted with its own systemd (PID 1 of new namespaces,
#      as systemd-nspawn would): the package installed into the running
#      system starts the service through its maintainer scripts; smoke test,
#      the sandbox in force, Restart=on-failure, restart on upgrade, PORT=80
#      only with the example drop-in, graceful stop, purge while running.
# Prints `ok - ...` / `FAIL - ...`, the timings and size, and a final
# `deb: N passed, N failed`; exits non-zero on any failure. Everything it
# mounts is unmounted and its temporary directory removed on exit, also on
# failure or interrupt; if a mount cannot be undone the directory is left
# in place (and named) rather than removed across it.
# Single-quoted $ are for the chroot's or container's shell (SC2016);
# cleanup and the signal path run from traps (SC2317).
# shellcheck disable=SC2016,SC2317
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
top=$PWD

passed=0 failed=0
ok() { echo "ok - $*"; passed=$((passed + 1)); }
fail() { echo "FAIL - $*"; failed=$((failed + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }
finish() {
  echo "deb: timings:${timings} total $((SECONDS - t_start)) s"
  echo "deb: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
}
t_start=$SECONDS timings=""
phase_start=$SECONDS
phase() { timings+=" $1 $((SECONDS - phase_start)) s;"; phase_start=$SECONDS; }

if [ "$(id -u)" -ne 0 ]; then
  fail "tests/deb/run.sh must run as root (it mounts and chroots)"; finish
fi
for tool in systemd-analyze lintian dpkg-deb curl jq findmnt chroot runuser pgrep; do
  command -v "$tool" >/dev/null || { fail "missing tool $tool (scripts/install-deps.sh deb)"; finish; }
done
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

debs=(build/deb/togglemaster_*.deb)
if [ -n "${TM_DEB:-}" ]; then
  debs=("$TM_DEB")
  [ -f "$TM_DEB" ] || { fail "TM_DEB=$TM_DEB is not a file"; finish; }
elif [ ! -f "${debs[0]}" ]; then
  packaging/deb/build.sh || { fail "packaging/deb/build.sh"; finish; }
  debs=(build/deb/togglemaster_*.deb)
fi
deb=${debs[0]}
deb_name=${deb##*/}
echo "deb: $deb, $(stat -c %s "$deb") bytes, installed size $(dpkg-deb -f "$deb" Installed-Size) KiB"
echo "deb: Depends: $(dpkg-deb -f "$deb" Depends)"

# --- temporary directory, mounts and their cleanup ---------------------------
work=$(mktemp -d /var/tmp/togglemaster-deb-test.XXXXXX)
root=$work/rootfs
server_pid=""
mounted=()   # mount points, in mount order

mounts_under() { findmnt -rn -o TARGET | awk -v w="$work" 'index($0, w "/") == 1 || $0 == w'; }
cleanup() {
  local i m
  local p r
  [ -z "${sd_unshare:-}" ] || sd_stop
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null
  fi
  # Anything else still running inside the chroot (this run's only).
  for p in /proc/[0-9]*; do
    r=$(readlink "$p/root" 2>/dev/null) || continue
    case $r in "$root" | "$root"/*) kill -KILL "${p#/proc/}" 2>/dev/null ;; esac
  done
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    m=${mounted[i]}
    umount -R "$m" 2>/dev/null || umount -R -l "$m" 2>/dev/null || true
  done
  if [ -n "$(mounts_under)" ]; then
    echo "deb: still mounted under $work, NOT removing it:" >&2
    mounts_under >&2
    return
  fi
  # --one-file-system: even a mount missed above would not be crossed.
  rm -rf --one-file-system -- "$work"
}
trap cleanup EXIT
trap 'trap - INT TERM HUP; fail "interrupted by a signal"; finish' INT TERM HUP

mount_in() {  # mount_in TARGET MOUNT-ARGS...: mount, remember, keep private
  local target=$1; shift
  mount "$@" "$target" || return 1
  mounted+=("$target")
  mount --make-rprivate "$target"
}

# --- 1. systemd-analyze on the unit, with the files of the package ---------
vroot=$work/verify
mkdir -p "$vroot"
dpkg-deb -x "$deb" "$vroot"
# The units the service refers to (multi-user.target, network-online.target,
# sysinit.target ...) come from the host's systemd; the package's own files
# win over them.
cp -an /lib/systemd/system/. "$vroot/lib/systemd/system/"
# ExecReload= runs /bin/sh, which every Debian system has (dash is
# Essential: yes), unlike the package's own files here.
install -D -m 0755 "$(readlink -f /bin/sh)" "$vroot/bin/sh"
# Documentation=man:togglemaster(1) is checked with man(1): point it at the
# package's page.
out=$(MANPATH="$vroot/usr/share/man:" systemd-analyze verify --root="$vroot" togglemaster.service 2>&1)
rc=$?
[ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/    /'
check "systemd-analyze verify togglemaster.service: exit 0, no warnings" test "$rc:${#out}" = 0:0
out=$(systemd-analyze security --offline=yes --root="$vroot" --no-pager --threshold=20 togglemaster.service 2>&1)
rc=$?
exposure=$(sed -n 's/.*Overall exposure level for togglemaster.service: \([0-9.]*\).*/\1/p' <<<"$out")
printf '%s\n' "$out" | grep '✗' | sed 's/  \+/  /g; s/^/    exposure: /'
check "systemd-analyze security: exposure ${exposure:-?} <= 2.0" test "$rc:${exposure:+found}" = 0:found
phase unit

# --- 2. the .deb itself and lintian ------------------------------------------
owners=$(dpkg-deb -c "$deb" | awk '{print $2}' | sort -u)
check "every file in the .deb is root:root (got: $owners)" test "$owners" = "root/root"
check "shipped binary is stripped (no .debug_* sections, no symtab)" \
  bash -c "! readelf -S '$vroot/usr/bin/togglemaster' | grep -qE '\\.debug_|\\.symtab'"
check "debug info kept outside the package (build/deb/togglemaster.debug)" \
  bash -c "readelf -S build/deb/togglemaster.debug 2>/dev/null | grep -q '\\.debug_info'"
check "conffiles lists exactly /etc/togglemaster/togglemaster.env" \
  bash -c "[ \"\$(dpkg-deb -I '$deb' conffiles)\" = /etc/togglemaster/togglemaster.env ]"

# lintian does not want to run as root; nobody can read the .deb (0644).
lint_cmd=(lintian --display-info --pedantic --show-overrides --tag-display-limit 0 --fail-on error "$top/$deb")
if runuser -u nobody -- test -r "$top/$deb"; then
  lint=$(cd / && runuser -u nobody -- env HOME=/tmp "${lint_cmd[@]}" 2>&1); rc=$?
else
  lint=$("${lint_cmd[@]}" 2>&1); rc=$?
fi
lint=$(grep -v 'running with root privileges' <<<"$lint")
[ -z "$lint" ] || printf '%s\n' "$lint" | sed 's/^/    /'
n_e=$(grep -c '^E:' <<<"$lint") n_w=$(grep -c '^W:' <<<"$lint") n_i=$(grep -c '^[IP]:' <<<"$lint") n_o=$(grep -c '^O:' <<<"$lint")
echo "    lintian: $n_e errors, $n_w warnings, $n_i info/pedantic, $n_o overridden (justified in packaging/deb/lintian-overrides)"
check "lintian: no errors" test "$rc:$n_e" = 0:0
phase lint

# --- 3. install, run, remove, purge in a Debian 12 chroot --------------------
rootfs_was_cached=yes
[ -s build/cache/bookworm-minbase.tar ] || rootfs_was_cached=no
tarball=$(tests/lib/bookworm-rootfs.sh) || { fail "tests/lib/bookworm-rootfs.sh"; finish; }
phase "rootfs($([ $rootfs_was_cached = yes ] && echo cached || echo built))"
mkdir -p "$root"
tar -xf "$tarball" -C "$root" || { fail "extract $tarball"; finish; }
chmod 0755 "$root"   # the tarball's ./ entry is 0700 (a mktemp -d); / is 0755
cp --remove-destination /etc/resolv.conf "$root/etc/resolv.conf"
if ! { mount_in "$root/proc" -t proc proc &&
       mount_in "$root/sys" -t sysfs -o ro sysfs &&
       mount_in "$root/dev" --bind /dev &&
       mount_in "$root/dev/pts" --bind /dev/pts; }; then
  fail "mount /proc /sys /dev /dev/pts in the chroot"; finish
fi
# Downloaded packages are kept between runs (warm runs do not download).
apt_cache=build/cache/deb-test-apt
mkdir -p "$apt_cache"
cp -n "$apt_cache"/*.deb "$root/var/cache/apt/archives/" 2>/dev/null
install -m 0644 "$deb" "$root/tmp/$deb_name"
phase unpack

in_root() {  # in_root CMD...: run as root in the chroot with a clean env
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}
apt_log=$work/apt.log
in_root apt-get update -q >"$apt_log" 2>&1
rc=$?
if [ $rc -eq 0 ]; then
  in_root sh -c "cd /tmp && apt-get install -y -q ./$deb_name" >>"$apt_log" 2>&1
  rc=$?
fi
[ $rc -eq 0 ] || tail -n 30 "$apt_log" | sed 's/^/    /'
check "apt-get install ./$deb_name in a Debian 12 chroot (dependencies from the mirror)" test $rc -eq 0
pulled=$(awk '/^The following NEW packages will be installed:/ { on = 1; next }
                  on && /^  / { printf "%s", $0; next } { on = 0 }' "$apt_log" | tr -s ' ')
echo "    installed:$pulled"
cp -n "$root"/var/cache/apt/archives/*.deb "$apt_cache/" 2>/dev/null
[ $rc -eq 0 ] || { phase install; finish; }
phase install

status=$(in_root dpkg-query -W -f='${Status}' togglemaster 2>/dev/null)
check "dpkg status: install ok installed" test "$status" = "install ok installed"
# The package's version is the binary's VERSION+gREVISION (make release).
deb_version=$(dpkg-deb -f "$deb" Version)
case $deb_version in
  *+g*) want_version="togglemaster ${deb_version%+g*} (git ${deb_version##*+g})" ;;
  *) want_version="togglemaster $deb_version (git " ;;
esac
got_version=$(chroot "$root" /usr/bin/togglemaster version 2>&1)
check "togglemaster version runs in the clean system and matches the package's $deb_version ($got_version)" \
  bash -c '[[ $1 == "$2"* ]]' _ "$got_version" "$want_version"

IFS=: read -r _ _ uid gid _ home shell < <(in_root getent passwd togglemaster)
check "system user togglemaster (uid ${uid:-none} < 1000, home $home, shell $shell)" \
  test -n "${uid:-}" -a "${uid:-1000}" -lt 1000 -a "$home" = /var/lib/togglemaster -a "$shell" = /usr/sbin/nologin
check "group togglemaster is the user's primary group" \
  test "$(in_root getent group togglemaster | cut -d: -f3)" = "${gid:-x}"
check "conffile /etc/togglemaster/togglemaster.env is 0600 root:root" \
  test "$(stat -c '%a %U:%G' "$root/etc/togglemaster/togglemaster.env" 2>&1)" = "600 root:root"
check "dpkg registers /etc/togglemaster/togglemaster.env as a conffile" \
  bash -c "chroot '$root' dpkg-query -W -f='\${Conffiles}' togglemaster | grep -q '^ /etc/togglemaster/togglemaster.env '"
st=$(in_root stat -c '%a %U:%G' /var/lib/togglemaster 2>&1)
check "state directory /var/lib/togglemaster is 0750 togglemaster:togglemaster (got $st)" \
  test "$st" = "750 togglemaster:togglemaster"
check "unit enabled (multi-user.target.wants symlink by deb-systemd-helper)" \
  test "$(readlink "$root/etc/systemd/system/multi-user.target.wants/togglemaster.service")" = /lib/systemd/system/togglemaster.service
listed=$(in_root dpkg -L togglemaster)
missing=""
for f in /usr/bin/togglemaster /lib/systemd/system/togglemaster.service \
         /etc/togglemaster/togglemaster.env /usr/share/man/man1/togglemaster.1.gz \
         /usr/share/doc/togglemaster/copyright /usr/share/doc/togglemaster/changelog.gz \
         /usr/share/doc/togglemaster/examples/port-below-1024.conf; do
  grep -qx "$f" <<<"$listed" && [ -e "$root$f" ] || missing+=" $f"
done
check "dpkg -L lists the expected files, all present${missing:+ (missing:$missing)}" test -z "$missing"
vars=$(chroot "$root" /usr/bin/togglemaster --help | sed -n 's/^  \([A-Z][A-Z_]*\).*/\1/p; s/^  \(DB_HOST, .*\)/\1/p' | tr -s ', ' '\n' | grep . | sort -u)
page=$(zcat "$root/usr/share/man/man1/togglemaster.1.gz")
nomention=""
for v in $vars; do grep -q "$v" <<<"$page" || nomention+=" $v"; done
check "man page documents every variable of --help ($(wc -w <<<"$vars") variables)${nomention:+, missing:$nomention}" \
  test -z "$nomention" -a -n "$vars"

# Run the service the way the installed unit says systemd would.
unit=$root/lib/systemd/system/togglemaster.service
key() { sed -n "s/^$1=//p" "$unit"; }
u_user=$(key User | tail -n 1) u_group=$(key Group | tail -n 1)
u_envfile=$(key EnvironmentFile | tail -n 1) u_envfile=${u_envfile#-}
u_wd=$(key WorkingDirectory | tail -n 1) u_wd=${u_wd#-}
u_umask=$(key UMask | tail -n 1)
u_state=$(key StateDirectory | tail -n 1) u_state_mode=$(key StateDirectoryMode | tail -n 1)
mapfile -t u_pre < <(key ExecStartPre)
u_start=$(key ExecStart | tail -n 1)
echo "    unit: User=$u_user Group=$u_group EnvironmentFile=$u_envfile WorkingDirectory=$u_wd"
echo "    unit: StateDirectory=$u_state ExecStartPre=${u_pre[*]} ExecStart=$u_start"
run_uid=$(in_root id -u "$u_user") run_gid=$(in_root getent group "$u_group" | cut -d: -f3)
for d in $u_state; do   # StateDirectory=: created and owned as systemd does
  install -d -m "${u_state_mode:-0755}" -o "$run_uid" -g "$run_gid" "$root/var/lib/$d"
done
env_vars=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
          HOME="$home" USER="$u_user" LOGNAME="$u_user" SHELL="$shell"
          STATE_DIRECTORY="/var/lib/${u_state%% *}")
while IFS= read -r line || [ -n "$line" ]; do   # EnvironmentFile= syntax
  line=${line#"${line%%[![:space:]]*}"}
  case $line in ''|'#'*|';'*) continue ;; esac
  k=${line%%=*} v=${line#*=}
  case $v in \"*\") v=${v#\"} v=${v%\"} ;; \'*\') v=${v#\'} v=${v%\'} ;; esac
  env_vars+=("$k=$v")
done <"$root$u_envfile"
port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
env_vars+=(PORT="$port" BIND=127.0.0.1)
echo "    env: $(printf '%s ' "${env_vars[@]}" | sed 's/PATH=[^ ]* //')"
service_cmd() {  # service_cmd EXEC-LINE: sets svc to the argv that runs
  # one Exec*= line as the unit's user. Each step execs the next, so the
  # pid of a backgrounded "${svc[@]}" is the service's own pid.
  local cmd=${1#[-@:+!]}
  # shellcheck disable=SC2206  # Exec lines here are plain words
  svc=(env -i "${env_vars[@]}" chroot --userspec="$run_uid:$run_gid" --groups="$run_gid" "$root"
       /bin/sh -c 'umask "$1"; cd "$2" || exit 200; shift 2; exec "$@"' sh "${u_umask:-0022}" "$u_wd" $cmd)
}
as_service() { service_cmd "$1"; "${svc[@]}"; }
for pre in "${u_pre[@]}"; do
  as_service "$pre" >>"$work/migrate.log" 2>&1
  check "ExecStartPre=$pre as $u_user exits 0" test $? -eq 0
done
as_service "${u_pre[0]}" >>"$work/migrate.log" 2>&1
check "ExecStartPre run again (idempotent) exits 0" test $? -eq 0
out=$(as_service "/usr/bin/togglemaster check-config" 2>&1)
check "togglemaster check-config as $u_user with the package's env file: ok, no warning ($out)" \
  bash -c '[[ $1 == "configuration ok: sqlite /var/lib/togglemaster/togglemaster.db "* && $1 != *warning* ]]' _ "$out"

start_service() {  # start ExecStart in the background, wait for /ready
  service_cmd "$u_start"
  "${svc[@]}" >>"$work/serve.log" 2>&1 &
  server_pid=$!
  local i
  for ((i = 0; i < 100; i++)); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ready")" = 200 ] && return 0
    kill -0 "$server_pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
stop_service() {  # SIGTERM, wait up to 15 s, return the exit status
  local i rc
  kill -TERM "$server_pid"
  for ((i = 0; i < 150; i++)); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid"; fi
  wait "$server_pid"; rc=$?
  server_pid=""
  return $rc
}
if start_service; then
  ok "ExecStart=$u_start: /ready answers 200 on 127.0.0.1:$port"
  check "the server runs as $u_user (uid $run_uid)" \
    test "$(awk '/^Uid:/ {print $2}' "/proc/$server_pid/status")" = "$run_uid"
  if scripts/smoke-test.sh "http://127.0.0.1:$port" >"$work/smoke.log" 2>&1; then
    ok "scripts/smoke-test.sh from the host against the chroot's service ($(tail -n 1 "$work/smoke.log"))"
  else
    sed 's/^/    /' "$work/smoke.log"; fail "scripts/smoke-test.sh against the chroot's service"
  fi
  db=$root/var/lib/togglemaster/togglemaster.db
  st=$(in_root stat -c '%U %a' "${db#"$root"}" 2>&1)
  check "SQLite database in the state directory, owned by $u_user, mode 0640 (UMask=$u_umask; got $st)" \
    test "$st" = "$u_user 640"
  check "log is one JSON object per line" bash -c "head -n 5 '$work/serve.log' | jq -e . >/dev/null"
  stop_service; rc=$?
  check "SIGTERM: exits 0 (got $rc)" test $rc -eq 0
  if start_service; then
    n=$(curl -s "http://127.0.0.1:$port/flags" | jq '[.[] | select(.name | startswith("smoke-"))] | length')
    check "flags kept across a restart ($n smoke flags)" test "${n:-0}" -ge 2
    stop_service; rc=$?
    check "second SIGTERM: exits 0 (got $rc)" test $rc -eq 0
  else
    fail "restart: /ready did not answer 200"
  fi
else
  sed 's/^/    /' "$work/serve.log" | tail -n 20
  fail "ExecStart=$u_start: /ready did not answer 200 within 10 s"
  [ -z "$server_pid" ] || kill -KILL "$server_pid" 2>/dev/null
  server_pid=""
fi
phase run

# A locally edited conffile survives a reinstall (no prompt: the packaged
# version did not change); postinst runs again with the user present.
echo 'LOG_LEVEL=debug  # local edit' >>"$root/etc/togglemaster/togglemaster.env"
in_root dpkg -i "/tmp/$deb_name" >"$work/reinstall.log" 2>&1
rc=$?
check "reinstall (dpkg -i again) exits 0 (postinst is idempotent)" test $rc -eq 0
check "reinstall keeps the locally edited conffile" \
  grep -q '^LOG_LEVEL=debug  # local edit' "$root/etc/togglemaster/togglemaster.env"

in_root apt-get remove -y -q togglemaster >"$work/remove.log" 2>&1
check "apt-get remove exits 0" test $? -eq 0
check "after remove: binary and unit gone" test ! -e "$root/usr/bin/togglemaster" -a ! -e "$root/lib/systemd/system/togglemaster.service"
check "after remove: conffile and data kept, status config-files" \
  test -f "$root/etc/togglemaster/togglemaster.env" -a -f "$root/var/lib/togglemaster/togglemaster.db" \
  -a "$(in_root dpkg-query -W -f='${Status}' togglemaster 2>/dev/null)" = "deinstall ok config-files"
in_root apt-get purge -y -q togglemaster >"$work/purge.log" 2>&1
check "apt-get purge exits 0" test $? -eq 0
check "after purge: /etc/togglemaster and /var/lib/togglemaster gone" \
  test ! -e "$root/etc/togglemaster" -a ! -e "$root/var/lib/togglemaster"
check "after purge: dpkg no longer knows the package" \
  bash -c "! chroot '$root' dpkg-query -W togglemaster >/dev/null 2>&1"
left=$(find "$root/etc/systemd" "$root/var/lib/systemd/deb-systemd-helper-enabled" \
  "$root/var/lib/systemd/deb-systemd-helper-masked" -name 'togglemaster*' 2>/dev/null)
check "after purge: no enable/mask symlinks or state left${left:+ ($left)}" test -z "$left"
in_root getent passwd togglemaster >/dev/null &&
  echo "    (the togglemaster system user is kept after purge, as Debian does for system accounts)"
phase remove

# --- 4. the real unit under the real systemd ---------------------------------
# systemd is not PID 1 on this machine, so the chroot gets its own: systemd
# 252 from the mirror boots as PID 1 of new PID, mount, cgroup, network, UTS
# and IPC namespaces (what systemd-nspawn does, by hand: nspawn is not
# installed), with /proc/sys read-only (no sysctl reaches the host) and no
# capability to load modules, set the clock or reboot. The package is then
# installed into the running system, so the maintainer scripts take their
# systemd branch, and the unit runs with all of its sandboxing.
# DEB_TEST_SYSTEMD=0 skips this part.
sd="" sd_unshare="" cg_dirs=()
sd_exec() { nsenter -t "$sd" -a "$@"; }       # in the container, its root
sd_net() { nsenter -t "$sd" -n "$@"; }        # host tools in its network
sd_show() { sd_exec systemctl show -P "$1" togglemaster.service 2>/dev/null; }
sd_count_tm() {  # togglemaster processes in the container (it has no pgrep)
  sd_exec sh -c 'n=0; for c in /proc/[0-9]*/comm; do [ "$(cat "$c" 2>/dev/null)" = togglemaster ] && n=$((n + 1)); done; echo $n'
}
sd_wait_active() {  # active and /ready 200 on PORT within 15 s
  local i
  for ((i = 0; i < 150; i++)); do
    [ "$(sd_exec systemctl is-active togglemaster.service 2>/dev/null)" = active ] &&
      [ "$(sd_net curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/ready")" = 200 ] && return 0
    sleep 0.1
  done
  return 1
}
sd_boot_script='
set -e
root=$1 layout=$2
for m in dev/pts dev sys proc; do umount -R "$root/$m" 2>/dev/null || true; done
mount --bind "$root" "$root"
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
for p in sys sysrq-trigger; do
  [ -e "$root/proc/$p" ] || continue
  mount --bind "$root/proc/$p" "$root/proc/$p"
  mount -o remount,bind,ro "$root/proc/$p"
done
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"
if [ "$layout" = hybrid ]; then
  mount -t tmpfs -o mode=0755,nosuid,nodev,noexec tmpfs "$root/sys/fs/cgroup"
  mkdir "$root/sys/fs/cgroup/systemd" "$root/sys/fs/cgroup/unified"
  mount -t cgroup -o none,name=systemd,nosuid,nodev,noexec cgroup "$root/sys/fs/cgroup/systemd"
  mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$root/sys/fs/cgroup/unified"
else
  mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$root/sys/fs/cgroup"
fi
mount -t tmpfs -o mode=0755,nosuid tmpfs "$root/dev"
for d in null zero full random urandom tty; do
  : >"$root/dev/$d"; mount --bind "/dev/$d" "$root/dev/$d"
done
mkdir "$root/dev/pts" "$root/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$root/dev/pts"
ln -s pts/ptmx "$root/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/dev/shm"
ln -s /proc/self/fd "$root/dev/fd"
for i in 0:stdin 1:stdout 2:stderr; do ln -s "/proc/self/fd/${i%%:*}" "$root/dev/${i#*:}"; done
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$root/run"
cd "$root"
mkdir -p .oldroot
pivot_root . .oldroot
umount -l /.oldroot
rmdir /.oldroot
exec setpriv --bounding-set -sys_module,-sys_time,-sys_boot,-sys_rawio,-syslog,-wake_alarm,-mac_admin,-mac_override,-block_suspend,-audit_control \
  env -i container=togglemaster-deb-test PATH=/usr/sbin:/usr/bin:/sbin:/bin /lib/systemd/systemd
'
sd_stop() {  # power the container off (KILL after 20 s) and drop its cgroups
  local i
  if [ -n "$sd_unshare" ] && kill -0 "$sd_unshare" 2>/dev/null; then
    [ -z "$sd" ] || kill -s SIGRTMIN+4 "$sd" 2>/dev/null
    for ((i = 0; i < 200; i++)); do kill -0 "$sd_unshare" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$sd_unshare" 2>/dev/null; then
      [ -z "$sd" ] || kill -KILL "$sd" 2>/dev/null
      kill -KILL "$sd_unshare" 2>/dev/null
    fi
    wait "$sd_unshare" 2>/dev/null
  fi
  sd_unshare="" sd=""
  for i in "${cg_dirs[@]}"; do
    [ -d "$i" ] && find "$i" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  cg_dirs=()
}

layout=none
if [ -d /sys/fs/cgroup/systemd ] && [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
  layout=hybrid
elif [ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then
  layout=unified
fi
if [ "${DEB_TEST_SYSTEMD:-1}" = 0 ]; then
  echo "skip - the unit under systemd (DEB_TEST_SYSTEMD=0)"
elif [ $layout = none ] || ! command -v nsenter >/dev/null || ! command -v unshare >/dev/null; then
  echo "skip - the unit under systemd (needs unshare, nsenter and a cgroup2 or hybrid /sys/fs/cgroup)"
else
  in_root apt-get install -y -q --no-install-recommends systemd >"$work/apt-systemd.log" 2>&1
  rc=$?
  cp -n "$root"/var/cache/apt/archives/*.deb "$apt_cache/" 2>/dev/null
  check "apt-get install systemd in the chroot (to boot it)" test $rc -eq 0
  install -m 0644 "$deb" "$root/root/$deb_name"
  phase install-systemd
  # The container's systemd gets a cgroup of its own to manage.
  cg_name=togglemaster-deb-test.$$
  if [ $layout = hybrid ]; then
    cg_dirs=("/sys/fs/cgroup/systemd/$cg_name" "/sys/fs/cgroup/unified/$cg_name")
  else
    cg_dirs=("/sys/fs/cgroup/$cg_name")
  fi
  mkdir -p "${cg_dirs[@]}"
  (for d in "${cg_dirs[@]}"; do echo "$BASHPID" >"$d/cgroup.procs"; done
   exec unshare --pid --fork --kill-child --mount --cgroup --net --uts --ipc --propagation private \
     bash -c "$sd_boot_script" boot "$root" "$layout") >"$work/systemd-boot.log" 2>&1 &
  sd_unshare=$!
  for ((i = 0; i < 100; i++)); do
    sd=$(pgrep -P "$sd_unshare" | head -n 1)
    [ -n "$sd" ] && [ "$(cat "/proc/$sd/comm" 2>/dev/null)" = systemd ] && break
    sd=""; sleep 0.1
  done
  state=""
  for ((i = 0; i < 300 && ${#sd}; i++)); do   # up to 30 s for the boot to settle
    state=$(sd_exec systemctl is-system-running 2>/dev/null)
    case $state in running | degraded | maintenance) break ;; esac
    sleep 0.1
  done
  case $state in running | degraded) ;; *) state="" ;; esac
  check "systemd $(sd_exec systemctl --version 2>/dev/null | sed -n '1s/^systemd \([0-9]*\).*/\1/p') boots in the chroot as PID 1 of its own namespaces (state: ${state:-none})" \
    test -n "$state"
  [ -n "$state" ] || tail -n 20 "$work/systemd-boot.log" | sed 's/^/    boot: /'
  [ "$state" = running ] || sd_exec systemctl --failed --no-legend 2>/dev/null | sed 's/^/    failed unit: /'
fi
if [ -n "$sd" ] && [ -n "$state" ]; then
  sd_exec env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "/root/$deb_name" >"$work/sd-install.log" 2>&1
  check "apt-get install in the running system exits 0" test $? -eq 0
  check "postinst enabled the unit (is-enabled: $(sd_exec systemctl is-enabled togglemaster.service 2>&1))" \
    test "$(sd_exec systemctl is-enabled togglemaster.service 2>&1)" = enabled
  if sd_wait_active 5000; then
    ok "postinst started the service: active, /ready 200 on the default 0.0.0.0:5000"
  else
    fail "postinst started the service: active, /ready 200 on the default 0.0.0.0:5000"
    sd_exec journalctl -u togglemaster.service --no-pager -n 20 2>&1 | sed 's/^/    /'
  fi
  if sd_net scripts/smoke-test.sh http://127.0.0.1:5000 >"$work/sd-smoke.log" 2>&1; then
    ok "scripts/smoke-test.sh against the systemd-run service ($(tail -n 1 "$work/sd-smoke.log"))"
  else
    sed 's/^/    /' "$work/sd-smoke.log"; fail "scripts/smoke-test.sh against the systemd-run service"
  fi
  check "ExecStartPre (migrate) succeeded (ExecStartPre status: $(sd_show ExecStartPre | grep -o 'status=[0-9]*' | head -n 1))" \
    bash -c "[ \"\$(nsenter -t $sd -a systemctl show -P ExecStartPre togglemaster.service | grep -o 'status=[0-9]*' | head -n 1)\" = status=0 ]"
  mp=$(sd_show MainPID)
  pstatus=$(sd_exec cat "/proc/$mp/status" 2>/dev/null)
  field() { awk -v f="$1:" '$1 == f { print $2 }' <<<"$pstatus"; }
  tm_uid=$(sd_exec id -u togglemaster 2>/dev/null)
  check "sandbox in force: uid $(field Uid) (togglemaster), CapEff $(field CapEff), CapBnd $(field CapBnd), NoNewPrivs $(field NoNewPrivs), Seccomp $(field Seccomp)" \
    test "$(field Uid):$(field CapEff):$(field CapBnd):$(field NoNewPrivs):$(field Seccomp)" = "$tm_uid:0000000000000000:0000000000000000:1:2"
  sd_exec sh -c 'mkdir -p /home/alice && echo secret >/home/alice/marker'
  ro=$(sd_exec nsenter -t "$mp" -m sh -c 'touch /usr/tm-probe /etc/tm-probe 2>&1; ls -A /home 2>&1; touch /var/lib/togglemaster/.probe && rm /var/lib/togglemaster/.probe && echo state-writable')
  check "ProtectSystem=strict/ProtectHome in its mount namespace: /usr and /etc read-only, /home hidden, state dir writable" \
    bash -c "grep -q 'usr/tm-probe.*Read-only' <<<\"\$1\" && grep -q 'etc/tm-probe.*Read-only' <<<\"\$1\" && ! grep -q alice <<<\"\$1\" && grep -q state-writable <<<\"\$1\"" _ "$ro"
  sd_exec sh -c "kill -KILL $mp"
  for ((i = 0; i < 100; i++)); do
    m=$(sd_show MainPID)
    [ "$m" != 0 ] && [ "$m" != "$mp" ] && break
    sleep 0.1
  done
  sd_wait_active 5000
  check "Restart=on-failure: SIGKILLed, back by itself (NRestarts=$(sd_show NRestarts), new MainPID $(sd_show MainPID))" \
    test "$(sd_show NRestarts)" = 1 -a "$(sd_show MainPID)" != "$mp" -a "$(sd_exec systemctl is-active togglemaster.service)" = active
  mp=$(sd_show MainPID)
  sd_exec env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --reinstall "/root/$deb_name" >"$work/sd-reinstall.log" 2>&1
  rc=$?
  sd_wait_active 5000
  check "upgrade path (reinstall while running): postinst restarts the service (MainPID $mp -> $(sd_show MainPID))" \
    test $rc -eq 0 -a "$(sd_show MainPID)" != "$mp" -a "$(sd_exec systemctl is-active togglemaster.service)" = active
  # A port below 1024 needs the drop-in the package ships as an example.
  sd_exec sh -c 'echo PORT=80 >>/etc/togglemaster/togglemaster.env'
  sd_exec systemctl restart togglemaster.service >/dev/null 2>&1
  sleep 1
  check "PORT=80 without the drop-in fails: no CAP_NET_BIND_SERVICE (journal: $(sd_exec journalctl -u togglemaster.service --no-pager -o cat -n 50 2>/dev/null | grep -o 'cannot listen on [^"]*' | tail -n 1))" \
    bash -c "nsenter -t $sd -a journalctl -u togglemaster.service --no-pager -o cat -n 50 | grep -q 'port 80: Permission denied'"
  sd_exec install -D -m 0644 /usr/share/doc/togglemaster/examples/port-below-1024.conf \
    /etc/systemd/system/togglemaster.service.d/port-below-1024.conf
  sd_exec systemctl daemon-reload
  sd_exec systemctl reset-failed togglemaster.service 2>/dev/null
  sd_exec systemctl restart togglemaster.service
  if sd_wait_active 80; then ok "PORT=80 with the example drop-in: active, /ready 200 on port 80"
  else fail "PORT=80 with the example drop-in: active, /ready 200 on port 80"; fi
  sd_exec rm -r /etc/systemd/system/togglemaster.service.d
  sd_exec sed -i '/^PORT=80$/d' /etc/togglemaster/togglemaster.env
  sd_exec systemctl daemon-reload
  sd_exec systemctl restart togglemaster.service
  sd_wait_active 5000
  mp=$(sd_show MainPID)
  sd_exec systemctl reload togglemaster.service
  sleep 0.5
  check "systemctl reload: SIGHUP to the same process (MainPID $mp -> $(sd_show MainPID)), which says so in the journal" \
    bash -c "[ \"\$(nsenter -t $sd -a systemctl show -P MainPID togglemaster.service)\" = $mp ] &&
             nsenter -t $sd -a journalctl -u togglemaster.service --no-pager -o cat -n 50 | grep -q 'SIGHUP'"
  sd_exec systemctl stop togglemaster.service
  check "systemctl stop: SIGTERM, graceful exit (Result=$(sd_show Result), ExecMainStatus=$(sd_show ExecMainStatus))" \
    test "$(sd_show Result):$(sd_show ExecMainStatus)" = success:0
  sd_exec systemctl start togglemaster.service
  sd_wait_active 5000
  sd_exec env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q togglemaster >"$work/sd-purge.log" 2>&1
  rc=$?
  check "apt-get purge while running: prerm stops it, unit gone (exit $rc, LoadState=$(sd_show LoadState), processes: $(sd_count_tm))" \
    test "$rc:$(sd_show LoadState):$(sd_count_tm)" = 0:not-found:0
fi
sd_stop
phase systemd

finish
