#!/usr/bin/env bash
# The real binary under valgrind memcheck: serve the smoke test's sequence on
# SQLite (with a misspelt variable in the environment, so the start-up
# warning is logged too), stop with SIGTERM, and require exit 0 with no
# memory errors and no definite or indirect leaks (--error-exitcode turns
# either into exit 9). Then check-config on an environment with errors
# (exit 2) and on a valid one with TLS files it loads (exit 0).
set -uo pipefail
cd "$(dirname "$0")/../.."

BIN=${TM_BINARY:-build/togglemaster}
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export PORT=$port BIND=127.0.0.1 DATABASE_URL="sqlite://$work/vg.db" LOG_LEVEL=warn
"$BIN" migrate >/dev/null || { echo "valgrind: 0 passed, 1 failed"; exit 1; }
# shellcheck disable=SC2054  # the commas are inside valgrind options
VALGRIND=(valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect
          --errors-for-leak-kinds=definite,indirect --error-exitcode=9)
DB_HOTS=valgrind "${VALGRIND[@]}" "$BIN" serve >"$work/serve.log" 2>"$work/valgrind.log" &
pid=$!
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.1; done

passed=0 failed=0
# A change stream stays open through the smoke sequence and the stop: its
# memory (queued events, the stream ended by the stop) is checked too.
curl -sN "http://127.0.0.1:$port/api/v1/events" >"$work/events.log" 2>/dev/null &
curl_pid=$!
sleep 0.5
if scripts/smoke-test.sh "http://127.0.0.1:$port" >"$work/smoke.log" 2>&1; then
  passed=$((passed + 1)); echo "ok - smoke sequence under valgrind"
else
  failed=$((failed + 1)); echo "FAIL - smoke sequence under valgrind"; cat "$work/smoke.log"
fi
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
wait "$curl_pid"
if grep -q '"action":"created"' "$work/events.log"; then
  passed=$((passed + 1)); echo "ok - the change stream carried the smoke sequence's writes"
else
  failed=$((failed + 1)); echo "FAIL - the change stream carried no change"; cat "$work/events.log"
fi
if [ $rc -eq 0 ]; then
  passed=$((passed + 1)); echo "ok - exit 0, no memory errors, no leaks"
else
  failed=$((failed + 1)); echo "FAIL - exit $rc under valgrind"; cat "$work/valgrind.log"
fi
# check_config WANT_RC DESCRIPTION VAR=value...: check-config under valgrind
check_config() {
  local want=$1 what=$2 rc; shift 2
  env "$@" "${VALGRIND[@]}" "$BIN" check-config >"$work/check.log" 2>"$work/check-valgrind.log"
  rc=$?
  if [ $rc -eq "$want" ]; then
    passed=$((passed + 1)); echo "ok - check-config $what: exit $want, no memory errors, no leaks"
  else
    failed=$((failed + 1)); echo "FAIL - check-config $what: exit $rc (want $want)"; cat "$work/check-valgrind.log"
  fi
}
check_config 2 "with bad values and a misspelt name" PORT=abc THREADS=0 DB_HOTS=x DATABASE_URL=mysql://x
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout "$work/key.pem" \
  -out "$work/cert.pem" >/dev/null 2>&1
check_config 0 "loading TLS files" TLS_CERT_FILE="$work/cert.pem" TLS_KEY_FILE="$work/key.pem"
echo "valgrind: $passed passed, $failed failed"
[ $failed -eq 0 ]
