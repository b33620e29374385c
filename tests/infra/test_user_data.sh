#!/usr/bin/env bash
# Runs the EC2 user data (deploy/aws/user-data.sh.tftpl, rendered as
# templatefile() would) end to end on this machine, against stubs: apt-get,
# curl, aws, systemctl, journalctl and sleep are fakes that record their
# calls, and everything the script writes lands in a private mount namespace
# (overlays on /etc and /usr/sbin, tmpfs on /usr/local/{sbin,share} and
# /var/cache), so the host is not touched. Needs root (unshare -m), as CI is.
# The units it writes are then checked with `systemd-analyze verify` beside
# the package's own unit (packaging/deb/togglemaster.service). The stub aws
# starts with an empty admin token secret, so the first boot generates and
# stores the token, as on a fresh deployment.
#
# Prints ok/FAIL lines and `user-data: N passed, N failed`; exit 1 on failure.
#
# The helpers below are called through `check`, and the single-quoted
# scripts are meant for the stubs and the namespace, not this shell:
# shellcheck disable=SC2016,SC2317
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1

passed=0
failed=0
check() { # check NAME CONDITION-COMMAND...
  local name=$1; shift
  if "$@" >/dev/null 2>&1; then echo "ok - user data: $name"; passed=$((passed + 1))
  else echo "FAIL - user data: $name"; failed=$((failed + 1)); fi
}
finish() { echo "user-data: $passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }

if [ "$(id -u)" -ne 0 ] || ! unshare -m true 2>/dev/null; then
  echo "FAIL - user data: simulation needs root and mount namespaces (unshare -m)"
  failed=1
  finish
fi

sim=$(mktemp -d)
trap 'rm -rf "$sim"' EXIT
mkdir -p "$sim/bin"
DEB_CONTENT="not really a package"
DEB_SHA=$(printf '%s' "$DEB_CONTENT" | sha256sum | cut -d' ' -f1)
PASSWORD='p"a$s`w'"'"'o\rd {}$(id)'
# The "tls" case: a real certificate and key (the fetch script has OpenSSL
# check the pair), served by the stub aws for TLS_ARN.
TLS_ARN=arn:aws:secretsmanager:sa-east-1:123456789012:secret:togglemaster/tls-AbC123
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 -subj /CN=flags.example.com \
  -keyout "$sim/tls.key" -out "$sim/tls.crt" >/dev/null 2>&1 ||
  { echo "FAIL - user data: openssl req (a certificate for the TLS case)"; failed=1; finish; }
python3 -c 'import json, sys; print(json.dumps({"certificate": open(sys.argv[1]).read(), "private_key": open(sys.argv[2]).read()}))' \
  "$sim/tls.crt" "$sim/tls.key" >"$sim/tls-secret.json"

# --- stubs (SIM points at the log directory; READY=0 makes /ready fail,
# AUTH=off makes it answer as a package older than API keys does)
# apt-get installing the .deb creates the service's group, as its postinst
# does (in the namespace's overlay on /etc).
cat >"$sim/bin/apt-get" <<'EOF'
#!/bin/sh
held=none
[ -x /usr/sbin/policy-rc.d ] && { /usr/sbin/policy-rc.d; held=$?; }
echo "apt-get $* [policy-rc.d:$held]" >>"$SIM/log"
case "$*" in *togglemaster.deb*) getent group togglemaster >/dev/null || groupadd --system togglemaster ;; esac
EOF
cat >"$sim/bin/curl" <<EOF
#!/bin/bash
echo "curl \$*" >>"\$SIM/log"
out= url=
while [ \$# -gt 0 ]; do case \$1 in -o) out=\$2; shift 2 ;; *) url=\$1; shift ;; esac; done
case \$url in
  *global-bundle.pem) printf -- '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' >"\$out" ;;
  *.deb) printf '%s' '$DEB_CONTENT' >"\$out" ;;
  */ready)
    [ "\${READY:-1}" = 1 ] || exit 22
    if [ "\${AUTH:-on}" = on ]; then echo '{"status":"ready","auth":"on"}'; else echo '{"status":"ready"}'; fi ;;
  *) exit 22 ;;
esac
EOF
# The admin token secret ($SIM/admin-secret): no value until put-secret-value
# stores one (--secret-string file://PATH).
cat >"$sim/bin/aws" <<EOF
#!/usr/bin/python3
import json, os, sys
args = sys.argv[1:]
admin = os.environ["SIM"] + "/admin-secret"
open(os.environ["SIM"] + "/log", "a").write("aws " + " ".join(args) + "\n")
if args[:2] == ["secretsmanager", "put-secret-value"]:
    open(admin, "w").write(open(args[args.index("--secret-string") + 1][len("file://"):]).read())
    print(json.dumps({"VersionId": args[args.index("--client-request-token") + 1]}))
    sys.exit(0)
if any("admin-token" in a for a in args):
    if not os.path.exists(admin):
        sys.stderr.write("An error occurred (ResourceNotFoundException) when calling the GetSecretValue operation: "
                         "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT\n")
        sys.exit(254)
    print(json.dumps({"VersionId": "a1", "SecretString": open(admin).read()}))
    sys.exit(0)
if "$TLS_ARN" in sys.argv:
    print(json.dumps({"VersionId": "t1", "SecretString": open("$sim/tls-secret.json").read()}))
    sys.exit(0)
print(json.dumps({"VersionId": "v1", "SecretString": json.dumps({"username": "togglemaster", "password": $(printf '%s' "$PASSWORD" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')})}))
EOF
cat >"$sim/bin/systemctl" <<'EOF'
#!/bin/bash
echo "systemctl $*" >>"$SIM/log"
case "$*" in
  "start togglemaster-secret.service") exec /usr/local/sbin/togglemaster-fetch-secret ;;
  *is-active*) exit 3 ;;
esac
exit 0
EOF
printf '#!/bin/sh\necho "journalctl $*" >>"$SIM/log"\n' >"$sim/bin/journalctl"
printf '#!/bin/sh\nexit 0\n' >"$sim/bin/sleep"
chmod +x "$sim/bin/"*

# The cases' user data, rendered in one node process (the parser is slow to load).
DEB_URL=https://example.com/togglemaster_0.1.0_amd64.deb
for c in deb badsum nodeb notready require tls authoff ha; do mkdir -p "$sim/$c"; done
node tests/infra/policy.js --render-user-data deploy/aws \
  "$sim/deb/user-data.sh={\"deb_url\": \"$DEB_URL\", \"deb_sha256\": \"$DEB_SHA\"}" \
  "$sim/badsum/user-data.sh={\"deb_url\": \"$DEB_URL\", \"deb_sha256\": \"$(printf 'b%.0s' {1..64})\"}" \
  "$sim/nodeb/user-data.sh={\"deb_url\": \"\"}" \
  "$sim/notready/user-data.sh={\"deb_url\": \"$DEB_URL\", \"deb_sha256\": \"$DEB_SHA\"}" \
  "$sim/require/user-data.sh={\"deb_url\": \"\", \"db_sslmode\": \"require\"}" \
  "$sim/tls/user-data.sh={\"deb_url\": \"$DEB_URL\", \"deb_sha256\": \"$DEB_SHA\", \"tls_secret_arn\": \"$TLS_ARN\"}" \
  "$sim/authoff/user-data.sh={\"deb_url\": \"$DEB_URL\", \"deb_sha256\": \"$DEB_SHA\"}" \
  "$sim/ha/user-data.sh={\"deb_url\": \"$DEB_URL\", \"deb_sha256\": \"$DEB_SHA\", \"mode\": \"ha\"}" ||
  { echo "FAIL - user data: rendering the template"; failed=1; finish; }

# run NAME [ENV...]: run NAME's user data in a private mount namespace;
# leaves $sim/NAME/{log,out,rc,result/}.
run() {
  local name=$1; shift
  local d="$sim/$name"
  mkdir -p "$d"/{up-etc,work-etc,up-sbin,work-sbin,result}
  : >"$d/log"
  env SIM="$d" PATH="$sim/bin:$PATH" "$@" unshare -m bash -c '
    set -e
    mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1/up-etc,workdir=$1/work-etc" /etc
    mount -t overlay overlay -o "lowerdir=/usr/sbin,upperdir=$1/up-sbin,workdir=$1/work-sbin" /usr/sbin
    for m in /usr/local/sbin /usr/local/share /var/cache; do mount -t tmpfs tmpfs "$m"; done
    rm -f /usr/sbin/policy-rc.d   # as on a fresh Debian AMI
    set +e
    bash "$1/user-data.sh" >"$1/out" 2>&1
    echo $? >"$1/rc"
    cp -a /etc/togglemaster "$1/result/etc" 2>/dev/null
    cp -a /etc/systemd/system "$1/result/systemd" 2>/dev/null
    cp -a /usr/local/share/togglemaster "$1/result/share" 2>/dev/null
    cp -a /usr/local/sbin "$1/result/sbin" 2>/dev/null
    if [ -d /etc/ssl/togglemaster ]; then
      stat -c "%n %a %U:%G" /etc/ssl/togglemaster /etc/ssl/togglemaster/* >"$1/result/tls.stat"
    fi
    [ -e /usr/sbin/policy-rc.d ] && touch "$1/result/policy-rc.d-left"
    if [ "${VERIFY:-0}" = 1 ]; then
      # The units as systemd would load them: the package unit (stub binary)
      # with the drop-in, and the secret service and timer.
      mkdir -p "$1/up-bin" "$1/work-bin"
      mount -t overlay overlay -o "lowerdir=/usr/bin,upperdir=$1/up-bin,workdir=$1/work-bin" /usr/bin
      printf "#!/bin/sh\n" >/usr/bin/togglemaster && chmod 0755 /usr/bin/togglemaster
      cp packaging/deb/togglemaster.service /etc/systemd/system/togglemaster.service
      systemd-analyze verify --man=no togglemaster.service togglemaster-secret.service \
        togglemaster-secret.timer >"$1/verify.out" 2>&1
      echo $? >"$1/verify.rc"
    fi
    true' _ "$d"
}
rc() { [ "$(cat "$sim/$1/rc" 2>/dev/null)" = "$2" ]; }
logs() { grep -q -- "$2" "$sim/$1/log"; }
env_value() { bash -c 'set -a; . "$1"; printf %s "${!2}"' _ "$sim/$1/result/etc/togglemaster.env" "$2"; }
password_ok() { [ "$(env_value "$1" DB_PASSWORD)" = "$PASSWORD" ]; }
mode() { [ "$(stat -c %a "$sim/$1/result/$2")" = "$3" ]; }
order() { # order CASE FIRST SECOND: FIRST is logged before SECOND
  local a b
  a=$(grep -n -m1 -- "$2" "$sim/$1/log" | cut -d: -f1)
  b=$(grep -n -m1 -- "$3" "$sim/$1/log" | cut -d: -f1)
  [ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ]
}

# --- 1. the normal path: deb_url + checksum
run deb VERIFY=1
check "installs and starts: exit 0, /ready waited for" rc deb 0
check "installs awscli first" logs deb "apt-get install -y -q --no-install-recommends awscli"
check "installs the .deb with service starts held (policy-rc.d 101)" \
  logs deb "apt-get install .*togglemaster.deb \[policy-rc.d:101\]"
check "removes its policy-rc.d afterwards" test ! -e "$sim/deb/result/policy-rc.d-left"
check "writes the env file after the package (conffile) is installed" \
  order deb "togglemaster.deb \[policy-rc.d" "aws secretsmanager get-secret-value"
check "env file: password from the secret, byte for byte" password_ok deb
check "env file: mode 0600" mode deb etc/togglemaster.env 600
check "env file: PORT=80, DB_* set, DATABASE_URL empty" bash -c \
  "[ \"\$(set -a; . '$sim/deb/result/etc/togglemaster.env'; echo \"\$PORT|\$DATABASE_URL|\$DB_PORT|\$DB_NAME|\$PGSSLMODE\")\" = '80||5432|togglemaster|verify-full' ]"
check "env file: PGSSLROOTCERT names the downloaded RDS CA bundle" bash -c \
  "f=\$(set -a; . '$sim/deb/result/etc/togglemaster.env'; echo \"\$PGSSLROOTCERT\"); [ \"\$f\" = /usr/local/share/togglemaster/rds-ca-bundle.pem ] && grep -q 'BEGIN CERTIFICATE' '$sim/deb/result/share/rds-ca-bundle.pem'"
check "drop-in: CAP_NET_BIND_SERVICE and credentials before start" bash -c \
  "grep -qx 'AmbientCapabilities=CAP_NET_BIND_SERVICE' '$sim/deb/result/systemd/togglemaster.service.d/aws.conf' && grep -qx 'After=togglemaster-secret.service' '$sim/deb/result/systemd/togglemaster.service.d/aws.conf'"
check "enables the refresh timer and the service, restarts it" bash -c \
  "grep -q 'enable --now togglemaster-secret.timer' '$sim/deb/log' && grep -q 'enable togglemaster.service' '$sim/deb/log' && grep -q 'restart togglemaster.service' '$sim/deb/log'"
check "the password never reaches the cloud-init log" bash -c "! grep -qF -- 'p\"a\$s' '$sim/deb/out'"
check "no TLS by default: deploy.env names no TLS secret, env file no TLS_*, /ready over http on 80" bash -c \
  "! grep -q TLS '$sim/deb/result/etc/deploy.env' && ! grep -q TLS_ '$sim/deb/result/etc/togglemaster.env' && grep -q 'curl -fsS http://127.0.0.1:80/ready' '$sim/deb/log'"
admin_token_ok() { # CASE: the env file's ADMIN_TOKEN is the token the boot stored in the secret
  local token
  token=$(cat "$sim/$1/admin-secret" 2>/dev/null) && [ "${#token}" -ge 43 ] && [ "$(env_value "$1" ADMIN_TOKEN)" = "$token" ]
}
token_hidden() { # CASE: the stored token is in neither the cloud-init output nor any logged command line
  local token
  token=$(cat "$sim/$1/admin-secret") && [ -n "$token" ] && ! grep -qF -- "$token" "$sim/$1/out" "$sim/$1/log"
}
check "auth: deploy.env has AUTH_REQUIRED=true and TM_ADMIN_SECRET_ARN, env file AUTH_REQUIRED=true" bash -c \
  "grep -qx 'AUTH_REQUIRED=true' '$sim/deb/result/etc/deploy.env' && grep -qx 'TM_ADMIN_SECRET_ARN=arn:aws:secretsmanager:.*:secret:togglemaster/admin-token-.*' '$sim/deb/result/etc/deploy.env' && [ \"\$(set -a; . '$sim/deb/result/etc/togglemaster.env'; echo \"\$AUTH_REQUIRED\")\" = true ]"
check "auth: first boot generates the admin token into the empty secret, env file ADMIN_TOKEN is it" admin_token_ok deb
check "auth: the token is stored from a file, before the service starts" bash -c \
  "grep -q 'aws secretsmanager put-secret-value .*--secret-string file://' '$sim/deb/log' && grep -n -m1 put-secret-value '$sim/deb/log' | cut -d: -f1 | { read -r a; b=\$(grep -n -m1 'restart togglemaster.service' '$sim/deb/log' | cut -d: -f1); [ \"\$a\" -lt \"\$b\" ]; }"
check "auth: the admin token never reaches the cloud-init log or a command line" token_hidden deb
check "auth: waits for /ready to say auth is on" bash -c "grep -q 'ready: http://127.0.0.1:80/ready answered 200 after .*\"auth\":\"on\"' '$sim/deb/out'"

if command -v systemd-analyze >/dev/null 2>&1 && [ -f packaging/deb/togglemaster.service ]; then
  check "units: systemd-analyze verify is silent (package unit + drop-in, secret service + timer)" bash -c \
    "[ \"\$(cat '$sim/deb/verify.rc')\" = 0 ] && [ ! -s '$sim/deb/verify.out' ]"
  [ -s "$sim/deb/verify.out" ] && sed 's/^/    /' "$sim/deb/verify.out"
else
  echo "FAIL - user data: units: systemd-analyze (Debian package systemd) and packaging/deb/togglemaster.service are needed"
  failed=$((failed + 1))
fi

# --- 2. checksum mismatch: nothing installed or started
run badsum
check "checksum mismatch: fails before installing" bash -c \
  "[ \"\$(cat '$sim/badsum/rc')\" != 0 ] && ! grep -q 'togglemaster.deb \[' '$sim/badsum/log' && ! grep -q 'restart togglemaster' '$sim/badsum/log'"

# --- 3. no deb_url: prepared for a manual install
run nodeb
check "no deb_url: exit 0, env file written, timer on, service untouched" bash -c \
  "[ \"\$(cat '$sim/nodeb/rc')\" = 0 ] && [ -s '$sim/nodeb/result/etc/togglemaster.env' ] && grep -q 'togglemaster-secret.timer' '$sim/nodeb/log' && ! grep -Eq '(enable|restart) togglemaster.service' '$sim/nodeb/log'"
check "no deb_url: the admin token is generated and in the env file already" admin_token_ok nodeb

# --- 4. the service never gets ready: cloud-init must report an error
run notready READY=0
check "service not ready: exit non-zero with the unit's journal" bash -c \
  "[ \"\$(cat '$sim/notready/rc')\" != 0 ] && grep -q 'journalctl --no-pager -u togglemaster.service' '$sim/notready/log'"

# --- 5. sslmode=require: no CA bundle needed
run require
check "sslmode require: no CA download, no PGSSLROOTCERT" bash -c \
  "[ \"\$(cat '$sim/require/rc')\" = 0 ] && ! grep -q global-bundle '$sim/require/log' && ! grep -q PGSSLROOTCERT '$sim/require/result/etc/togglemaster.env'"

# --- 6. HTTPS: tls_secret_arn set
run tls
tls_env() { [ "$(env_value tls PORT)|$(env_value tls TLS_CERT_FILE)|$(env_value tls TLS_KEY_FILE)" = \
  "443|/etc/ssl/togglemaster/fullchain.pem|/etc/ssl/togglemaster/privkey.pem" ]; }
check "TLS: installs and starts: exit 0" rc tls 0
check "TLS: deploy.env names the TLS secret, PORT=443" bash -c \
  "grep -qx 'TM_TLS_SECRET_ARN=$TLS_ARN' '$sim/tls/result/etc/deploy.env' && grep -qx 'PORT=443' '$sim/tls/result/etc/deploy.env'"
check "TLS: env file: PORT=443, TLS_CERT_FILE and TLS_KEY_FILE name the files" tls_env
check "TLS: certificate and key 0640 root:togglemaster in a 0750 directory" bash -c \
  "grep -qx '/etc/ssl/togglemaster 750 root:togglemaster' '$sim/tls/result/tls.stat' && grep -qx '/etc/ssl/togglemaster/fullchain.pem 640 root:togglemaster' '$sim/tls/result/tls.stat' && grep -qx '/etc/ssl/togglemaster/privkey.pem 640 root:togglemaster' '$sim/tls/result/tls.stat'"
check "TLS: waits for /ready over https on 443" logs tls "curl -fsSk https://127.0.0.1:443/ready"
check "TLS: the private key never reaches the cloud-init log" bash -c \
  "! grep -vF -- '-----' '$sim/tls.key' | grep -qF -f - '$sim/tls/out'"
check "TLS: admin token in the env file too" admin_token_ok tls

# --- 7. a package older than API keys: ready, but authentication off
run authoff AUTH=off
check "auth off after all (/ready without \"auth\":\"on\"): exit non-zero, service stopped" bash -c \
  "[ \"\$(cat '$sim/authoff/rc')\" != 0 ] && grep -q 'systemctl stop togglemaster.service' '$sim/authoff/log' && grep -q 'authentication is not on' '$sim/authoff/out'"

# --- 8. mode = "ha": behind the ALB, reached through Session Manager
run ha
check "ha: installs and starts: exit 0, /ready over http on app_port_ha (8080)" bash -c \
  "[ \"\$(cat '$sim/ha/rc')\" = 0 ] && grep -q 'curl -fsS http://127.0.0.1:8080/ready' '$sim/ha/log'"
check "ha: env file: PORT=8080, MAX_CLIENT_CONNECTIONS=0, SHUTDOWN_DRAIN=15, SHUTDOWN_TIMEOUT=10" bash -c \
  "[ \"\$(set -a; . '$sim/ha/result/etc/togglemaster.env'; echo \"\$PORT|\$MAX_CLIENT_CONNECTIONS|\$SHUTDOWN_DRAIN|\$SHUTDOWN_TIMEOUT|\$AUTH_REQUIRED\")\" = '8080|0|15|10|true' ]"
check "ha: installs and enables the SSM agent" bash -c \
  "grep -q 'apt-get install -y -q /tmp/amazon-ssm-agent.deb' '$sim/ha/log' && grep -q 'systemctl enable --now amazon-ssm-agent' '$sim/ha/log'"
check "ha: admin token in the env file too" admin_token_ok ha
check "single: none of the ha settings (deb case)" bash -c \
  "! grep -Eq 'MAX_CLIENT_CONNECTIONS|SHUTDOWN_|amazon-ssm-agent' '$sim/deb/result/etc/togglemaster.env' '$sim/deb/log'"

for c in deb badsum nodeb notready require tls authoff ha; do
  if [ ! -s "$sim/$c/rc" ]; then echo "--- $c: did not run"; cat "$sim/$c/out" 2>/dev/null; fi
done
if [ "$failed" -ne 0 ]; then
  for c in deb badsum nodeb notready require tls authoff ha; do echo "--- $c (exit $(cat "$sim/$c/rc" 2>/dev/null))"; tail -n 5 "$sim/$c/out" 2>/dev/null; done
fi
finish
