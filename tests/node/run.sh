#!/usr/bin/env bash
# The Node.js suites against the real build/togglemaster binary:
#   differential.mjs  ToggleMaster's evaluator vs flagd's own JS evaluator
#                     (@openfeature/flagd-core) over >= 10,000 generated cases
#   sdk.mjs           real OpenFeature clients (server SDK + OFREP provider,
#                     web SDK + OFREP web provider) against the real server,
#                     including two instances on one throwaway PostgreSQL
# Each prints a closing "node-<suite>: N passed, M failed" line; this script
# exits non-zero if either failed. It builds nothing: run `make` first.
# Extra arguments go to differential.mjs (e.g. --seed 7 --cases 20000).
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"

if [[ ! -x build/togglemaster ]]; then
    echo "tests/node: build/togglemaster is missing; run 'make' first" >&2
    exit 1
fi
if ! command -v node >/dev/null; then
    echo "tests/node: node is not installed" >&2
    exit 1
fi

# Install the pinned npm packages (package-lock.json) when any is missing.
need_install=0
for pkg in @openfeature/flagd-core @openfeature/core @openfeature/server-sdk @openfeature/ofrep-provider \
           @openfeature/ofrep-core @openfeature/ofrep-web-provider @openfeature/web-sdk json-logic-js json-logic-engine \
           semver imurmurhash; do
    [[ -f "node_modules/$pkg/package.json" ]] || need_install=1
done
if (( need_install )); then
    echo "tests/node: installing npm dependencies (npm ci)"
    npm ci --include=dev --no-audit --no-fund --loglevel=error
fi

status=0
start=$SECONDS
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
node tests/node/differential.mjs "$@" 2>&1 | tee "$logs/differential" || status=1
node tests/node/sdk.mjs 2>&1 | tee "$logs/sdk" || status=1
# One closing line adding both up (tests/run-all.sh counts the last one).
passed=0 failed=0
for suite in differential sdk; do
    line=$(grep -E "^node-$suite: [0-9]+ passed, [0-9]+ failed" "$logs/$suite" | tail -n 1)
    if [[ -z $line ]]; then failed=$((failed + 1)); status=1; continue; fi
    passed=$((passed + $(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")))
    failed=$((failed + $(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")))
done
echo "tests/node: done in $((SECONDS - start)) s"
echo "node: $passed passed, $failed failed"
exit "$status"
