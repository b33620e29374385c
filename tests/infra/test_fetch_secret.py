#!/usr/bin/env python3
"""Runs deploy/aws/files/togglemaster-fetch-secret (what the EC2 instance
uses to turn the RDS-managed secret into /etc/togglemaster/togglemaster.env)
against a stub `aws` and a stub `systemctl` in a temporary directory.

Prints `ok - <name>` / `FAIL - <name>: <why>` per check, then
`fetch-secret: N passed, N failed`; exit 1 on any failure.
"""
import json
import os
import stat
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "deploy", "aws", "files", "togglemaster-fetch-secret")
ARN = "arn:aws:secretsmanager:sa-east-1:123456789012:secret:rds!db-0f1e2d3c-AbCdEf"
# Everything that breaks naive quoting: both quotes, $, backslashes,
# backticks, spaces, '#', ';', '=', braces, a command substitution.
NASTY = "p\"a$s`w'o\\rd \\\\ #;=${HOME}$(id)\\n {}!%"

DEPLOY_ENV = f"""# comment
TM_AWS_REGION=sa-east-1
TM_DB_SECRET_ARN={ARN}
PORT=80
BIND=0.0.0.0
LOG_LEVEL=info
DATABASE_URL=
DB_HOST=togglemaster-db.c1a2b3c4d5e6.sa-east-1.rds.amazonaws.com
DB_PORT=5432
DB_NAME=togglemaster
PGSSLMODE=verify-full
PGSSLROOTCERT=/usr/local/share/togglemaster/rds-ca-bundle.pem
"""

results = []


def check(name, cond, why=""):
    results.append((name, bool(cond), why))


def write(path, text, mode=0o644):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, mode)


class Sandbox:
    def __init__(self, tmp):
        self.tmp = tmp
        self.bin = os.path.join(tmp, "bin")
        os.mkdir(self.bin)
        self.deploy_env = os.path.join(tmp, "deploy.env")
        self.env_file = os.path.join(tmp, "togglemaster.env")
        self.secret = os.path.join(tmp, "secret.json")
        self.calls = os.path.join(tmp, "systemctl.calls")
        self.aws_args = os.path.join(tmp, "aws.args")
        write(self.deploy_env, DEPLOY_ENV)
        # Stub aws: records its arguments, answers like get-secret-value
        # --output json, or fails when secret.json is absent.
        write(os.path.join(self.bin, "aws"), f"""#!/usr/bin/env python3
import json, sys
open({self.aws_args!r}, "w").write(json.dumps(sys.argv[1:]))
try:
    secret = open({self.secret!r}).read()
except OSError:
    sys.stderr.write("An error occurred (AccessDeniedException) when calling the GetSecretValue operation: denied\\n")
    sys.exit(254)
print(json.dumps({{"ARN": {ARN!r}, "Name": "rds!db", "VersionId": "v-123", "SecretString": secret}}))
""", 0o755)
        write(os.path.join(self.bin, "systemctl"), f"""#!/bin/sh
echo "$*" >> {self.calls!r}
case "$*" in *is-active*) exit "${{STUB_ACTIVE:-3}}" ;; esac
exit 0
""", 0o755)

    def set_secret(self, user, password):
        write(self.secret, json.dumps({"username": user, "password": password}))

    def run(self, active=False, extra=None):
        env = dict(os.environ, PATH=f"{self.bin}:{os.environ['PATH']}", TM_DEPLOY_ENV=self.deploy_env,
                   TM_ENV_FILE=self.env_file, TM_FETCH_ATTEMPTS="1", STUB_ACTIVE="0" if active else "3")
        env.update(extra or {})
        if os.path.exists(self.calls):
            os.unlink(self.calls)
        return subprocess.run([sys.executable, SCRIPT], env=env, capture_output=True, text=True, timeout=30)

    def systemctl_calls(self):
        try:
            return open(self.calls).read().splitlines()
        except OSError:
            return []

    def shell_value(self, name):
        """The variable as a shell reads the env file (`set -a; . file`)."""
        out = subprocess.run(["bash", "-c", f'set -a; . "$1"; printf %s "${name}"', "-", self.env_file],
                             capture_output=True, text=True, env={"PATH": os.environ["PATH"]})
        return out.stdout if out.returncode == 0 else None


def main():
    with tempfile.TemporaryDirectory() as tmp:
        sb = Sandbox(tmp)
        sb.set_secret("togglemaster", NASTY)

        r = sb.run()
        check("writes the env file from deploy.env and the secret", r.returncode == 0 and os.path.exists(sb.env_file),
              f"exit {r.returncode}: {r.stdout}{r.stderr}")
        if not os.path.exists(sb.env_file):
            return
        text = open(sb.env_file).read()
        args = json.loads(open(sb.aws_args).read())
        check("asks Secrets Manager for the configured ARN in the configured region",
              args[:2] == ["secretsmanager", "get-secret-value"] and "--secret-id" in args and
              args[args.index("--secret-id") + 1] == ARN and args[args.index("--region") + 1] == "sa-east-1", args)
        check("env file is mode 0600", stat.S_IMODE(os.stat(sb.env_file).st_mode) == 0o600,
              oct(os.stat(sb.env_file).st_mode))
        check("password round-trips through a shell's `.` unchanged", sb.shell_value("DB_PASSWORD") == NASTY,
              repr(sb.shell_value("DB_PASSWORD")))
        check("settings copied, TM_ keys not", sb.shell_value("DB_HOST").endswith(".rds.amazonaws.com") and
              sb.shell_value("PORT") == "80" and sb.shell_value("PGSSLMODE") == "verify-full" and
              sb.shell_value("DB_USER") == "togglemaster" and "TM_AWS_REGION" not in text, text)
        check("DATABASE_URL written empty (so DB_* apply)", "\nDATABASE_URL=\n" in text, text)
        check("the password is never printed", NASTY not in r.stdout + r.stderr and "p\"a$s" not in r.stdout + r.stderr)
        check("no restart when the service is not running", not any("try-restart" in c for c in sb.systemctl_calls()),
              sb.systemctl_calls())

        before = os.stat(sb.env_file).st_mtime_ns
        r = sb.run(active=True)
        check("unchanged secret: file untouched, no restart",
              r.returncode == 0 and os.stat(sb.env_file).st_mtime_ns == before and
              not any("try-restart" in c for c in sb.systemctl_calls()), f"{r.stdout}{sb.systemctl_calls()}")

        sb.set_secret("togglemaster", "rotated-Password-2")
        r = sb.run(active=True)
        check("rotated secret: file rewritten, running service restarted without blocking",
              r.returncode == 0 and sb.shell_value("DB_PASSWORD") == "rotated-Password-2" and
              "--no-block try-restart togglemaster.service" in sb.systemctl_calls(), f"{r.stdout}{sb.systemctl_calls()}")

        os.unlink(sb.secret)
        saved = open(sb.env_file).read()
        r = sb.run(active=True)
        check("AWS error: exit 1, previous file kept",
              r.returncode == 1 and open(sb.env_file).read() == saved and "AccessDenied" in r.stdout,
              f"exit {r.returncode}: {r.stdout}")

        sb.set_secret("togglemaster", "two\nlines")
        r = sb.run()
        check("a value with a newline is refused, previous file kept",
              r.returncode == 1 and open(sb.env_file).read() == saved, f"exit {r.returncode}: {r.stdout}")

        write(sb.secret, "not json")
        r = sb.run()
        check("malformed secret: exit 1 without echoing it", r.returncode == 1 and "not json" not in r.stdout + r.stderr,
              r.stdout + r.stderr)

        sb.set_secret("togglemaster", "x")
        write(sb.deploy_env, DEPLOY_ENV.replace(f"TM_DB_SECRET_ARN={ARN}\n", ""))
        r = sb.run()
        check("missing TM_DB_SECRET_ARN: exit 1", r.returncode == 1 and "TM_DB_SECRET_ARN" in r.stdout, r.stdout)

        write(sb.deploy_env, 'TM_AWS_REGION="sa-east-1"\nTM_DB_SECRET_ARN=\'%s\'\nLOG_LEVEL="de\\"bug"\nDB_HOST=h\n' % ARN)
        r = sb.run()
        check("deploy.env quoted values are understood",
              r.returncode == 0 and sb.shell_value("LOG_LEVEL") == 'de"bug', f"{r.stdout}{sb.shell_value('LOG_LEVEL')!r}")


if __name__ == "__main__":
    try:
        main()
    except Exception as err:  # a crash is a failure, not a silent pass
        results.append(("fetch-secret test harness", False, f"{type(err).__name__}: {err}"))
    failed = 0
    for name, ok, why in results:
        print(f"ok - {name}" if ok else f"FAIL - {name}: {why}")
        failed += not ok
    print(f"fetch-secret: {len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed or not results else 0)
