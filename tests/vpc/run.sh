#!/usr/bin/env bash
# A local replica of the AWS deployment of deploy/aws/, built from Linux
# network namespaces, veth pairs and nftables, as root:
#
#                         tmvpc-router  (VPC router + internet gateway)
#        br-inet 198.18.0.1/24 | r-app 198.18.1.1/24 | r-db 198.18.2.1/24
#            /          \            |                      |
#   tmvpc-inet        tmvpc-admin  tmvpc-app              tmvpc-db
#   198.18.0.10       198.18.0.20  198.18.1.10            198.18.2.10
#   internet client   admin's box  EC2 instance:          RDS: PostgreSQL on
#                                  togglemaster on :80,   :5432
#                                  "sshd" on :22
#
# Address mapping (only 198.18.0.0/15, the range reserved for network
# testing, is used; nothing is routed out of the namespaces):
#   the internet (outside the VPC)          -> 198.18.0.0/24 (segment behind the IGW)
#   var.admin_cidr                          -> 198.18.0.20/32
#   VPC 10.0.0.0/16                         -> 198.18.1.0/24 + 198.18.2.0/24
#   public subnets 10.0.0.0/24, 10.0.1.0/24 (EC2; deploy/aws defaults)
#                                           -> 198.18.1.0/24, instance 198.18.1.10
#   private subnets 10.0.10.0/24, 10.0.11.0/24 (RDS)
#                                           -> 198.18.2.0/24, database 198.18.2.10
#   (the second AZ's subnets exist only for the RDS subnet group; not replicated)
#
# Translation of the AWS pieces:
#   route tables      -> nftables forward chain in tmvpc-router (router.nft):
#                        internet <-> public and public <-> private only; the
#                        private subnet has no internet route either way
#   app SG            -> nftables input chain in tmvpc-app (app-sg.nft):
#                        tcp 80, 443 from anywhere, 22 from the admin /32
#   DB SG             -> nftables input chain in tmvpc-db (db-sg.nft):
#                        tcp 5432 from members of the app SG only
#   RDS               -> a throwaway PostgreSQL cluster listening only on
#                        198.18.2.10, role tm_app with a (random) password
#   EC2 + unit        -> `togglemaster migrate` then `serve` with PORT=80 and
#                        DB_HOST/DB_PORT/DB_NAME/DB_USER/DB_PASSWORD
#   sshd              -> tests/vpc/tcp_listener.py (any TCP listener will do)
#
# Proven (one ok/FAIL line each, then "vpc: N passed, N failed"):
#   1 the smoke test passes from the internet host against http://198.18.1.10/
#   2 PostgreSQL is unreachable from the internet and admin hosts and reachable
#     from the app host; each layer (router, DB SG) blocks on its own
#   3 port 22: reachable from the admin host, not from the internet host;
#     443 is admitted from the internet (refused by the host, not dropped)
#   4 the service survives the database host's restart (PostgreSQL stopped,
#     its link down): /health 200, writes and /ready 503, reads from memory,
#     then writes recover within 10 s and the smoke test passes again
#   5 nothing leaks: no tmvpc-* namespace, process or temp dir remains, and the
#     host's own network namespace is untouched
#
# Usage: tests/vpc/run.sh   (as root; needs iproute2, nftables, PostgreSQL,
# python3, curl, jq: `scripts/install-deps.sh vpc`). About 30 s.
# Not root: prints a skip line and exits 0, or fails if TM_VPC_REQUIRED=1;
# as root a missing tool is a failure.
# Env: TM_BINARY (default build/togglemaster), TM_PG_BINDIR.
#
# Safe to re-run and to run after a killed run: it first removes leftovers
# (tmvpc-* namespaces and the processes inside them, /tmp/tmvpc-run.* dirs);
# an EXIT trap removes everything again. A lock serialises concurrent runs;
# the whole run is bounded by `timeout` (TMVPC_TIME_LIMIT, default 150 s).
set -uo pipefail

if [ -z "${TMVPC_UNDER_TIMEOUT:-}" ]; then
  export TMVPC_UNDER_TIMEOUT=1
  exec timeout --foreground -k 10 "${TMVPC_TIME_LIMIT:-150}" bash "$0" "$@"
fi
cd "$(dirname "$0")/../.." || exit 1
HERE=tests/vpc

BIN=${TM_BINARY:-build/togglemaster}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac

# Every client and server here talks only to replica addresses: no proxies,
# no libpq defaults from the caller's environment.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY ftp_proxy FTP_PROXY
export no_proxy='*' NO_PROXY='*'
for v in "${!PG@}"; do unset "$v"; done

P=tmvpc-                           # namespace prefix
NAMESPACES=(router inet admin app db)
INET_GW=198.18.0.1   INET_IP=198.18.0.10  ADMIN_IP=198.18.0.20
PUBLIC_NET=198.18.1.0/24 PUBLIC_GW=198.18.1.1 APP_IP=198.18.1.10
PRIVATE_NET=198.18.2.0/24 PRIVATE_GW=198.18.2.1 DB_IP=198.18.2.10
REPLICA_NET=198.18.0.0/16          # the only route a host has (via its router)
ADMIN_CIDR=$ADMIN_IP/32
APP_URL=http://$APP_IP

passed=0 failed=0 summarized=0 work='' OUT='' tore_down=0

# Not root: skip (unless TM_VPC_REQUIRED=1). Root (CI): anything missing fails.
skip_or_fail() {
  if [ "$(id -u)" -eq 0 ] || [ "${TM_VPC_REQUIRED:-0}" = 1 ]; then
    echo "FAIL - $1"; echo "vpc: 0 passed, 1 failed"; exit 1
  fi
  echo "vpc: skipped ($1)"; echo "vpc: 0 passed, 0 failed"; exit 0
}
[ "$(id -u)" -eq 0 ] || skip_or_fail "needs root for network namespaces"
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
for tool in ip nft "$PY" curl jq runuser flock timeout; do
  command -v "$tool" >/dev/null 2>&1 || skip_or_fail "'$tool' missing: run scripts/install-deps.sh vpc"
done
# shellcheck disable=SC2012
PG_BIN=${TM_PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
[ -x "$PG_BIN/initdb" ] || skip_or_fail "no PostgreSQL server binaries (package postgresql)"
id postgres >/dev/null 2>&1 || skip_or_fail "no 'postgres' system user (package postgresql)"
[ -x "$BIN" ] || { echo "FAIL - $BIN missing: run make first"; echo "vpc: 0 passed, 1 failed"; exit 1; }

# fd 9: one run at a time (the namespace names are fixed). fd 8: our real
# stdout, for traps that fire while a check has stdout redirected to its
# capture file. Every process started below closes both, so a killed run's
# leftovers neither hold the lock nor keep the caller's output pipe open.
exec 8>&1 9>/tmp/tmvpc.lock
flock -w 60 9 || { echo "FAIL - another tests/vpc/run.sh holds /tmp/tmvpc.lock"; echo "vpc: 0 passed, 1 failed"; exit 1; }

# nsx NAME CMD...: run CMD inside namespace tmvpc-NAME (fds 8 and 9 closed).
nsx() { local ns=$1; shift; ip netns exec "$P$ns" "$@" 8>&- 9>&-; }

# --- teardown (also removes leftovers of an earlier, aborted run) -----------

our_namespaces() { ip netns list 2>/dev/null | awk '{print $1}' | grep "^$P" || true; }

# kill_ns_processes NS: TERM, then (after up to 5 s) KILL every process
# inside namespace NS -- all of them were started by this script or by an
# earlier run of it.
kill_ns_processes() {
  local ns=$1 pids i
  pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
  [ -n "${pids// /}" ] || return 0
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null
  for ((i = 0; i < 50; i++)); do
    pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
    [ -n "${pids// /}" ] || return 0
    sleep 0.1
  done
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null
  sleep 0.2
}

teardown() {
  local ns d
  # The app host first (the database's client), then a clean PostgreSQL
  # shutdown (fast) of this run's or a leftover cluster, then whatever is
  # left in any tmvpc-* namespace.
  if ip netns list 2>/dev/null | grep -q "^${P}app\b"; then
    kill_ns_processes "${P}app"
  fi
  for d in /tmp/tmvpc-run.*/pgdata; do
    [ -e "$d/postmaster.pid" ] || continue
    (cd / && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$d" -m fast -w -t 10 stop) >/dev/null 2>&1 8>&- 9>&-
  done
  for ns in $(our_namespaces); do
    ip netns list 2>/dev/null | grep -q "^$ns\b" || continue
    kill_ns_processes "$ns"
  done
  # Deleting a namespace destroys its veth ends (and so their peers) and
  # its nftables ruleset; nothing was ever created in the host namespace.
  for ns in $(our_namespaces); do
    ip netns del "$ns" 2>/dev/null
  done
  rm -rf /tmp/tmvpc-run.*
}

summary() {
  [ "$summarized" = 1 ] && return
  summarized=1
  echo "vpc: $passed passed, $failed failed"
}

on_exit() {
  local rc=$?
  exec 1>&8 2>&8
  if [ "$tore_down" = 0 ]; then
    teardown
    tore_down=1
  fi
  [ -n "$OUT" ] && rm -f "$OUT"
  if [ "$summarized" = 0 ]; then
    echo "FAIL - run aborted (exit $rc) before all checks ran"
    failed=$((failed + 1))
    summary
    exit 1
  fi
}
trap on_exit EXIT
trap 'echo "vpc: interrupted" >&8; exit 130' INT
trap 'echo "vpc: time limit reached or terminated" >&8; exit 143' TERM

# shellcheck disable=SC2016  # in `bash -c '...'` below, $0 and $1 are the inner shell's
true

# --- checks -------------------------------------------------------------------

# check DESCRIPTION EXPECTED COMMAND...: EXPECTED is 0 (must succeed),
# nonzero (must fail) or a number (exact exit status).
check() {
  local what=$1 want=$2 got ok=0; shift 2
  "$@" >"$OUT" 2>&1
  got=$?
  case $want in
    0) [ $got -eq 0 ] && ok=1 ;;
    nonzero) [ $got -ne 0 ] && ok=1 ;;
    *) [ $got -eq "$want" ] && ok=1 ;;
  esac
  if [ $ok = 1 ]; then
    echo "ok - $what"; passed=$((passed + 1))
  else
    echo "FAIL - $what (exit $got, wanted $want)"; sed 's/^/    /' "$OUT" | tail -n 30
    failed=$((failed + 1))
  fi
}

# setup DESCRIPTION COMMAND...: a step that must work; otherwise the run ends.
setup() {
  local what=$1; shift
  if ! "$@" >"$OUT" 2>&1; then
    echo "FAIL - setup: $what"; sed 's/^/    /' "$OUT" | tail -n 30
    dump_logs
    failed=$((failed + 1))
    summary
    exit 1
  fi
}

dump_logs() {
  local f
  for f in "$work"/serve.log "$work"/migrate.log "$work"/postgres.log "$work"/ssh.log; do
    [ -s "$f" ] || continue
    echo "--- tail of $(basename "$f")"; tail -n 20 "$f" | sed 's/^/    /'
  done
}

# tcp_connect NS IP PORT SECONDS: open a TCP connection from host NS.
# Exit 0 connected, 1 refused/unreachable, 124 timed out (dropped).
tcp_connect() {
  nsx "$1" timeout "$4" bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$2" "$3"
}

# tcp_banner NS IP PORT: connect and read the listener's SSH-style banner.
tcp_banner() {
  nsx "$1" timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1" && head -c 8 <&3 | grep -q "^SSH-2.0"' "$2" "$3"
}

# http NS METHOD PATH [JSON]: prints the status code (000 on no response).
http() {
  local ns=$1 method=$2 path=$3 data=${4-} args
  args=(-s -o /dev/null -w '%{http_code}' --max-time 10 -X "$method")
  [ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data-binary "$data")
  nsx "$ns" curl "${args[@]}" "$APP_URL$path" || true
}

# expect_status NS METHOD PATH JSON STATUS: succeeds when the status matches.
expect_status() {
  local got
  got=$(http "$1" "$2" "$3" "$4")
  echo "$2 $3 -> $got (want $5)"
  [ "$got" = "$5" ]
}

# wait_status SECONDS NS METHOD PATH JSON STATUS: retry until STATUS is seen.
wait_status() {
  local secs=$1 got i start=$SECONDS; shift
  for ((i = 0; i < 200; i++)); do
    got=$(http "$1" "$2" "$3" "$4")
    if [ "$got" = "$5" ]; then
      echo "$2 $3 -> $got after $((SECONDS - start)) s, $((i + 1)) attempts"; return 0
    fi
    [ $((SECONDS - start)) -ge "$secs" ] && break
    sleep 0.2
  done
  echo "$2 $3 -> $got (want $5) for ${secs} s, $((i + 1)) attempts"
  return 1
}

# --- build the replica --------------------------------------------------------

host_fwd_before=$(cat /proc/sys/net/ipv4/ip_forward)
host_links_before=$(ip -o link show | awk -F': ' '{print $2}' | sort | tr '\n' ' ')

leftovers=$(our_namespaces | tr '\n' ' ')
[ -n "$leftovers" ] && echo "# removing leftovers of an earlier run: $leftovers"
teardown

rm -f /tmp/tmvpc-out.*              # a killed run's check output
OUT=$(mktemp /tmp/tmvpc-out.XXXXXX)  # outlives teardown, for the checks of part 5
work=$(mktemp -d /tmp/tmvpc-run.XXXXXX)
chmod 711 "$work"
t0=$SECONDS

render() { # render TEMPLATE OUT: fill the @NAME@ placeholders
  sed -e "s|@IGW_IF@|br-inet|g" -e "s|@PUBLIC_IF@|r-app|g" -e "s|@PRIVATE_IF@|r-db|g" \
      -e "s|@PUBLIC_NET@|$PUBLIC_NET|g" -e "s|@PRIVATE_NET@|$PRIVATE_NET|g" \
      -e "s|@ADMIN_CIDR@|$ADMIN_CIDR|g" -e "s|@APP_IP@|$APP_IP|g" "$1" >"$2"
  ! grep -n '@[A-Z_]*@' "$2"
}

make_namespaces() {
  local ns
  for ns in "${NAMESPACES[@]}"; do
    ip netns add "$P$ns" || return 1
    nsx "$ns" ip link set lo up || return 1
    # IPv4 only: no link-local IPv6 chatter on the veths
    nsx "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
  done
  # forwarding in the router namespace only (the host's setting is untouched)
  nsx router sysctl -qw net.ipv4.ip_forward=1
}

# plug HOST ROUTER_IF: a veth pair between host namespace and router, both
# ends created directly inside their namespaces.
plug() {
  ip link add name eth0 netns "$P$1" type veth peer name "$2" netns "${P}router"
}

# host_up HOST ADDR/LEN GATEWAY: address, link up, the one route via the router.
host_up() {
  nsx "$1" ip addr replace "$2" dev eth0 &&
    nsx "$1" ip link set eth0 up &&
    nsx "$1" ip route replace "$REPLICA_NET" via "$3" dev eth0
}

wire() {
  plug inet r-inet && plug admin r-admin && plug app r-app && plug db r-db || return 1
  nsx router ip link add br-inet type bridge || return 1
  # bridged frames between the two internet hosts stay out of nftables
  nsx router sysctl -qw net.bridge.bridge-nf-call-iptables=0 2>/dev/null || true
  nsx router ip link set r-inet master br-inet &&
    nsx router ip link set r-admin master br-inet &&
    nsx router ip addr add "$INET_GW/24" dev br-inet &&
    nsx router ip addr add "$PUBLIC_GW/24" dev r-app &&
    nsx router ip addr add "$PRIVATE_GW/24" dev r-db || return 1
  local l
  for l in br-inet r-inet r-admin r-app r-db; do nsx router ip link set "$l" up || return 1; done
  host_up inet "$INET_IP/24" "$INET_GW" &&
    host_up admin "$ADMIN_IP/24" "$INET_GW" &&
    host_up app "$APP_IP/24" "$PUBLIC_GW" &&
    host_up db "$DB_IP/24" "$PRIVATE_GW"
}

firewall() { # firewall NS TEMPLATE: render and load a ruleset in NS
  render "$HERE/$2.nft" "$work/$2.nft" && nsx "$1" nft -f "$work/$2.nft"
}

PGDATA_DIR=$work/pgdata PGSOCK=$work/pgsock PGLOG=$work/postgres.log
DB_PASSWORD=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')

pg() { # pg ARGS...: a server-side PostgreSQL command as user postgres in tmvpc-db
  local cmd=$1; shift
  (cd "$work" && nsx db runuser -u postgres -- "$PG_BIN/$cmd" "$@")
}
pg_start() { pg pg_ctl -D "$PGDATA_DIR" -l "$PGLOG" -w -t 30 start; }
pg_stop() { pg pg_ctl -D "$PGDATA_DIR" -m fast -w -t 30 stop; }

postgres_init() {
  mkdir -p "$PGDATA_DIR" "$PGSOCK" && : >"$PGLOG" &&
    chown postgres:postgres "$PGDATA_DIR" "$PGSOCK" "$PGLOG" && chmod 700 "$PGDATA_DIR" || return 1
  pg initdb -D "$PGDATA_DIR" -U postgres -A trust -E UTF8 --locale=C --no-sync --no-instructions || return 1
  cat >>"$PGDATA_DIR/postgresql.conf" <<EOF

# --- tests/vpc/run.sh: the RDS instance of the replica ---
listen_addresses = '$DB_IP'
port = 5432
unix_socket_directories = '$PGSOCK'
password_encryption = 'scram-sha-256'
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
EOF
  # first match wins: the superuser only over the local socket, the app role
  # with its password only from the app host
  cat >"$PGDATA_DIR/pg_hba.conf" <<EOF
local all         all                    trust
host  togglemaster tm_app $APP_IP/32 scram-sha-256
EOF
  pg_start || return 1
  nsx db "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGSOCK" -p 5432 -U postgres -d postgres \
    -c "CREATE ROLE tm_app LOGIN PASSWORD '$DB_PASSWORD'" \
    -c "CREATE DATABASE togglemaster OWNER tm_app"
}

APP_ENV=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin PORT=80 BIND=0.0.0.0 LOG_LEVEL=warn
  DB_HOST="$DB_IP" DB_PORT=5432 DB_NAME=togglemaster DB_USER=tm_app DB_PASSWORD="$DB_PASSWORD"
  DB_CONNECT_TIMEOUT=2 DB_STATEMENT_TIMEOUT=2000)

start_app() {
  nsx app "${APP_ENV[@]}" "$BIN" migrate >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log"; return 1; }
  # started directly (not through nsx) so that no subshell of ours waits on
  # them holding the lock's fd 9 if this script is killed
  ip netns exec "${P}app" "${APP_ENV[@]}" "$BIN" serve >"$work/serve.log" 2>&1 8>&- 9>&- &
  ip netns exec "${P}app" "$PY" "$HERE/tcp_listener.py" 0.0.0.0 22 >"$work/ssh.log" 2>&1 8>&- 9>&- &
  local i
  for ((i = 0; i < 50; i++)); do
    grep -q listening "$work/ssh.log" && [ "$(http inet GET /ready)" = 200 ] && return 0
    sleep 0.2
  done
  echo "service or listener not up after 10 s: /ready $(http inet GET /ready)"
  return 1
}

setup "network namespaces ${NAMESPACES[*]/#/$P}" make_namespaces
setup "veth pairs, bridge, addresses and routes" wire
setup "router.nft in ${P}router" firewall router router
setup "app-sg.nft in ${P}app" firewall app app-sg
setup "db-sg.nft in ${P}db" firewall db db-sg
setup "PostgreSQL on $DB_IP:5432 in ${P}db" postgres_init
setup "togglemaster on $APP_IP:80 and a listener on :22 in ${P}app" start_app
echo "# replica up in $((SECONDS - t0)) s"

# --- 1: the smoke test from the internet ---------------------------------------

check "1 smoke test passes from the internet host ($INET_IP) against $APP_URL/" 0 \
  nsx inet scripts/smoke-test.sh "$APP_URL/"

# --- 2: the database is private --------------------------------------------------

check "2 internet host cannot connect to $DB_IP:5432" nonzero tcp_connect inet "$DB_IP" 5432 2
check "2 admin host cannot connect to $DB_IP:5432" nonzero tcp_connect admin "$DB_IP" 5432 2
check "2 app host connects to $DB_IP:5432 (positive control)" 0 tcp_connect app "$DB_IP" 5432 3

# Each layer on its own: the router's route tables without the DB SG, the DB
# SG without the route tables; and with neither, the same connection works
# (so the failures above come from the rules, not from a broken network).
router_only() {
  nsx db nft delete table inet tmvpc_sg || return 2
  tcp_connect inet "$DB_IP" 5432 2; local rc=$?
  nsx db nft -f "$work/db-sg.nft" || return 0   # restore; a failed restore fails the check
  return $rc
}
sg_only() {
  nsx router nft delete table inet tmvpc_router || return 2
  tcp_connect inet "$DB_IP" 5432 2; local rc=$?
  nsx router nft -f "$work/router.nft" || return 0
  return $rc
}
no_rules() {
  nsx router nft delete table inet tmvpc_router && nsx db nft delete table inet tmvpc_sg || return 2
  tcp_connect inet "$DB_IP" 5432 3; local rc=$?
  nsx router nft -f "$work/router.nft" && nsx db nft -f "$work/db-sg.nft" || return 3
  return $rc
}
check "2 the router alone (no internet route to the private subnet) blocks internet -> db:5432" nonzero router_only
check "2 the DB SG alone (5432 from the app SG only) blocks internet -> db:5432" nonzero sg_only
check "2 control: with both layers removed internet -> db:5432 connects (rules restored after)" 0 no_rules
check "2 the rulesets are back in place" 0 \
  bash -c "ip netns exec ${P}router nft list table inet tmvpc_router && ip netns exec ${P}db nft list table inet tmvpc_sg" 8>&- 9>&-

# --- 3: SSH only from the admin address --------------------------------------------

check "3 admin host ($ADMIN_CIDR) reaches $APP_IP:22 (banner read)" 0 tcp_banner admin "$APP_IP" 22
check "3 internet host cannot reach $APP_IP:22 (dropped: timed out after 2 s)" nonzero tcp_connect inet "$APP_IP" 22 2
check "3 app SG admits 443 from the internet (refused by the host, not dropped)" 1 tcp_connect inet "$APP_IP" 443 2

# --- 4: the database host restarts ------------------------------------------------

survivor="vpc-survivor-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
check "4 before: create flag $survivor" 0 expect_status inet POST /flags "{\"name\":\"$survivor\",\"is_enabled\":true}" 201

db_host_down() { pg_stop && nsx db ip link set eth0 down; }
db_host_up() { host_up db "$DB_IP/24" "$PRIVATE_GW" && pg_start; }

check "4 database host down (PostgreSQL stopped, link down)" 0 db_host_down
check "4 during: GET /health is 200" 0 expect_status inet GET /health "" 200
outage_write() {
  local t=$SECONDS
  expect_status inet POST /flags '{"name":"vpc-during-outage"}' 503 || return 1
  echo "answered in $((SECONDS - t)) s"
  [ $((SECONDS - t)) -le 8 ]
}
check "4 during: a write (POST /flags) is 503 within 8 s" 0 outage_write
check "4 during: GET /ready turns 503" 0 wait_status 6 inet GET /ready "" 503
check "4 during: GET /flags/$survivor is 200 (served from memory)" 0 expect_status inet GET "/flags/$survivor" "" 200
check "4 database host up again (link up, PostgreSQL started)" 0 db_host_up
check "4 after: a write (PUT /flags/$survivor) succeeds within 10 s" 0 \
  wait_status 10 inet PUT "/flags/$survivor" '{"is_enabled":false}' 200
check "4 after: GET /ready is 200" 0 wait_status 5 inet GET /ready "" 200
check "4 after: the smoke test passes again from the internet host" 0 \
  nsx inet scripts/smoke-test.sh "$APP_URL/"
check "4 the service process never died" 0 bash -c "ip netns pids ${P}app | xargs -r ps -o comm= -p | grep -qx togglemaster"

# --- 5: nothing leaks -------------------------------------------------------------

[ "$failed" -gt 0 ] && dump_logs
ns_pids=$(for ns in $(our_namespaces); do ip netns pids "$ns"; done | tr '\n' ' ')
teardown
tore_down=1
check "5 no ${P}* namespace remains" 0 bash -c "! ip netns list | grep '^$P'"
# alive PID: running (a zombie waiting for its parent to reap it counts as gone)
alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}
no_process_left() {
  local p left i
  for ((i = 0; i < 30; i++)); do
    left=
    for p in $ns_pids; do alive "$p" && left+=" $p"; done
    [ -z "$left" ] && return 0
    sleep 0.1
  done
  echo "still running after 3 s:$left"; ps -o pid,stat,comm,args -p "${left# }"
  return 1
}
check "5 none of the replica's processes ($(wc -w <<<"$ns_pids")) remains" 0 no_process_left
check "5 no /tmp/tmvpc-run.* directory remains" 0 bash -c '! compgen -G "/tmp/tmvpc-run.*"'
host_untouched() {
  local links fwd
  fwd=$(cat /proc/sys/net/ipv4/ip_forward)
  links=$(ip -o link show | awk -F': ' '{print $2}' | sort | tr '\n' ' ')
  echo "ip_forward $host_fwd_before -> $fwd; links before: $host_links_before; after: $links"
  [ "$fwd" = "$host_fwd_before" ] && [ "$links" = "$host_links_before" ]
}
check "5 host namespace untouched (same links, ip_forward unchanged)" 0 host_untouched

echo "# total $((SECONDS - t0)) s"
summary
[ "$failed" -eq 0 ]
