#!/usr/bin/env bash
# Runs scripts/smoke-test.sh the way an operator would: against the real
# binary on a fresh SQLite database, twice (it must be re-runnable against
# the same deployment), and once against a port with nothing on it, where it
# must fail.
set -uo pipefail
cd "$(dirname "$0")/../.."

BIN=${TM_BINARY:-build/togglemaster}
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
export PORT=$port BIND=127.0.0.1 DATABASE_URL="sqlite://$work/smoke.db" LOG_LEVEL=warn
"$BIN" migrate >"$work/migrate.log" || { cat "$work/migrate.log"; echo "smoke: 0 passed, 1 failed"; exit 1; }
"$BIN" serve >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break
  sleep 0.1
done

passed=0 failed=0
check() { # check DESCRIPTION EXPECTED_EXIT COMMAND...
  local what=$1 want=$2; shift 2
  "$@" >"$work/out" 2>&1
  local got=$?
  if { [ "$want" = 0 ] && [ $got -eq 0 ]; } || { [ "$want" = nonzero ] && [ $got -ne 0 ]; }; then
    echo "ok - $what"; passed=$((passed + 1))
  else
    echo "FAIL - $what (exit $got)"; cat "$work/out"; failed=$((failed + 1))
  fi
}
check "smoke test passes against a fresh deployment" 0 scripts/smoke-test.sh "http://127.0.0.1:$port"
check "smoke test passes again on the same deployment" 0 scripts/smoke-test.sh "http://127.0.0.1:$port"
closed=$(free_port)
check "smoke test fails when nothing listens" nonzero scripts/smoke-test.sh "http://127.0.0.1:$closed"
check "smoke test rejects a missing argument" nonzero scripts/smoke-test.sh
echo "smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
