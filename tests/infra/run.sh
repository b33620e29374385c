#!/usr/bin/env bash
# Offline checks of the AWS deployment as code (deploy/aws) and its docs.
# No Terraform binary and no AWS access: the HCL is parsed with
# @cdktf/hcl2json (installed from package-lock.json by `npm ci` when absent)
# and checked by tests/infra/policy.js.
#
#   1. policy      every .tf parses; the security/sizing rules hold
#   2. mutations   each of several rule-breaking edits, applied one at a
#                  time to a copy of deploy/aws, makes the named check fail
#                  (proves the checks bite)
#   3. fetch-secret  the on-instance secret -> env file script, against stubs
#   4. user-data   the rendered user data run end to end against stubs, in a
#                  private mount namespace (needs root, as CI is)
#   5. cost        docs/aws-cost.md is what deploy/aws/cost.py generates
#   6. diagrams    docs/diagrams/*.dot render and the SVGs are current
#
# Prints `ok - ...` / `FAIL - ...` lines, then `infra: N passed, N failed`;
# exit 1 on any failure. A few seconds.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
passed=0
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() { echo "ok - $*"; passed=$((passed + 1)); }
fail() { echo "FAIL - $*"; failed=$((failed + 1)); }

# tally OUTPUT: echo its ok/FAIL lines and add them to the counts.
tally() {
  local line
  while IFS= read -r line; do
    case $line in
      "ok - "*) echo "$line"; passed=$((passed + 1)) ;;
      "FAIL - "*) echo "$line"; failed=$((failed + 1)) ;;
    esac
  done <<<"$1"
}

finish() {
  echo "infra: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}

# --- tooling
if [ ! -f node_modules/@cdktf/hcl2json/package.json ]; then
  if ! command -v npm >/dev/null 2>&1; then
    fail "npm not found (install Debian's nodejs and npm: scripts/install-deps.sh)"
    finish
  fi
  npm ci --include=dev --no-audit --no-fund --loglevel=error >"$tmp/npm.log" 2>&1 ||
    { cat "$tmp/npm.log"; fail "npm ci (for @cdktf/hcl2json)"; finish; }
fi

# --- 1. policy checks on deploy/aws
echo "--- policy (tests/infra/policy.js deploy/aws)"
out=$(node tests/infra/policy.js deploy/aws 2>&1)
rc=$?
tally "$out"
if [ $rc -ne 0 ] && ! grep -q '^FAIL - ' <<<"$out"; then
  echo "$out"
  fail "policy.js exited $rc without a FAIL line"
fi

# --- 2. mutations: each must make the named check fail (and nothing fail to
# parse). All mutants are prepared first and checked by one node process
# (loading the wasm parser costs about half a second per process).
echo "--- mutations (each applied alone to a copy of deploy/aws)"
mutants=()
mutate() { # mutate DESCRIPTION FILE EXPECTED_CHECK SED_SCRIPT
  local n=${#mutants[@]}
  local copy="$tmp/mutant-$n"
  cp -r deploy/aws "$copy"
  sed -i -e "$4" "$copy/$2"
  if cmp -s "deploy/aws/$2" "$copy/$2"; then
    fail "mutation '$1': the edit did not apply to $2 (update tests/infra/run.sh)"
    rm -rf "$copy"
    return
  fi
  mutants+=("$copy"$'\t'"$1"$'\t'"$2"$'\t'"$3")
}
mutate "RDS publicly accessible" database.tf "RDS: not publicly accessible" \
  's/publicly_accessible    = false/publicly_accessible    = true/'
mutate "RDS storage unencrypted" database.tf "RDS: storage encrypted" \
  's/storage_encrypted = true/storage_encrypted = false/'
mutate "password literal on the DB" database.tf "RDS: master password managed" \
  '/manage_master_user_password = true/a\  password = "hunter2hunter2"'
mutate "backups kept 1 day" variables.tf "RDS: automated backups kept >= 7 days" \
  '/variable "backup_retention_days"/,/^}/s/default     = 7/default     = 1/'
mutate "SSH open to 0.0.0.0/0" security.tf "no rule opens 22 or 5432 to 0.0.0.0/0 or ::/0" \
  's/cidr_ipv4         = var.admin_cidr/cidr_ipv4         = "0.0.0.0\/0"/'
mutate "DB reachable by CIDR" security.tf "DB ingress: only 5432/tcp, only from the app security group" \
  's/referenced_security_group_id = aws_security_group.app.id/cidr_ipv4                    = "10.0.0.0\/16"/'
mutate "admin_cidr validation accepts /0" variables.tf "var.admin_cidr has no default and its validation rejects" \
  's/split("\/", var.admin_cidr)\[1\]) >= 24/split("\/", var.admin_cidr)[1]) >= 0/'
mutate "IAM action wildcard" iam.tf "IAM: only secretsmanager:GetSecretValue on the RDS-managed secret ARN; the one other statement is the admin token's" \
  's/"secretsmanager:GetSecretValue"/"secretsmanager:*"/'
mutate "database secret writable" iam.tf "IAM: only secretsmanager:GetSecretValue on the RDS-managed secret ARN; the one other statement is the admin token's" \
  '/sid       = "ReadDatabaseMasterSecret"/,/resources/s/\["secretsmanager:GetSecretValue"\]/["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"]/'
mutate "admin token grant on every secret" iam.tf "IAM: the admin token secret: GetSecretValue and PutSecretValue on exactly its ARN" \
  's/resources = \[aws_secretsmanager_secret.admin_token.arn\]/resources = ["*"]/'
mutate "admin token grant secretsmanager:*" iam.tf "IAM: the admin token secret: GetSecretValue and PutSecretValue on exactly its ARN" \
  's/"secretsmanager:PutSecretValue"/"secretsmanager:*"/'
mutate "admin token secret deletable" iam.tf "IAM: the admin token secret: GetSecretValue and PutSecretValue on exactly its ARN" \
  's/"secretsmanager:PutSecretValue"\]/"secretsmanager:PutSecretValue", "secretsmanager:DeleteSecret"]/'
mutate "admin token secret removed" secrets.tf "admin token: one Secrets Manager secret under var.name" \
  '/^resource "aws_secretsmanager_secret" "admin_token"/,/^}/d'
# shellcheck disable=SC2016 # sed's $ (last line), not the shell's
mutate "admin token value in the Terraform state" secrets.tf "admin token: one Secrets Manager secret under var.name, default key; its value never passes through Terraform" \
  '$a\resource "aws_secretsmanager_secret_version" "admin_token" { secret_string = random_password.admin_token.result }'
mutate "admin token recovery window of 1 day accepted" variables.tf "admin token: one Secrets Manager secret under var.name" \
  '/variable "admin_token_recovery_days"/,/^}/s/var.admin_token_recovery_days >= 7 &&/var.admin_token_recovery_days >= 1 \&\&/'
mutate "auth not required" user-data.sh.tftpl "user data: AUTH_REQUIRED=true, deploy.env names the admin token secret" \
  's/^AUTH_REQUIRED=true$/AUTH_REQUIRED=false/'
mutate "admin token secret not named in deploy.env" user-data.sh.tftpl "user data: AUTH_REQUIRED=true, deploy.env names the admin token secret" \
  '/^TM_ADMIN_SECRET_ARN=/d'
mutate "admin token in the user data" user-data.sh.tftpl "user data: AUTH_REQUIRED=true, deploy.env names the admin token secret, no token in the user data" \
  '/^AUTH_REQUIRED=true$/a\ADMIN_TOKEN=changeme-changeme-changeme'
mutate "TLS secret readable with tls_secret_arn empty" iam.tf "IAM: only with var.tls_secret_arn set, GetSecretValue on exactly that secret" \
  's/for_each = var.tls_secret_arn == "" || var.mode == "ha" ? \[\] : \[var.tls_secret_arn\]/for_each = [var.tls_secret_arn]/'
mutate "TLS grant on every secret" iam.tf "IAM: only with var.tls_secret_arn set, GetSecretValue on exactly that secret" \
  's/resources = \[statement.value\]/resources = ["arn:aws:secretsmanager:*:*:secret:*"]/'
mutate "tls_secret_arn validation accepts a wildcard" variables.tf "var.tls_secret_arn: empty by default, else one full Secrets Manager ARN" \
  '/variable "tls_secret_arn"/,/^}/s/:secret:\[A-Za-z0-9\/_+=.@!-\]+-\[A-Za-z0-9\]{6}\$/:secret:.+$/'
mutate "IMDSv1 allowed" compute.tf 'EC2: IMDSv2 required' \
  's/http_tokens                 = "required"/http_tokens                 = "optional"/'
mutate "private subnets routed to the IGW" network.tf "private route table has no internet route" \
  's/route  = \[\]/route  = [{ cidr_block = "0.0.0.0\/0", gateway_id = aws_internet_gateway.main.id }]/'
# mode = "ha": each assertion on the ha plan, broken once.
mutate "ha: instances in the public subnets" ha.tf "ha: no public instance" \
  's/vpc_zone_identifier = aws_subnet.private\[\*\].id/vpc_zone_identifier = aws_subnet.public[*].id/'
mutate "ha: instances with public addresses" ha.tf "ha: no public instance" \
  '/update_default_version = true/a\  network_interfaces { associate_public_ip_address = true }'
mutate "ha: SSH rule kept in ha" security.tf "ha: no SSH" \
  '/"app_ssh"/,/^}/s/count = local.single ? 1 : 0/count = 1/'
mutate "ha: key pair in ha" compute.tf "ha: no SSH" \
  's/count = var.ssh_public_key == "" || local.ha ? 0 : 1/count = var.ssh_public_key == "" ? 0 : 1/'
mutate "ha: Session Manager policy widened to ssm:*" ha.tf "ha: no SSH" \
  's/"ssm:UpdateInstanceInformation"/"ssm:*"/'
mutate "ha: app port 80 open to the internet" security.tf "ha: ALB-only ingress" \
  '/"app_http"/,/^}/s/count = local.single ? 1 : 0/count = 1/'
mutate "ha: app reachable from the VPC CIDR" ha.tf "ha: ALB-only ingress" \
  '/"app_from_alb"/,/^}/s/referenced_security_group_id = aws_security_group.alb\[0\].id/cidr_ipv4                    = "10.0.0.0\/16"/'
mutate "ha: ALB admits 8080 from the internet" ha.tf "ha: ALB-only ingress" \
  '/"alb_http"/,/^}/s/= 80$/= 8080/'
mutate "ha: RDS Single-AZ" database.tf "ha: Multi-AZ on" \
  's/var.db_multi_az == null ? var.mode == "ha" : var.db_multi_az/var.db_multi_az == null ? false : var.db_multi_az/'
mutate "ha: TLS policy hard-coded" ha.tf "ha: HTTPS listener on 443 uses var.alb_ssl_policy" \
  's/ssl_policy        = var.alb_ssl_policy/ssl_policy        = "ELBSecurityPolicy-2016-08"/'
mutate "ha: TLS policy validation accepts TLS 1.0" variables.tf "ha: HTTPS listener on 443 uses var.alb_ssl_policy" \
  '/variable "alb_ssl_policy"/,/^}/s/(TLS13-1-\[23\]|TLS-1-2|FS-1-2)/(TLS13-1-[23]|TLS-1-[0-2]|FS-1-2|2016-08)/'
mutate "ha: HTTP forwarded instead of redirected" ha.tf "ha: HTTPS listener on 443 uses var.alb_ssl_policy" \
  '/"http_redirect"/,/^}/s/type = "redirect"/type = "forward"/'
mutate "ha: deregistration delay below the drain" ha.tf "ha: deregistration delay >= SHUTDOWN_DRAIN + SHUTDOWN_TIMEOUT" \
  's/deregistration_delay = var.shutdown_drain + var.shutdown_timeout + 5/deregistration_delay = var.shutdown_drain/'
mutate "ha: health check on /health" ha.tf "ha: deregistration delay >= SHUTDOWN_DRAIN + SHUTDOWN_TIMEOUT" \
  's|path                = "/ready"|path                = "/health"|'
mutate "ha: per-address connection cap behind the ALB" compute.tf "ha: user data" \
  's/MAX_CLIENT_CONNECTIONS=0\\n//'
mutate "ha: cost table prices one instance" variables.tf "ha: cost table (prices.json usage_ha) prices the ha defaults" \
  '/variable "asg_desired_capacity"/,/^}/s/default     = 2/default     = 3/'

if [ ${#mutants[@]} -gt 0 ]; then
  dirs=()
  for m in "${mutants[@]}"; do dirs+=("${m%%$'\t'*}"); done
  node tests/infra/policy.js --each "${dirs[@]}" >"$tmp/mutants.out" 2>&1
  for m in "${mutants[@]}"; do
    IFS=$'\t' read -r copy desc file expected <<<"$m"
    out=$(awk -v d="### $copy" '$0 == d {on = 1; next} /^### / {on = 0} on' "$tmp/mutants.out")
    if [ -z "$out" ]; then
      cat "$tmp/mutants.out"
      fail "mutation '$desc': no result from policy.js"
    elif grep -q '^FAIL - parse ' <<<"$out"; then
      fail "mutation '$desc': the mutated $file does not parse"
    elif grep -qF "FAIL - $expected" <<<"$out"; then
      ok "mutation '$desc' is caught by '$expected'"
    else
      grep '^FAIL' <<<"$out" || true
      fail "mutation '$desc' is NOT caught by '$expected'"
    fi
  done
fi

# --- 3. the secret -> env file script the instance runs
echo "--- fetch-secret (tests/infra/test_fetch_secret.py)"
out=$("$PY" tests/infra/test_fetch_secret.py 2>&1)
rc=$?
tally "$out"
[ $rc -eq 0 ] || grep -q '^FAIL - ' <<<"$out" || { echo "$out"; fail "test_fetch_secret.py exited $rc"; }

# --- 4. the user data, end to end against stubs
echo "--- user-data (tests/infra/test_user_data.sh)"
out=$(tests/infra/test_user_data.sh 2>&1)
rc=$?
tally "$out"
[ $rc -eq 0 ] || grep -q '^FAIL - ' <<<"$out" || { echo "$out"; fail "test_user_data.sh exited $rc"; }
[ $rc -eq 0 ] || grep -v '^\(ok\|FAIL\) - ' <<<"$out" | tail -n 30

# --- 5. cost document
echo "--- cost (deploy/aws/cost.py --check)"
if out=$("$PY" deploy/aws/cost.py --check --output docs/aws-cost.md 2>&1); then
  ok "docs/aws-cost.md is generated from deploy/aws/prices.json (cost.py --check)"
else
  echo "$out" | head -40
  fail "docs/aws-cost.md is stale: run python3 deploy/aws/cost.py"
fi

# --- 6. diagrams
echo "--- diagrams (docs/diagrams/render.sh --check)"
out=$(docs/diagrams/render.sh --check 2>&1)
rc=$?
tally "$out"
[ $rc -eq 0 ] || grep -q '^FAIL - ' <<<"$out" || { echo "$out"; fail "render.sh --check exited $rc"; }

finish
