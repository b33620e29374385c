#!/usr/bin/env bash
# The real binary under valgrind memcheck: serve the smoke test's sequence on
# SQLite, stop with SIGTERM, and require exit 0 with no memory errors and no
# definite or indirect leaks (--error-exitcode turns either into exit 9).
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
valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect \
  --errors-for-leak-kinds=definite,indirect --error-exitcode=9 \
  "$BIN" serve >"$work/serve.log" 2>"$work/valgrind.log" &
pid=$!
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.1; done

passed=0 failed=0
if scripts/smoke-test.sh "http://127.0.0.1:$port" >"$work/smoke.log" 2>&1; then
  passed=$((passed + 1)); echo "ok - smoke sequence under valgrind"
else
  failed=$((failed + 1)); echo "FAIL - smoke sequence under valgrind"; cat "$work/smoke.log"
fi
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
if [ $rc -eq 0 ]; then
  passed=$((passed + 1)); echo "ok - exit 0, no memory errors, no leaks"
else
  failed=$((failed + 1)); echo "FAIL - exit $rc under valgrind"; cat "$work/valgrind.log"
fi
echo "valgrind: $passed passed, $failed failed"
[ $failed -eq 0 ]
