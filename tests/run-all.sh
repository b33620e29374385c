#!/usr/bin/env bash
# The whole suite, as `make test` runs it (after building every variant).
# Each step prints its own "<suite>: N passed, N failed" line; this script
# adds them up and closes with one "N passed, N failed" line. A step that
# dies without such a line counts as one failure. Logs: build/test-logs/.
set -uo pipefail
cd "$(dirname "$0")/.."

PY=/usr/bin/python3
LOGS=build/test-logs
rm -rf "$LOGS"
mkdir -p "$LOGS"
total_passed=0
total_failed=0
failed_steps=()

# run_step NAME COMMAND...: runs it, echoes its output, adds up its counts.
run_step() {
  local name=$1; shift
  local log="$LOGS/$name.log" start=$SECONDS rc line
  echo "=== $name"
  "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  line=$(grep -E '(^|: )[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
  if [ -n "$line" ]; then
    local p f
    p=$(sed -E 's/.*\b([0-9]+) passed.*/\1/' <<<"$line")
    f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
    total_passed=$((total_passed + p))
    total_failed=$((total_failed + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then total_failed=$((total_failed + 1)); fi
  elif [ "$rc" -eq 0 ]; then
    total_passed=$((total_passed + 1))
  else
    total_failed=$((total_failed + 1))
  fi
  [ "$rc" -eq 0 ] || failed_steps+=("$name")
  echo "=== $name: exit $rc in $((SECONDS - start)) s"
}

# Sanitizer reports go to files so a report in a server that the suite kills
# on purpose is still caught.
SAN_DIR=$(mktemp -d)
trap 'rm -rf "$SAN_DIR"' EXIT
san_env=(ASAN_OPTIONS="log_path=$SAN_DIR/asan:detect_leaks=1:abort_on_error=0"
         UBSAN_OPTIONS="log_path=$SAN_DIR/ubsan:print_stacktrace=1:halt_on_error=1"
         TSAN_OPTIONS="log_path=$SAN_DIR/tsan:halt_on_error=1")

sanitizer_reports() {
  local found=0
  for f in "$SAN_DIR"/*; do
    [ -e "$f" ] || continue
    echo "--- sanitizer report $f"; cat "$f"; found=1
  done
  if [ $found -eq 0 ]; then echo "sanitizers: 1 passed, 0 failed"; else echo "sanitizers: 0 passed, 1 failed"; return 1; fi
}

for t in build/unit/test_*; do
  case $t in *.d) continue ;; esac
  run_step "unit-$(basename "$t")" "$t"
done
# Under the sanitizers: the modules where threads meet, config (which
# parses any environment) and the rule evaluator. The snapshot's long random
# runs are shortened.
for t in test_snapshot test_catalog test_sync test_log test_config test_loop test_logic test_auth test_usage test_events; do
  args=(); [ $t = test_snapshot ] && args=(20000)
  run_step "unit-asan-${t#test_}" env "${san_env[@]}" build/asan/unit/$t "${args[@]}"
done
for t in test_snapshot test_catalog test_sync test_log test_loop test_usage test_events; do
  args=(); [ $t = test_snapshot ] && args=(6000)
  run_step "unit-tsan-${t#test_}" env "${san_env[@]}" build/tsan/unit/$t "${args[@]}"
done

run_step api-sqlite env TM_BINARY=build/togglemaster TM_TEST_BACKEND=sqlite $PY tests/api/run.py
run_step api-postgres env TM_BINARY=build/togglemaster TM_TEST_BACKEND=postgres $PY tests/api/run.py
run_step api-asan-sqlite env "${san_env[@]}" TM_BINARY=build/asan/togglemaster TM_TEST_BACKEND=sqlite \
  TM_TEST_SLOW=1 $PY tests/api/run.py
run_step api-asan-postgres env "${san_env[@]}" TM_BINARY=build/asan/togglemaster TM_TEST_BACKEND=postgres \
  TM_TEST_SLOW=1 $PY tests/api/run.py
# Two instances behind HAProxy restarted one at a time under load: no client
# request may fail (SIGTERM's drain lets the load balancer move away first).
run_step drill-rolling-restart env TM_BINARY=build/togglemaster $PY tests/drills/rolling_restart.py
# One instance under continuous writes: SIGTERM (every answer a 2xx, exit 0),
# kill -9 and a PostgreSQL restart; every acknowledged write must survive.
run_step drill-write-load env TM_BINARY=build/togglemaster $PY tests/drills/write_load.py
run_step node-openfeature bash tests/node/run.sh
run_step browser bash tests/browser/run.sh
run_step sanitizer-reports sanitizer_reports
run_step fuzz tests/fuzz/run.sh

run_step smoke-script tests/smoke/run.sh
run_step valgrind tests/valgrind/run.sh
run_step vpc-replica env TM_VPC_REQUIRED=1 tests/vpc/run.sh
run_step vpc-ha env TM_VPC_REQUIRED=1 TM_BINARY=build/togglemaster $PY tests/vpc/ha_drills.py
run_step openapi-lint tests/lint/openapi.sh
run_step infra tests/infra/run.sh

echo
if [ ${#failed_steps[@]} -gt 0 ]; then echo "failed steps: ${failed_steps[*]}"; fi
echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
