#!/usr/bin/env bash
# Lint docs/openapi.yaml with Redocly CLI (recommended ruleset, see
# redocly.yaml). Installs the pinned CLI from package-lock.json on first use.
# Exit status: the linter's (non-zero on any error); prints `openapi: PASS`
# or `openapi: FAIL` as its last line.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

# Offline and quiet: no telemetry, no update notice.
export REDOCLY_TELEMETRY=off
export REDOCLY_SUPPRESS_UPDATE_NOTICE=true

status=0
if [[ ! -x node_modules/.bin/redocly ]]; then
    if ! command -v npm >/dev/null 2>&1; then
        echo "openapi.sh: npm not found (install Debian package 'npm' or Node.js)" >&2
        status=127
    else
        # --include=dev: the linter is a devDependency; install it even
        # when NODE_ENV=production is set in the environment.
        npm ci --include=dev --no-audit --no-fund --loglevel=error || status=$?
    fi
fi

if [[ $status -eq 0 ]]; then
    npx --no-install redocly lint docs/openapi.yaml || status=$?
fi

if [[ $status -eq 0 ]]; then
    echo "openapi: PASS"
else
    echo "openapi: FAIL"
fi
exit "$status"
