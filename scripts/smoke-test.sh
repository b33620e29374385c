#!/usr/bin/env bash
# smoke-test.sh BASE_URL -- replay the original monolith's validation sequence
# against a running ToggleMaster and assert every status code and body.
#
#   scripts/smoke-test.sh http://localhost:5000
#   TOGGLEMASTER_TOKEN=tm_... scripts/smoke-test.sh https://flags.example.com
#
# First it asks /ready (open to everyone) whether authentication is on; if
# it is and TOGGLEMASTER_TOKEN is not set, it stops there (exit 2) and says
# so. Then the steps (names get a random suffix, so the script can be rerun
# against the same deployment):
#   1 GET  /health                  -> 200, .status == "ok"
#   2 GET  /flags/smoke-missing-R   -> 404, .error == "Flag not found"
#   3 GET  /flags                   -> 200, a JSON array
#   4 POST /flags smoke-R-a (true)  -> 201, .message == "Flag 'smoke-R-a' created successfully"
#   5 GET  /flags/smoke-R-a         -> 200, .name == "smoke-R-a", .is_enabled == true
#   6 POST /flags smoke-R-b (true)  -> 201, .message == "Flag 'smoke-R-b' created successfully"
#   7 PUT  /flags/smoke-R-b (false) -> 200, .message == "Flag 'smoke-R-b' updated"
#   8 GET  /flags                   -> 200, smoke-R-a enabled and smoke-R-b disabled
#
# Prints `ok N - description` per step and, at the end,
# `smoke test passed: 8 steps against BASE_URL`. Stops at the first mismatch
# with a message naming the step, the expected and the actual status and
# body, and exits 1.
#
# Environment:
#   TOGGLEMASTER_TOKEN  an API key, sent as `Authorization: Bearer <key>` on
#                     every request; needed when the service has
#                     authentication on (as the AWS deployment has). The
#                     steps create and change flags, so an editor or admin
#                     key. Never printed; it reaches curl through a file in
#                     a private temporary directory, not its command line.
#   SMOKE_CLEANUP=1   after step 8, DELETE the two flags (each must answer
#                     204); on a failure, delete them best-effort. Default:
#                     the flags are left in place, as the original did.
#
# Exit status: 0 passed, 1 a step failed (or the server was unreachable),
# 2 usage error, missing tool, or authentication on and no
# TOGGLEMASTER_TOKEN. Needs only bash, curl (7.55 or later) and jq.

# The jq filters below use jq variables ($a, $msg_a ...) inside single
# quotes on purpose; the shell must not expand them.
# shellcheck disable=SC2016
set -euo pipefail

usage() {
    echo "usage: ${0##*/} BASE_URL    (for example: ${0##*/} http://localhost:5000)" >&2
    echo "  TOGGLEMASTER_TOKEN=<API key> when the service has authentication on." >&2
    echo "  SMOKE_CLEANUP=1 deletes the created flags at the end." >&2
}

if [[ $# -ne 1 || -z $1 ]]; then
    usage
    exit 2
fi
case $1 in
    http://?* | https://?*) ;;
    *)
        echo "${0##*/}: BASE_URL must start with http:// or https://, got '$1'" >&2
        usage
        exit 2
        ;;
esac
base=${1%/}

for tool in curl jq; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "${0##*/}: '$tool' is required but not installed" >&2
        exit 2
    fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The API key, if any: in a header file that only this user can read
# (mktemp -d makes a 0700 directory), so that it never shows up in the
# process list as a curl argument would.
token=${TOGGLEMASTER_TOKEN-}
auth_args=()
if [[ -n $token ]]; then
    if [[ $token =~ [[:space:][:cntrl:]] ]]; then
        echo "${0##*/}: TOGGLEMASTER_TOKEN holds blanks or control characters; an API key has none" >&2
        exit 2
    fi
    (umask 077 && printf 'Authorization: Bearer %s\n' "$token" >"$tmp/auth-header")
    auth_args=(-H "@$tmp/auth-header")
fi

# Random hex suffix: /dev/urandom when readable, else $RANDOM, PID and time.
random_hex() {
    local hex=""
    if [[ -r /dev/urandom ]]; then
        hex=$(od -An -N5 -tx1 /dev/urandom | tr -d ' \n')
    fi
    if [[ -z $hex ]]; then
        hex=$(printf '%04x%04x%x' "$RANDOM" "$RANDOM" "$(( $(date +%s) ^ $$ ))")
    fi
    printf '%s' "$hex"
}

run=$(random_hex)
missing="smoke-missing-$(random_hex)"
flag_a="smoke-$run-a"
flag_b="smoke-$run-b"
created=()
msg_a="Flag '$flag_a' created successfully"
msg_b="Flag '$flag_b' created successfully"
msg_b_updated="Flag '$flag_b' updated"

# request METHOD PATH [JSON_BODY]: sets $status and $body. A transport error
# (refused, timeout, DNS) leaves status "000" and the curl message in $body.
status=""
body=""
request() {
    local method=$1 path=$2 data=${3-}
    local args=(-sS --max-time 10 -X "$method" -o "$tmp/body" -w '%{http_code}'
        -H 'Accept: application/json' ${auth_args[@]+"${auth_args[@]}"})
    if [[ -n $data ]]; then
        args+=(-H 'Content-Type: application/json' --data-binary "$data")
    fi
    : >"$tmp/body"
    if status=$(curl "${args[@]}" "$base$path" 2>"$tmp/err"); then
        body=$(cat "$tmp/body")
    else
        status="000"
        body="(no response: $(tr '\n' ' ' <"$tmp/err"))"
    fi
}

# Best-effort removal of the flags created so far (SMOKE_CLEANUP=1 only).
cleanup_best_effort() {
    [[ ${SMOKE_CLEANUP:-0} == 1 ]] || return 0
    local name
    for name in "${created[@]+"${created[@]}"}"; do
        curl -sS --max-time 10 -o /dev/null -X DELETE ${auth_args[@]+"${auth_args[@]}"} \
            "$base/flags/$name" 2>/dev/null || true
    done
}

# show BODY: the body on one line, shortened, "(empty)" when empty.
show() {
    local text=${1//$'\n'/ }
    if [[ -z $text ]]; then
        text="(empty)"
    elif (( ${#text} > 400 )); then
        text="${text:0:400}... (${#1} bytes)"
    fi
    printf '%s' "$text"
}

# step N DESCRIPTION METHOD PATH JSON_BODY STATUS JQ_TEST EXPECTED_TEXT
# Sends the request, then asserts the status and that JQ_TEST is true on the
# body. JQ_TEST sees $a and $b (the two flag names) and the expected
# messages $msg_a, $msg_b, $msg_b_updated; "" skips the body check.
step() {
    local n=$1 desc=$2 method=$3 path=$4 data=$5 want_status=$6 test=$7 want_text=$8
    local why=""
    request "$method" "$path" "$data"
    if [[ $status == 000 ]]; then
        why="no response from the server"
    elif [[ $status != "$want_status" ]]; then
        why="wrong status"
    elif [[ -n $test ]] &&
        ! jq -e --arg a "$flag_a" --arg b "$flag_b" --arg msg_a "$msg_a" \
            --arg msg_b "$msg_b" --arg msg_b_updated "$msg_b_updated" \
            "$test" >/dev/null 2>&1 <<<"$body"; then
        if jq -e . >/dev/null 2>&1 <<<"$body"; then
            why="wrong body"
        else
            why="body is not JSON"
        fi
    fi
    if [[ -n $why ]]; then
        {
            echo "not ok $n - $desc"
            echo "  step:     $n ($method $path${data:+ $data})"
            echo "  problem:  $why"
            echo "  expected: status $want_status${want_text:+, body $want_text}"
            echo "  actual:   status $status, body $(show "$body")"
            case $status in
                401)
                    if [[ -n $token ]]; then
                        echo "  hint:     the service refused TOGGLEMASTER_TOKEN (mistyped, revoked, or for another deployment)"
                    else
                        echo "  hint:     the service wants an API key: set TOGGLEMASTER_TOKEN"
                    fi
                    ;;
                403)
                    echo "  hint:     the key's role is too low: the steps create and change flags, which needs an editor or admin key"
                    ;;
            esac
            echo "smoke test FAILED at step $n against $base"
        } >&2
        cleanup_best_effort
        exit 1
    fi
    echo "ok $n - $desc"
}

# Authentication on (/ready: "auth":"on") and no key: every step but the
# first would answer 401, so say what is missing instead.
request GET /ready ""
auth=$(jq -r 'if type == "object" then .auth // "" else "" end' 2>/dev/null <<<"$body" || true)
if [[ $auth == on && -z $token ]]; then
    {
        echo "${0##*/}: $base has authentication on (/ready says \"auth\":\"on\"): set TOGGLEMASTER_TOKEN to an editor or admin API key"
        echo "  (AWS deployment: the admin token; \`terraform -chdir=deploy/aws output -raw admin_token_command\` shows how to read it)"
    } >&2
    exit 2
fi
if [[ $auth == off && -n $token ]]; then
    echo "# note: $base has authentication off: TOGGLEMASTER_TOKEN is sent but not needed" >&2
fi

step 1 "GET /health is ok" \
    GET /health "" \
    200 '.status == "ok"' '{"status":"ok"}'

step 2 "GET /flags/$missing is 404 Flag not found" \
    GET "/flags/$missing" "" \
    404 '.error == "Flag not found"' '{"error":"Flag not found"}'

step 3 "GET /flags lists flags as a JSON array" \
    GET /flags "" \
    200 'type == "array"' 'a JSON array'

created+=("$flag_a")
step 4 "POST /flags creates $flag_a enabled" \
    POST /flags "{\"name\":\"$flag_a\",\"is_enabled\":true}" \
    201 '.message == $msg_a' "{\"message\":\"$msg_a\"}"

step 5 "GET /flags/$flag_a returns it enabled" \
    GET "/flags/$flag_a" "" \
    200 '.name == $a and .is_enabled == true' \
    "{\"name\":\"$flag_a\",\"is_enabled\":true}"

created+=("$flag_b")
step 6 "POST /flags creates $flag_b enabled" \
    POST /flags "{\"name\":\"$flag_b\",\"is_enabled\":true}" \
    201 '.message == $msg_b' "{\"message\":\"$msg_b\"}"

step 7 "PUT /flags/$flag_b disables it" \
    PUT "/flags/$flag_b" '{"is_enabled":false}' \
    200 '.message == $msg_b_updated' "{\"message\":\"$msg_b_updated\"}"

step 8 "GET /flags shows $flag_a enabled and $flag_b disabled" \
    GET /flags "" \
    200 'type == "array"
         and ([.[] | select(.name == $a) | .is_enabled] == [true])
         and ([.[] | select(.name == $b) | .is_enabled] == [false])' \
    "an array holding {\"name\":\"$flag_a\",\"is_enabled\":true} and {\"name\":\"$flag_b\",\"is_enabled\":false} once each"

if [[ ${SMOKE_CLEANUP:-0} == 1 ]]; then
    step cleanup "DELETE /flags/$flag_a" DELETE "/flags/$flag_a" "" 204 "" "(none)"
    step cleanup "DELETE /flags/$flag_b" DELETE "/flags/$flag_b" "" 204 "" "(none)"
fi

echo "smoke test passed: 8 steps against $base"
