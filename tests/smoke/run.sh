#!/usr/bin/env bash
# Runs scripts/smoke-test.sh the way an operator would: against the real
# binary on a fresh SQLite database, twice (it must be re-runnable against
# the same deployment), and once against a port with nothing on it, where it
# must fail. Then against a second instance with authentication on
# (ADMIN_TOKEN, AUTH_REQUIRED=true, as the AWS deployment runs): it passes
# with TOGGLEMASTER_TOKEN set, fails early and says so without it, and fails
# with a hint for a wrong key or a key whose role is too low; no key is ever
# printed.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
unset TOGGLEMASTER_TOKEN

BIN=${TM_BINARY:-build/togglemaster}
work=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in ${pids[@]+"${pids[@]}"}; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# serve NAME PORT [ENV=VALUE...]: migrate NAME's database and serve it on PORT
# until /ready answers.
serve() {
  local name=$1 port=$2; shift 2
  env PORT="$port" DATABASE_URL="sqlite://$work/$name.db" "$@" "$BIN" migrate >"$work/$name-migrate.log" 2>&1 ||
    { cat "$work/$name-migrate.log"; echo "smoke: 0 passed, 1 failed"; exit 1; }
  env PORT="$port" DATABASE_URL="sqlite://$work/$name.db" "$@" "$BIN" serve >"$work/$name-serve.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/ready" >/dev/null && return 0
    sleep 0.1
  done
  cat "$work/$name-serve.log"
}
export BIND=127.0.0.1 LOG_LEVEL=warn
port=$(free_port)
serve open "$port"

passed=0 failed=0
# check DESCRIPTION EXPECTED_EXIT COMMAND...: EXPECTED_EXIT is a number or
# "nonzero". With SAYS set, the output must also contain that text.
check() {
  local what=$1 want=$2; shift 2
  "$@" >"$work/out" 2>&1
  local got=$?
  cat "$work/out" >>"$work/all.out"
  if { [ "$want" = nonzero ] && [ $got -ne 0 ]; } || [ "$want" = "$got" ]; then
    if [ -z "${SAYS-}" ] || grep -qF -- "$SAYS" "$work/out"; then
      echo "ok - $what"; passed=$((passed + 1)); return
    fi
  fi
  echo "FAIL - $what (exit $got${SAYS:+, expected output with: $SAYS})"; cat "$work/out"; failed=$((failed + 1))
}
check "smoke test passes against a fresh deployment" 0 scripts/smoke-test.sh "http://127.0.0.1:$port"
check "smoke test passes again on the same deployment" 0 scripts/smoke-test.sh "http://127.0.0.1:$port"
closed=$(free_port)
check "smoke test fails when nothing listens" nonzero scripts/smoke-test.sh "http://127.0.0.1:$closed"
check "smoke test rejects a missing argument" nonzero scripts/smoke-test.sh

# --- authentication on
admin=$(/usr/bin/python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
aport=$(free_port)
serve auth "$aport" ADMIN_TOKEN="$admin" AUTH_REQUIRED=true
url="http://127.0.0.1:$aport"
check "auth on: passes with TOGGLEMASTER_TOKEN (the admin token), cleanup included" 0 \
  env TOGGLEMASTER_TOKEN="$admin" SMOKE_CLEANUP=1 scripts/smoke-test.sh "$url"
check "auth on: passes again with the same token" 0 env TOGGLEMASTER_TOKEN="$admin" scripts/smoke-test.sh "$url"
SAYS="set TOGGLEMASTER_TOKEN" check "auth on, no TOGGLEMASTER_TOKEN: fails early (exit 2), says to set it" 2 \
  scripts/smoke-test.sh "$url"
SAYS="refused TOGGLEMASTER_TOKEN" check "auth on, a wrong key: fails, says the key was refused" 1 \
  env TOGGLEMASTER_TOKEN=tm_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA scripts/smoke-test.sh "$url"
client=$(curl -sf -X POST "$url/api/v1/keys" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  -d '{"name":"smoke client","role":"client"}' | jq -r .key)
SAYS="editor or admin key" check "auth on, a client key: fails at the first write, says the role is too low" 1 \
  env TOGGLEMASTER_TOKEN="$client" scripts/smoke-test.sh "$url"
# shellcheck disable=SC2016 # the script's $1..$3 are bash -c's arguments
check "auth on: no key is ever printed" 0 bash -c \
  '[[ ${#1} -ge 16 && $2 == tm_* ]] && ! grep -qF -e "$1" -e "$2" "$3"' _ "$admin" "$client" "$work/all.out"

echo "smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
