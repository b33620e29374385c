#!/usr/bin/env bash
# The web console in a real browser: tests/browser/console.mjs drives
# Debian's chromium (headless, through playwright-core) against the real
# build/togglemaster binary, checks every view with axe-core at 1280 px and
# 360 px, and takes the README's screenshots into build/screenshots/
# (UPDATE_SCREENSHOTS=1 also writes them to docs/screenshots/, to commit).
# Prints a closing "browser: N passed, M failed" line and exits non-zero if
# anything failed. It builds nothing: run `make` first (the console is
# embedded in the binary at build time).
# An optional argument selects the checks whose name matches a regex.
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo" || exit 1

fail() { echo "tests/browser: $*" >&2; echo "browser: 0 passed, 1 failed"; exit 1; }

[[ -x build/togglemaster ]] || fail "build/togglemaster is missing; run 'make' first"
command -v node >/dev/null || fail "node is not installed"
chromium_bin=${CHROMIUM:-/usr/bin/chromium}
[[ -x $chromium_bin ]] || fail "$chromium_bin is missing; run scripts/install-deps.sh (it installs Debian's chromium)"

# Install the pinned npm packages (package-lock.json) when any is missing.
need_install=0
for pkg in playwright-core axe-core; do
    [[ -f "node_modules/$pkg/package.json" ]] || need_install=1
done
if (( need_install )); then
    echo "tests/browser: installing npm dependencies (npm ci)"
    npm ci --include=dev --no-audit --no-fund --loglevel=error || fail "npm ci failed"
fi

exec node tests/browser/console.mjs "$@"
