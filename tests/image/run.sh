#!/usr/bin/env bash
# tests/image/run.sh -- `make image-test`: build the real Dockerfile without a
# Docker engine and run the image it makes. Needs root.
#
#   1. docker-compose.yml: validated offline by Debian's docker-compose
#      (`config -q` needs no engine), a broken copy must be rejected, and the
#      structure the issue asks for is asserted on the parsed file.
#   2. The two base images the FROM lines name are made locally from the
#      cached debootstrap rootfs (tests/lib/bookworm-rootfs.sh) and stored as
#      docker.io/library/debian:bookworm and :bookworm-slim (what the short
#      names resolve to); the slim one gets the official image's dpkg
#      excludes. Both point apt at bookworm, -updates and -security.
#   3. `buildah bud --isolation chroot --pull=never --format docker` builds
#      the Dockerfile (docker format: OCI has no HEALTHCHECK). Steps 2 and 3
#      are packaging/image/buildah.sh, which `make release` builds with too.
#      With TM_IMAGE_ARCHIVE=dist/togglemaster-<version>.docker.tar (what
#      `make release` wrote) the image is loaded from it instead, so the
#      released image itself is what the rest checks.
#   4. Image config (user, port, health check, stop signal, entrypoint) and
#      content (no build tools, every library resolves, data dir ownership)
#      are checked; the size is reported.
#   5. The image's entrypoint runs in a chroot of the mounted image, as the
#      image's user, as PID 1 of its own PID namespace (as under Docker), in
#      the host's network namespace, against a throwaway PostgreSQL
#      (tests/api/pgserver.py): migrate-on-start, /ready, the HEALTHCHECK
#      command, scripts/smoke-test.sh from the host, SIGTERM -> exit 0;
#      MIGRATE_ON_START=false skips the migration; a failed migration stops
#      the start; the SQLite default works in the image's data dir.
#
# Buildah's storage lives in a temp dir (TMPDIR, default /var/tmp) that is
# removed at exit (TM_IMAGE_KEEP=1 keeps it); overlay is used when it works
# here, vfs otherwise (TM_STORAGE_DRIVER forces one). Logs: build/image-test/.
# Prints ok/FAIL lines and closes with "image: N passed, N failed".
# Single quotes around bash -c scripts and jq filters are deliberate; the
# cleanup function only runs from the EXIT trap.
# shellcheck disable=SC2016,SC2317
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2

LOG=build/image-test
IMAGE=localhost/togglemaster:test
START=$SECONDS
passed=0 failed=0

ok() { echo "ok - $*"; passed=$((passed + 1)); }
fail() { echo "FAIL - $*"; failed=$((failed + 1)); }
# check DESCRIPTION COMMAND...: ok when the command succeeds
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }
note() { echo "# $*"; }
finish() {
  echo "# total $((SECONDS - START)) s"
  echo "image: $passed passed, $failed failed"
  [ "$failed" -eq 0 ] && exit 0
  exit 1
}
# fatal: a step the rest depends on failed
fatal() { fail "$*"; finish; }

if [ "$(id -u)" -ne 0 ]; then
  echo "tests/image/run.sh: needs root (buildah storage, chroot, namespaces)" >&2
  exit 2
fi

rm -rf "$LOG"
mkdir -p "$LOG"
work=$(mktemp -d "${TMPDIR:-/var/tmp}/tm-image.XXXXXX")
B=()            # buildah with our storage options, set once the driver is known
CTRS=()         # working containers to remove
RUN_PID=        # the unshare process of a running image instance
PG_PID=         # the pgserver.py process

# shellcheck source=packaging/image/buildah.sh
. packaging/image/buildah.sh
cleanup() {
  set +e
  if [ -n "$RUN_PID" ]; then img_kill; wait "$RUN_PID" 2>/dev/null; fi
  if [ -n "$PG_PID" ]; then
    exec 8>&-                      # EOF on its stdin: pgserver stops and cleans up
    for _ in $(seq 100); do kill -0 "$PG_PID" 2>/dev/null || break; sleep 0.1; done
    kill -TERM "$PG_PID" 2>/dev/null; wait "$PG_PID" 2>/dev/null
  fi
  image_cleanup "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- packages
t=$SECONDS
scripts/install-deps.sh image >"$LOG/install-deps.log" 2>&1 ||
  { cat "$LOG/install-deps.log"; fatal "scripts/install-deps.sh image"; }
note "install-deps: $((SECONDS - t)) s"

# ------------------------------------------------------------ compose file
compose_checks() {
  local d=$work/compose
  mkdir -p "$d/bad"
  cp docker-compose.yml "$d/"
  cp .env.example "$d/.env"
  if ! command -v docker-compose >/dev/null; then
    fail "docker-compose.yml validates (docker-compose missing: add it to IMAGE_PACKAGES)"
  else
    check "docker-compose.yml validates (docker-compose config -q, .env from .env.example)" \
      docker-compose --project-directory "$d" -f "$d/docker-compose.yml" config -q
    # a misspelled key must be rejected, or the validation above proves nothing
    sed 's/^    restart: unless-stopped/    restrat: unless-stopped/' docker-compose.yml >"$d/bad/docker-compose.yml"
    cp .env.example "$d/bad/.env"
    if docker-compose --project-directory "$d/bad" -f "$d/bad/docker-compose.yml" config -q \
        >"$LOG/compose-bad.log" 2>&1; then
      fail "docker-compose rejects a misspelled key"
    else
      ok "docker-compose rejects a misspelled key"
    fi
  fi
  # the structure the issue asks for
  if /usr/bin/python3 - "$d/docker-compose.yml" "$d/.env" >"$LOG/compose-structure.log" 2>&1 <<'PY'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
env = dict(l.split("=", 1) for l in open(sys.argv[2]).read().splitlines()
           if l.strip() and not l.startswith("#"))
app, db = c["services"]["app"], c["services"]["db"]
problems = []
def want(cond, what):
    if not cond: problems.append(what)
want(app.get("build") in (".", {"context": "."}), "app builds the Dockerfile in .")
want("5000:5000" in [str(p) for p in app.get("ports", [])], "app publishes 5000:5000")
want(app.get("env_file") in (".env", [".env"]), "app env_file .env")
want(app.get("depends_on", {}).get("db", {}).get("condition") == "service_healthy",
     "app depends_on db: service_healthy")
want(app.get("restart") == "unless-stopped", "app restart unless-stopped")
want("healthcheck" in app, "app healthcheck")
want(db.get("image") == "postgres:15", "db image postgres:15")
want("pg_isready" in str(db.get("healthcheck", {}).get("test")), "db pg_isready healthcheck")
vols = [str(v).split(":")[0] for v in db.get("volumes", [])]
want(any(v in (c.get("volumes") or {}) for v in vols), "db uses a named volume")
for k in ("POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD", "DATABASE_URL"):
    want(k in env, ".env.example sets " + k)
want("@db:5432/" in env.get("DATABASE_URL", ""), "DATABASE_URL points at db")
want(env.get("POSTGRES_PASSWORD") == "change-me", ".env.example password is a placeholder")
print("\n".join(problems) or "structure ok")
sys.exit(1 if problems else 0)
PY
  then ok "docker-compose.yml: app 5000:5000, env_file, depends_on db healthy, postgres:15 + pg_isready + named volume"
  else fail "docker-compose.yml structure"; cat "$LOG/compose-structure.log"; fi
}
compose_checks

# --------------------------------------------------------- buildah storage
image_storage "$work" "$LOG/storage-probe.log"
note "buildah $(buildah --version | awk '{print $3}'), storage driver $IMAGE_DRIVER, storage in $work"

version=$(sed -n 's/^VERSION *:= *//p' Makefile)
revision=$(git rev-parse --short HEAD 2>/dev/null || true)
if [ -n "${TM_IMAGE_ARCHIVE:-}" ]; then
  # ------------------------------------------------ the released image
  # `make release` built it (with the same packaging/image/buildah.sh):
  # test that very archive instead of building another.
  t=$SECONDS
  if id=$("${B[@]}" pull -q "docker-archive:$TM_IMAGE_ARCHIVE" 2>"$LOG/load.log") &&
     "${B[@]}" tag "$id" "$IMAGE" 2>>"$LOG/load.log"; then
    ok "image loaded from $TM_IMAGE_ARCHIVE, not rebuilt ($((SECONDS - t)) s)"
  else
    cat "$LOG/load.log"
    fatal "load the image from $TM_IMAGE_ARCHIVE"
  fi
else
  # ------------------------------------------------------------ base images
  t=$SECONDS
  tarball=$(tests/lib/bookworm-rootfs.sh) || fatal "debootstrap bookworm rootfs (tests/lib/bookworm-rootfs.sh)"
  note "rootfs tarball: $((SECONDS - t)) s"
  t=$SECONDS
  if ! image_bases "$tarball" "$LOG/base-images.log"; then
    cat "$LOG/base-images.log"
    fatal "base images debian:bookworm and debian:bookworm-slim from the rootfs"
  fi
  ok "base images debian:bookworm and debian:bookworm-slim made locally ($((SECONDS - t)) s)"

  # ------------------------------------------------------------------ build
  t=$SECONDS
  if image_build "$IMAGE" "$version" "$revision" "$LOG/build.log"; then
    ok "buildah bud --isolation chroot --pull=never builds the Dockerfile, HEALTHCHECK kept ($((SECONDS - t)) s)"
  else
    tail -40 "$LOG/build.log"
    fatal "buildah bud builds the Dockerfile with its HEALTHCHECK (log: $LOG/build.log)"
  fi
fi

# ------------------------------------------------------------- size, config
size_of() { "${B[@]}" images --format '{{.Size}}' "$1" | head -1; }
if [ -n "${TM_IMAGE_ARCHIVE:-}" ]; then
  note "image size: $IMAGE $(size_of "$IMAGE")"
else
  note "image size: $IMAGE $(size_of "$IMAGE") (base debian:bookworm-slim stand-in $(size_of docker.io/library/debian:bookworm-slim), debian:bookworm stand-in $(size_of docker.io/library/debian:bookworm))"
fi
"${B[@]}" inspect --type image "$IMAGE" >"$LOG/inspect.json"
cfg=$(jq -c '.Docker.config' "$LOG/inspect.json")
jqcheck() { # jqcheck DESCRIPTION FILTER [jq options]: FILTER true on the config
  if jq -e "${@:3}" "$2" <<<"$cfg" >/dev/null; then ok "$1"
  else fail "$1"; jq "${@:3}" "$2" <<<"$cfg" 2>&1 | head -5; fi
}
image_user=$(jq -r '.User // ""' <<<"$cfg")
jqcheck "image User is non-root ($image_user)" '(.User // "") as $u | $u != "" and ($u | test("^(0|root)(:|$)") | not)'
jqcheck "image exposes 5000/tcp" '.ExposedPorts | has("5000/tcp")'
jqcheck "image HEALTHCHECK runs the /health check" '.Healthcheck.Test == ["CMD", "/usr/local/bin/togglemaster-healthcheck"] and .Healthcheck.Interval > 0'
jqcheck "image STOPSIGNAL is SIGTERM" '.StopSignal == "SIGTERM"'
jqcheck "image ENTRYPOINT docker-entrypoint, CMD serve" '.Entrypoint == ["/usr/local/bin/docker-entrypoint"] and .Cmd == ["serve"]'
jqcheck "image sets no DATABASE_URL (DB_* of the monolith keep working)" '[.Env[] | select(startswith("DATABASE_URL="))] | length == 0'
jqcheck "image labels org.opencontainers.image.title and .revision ($revision)" \
  '.Labels["org.opencontainers.image.title"] == "togglemaster" and .Labels["org.opencontainers.image.revision"] == $r' \
  --arg r "$revision"

# ---------------------------------------------------- mount the built image
ctr=$("${B[@]}" from --pull=never "$IMAGE" 2>>"$LOG/mount.log") || fatal "buildah from $IMAGE"
CTRS+=("$ctr")
mnt=$("${B[@]}" mount "$ctr" 2>>"$LOG/mount.log") || fatal "buildah mount $IMAGE"
workdir=$(jq -r '.WorkingDir // "/"' <<<"$cfg")
mapfile -t image_env < <(jq -r '.Env[]' <<<"$cfg")

# the image's USER as numeric uid:gid, resolved in the image's passwd/group
resolve_user() {
  local u=${1%%:*} g= 
  [[ $1 == *:* ]] && g=${1#*:}
  if ! [[ $u =~ ^[0-9]+$ ]]; then
    u=$(awk -F: -v n="$u" '$1 == n {print $3}' "$mnt/etc/passwd")
  fi
  if [ -z "$g" ]; then g=$(awk -F: -v n="$u" '$3 == n {print $4}' "$mnt/etc/passwd")
  elif ! [[ $g =~ ^[0-9]+$ ]]; then g=$(awk -F: -v n="$g" '$1 == n {print $3}' "$mnt/etc/group"); fi
  echo "$u:$g"
}
ugid=$(resolve_user "${image_user:-root}")
uid=${ugid%%:*} gid=${ugid#*:}
user_name=$(awk -F: -v n="$uid" '$3 == n {print $1}' "$mnt/etc/passwd")
user_home=$(awk -F: -v n="$uid" '$3 == n {print $6}' "$mnt/etc/passwd")
check "image user $uid:$gid is the system user togglemaster" test "$user_name" = togglemaster -a "$uid" -ge 1000

# ----------------------------------------------------------- image content
pkgs=$(dpkg-query --admindir="$mnt/var/lib/dpkg" -W -f '${Package} ${db:Status-Abbrev}\n' | awk '$2 == "ii" {print $1}')
echo "$pkgs" >"$LOG/image-packages.txt"
buildtools=$(grep -E -- '-dev$|^(gcc|gcc-12|cpp|make|pkg-config|binutils|curl|wget)$' <<<"$pkgs" | tr '\n' ' ')
check "runtime image has no build tools, -dev packages or curl${buildtools:+ (found: $buildtools)}" test -z "$buildtools"
missing_rt=
for p in libssl3 libjansson4 libsqlite3-0 libpq5 libmurmurhash2 ca-certificates; do
  grep -qx "$p" <<<"$pkgs" || missing_rt+="$p "
done
check "runtime libraries installed${missing_rt:+ (missing: $missing_rt)}" test -z "$missing_rt"
chroot "$mnt" /usr/bin/ldd /usr/local/bin/togglemaster >"$LOG/ldd.txt" 2>&1
check "every shared library of the binary resolves in the image" \
  bash -c '! grep -q "not found" "$1" && grep -q libpq "$1"' _ "$LOG/ldd.txt"
check "binary is stripped (no .symtab, no .debug_info)" \
  bash -c '! grep -qa -e "\.symtab" -e "\.debug_info" "$1"' _ "$mnt/usr/local/bin/togglemaster"
check "docker-entrypoint and the health check are executable" \
  test -x "$mnt/usr/local/bin/docker-entrypoint" -a -x "$mnt/usr/local/bin/togglemaster-healthcheck"
check "$workdir and $workdir/data belong to $uid:$gid" \
  test "$(stat -c %u:%g "$mnt$workdir")" = "$uid:$gid" -a "$(stat -c %u:%g "$mnt$workdir/data")" = "$uid:$gid"
check "apt lists were cleaned" bash -c '[ -z "$(ls -A "$1/var/lib/apt/lists" | grep -v -e ^lock$ -e ^partial$)" ]' _ "$mnt"

# ------------------------------------------------------- running the image
# img VAR=value... -- COMMAND...: runs COMMAND in the image the way a
# container runtime would: root dir = the mounted image, its own mount and PID
# namespaces (COMMAND is PID 1, /proc of its own, /dev a tmpfs with the usual
# nodes), the image's env + the given vars, its WorkingDir and USER. The
# network namespace is the host's, so the service is reached on 127.0.0.1.
# IMG_READONLY=1 makes the root file system read-only (Compose's read_only).
# (img_argv sets IMG_ARGV to that command line; img runs it.)
img_argv() {
  local env=("${image_env[@]}" "HOSTNAME=togglemaster-test" "HOME=${user_home:-/}")
  while [ "$1" != -- ]; do env+=("$1"); shift; done
  shift
  IMG_ARGV=(unshare --mount --pid --fork --kill-child --propagation private \
    /bin/bash -c '
      root=$1 ugid=$2 wd=$3 ro=$4; shift 4
      env=(); while [ "$1" != -- ]; do env+=("$1"); shift; done; shift
      if [ "$ro" = 1 ]; then
        mount --bind "$root" "$root" && mount -o remount,bind,ro "$root" || exit 125
      fi
      mount -t proc -o nosuid,nodev,noexec proc "$root/proc" || exit 125
      mount -t tmpfs -o mode=0755,nosuid,size=64k tmpfs "$root/dev" || exit 125
      for d in null zero full random urandom; do
        : >"$root/dev/$d" && mount --bind "/dev/$d" "$root/dev/$d" || exit 125
      done
      ln -s /proc/self/fd "$root/dev/fd"
      ln -s /proc/self/fd/0 "$root/dev/stdin"
      ln -s /proc/self/fd/1 "$root/dev/stdout"
      ln -s /proc/self/fd/2 "$root/dev/stderr"
      exec chroot --userspec="$ugid" --groups="${ugid#*:}" "$root" \
        /usr/bin/env -i -C "$wd" "${env[@]}" "$@"
    ' img "$mnt" "$uid:$gid" "$workdir" "${IMG_READONLY:-0}" "${env[@]}" -- "$@")
}
img() { img_argv "$@"; "${IMG_ARGV[@]}"; }
entry=$(jq -r '.Entrypoint[0]' <<<"$cfg")
mapfile -t hc_cmd < <(jq -r '.Healthcheck.Test[1:][]' <<<"$cfg")
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# img_start LOGNAME VAR=value... -- ARGS...: the entrypoint in the background
img_start() {
  local name=$1; shift
  local vars=()
  while [ "$1" != -- ]; do vars+=("$1"); shift; done
  shift
  img_argv "${vars[@]}" -- "$entry" "$@"
  "${IMG_ARGV[@]}" >"$LOG/$name.log" 2>&1 &
  RUN_PID=$!          # unshare; the image's PID 1 is its child
}
# the image's PID 1 (host pid), once unshare has forked it
inner_pid() {
  local p
  for _ in $(seq 50); do
    p=$(awk '{print $1}' "/proc/$RUN_PID/task/$RUN_PID/children" 2>/dev/null)
    [ -n "$p" ] && { echo "$p"; return 0; }
    kill -0 "$RUN_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
# img_kill: SIGKILL the image's PID 1 (which ends its whole PID namespace;
# unshare's --kill-child does not survive chroot's change of user), then unshare
img_kill() {
  local p
  p=$(awk '{print $1}' "/proc/$RUN_PID/task/$RUN_PID/children" 2>/dev/null)
  [ -n "$p" ] && kill -KILL "$p" 2>/dev/null
  kill -KILL "$RUN_PID" 2>/dev/null
}
# wait_http URL STATUS SECONDS: until URL answers STATUS (or the instance died)
wait_http() {
  local code deadline=$((SECONDS + $3))
  while [ $SECONDS -lt $deadline ]; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1")
    [ "$code" = "$2" ] && return 0
    kill -0 "$RUN_PID" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}
# img_stop: SIGTERM to the image's PID 1, its exit code in STOP_RC
img_stop() {
  local p deadline=$((SECONDS + 20))
  STOP_RC=
  p=$(inner_pid) && kill -TERM "$p"
  while kill -0 "$RUN_PID" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
  if kill -0 "$RUN_PID" 2>/dev/null; then img_kill; fi
  wait "$RUN_PID"
  STOP_RC=$?
  RUN_PID=
}

# pass-through commands
out=$(img -- "$entry" version 2>&1)
want="togglemaster $version (git ${revision:-unknown})"
check "entrypoint passes 'version' through ($out)" test "$out" = "$want"
check "entrypoint passes '--help' through" bash -c 'grep -q "DATABASE_URL" <<<"$1"' _ "$(img -- "$entry" --help 2>&1)"
out=$(img -- "$entry" check-config 2>&1)
check "entrypoint passes 'check-config' through: the image's environment is valid ($out)" \
  bash -c '[[ $1 == "configuration ok: sqlite ./data/togglemaster.db "* ]]' _ "$out"
out=$(img DB_HOTS=db -- "$entry" check-config 2>&1)
check "check-config in the image warns about DB_HOTS" \
  grep -q '^warning: DB_HOTS is not a ToggleMaster setting; did you mean DB_HOST?$' <<<"$out"
out=$(img -- "$entry" sh -c 'echo "$(id -u):$(id -g) $PWD"' 2>&1)
check "other commands run as given, as $uid:$gid in $workdir ($out)" test "$out" = "$uid:$gid $workdir"
check "the image user can write $workdir/data" img -- "$entry" sh -c ': >data/.probe && rm data/.probe'
if IMG_READONLY=1 img -- "$entry" sh -c ': >data/.probe' 2>/dev/null; then
  fail "the read-only root of the next test really is read-only"
else ok "the read-only root of the next test really is read-only"; fi

# a throwaway PostgreSQL (tests/api/pgserver.py) until this script exits:
# it runs while its stdin (fd 8 here) stays open
t=$SECONDS
mkfifo "$work/pg.ctl"
/usr/bin/python3 -c '
import os, signal, sys
sys.path.insert(0, "tests/api")
from pgserver import PgServer
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
pg = PgServer()
pg.start()
for db in sys.argv[2:]:
    pg.create_database(db)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("%d %s\n" % (pg.port, pg.bindir))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
sys.stdin.read()
pg.cleanup()
' "$work/pg.info" tm_image tm_image_nomigrate <"$work/pg.ctl" >"$LOG/pgserver.log" 2>&1 &
PG_PID=$!
exec 8>"$work/pg.ctl"
for _ in $(seq 600); do
  [ -s "$work/pg.info" ] && break
  kill -0 "$PG_PID" 2>/dev/null || break
  sleep 0.1
done
[ -s "$work/pg.info" ] || { cat "$LOG/pgserver.log"; fatal "throwaway PostgreSQL (tests/api/pgserver.py)"; }
read -r pg_port pg_bindir <"$work/pg.info"
note "PostgreSQL on 127.0.0.1:$pg_port ($((SECONDS - t)) s)"
psql() { env -u PGHOST -u PGPORT -u PGUSER -u PGDATABASE -u PGPASSWORD -u PGSERVICE \
  "$pg_bindir/psql" -X -q -A -t -h 127.0.0.1 -p "$pg_port" -U postgres -d "$1" -c "$2"; }
pgurl() { echo "postgres://postgres@127.0.0.1:$pg_port/$1"; }

# 1. serve with migrate-on-start against PostgreSQL
port=$(free_port)
base=http://127.0.0.1:$port
# read-only root file system, as docker-compose.yml runs it (read_only: true)
IMG_READONLY=1 img_start serve-postgres PORT="$port" BIND=127.0.0.1 DATABASE_URL="$(pgurl tm_image)" -- serve
if wait_http "$base/ready" 200 30; then
  ok "entrypoint migrates then serves: /ready 200 on PostgreSQL, read-only root fs"
else
  fail "entrypoint migrates then serves: /ready 200 on PostgreSQL, read-only root fs"; cat "$LOG/serve-postgres.log"
fi
pid1=$(inner_pid)
status=$(cat "/proc/$pid1/status" 2>/dev/null)
check "the server is PID 1 of its namespace (exec'd, no shell left): $(cat "/proc/$pid1/comm" 2>/dev/null)" \
  bash -c '[ "$(cat /proc/$1/comm)" = togglemaster ] && grep -Eq "^NSpid:\s+$1\s+1$" /proc/$1/status' _ "$pid1"
check "the server runs as $uid:$gid" bash -c 'grep -Eq "^Uid:\s+$2\s+$2\s+$2\s+$2$" <<<"$1" && grep -Eq "^Gid:\s+$3\s+$3\s+$3\s+$3$" <<<"$1"' _ "$status" "$uid" "$gid"
rows=$(psql tm_image 'SELECT count(*) FROM schema_migrations' 2>&1)
check "migrate-on-start ran: schema_migrations has rows ($rows)" bash -c '[[ $1 =~ ^[1-9][0-9]*$ ]]' _ "$rows"
check "log shows the migration before serving" grep -q '"migrations applied"' "$LOG/serve-postgres.log"
check "the image's HEALTHCHECK command passes" img PORT="$port" BIND=127.0.0.1 -- "${hc_cmd[@]}"
check "scripts/smoke-test.sh passes from the host against the image" \
  bash -c 'scripts/smoke-test.sh "$1" >"$2" 2>&1 || { cat "$2"; exit 1; }' _ "$base" "$LOG/smoke.log"
img_stop
check "SIGTERM to PID 1: graceful exit 0 (exit $STOP_RC)" test "$STOP_RC" = 0
check "log shows the graceful shutdown" grep -q '"shutting down"' "$LOG/serve-postgres.log"
hc_rc=0; img PORT="$port" BIND=127.0.0.1 -- "${hc_cmd[@]}" >/dev/null 2>&1 || hc_rc=$?
check "the HEALTHCHECK command fails once nothing listens (exit $hc_rc)" test "$hc_rc" -ne 0

# 2. MIGRATE_ON_START=false: serve only, schema untouched
port=$(free_port)
base=http://127.0.0.1:$port
img_start serve-nomigrate PORT="$port" BIND=127.0.0.1 DATABASE_URL="$(pgurl tm_image_nomigrate)" MIGRATE_ON_START=false -- serve
check "MIGRATE_ON_START=false: serves /health" wait_http "$base/health" 200 30
check "MIGRATE_ON_START=false: /ready 503 until migrated" wait_http "$base/ready" 503 5
check "MIGRATE_ON_START=false: no schema_migrations table" \
  test "$(psql tm_image_nomigrate "SELECT to_regclass('schema_migrations') IS NULL")" = t
img_stop
check "MIGRATE_ON_START=false: SIGTERM exit 0 (exit $STOP_RC)" test "$STOP_RC" = 0
check "MIGRATE_ON_START=false: no migration in the log" bash -c '! grep -q "migrations applied" "$1"' _ "$LOG/serve-nomigrate.log"
img DATABASE_URL="$(pgurl tm_image_nomigrate)" -- "$entry" migrate >"$LOG/migrate.log" 2>&1
rc=$?
rows=$(psql tm_image_nomigrate 'SELECT count(*) FROM schema_migrations' 2>&1)
check "'migrate' as the command migrates (exit $rc, $rows rows)" bash -c '[ "$1" = 0 ] && [[ $2 =~ ^[1-9][0-9]*$ ]]' _ "$rc" "$rows"

# 3. a failed migration stops the start
port=$(free_port)
rc=0
img PORT="$port" BIND=127.0.0.1 DATABASE_URL="$(pgurl tm_image_nosuchdb)" DB_CONNECT_TIMEOUT=1 -- \
  "$entry" serve >"$LOG/serve-migrate-fails.log" 2>&1 || rc=$?
check "a failed migration exits non-zero without serving (exit $rc)" \
  bash -c '[ "$1" -ne 0 ] && grep -q "migrate failed" "$2" && ! grep -q "listening" "$2"' _ "$rc" "$LOG/serve-migrate-fails.log"

# 4. the SQLite default in the image's data dir, as the image user
port=$(free_port)
img_start serve-sqlite PORT="$port" BIND=127.0.0.1 -- serve
if wait_http "http://127.0.0.1:$port/ready" 200 30 && test -s "$mnt$workdir/data/togglemaster.db"; then
  ok "SQLite default (no DATABASE_URL): /ready 200, $workdir/data/togglemaster.db made by the image user"
else
  fail "SQLite default (no DATABASE_URL): /ready 200 and $workdir/data/togglemaster.db"; cat "$LOG/serve-sqlite.log"
fi
img_stop
check "SQLite default: SIGTERM exit 0 (exit $STOP_RC)" test "$STOP_RC" = 0

finish
