#!/usr/bin/env bash
# Runs every libFuzzer target in build/fuzz for FUZZ_SECONDS (default 10)
# each, from the committed seed corpus, in a scratch copy so the run does not
# grow the repository. A crash, leak or sanitizer report fails the target
# and leaves the reproducer in build/fuzz/artifacts/.
set -uo pipefail
cd "$(dirname "$0")/../.."

seconds=${FUZZ_SECONDS:-10}
passed=0 failed=0
mkdir -p build/fuzz/artifacts
for bin in build/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  work=$(mktemp -d)
  cp -r "tests/fuzz/corpus/$name/." "$work/" 2>/dev/null
  if "$bin" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=1024 -print_final_stats=1 \
       -artifact_prefix=build/fuzz/artifacts/ "$work" >"build/fuzz/$name.log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "build/fuzz/$name.log" | grep -o '[0-9]*$')
    echo "ok - $name: ${runs:-?} inputs in ${seconds}s, no crash"
    passed=$((passed + 1))
  else
    echo "FAIL - $name (log: build/fuzz/$name.log)"
    tail -30 "build/fuzz/$name.log"
    failed=$((failed + 1))
  fi
  rm -rf "$work"
done
[ $((passed + failed)) -gt 0 ] || { echo "fuzz: no targets built"; failed=1; }
echo "fuzz: $passed passed, $failed failed"
[ $failed -eq 0 ]
